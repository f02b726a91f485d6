"""The BI serving copy: a separate DuckDB file with a stable `bi` schema, replaced atomically by each publish.

BI tools and analysts read `CVW_SERVING` (default data/serving.duckdb), never the warehouse, so they hold
no lock on the file the pipeline writes. A publish builds a new file under a temporary name in the same
folder, CHECKPOINTs and closes it, then os.replace()s it over the previous one: a reader that opens the
file sees the old or the new complete snapshot, and a reader already connected keeps its snapshot.

Tables (columns documented in docs/bi.md):
    bi.customer_value    one row per scored customer at the published date: scores, tier, RFM, profile
    bi.segment_summary   one row per (rfm_segment, value_tier): customers, revenue, predicted revenue, churn
    bi.model_performance one row per (source, model, metric): the champion's out-of-time metrics, the
                         model-vs-baselines evaluations (ml.evaluations) and the backtests of past
                         scoring dates (ml.backtests) when the warehouse has them
    bi.snapshot          one row: what this file holds and when it was published
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from include.settings import get_settings
from include.warehouse import has_table

CUSTOMER_VALUE_SQL = """
create table bi.customer_value as
with

scores as (
    select * from warehouse.scores.customer_scores where as_of_date = $as_of_date
),

rfm as (
    select * from warehouse.marts.customer_rfm where as_of_date = $as_of_date
),

profile as (
    select customer_id, region, age_band, acquisition_channel, tenure_days
    from warehouse.marts.customer_features
    where cutoff_date = $as_of_date
),

final as (
    select
        scores.customer_id,
        scores.as_of_date,
        scores.predicted_revenue,
        scores.predicted_orders,
        scores.discounted_clv,
        scores.churn_probability,
        scores.value_tier,
        scores.risk_band,
        scores.action,
        scores.churn_reasons,
        scores.value_reasons,
        scores.historic_revenue,
        scores.avg_days_between_orders,
        scores.expected_next_order_date,
        scores.horizon_days,
        rfm.rfm_segment,
        rfm.recency_days,
        rfm.frequency,
        rfm.monetary,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        profile.region,
        profile.age_band,
        profile.acquisition_channel,
        profile.tenure_days,
        scores.model_version,
        scores.scored_at
    from scores
    left join rfm on scores.customer_id = rfm.customer_id
    left join profile on scores.customer_id = profile.customer_id
)

select * from final order by predicted_revenue desc, customer_id
"""

SEGMENT_SUMMARY_SQL = """
create table bi.segment_summary as
select
    as_of_date,
    coalesce(rfm_segment, 'unknown') as rfm_segment,
    value_tier,
    count(*) as customers,
    sum(coalesce(monetary, 0)) as revenue_lifetime,
    sum(predicted_revenue) as predicted_revenue,
    sum(discounted_clv) as predicted_clv,
    avg(churn_probability) as expected_churn_rate
from bi.customer_value
group by all
order by predicted_revenue desc, rfm_segment, value_tier
"""

PERFORMANCE_COLUMNS = ("source", "model", "model_version", "cutoff_date", "horizon_days", "metric", "value",
                       "customers", "evaluated_at")


def _flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Return numeric metrics with nested names joined by '_' ({"clv": {"mae": 1}} -> {"clv_mae": 1})."""
    flat: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flat_metrics(value, f"{prefix}{name}_"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{name}"] = float(value)
    return flat


def champion_performance(artifacts_dir: Path) -> pd.DataFrame:
    """Return the champion's out-of-time metrics from its metadata, one row per metric (empty without one)."""
    from ml.artifacts import champion_version, version_dir

    version = champion_version(artifacts_dir)
    if version is None:
        return pd.DataFrame(columns=PERFORMANCE_COLUMNS)
    metadata = json.loads((version_dir(artifacts_dir, version) / "metadata.json").read_text())
    metrics = _flat_metrics(metadata.get("out_of_time_metrics") or metadata.get("metrics") or {})
    return pd.DataFrame(
        {
            "source": "champion_out_of_time", "model": "champion", "model_version": version,
            "cutoff_date": pd.to_datetime(metadata.get("test_cutoff")),
            "horizon_days": metadata.get("horizon_days"),
            "metric": list(metrics), "value": list(metrics.values()),
            "customers": metrics.get("test_customers"),
            "evaluated_at": pd.to_datetime(metadata.get("trained_at"), utc=True).tz_convert(None),
        },
        columns=PERFORMANCE_COLUMNS,
    )


def _one(con: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None) -> tuple:
    """Return the single row of a query, reading the result to its end (DuckDB 2 wants it complete)."""
    return con.execute(query, parameters or []).fetchall()[0]


def _build(con: duckdb.DuckDBPyConnection, as_of_date: date | None, artifacts_dir: Path) -> dict[str, object]:
    """Create the bi tables in the connection's database from the attached warehouse; return the snapshot."""
    if not has_table(con, "scores", "customer_scores", database="warehouse", views=False):
        raise SystemExit("The warehouse has no scores.customer_scores yet: run the score DAG before publish.")
    latest = _one(con, "select max(as_of_date) from warehouse.scores.customer_scores")[0]
    as_of_date = as_of_date or latest
    if as_of_date is None:
        raise SystemExit("scores.customer_scores is empty: run the score DAG before publish.")
    marts_date = _one(
        con, "select max(cutoff_date) from warehouse.marts.customer_features where is_scoring_date"
    )[0]
    con.execute("create schema bi")
    con.execute(CUSTOMER_VALUE_SQL, {"as_of_date": as_of_date})
    con.execute(SEGMENT_SUMMARY_SQL)
    performance = champion_performance(artifacts_dir)
    if has_table(con, "ml", "evaluations", database="warehouse", views=False):
        evaluations = con.execute(
            """
            select 'evaluation' as source, model, null as model_version, cutoff_date, horizon_days, metric,
                value, customers, evaluated_at
            from warehouse.ml.evaluations
            """
        ).df()
        frames = [frame for frame in (performance, evaluations) if len(frame)]
        performance = pd.concat(frames, ignore_index=True) if frames else performance
    if has_table(con, "ml", "backtests", database="warehouse", views=False):
        backtests = con.execute(
            """
            select 'backtest' as source, 'champion' as model, model_version, as_of_date as cutoff_date,
                horizon_days, metric, value, customers, run_at as evaluated_at
            from (
                unpivot warehouse.ml.backtests
                on revenue_bias, revenue_mae, revenue_spearman, churn_roc_auc, predicted_revenue,
                    realized_revenue, predicted_churn_rate, realized_churn_rate
                into name metric value value
            )
            """
        ).df()
        frames = [frame for frame in (performance, backtests) if len(frame)]
        performance = pd.concat(frames, ignore_index=True) if frames else performance
    con.register("performance_frame", performance)
    con.execute(
        """
        create table bi.model_performance as
        select source::varchar as source, model::varchar as model, model_version::varchar as model_version,
            cutoff_date::date as cutoff_date, horizon_days::integer as horizon_days,
            metric::varchar as metric,
            value::double as value, customers::bigint as customers, evaluated_at::timestamp as evaluated_at
        from performance_frame
        order by source, model, metric
        """
    )
    con.unregister("performance_frame")
    query = "select count(*), max(model_version) from bi.customer_value"
    customers, version = _one(con, query)
    snapshot = {
        "as_of_date": as_of_date, "customers": customers, "model_version": version,
        "marts_as_of_date": marts_date, "published_at": datetime.now(UTC).replace(tzinfo=None),
    }
    con.execute(
        "create table bi.snapshot as select $as_of_date::date as as_of_date, "
        "$customers::bigint as customers, "
        "$model_version::varchar as model_version, $marts_as_of_date::date as marts_as_of_date, "
        "$published_at::timestamp as published_at",
        snapshot,
    )
    return snapshot


def publish_serving(
    as_of_date: date | None = None, warehouse_path: Path | None = None, serving_path: Path | None = None
) -> dict[str, object]:
    """Replace the serving file by a new snapshot of the scores at a date (default: the latest); return it."""
    settings = get_settings()
    warehouse = Path(warehouse_path or settings.warehouse_path)
    serving = Path(serving_path or settings.serving_path)
    if not warehouse.exists():
        raise SystemExit(f"The warehouse {warehouse} does not exist: run the pipeline before publish.")
    serving.parent.mkdir(parents=True, exist_ok=True)
    temporary = serving.with_name(f".{serving.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect(str(temporary)) as con:
            con.execute("attach ? as warehouse (read_only)", [str(warehouse)])
            snapshot = _build(con, as_of_date, settings.artifacts_dir)
            con.execute("detach warehouse")
            con.execute("checkpoint")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, serving)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
    marts_date = snapshot["marts_as_of_date"]
    if marts_date is not None and str(marts_date) != str(snapshot["as_of_date"]):
        print(f"Warning: the marts are as of {marts_date}, so RFM and profile columns of "
              f"{snapshot['as_of_date']} are empty; build transform for that date to fill them.")
    return {**snapshot, "path": str(serving)}

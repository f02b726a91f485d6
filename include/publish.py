"""The BI serving copy: a separate DuckDB file with a stable `bi` schema, replaced atomically by each publish.

BI tools and analysts read `CVW_SERVING` (default data/serving.duckdb), never the warehouse, so they hold
no lock on the file the pipeline writes. A publish first builds the dbt BI marts (tag `bi`,
dbt_project/models/marts/bi/, the one definition of these tables) in the warehouse for the date it
publishes, then copies them into a new file under a temporary name in the same folder (in the storage
format of CVW_SERVING_STORAGE_VERSION, so older DuckDB releases in BI drivers open it), CHECKPOINTs and
closes it, and os.replace()s it over the previous one: a reader that opens the file sees the old or the
new complete snapshot, and a reader already connected keeps its snapshot. A failed dbt build or copy
leaves the previous file in place.

Tables (columns documented in docs/bi.md):
    bi.customer_value    one row per scored customer at the published date: scores, tier, RFM, profile
    bi.segment_summary   one row per (rfm_segment, value_tier): customers, revenue, predicted revenue, churn
    bi.model_performance one row per evaluation or backtest, model and metric: the out-of-time metrics of
                         the model that made the published scores (from its metadata file, added here),
                         the model-vs-baselines evaluations (ml.evaluations) and the backtests of past
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

from include.dbt import run_dbt
from include.scoring import refuse_a_future_date
from include.serving_file import serving_file_config
from include.settings import get_settings
from include.unfinished import PUBLISHING_MARTS, require_finished_marts
from include.warehouse import attach_when_free, connect, first_order_at, has_table, settle

PERFORMANCE_COLUMNS = (
    "source",
    "model",
    "model_version",
    "cutoff_date",
    "horizon_days",
    "metric",
    "value",
    "customers",
    "evaluated_at",
    "is_out_of_time",
)


def _flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Return numeric metrics with nested names joined by '_' ({"clv": {"mae": 1}} -> {"clv_mae": 1})."""
    flat: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flat_metrics(value, f"{prefix}{name}_"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{name}"] = float(value)
    return flat


def scoring_model_performance(artifacts_dir: Path, version: str | None) -> pd.DataFrame:
    """Return a model version's out-of-time metrics from its metadata, one row per metric.

    The version is the one that made the published scores (the champion when it scored them, whichever is
    champion now); empty when there is none or its metadata file is gone.
    """
    from ml.artifacts import version_dir

    metadata_path = version_dir(artifacts_dir, version) / "metadata.json" if version else None
    if metadata_path is None or not metadata_path.exists():
        return pd.DataFrame(columns=PERFORMANCE_COLUMNS)
    metadata = json.loads(metadata_path.read_text())
    metrics = _flat_metrics(metadata.get("out_of_time_metrics") or metadata.get("metrics") or {})
    return pd.DataFrame(
        {
            "source": "champion_out_of_time",
            "model": "champion",
            "model_version": version,
            "cutoff_date": pd.to_datetime(metadata.get("test_cutoff")),
            "horizon_days": metadata.get("horizon_days"),
            "metric": list(metrics),
            "value": list(metrics.values()),
            "customers": metrics.get("test_customers"),
            "evaluated_at": pd.to_datetime(metadata.get("trained_at"), utc=True).tz_convert(None),
            "is_out_of_time": True,  # the test of the evaluated model: its windows all end by the test cutoff
        },
        columns=PERFORMANCE_COLUMNS,
    )


def _one(con: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None) -> tuple:
    """Return the single row of a query, reading the result to its end (DuckDB 2 wants it complete)."""
    return con.execute(query, parameters or []).fetchall()[0]


def _published_date(warehouse: Path, as_of_date: date | None) -> date:
    """Return the scoring date to publish (default: the latest); stop with a sentence when it is unscored."""
    with connect(warehouse, read_only=True) as con:  # a warehouse in use elsewhere is one sentence
        # the bi marts it builds read marts.customer_rfm and marts.dim_customers
        require_finished_marts(con, PUBLISHING_MARTS, "publish")
        if not has_table(con, "scores", "customer_scores", views=False):
            raise SystemExit(
                "The warehouse has no scores.customer_scores yet: run the score DAG before publish."
            )
        latest = _one(con, "select max(as_of_date) from scores.customer_scores")[0]
        if latest is None:
            raise SystemExit("scores.customer_scores is empty: run the score DAG before publish.")
        as_of_date = as_of_date or latest
        query = "select count(*) from scores.customer_scores where as_of_date = ?"
        if _one(con, query, [as_of_date])[0] == 0:
            _refuse_an_unscorable_date(con, as_of_date)
            raise SystemExit(f"scores.customer_scores has no scores of {as_of_date}: score that date first.")
    return as_of_date


def _refuse_an_unscorable_date(con: duckdb.DuckDBPyConnection, as_of_date: date) -> None:
    """Stop in one sentence when an unscored date cannot be scored either (cvw score refuses it)."""
    refuse_a_future_date(
        as_of_date,
        f"{as_of_date}",
        lambda latest: (
            f"no date after {latest} can be scored, so there is nothing to publish there. Give a scored "
            "date, or none for the latest."
        ),
    )
    first = first_order_at(con)
    if first is not None and as_of_date <= first.date():
        raise SystemExit(
            f"scores.customer_scores has no scores of {as_of_date}, and none can be made: the date is not "
            f"after the first order ({first.date()}). Give a later date, or none for the latest."
        )


def _marts_warning(as_of_date: date, marts_date: date | None, without_rfm: int) -> str | None:
    """Return the warning of a date the marts were not built for whose RFM columns came out empty.

    A scoring keeps its date's RFM rows (scores.customer_rfm); a date scored before they were kept has
    only marts.customer_rfm's, of the marts' date. The profile is there whatever the date
    (bi.customer_value reads it from dim_customers, and its tenure as of the date).
    """
    if marts_date is None or str(marts_date) == str(as_of_date) or not without_rfm:
        return None
    return (
        f"Warning: the marts are as of {marts_date}, so the RFM columns of {as_of_date} are empty (scored "
        f"before each scoring kept its RFM rows); score it again (cvw score --as-of-date {as_of_date}) to "
        "fill them."
    )


def _model_warning(artifacts_dir: Path, version: str | None, as_of_date: date) -> str | None:
    """Return the warning of scores whose model version has no metadata file left (pruned), else None."""
    from ml.artifacts import version_dir

    if version is None or (version_dir(artifacts_dir, version) / "metadata.json").exists():
        return None
    return (
        f"Warning: the folder of model version {version}, which scored {as_of_date}, is gone from "
        f"{artifacts_dir} (`cvw models prune` removes old versions' folders), so bi.model_performance has "
        "no champion_out_of_time rows for it."
    )


def _copy(con: duckdb.DuckDBPyConnection, as_of_date: date, artifacts_dir: Path) -> dict[str, object]:
    """Copy the warehouse's bi marts into the connection's database; return the snapshot it holds."""
    marts_date = _one(
        con, "select max(cutoff_date) from warehouse.marts.customer_features where is_scoring_date"
    )[0]
    con.execute("create schema bi")
    con.execute(
        "create table bi.customer_value as select * from warehouse.bi.customer_value "
        "order by predicted_revenue desc, customer_id"
    )
    con.execute(
        "create table bi.segment_summary as select * from warehouse.bi.segment_summary "
        "order by predicted_revenue desc, rfm_segment, value_tier"
    )
    # the scoring model's own out-of-time metrics live in its metadata file, which dbt does not read
    (version,) = _one(con, "select max(model_version) from bi.customer_value")
    con.register("scoring_model_frame", scoring_model_performance(artifacts_dir, version))
    columns = ", ".join(PERFORMANCE_COLUMNS)
    con.execute(
        f"""
        create table bi.model_performance as
        select * from (
            select
                source::varchar as source, model::varchar as model, model_version::varchar as model_version,
                cutoff_date::date as cutoff_date, horizon_days::integer as horizon_days,
                metric::varchar as metric, value::double as value, customers::bigint as customers,
                evaluated_at::timestamp as evaluated_at, is_out_of_time::boolean as is_out_of_time
            from scoring_model_frame
            union all
            select {columns} from warehouse.bi.model_performance
        )
        order by source, model, metric
        """
    )
    con.unregister("scoring_model_frame")
    (customers,) = _one(con, "select count(*) from bi.customer_value")
    snapshot = {
        "as_of_date": as_of_date,
        "customers": customers,
        "model_version": version,
        "marts_as_of_date": marts_date,
        "published_at": datetime.now(UTC).replace(tzinfo=None),
    }
    con.execute(
        "create table bi.snapshot as select $as_of_date::date as as_of_date, "
        "$customers::bigint as customers, "
        "$model_version::varchar as model_version, $marts_as_of_date::date as marts_as_of_date, "
        "$published_at::timestamp as published_at",
        snapshot,
    )
    return snapshot


def describe_snapshot(snapshot: dict[str, object]) -> str:
    """Return one sentence saying what a publish served: the date, customers, model, marts and file."""
    return (
        f"published the scores of {snapshot['as_of_date']} ({snapshot['customers']:,} customers, model "
        f"{snapshot['model_version']}; marts built as of {snapshot['marts_as_of_date']}) to "
        f"{snapshot['path']}"
    )


def publish_serving(
    as_of_date: date | None = None, warehouse_path: Path | None = None, serving_path: Path | None = None
) -> dict[str, object]:
    """Replace the serving file by a new snapshot of the scores at a date (default: the latest); return it."""
    settings = get_settings()
    warehouse = Path(warehouse_path or settings.warehouse_path)
    serving = Path(serving_path or settings.serving_path)
    if not warehouse.exists():
        raise SystemExit(f"The warehouse {warehouse} does not exist: run the pipeline before publish.")
    config = serving_file_config(serving, warehouse, settings.serving_storage_version)
    as_of_date = _published_date(warehouse, as_of_date)
    run_dbt(
        ["build", "--select", "tag:bi"],
        warehouse_path=warehouse,
        dbt_vars={"bi_as_of_date": as_of_date.isoformat()},
    )
    snapshot, warnings = _write_copy(warehouse, serving, as_of_date, config)
    for warning in filter(None, warnings):
        print(warning)
    return {**snapshot, "path": str(serving)}


def _write_copy(
    warehouse: Path, serving: Path, as_of_date: date, config: dict[str, str]
) -> tuple[dict[str, object], list[str | None]]:
    """Replace the serving file by a copy of the warehouse's bi marts; return its snapshot and warnings.

    The warehouse is attached once dbt has let go of it: a process that opened it read-write in between
    (a notebook, `cvw score`) is waited for (include.warehouse.attach_when_free), as dbt itself would.
    """
    settings = get_settings()
    serving.parent.mkdir(parents=True, exist_ok=True)
    # publishes run one at a time (the writer lane): a temporary file here is one a killed publish left
    for leftover in serving.parent.glob(f".{serving.name}.*.tmp*"):
        leftover.unlink(missing_ok=True)
    temporary = serving.with_name(f".{serving.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect(str(temporary), config=config) as con:
            # it reads and sorts the warehouse's largest table: within the limit of every warehouse connection
            settle(con, settings.duckdb_memory_limit)
            attach_when_free(con, warehouse, "warehouse")
            snapshot = _copy(con, as_of_date, settings.artifacts_dir)
            (without_rfm,) = _one(con, "select count(*) - count(rfm_segment) from bi.customer_value")
            warnings = [
                _marts_warning(as_of_date, snapshot["marts_as_of_date"], without_rfm),
                _model_warning(settings.artifacts_dir, snapshot["model_version"], as_of_date),
            ]
            con.execute("detach warehouse")
            con.execute("checkpoint")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
        # a write-ahead log beside the old file (a reader that opened it read-write, against docs/bi.md)
        # belongs to that file: next to the new one, DuckDB would refuse to open it
        serving.with_name(serving.name + ".wal").unlink(missing_ok=True)
        os.replace(temporary, serving)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return snapshot, warnings

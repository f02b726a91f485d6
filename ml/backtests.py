"""Backtests (ml.backtests): realized against predicted for every past scoring date whose horizon has elapsed,
and whether the model that scored it learnt from none of those outcomes (is_out_of_time: out_of_time).

Each date's score rows are joined with what the customers did in the horizon they were scored for (the dbt
view marts.score_outcomes); a backtest is kept while its scores and its window's orders are unchanged
(run_backtests). Drift, the other half of monitoring, is ml.monitor's; ml.monitor_champion runs both.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from include.warehouse import has_table, transaction
from ml import metrics

SCORE_SOURCES = ("scores.customer_scores",)
OUTCOMES_VIEW = "marts.score_outcomes"  # what each scored customer did in the horizon (dbt, marts/ml)
WINDOWS_VIEW = "marts.score_outcome_windows"  # its complete windows, with their orders' fingerprint
BACKTESTS_DDL = """
create table if not exists ml.backtests (
    as_of_date date not null,
    model_version varchar not null,
    horizon_days integer not null,
    run_at timestamp not null,
    customers integer not null,
    predicted_revenue double not null,
    realized_revenue double not null,
    revenue_bias double,
    revenue_mae double not null,
    revenue_spearman double,
    predicted_churn_rate double not null,
    realized_churn_rate double not null,
    churn_roc_auc double,
    scored_at timestamp,
    orders_fingerprint varchar,
    is_out_of_time boolean,
    predicted_orders double,
    realized_orders double,
    orders_bias double,
    orders_mae double,
    primary key (as_of_date, model_version, horizon_days)
)
"""
# What a backtest was computed from: the scores' scored_at and its window's orders (WINDOWS_VIEW). Null in
# rows of a table made before them, which the next run recomputes.
BACKTEST_INPUT_COLUMNS = {"scored_at": "timestamp", "orders_fingerprint": "varchar"}
# Whether the model learnt from no outcome of the scored window (training_windows, out_of_time): read from
# ml.model_registry, not from the outcomes, so every run sets it on kept rows too and a table made before
# it gains it filled without recomputing a backtest.
OUT_OF_TIME_COLUMN = {"is_out_of_time": "boolean"}
# The scores' predicted_orders against the orders placed in the horizon, from the same joined rows as the
# revenue's. Null in rows of a table made before them: the next run recomputes those rows, from the scores
# and window they were computed from.
ORDERS_COLUMNS = {
    "predicted_orders": "double",
    "realized_orders": "double",
    "orders_bias": "double",
    "orders_mae": "double",
}
BACKTEST_KEY = ["as_of_date", "model_version", "horizon_days"]  # ml.backtests' primary key
BACKTEST_COLUMNS = [
    *BACKTEST_KEY,
    "run_at",
    "customers",
    "predicted_revenue",
    "realized_revenue",
    "revenue_bias",
    "revenue_mae",
    "revenue_spearman",
    "predicted_churn_rate",
    "realized_churn_rate",
    "churn_roc_auc",
    *BACKTEST_INPUT_COLUMNS,
    *OUT_OF_TIME_COLUMN,
    *ORDERS_COLUMNS,
]


def _totals(name: str, predicted: np.ndarray, realized: np.ndarray) -> dict[str, float | None]:
    """Return the predicted and realized totals of `name`, their bias (None when none was realized), MAE."""
    predicted_total, realized_total = float(predicted.sum()), float(realized.sum())
    return {
        f"predicted_{name}": predicted_total,
        f"realized_{name}": realized_total,
        f"{name}_bias": (predicted_total - realized_total) / realized_total if realized_total else None,
        f"{name}_mae": metrics.mean_absolute_error(realized, predicted),
    }


def _backtest_row(held: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Return the realized-vs-predicted metrics of one scoring date's joined rows."""
    churned, probability = held["is_churned"].astype(bool), held["churn_probability"]
    return {
        "customers": len(probability),
        **_totals("revenue", held["predicted_revenue"], held["revenue"]),
        "revenue_spearman": metrics.spearman(held["revenue"], held["predicted_revenue"]),
        "predicted_churn_rate": float(probability.mean()),
        "realized_churn_rate": float(churned.mean()),
        "churn_roc_auc": metrics.roc_auc(churned, probability),
        **_totals("orders", held["predicted_orders"], held["orders"].astype(float)),
    }


def ensure_backtests_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ml.backtests, or add the columns a table made before them lacks (its rows then recompute)."""
    from include.warehouse import ensure_table

    added = BACKTEST_INPUT_COLUMNS | OUT_OF_TIME_COLUMN | ORDERS_COLUMNS
    ensure_table(con, "ml", "backtests", BACKTESTS_DDL, added)


def training_windows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, list[date]]]:
    """Return each registered model version's horizon and the cutoffs whose label windows it learnt from.

    The registry's `cutoffs` are those the saved model (ml.train's champion: refit_cutoffs, every labelled
    cutoff of its training) was fitted on; its test cutoff, where it was calibrated, and validation cutoff
    are added, which a registry row listing only the evaluated model's cutoffs lacks. A version with
    neither is left out (unknown), as is a warehouse without a registry.
    """
    from ml.registry import ensure_registry

    if not has_table(con, "ml", "model_registry", views=False):
        return {}
    ensure_registry(con)  # a registry made before test_cutoff and validation_cutoff gains them, empty
    rows = con.execute(
        "select model_version, max(horizon_days), max(cutoffs), max(test_cutoff), max(validation_cutoff) "
        "from ml.model_registry group by model_version"
    ).fetchall()
    windows = {}
    for version, horizon_days, cutoffs, test_cutoff, validation_cutoff in rows:
        learnt = {date.fromisoformat(cutoff) for cutoff in json.loads(cutoffs or "[]")}
        learnt |= {cutoff for cutoff in (test_cutoff, validation_cutoff) if cutoff is not None}
        if learnt:
            windows[version] = (int(horizon_days), sorted(learnt))
    return windows


def out_of_time(as_of_date: date, horizon_days: int, training: tuple[int, list[date]] | None) -> bool | None:
    """Return whether no label window the model learnt from overlaps the scored one; None when unknown.

    A cutoff c of a model of horizon m labels [c, c + m); the date scored for h days is backtested on
    [as_of_date, as_of_date + h). They share a day when c < as_of_date + h and as_of_date < c + m: the model
    then learnt from outcomes it is being judged on (in-sample), as for a past date backfilled with a later
    champion. `training` is training_windows' entry of the scoring model.
    """
    if training is None:
        return None
    model_horizon, cutoffs = training
    return not any(
        cutoff < as_of_date + timedelta(days=horizon_days)
        and as_of_date < cutoff + timedelta(days=model_horizon)
        for cutoff in cutoffs
    )


def run_backtests(
    con: duckdb.DuckDBPyConnection,
    source: str = "scores.customer_scores",
    run_at: datetime | None = None,
    recompute: bool = False,
) -> pd.DataFrame:
    """Backtest each (as_of_date, model_version, horizon) of the score table whose horizon has elapsed.

    Each score row is compared with what the customer did in the horizon the scores were made for (a date
    scored by a 365-day model over 365 days, whatever the champion's horizon now): marts.score_outcomes,
    the view that labels every scored date as customer_labels labels a cutoff, with its window complete
    (as_of_date + horizon <= the as-of date of the marts). Every scoring date is backtested, not only the
    spine's month starts.

    A backtest is computed once and kept while what it was computed from stays: the date's scores (their
    scored_at: re-scoring replaces them) and the orders of its window (the fingerprint in
    marts.score_outcome_windows: a late order, a cancellation or a revalued order changes it). So a run
    computes the new windows and the changed ones only, not every date ever scored; `recompute` computes
    them all. A row whose window is no longer scored or complete (the date re-scored by another model, the
    marts rebuilt as of an earlier date) goes. Every row, kept or computed, gets `is_out_of_time` from the
    registry as it is now (out_of_time). ml.backtests is updated in one transaction; every row it
    holds afterwards is returned, `recomputed` True for those this run computed.
    """
    if source not in SCORE_SOURCES:
        raise ValueError(f"source must be one of {SCORE_SOURCES}, not {source!r}")
    run_at = run_at or datetime.now(UTC).replace(tzinfo=None)
    ensure_backtests_table(con)
    fingerprints = {
        (as_of_date, horizon_days): fingerprint
        for as_of_date, horizon_days, fingerprint in con.execute(
            f"select as_of_date, horizon_days, orders_fingerprint from {WINDOWS_VIEW}"
        ).fetchall()
    }
    scored = con.execute(
        f"select as_of_date, model_version, horizon_days, max(scored_at) from {source} "
        "group by as_of_date, model_version, horizon_days order by 1, 2, 3"
    ).fetchall()
    stored = {  # a row made before the orders' columns is recomputed: it lacks their metrics
        (as_of_date, model_version, horizon_days): (scored_at, fingerprint)
        for as_of_date, model_version, horizon_days, scored_at, fingerprint in con.execute(
            "select as_of_date, model_version, horizon_days, scored_at, orders_fingerprint from ml.backtests "
            "where predicted_orders is not null"
        ).fetchall()
    }
    windows = training_windows(con)
    kept, rows = [], []
    for as_of_date, model_version, horizon_days, scored_at in scored:
        key = (as_of_date, model_version, horizon_days)
        fingerprint = fingerprints.get((as_of_date, horizon_days))
        if fingerprint is None:  # its horizon has not elapsed yet
            continue
        is_out_of_time = out_of_time(as_of_date, horizon_days, windows.get(model_version))
        if not recompute and stored.get(key) == (scored_at, fingerprint):
            kept.append((*key, is_out_of_time))
            continue
        held = con.execute(  # one date at a time: the view reads its scores only
            f"""
            select scores.predicted_revenue, scores.churn_probability, scores.predicted_orders,
                outcomes.revenue, outcomes.is_churned, outcomes.orders
            from {source} as scores
            inner join {OUTCOMES_VIEW} as outcomes
                on scores.customer_id = outcomes.customer_id
                and scores.as_of_date = outcomes.as_of_date
                and scores.horizon_days = outcomes.horizon_days
            where scores.as_of_date = ? and scores.model_version = ? and scores.horizon_days = ?
            """,
            list(key),
        ).fetchnumpy()
        held = {name: np.asarray(values) for name, values in held.items()}
        if not len(held["revenue"]):
            continue
        rows.append(
            {
                "as_of_date": as_of_date,
                "model_version": model_version,
                "horizon_days": horizon_days,
                "run_at": run_at,
                **_backtest_row(held),
                "scored_at": scored_at,
                "orders_fingerprint": fingerprint,
                "is_out_of_time": is_out_of_time,
            }
        )
    computed = pd.DataFrame(rows, columns=BACKTEST_COLUMNS).astype({"is_out_of_time": "boolean"})
    kept_keys = pd.DataFrame(kept, columns=[*BACKTEST_KEY, *OUT_OF_TIME_COLUMN]).astype(
        {"is_out_of_time": "boolean"}
    )
    con.register("computed_backtests", computed)
    con.register("kept_backtests", kept_keys)
    try:
        with transaction(con):
            con.execute(
                """
                delete from ml.backtests
                where not exists (
                    select 1 from kept_backtests as kept
                    where kept.as_of_date = backtests.as_of_date
                        and kept.model_version = backtests.model_version
                        and kept.horizon_days = backtests.horizon_days
                )
                """
            )
            con.execute(f"insert into ml.backtests ({', '.join(BACKTEST_COLUMNS)}) "
                        f"select {', '.join(BACKTEST_COLUMNS)} from computed_backtests")  # fmt: skip
            con.execute(  # a kept row's flag follows the registry (a row from before the column gets it)
                """
                update ml.backtests set is_out_of_time = kept.is_out_of_time
                from kept_backtests as kept
                where kept.as_of_date = backtests.as_of_date
                    and kept.model_version = backtests.model_version
                    and kept.horizon_days = backtests.horizon_days
                    and kept.is_out_of_time is distinct from backtests.is_out_of_time
                """
            )
    finally:
        con.unregister("computed_backtests")
        con.unregister("kept_backtests")
    recomputed = {tuple(row[column] for column in BACKTEST_KEY) for row in rows}
    result = pd.DataFrame(
        con.execute(f"select {', '.join(BACKTEST_COLUMNS)} from ml.backtests order by 1, 2, 3").fetchall(),
        columns=BACKTEST_COLUMNS,
    )
    keys = result[BACKTEST_KEY].itertuples(index=False, name=None)
    result["recomputed"] = [key in recomputed for key in keys]
    return result

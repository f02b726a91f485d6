"""Backtests (ml.backtests): realized against predicted for every past scoring date whose horizon has elapsed,
and whether the model that scored it learnt from none of those outcomes (is_out_of_time: out_of_time).

Each date's score rows are joined with what the customers did in the horizon they were scored for (the dbt
view marts.score_outcomes); a backtest is kept while its scores and its window's orders are unchanged
(run_backtests). Drift, the other half of monitoring, is ml.monitor's; ml.monitor_champion runs both.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd

from include.warehouse import transaction
from ml import metrics
from ml.backtest_windows import out_of_time, training_windows  # noqa: F401 (their home before)

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
    next_order_customers integer,
    next_order_mdae_days double,
    next_order_early_share double,
    next_order_dated_customers integer,
    next_order_by_date_share double,
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
# The scores' expected_next_order_date against the first order each customer placed in the horizon
# (marts.score_outcomes' first_order_date): over the customers who ordered and had an expected date, how
# many, the median absolute error in days and the share who ordered before it; and, as the date is the
# median of the next order (ml.next_order), over every customer shown a date, how many, and the share who
# ordered on or before it (near 1/2 when the scores are calibrated). Null in rows of a table made before
# them, or computed from a view built before first_order_date: the next run recomputes those rows.
NEXT_ORDER_COLUMNS = {
    "next_order_customers": "integer",
    "next_order_mdae_days": "double",
    "next_order_early_share": "double",
    "next_order_dated_customers": "integer",
    "next_order_by_date_share": "double",
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
    *NEXT_ORDER_COLUMNS,
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


def _next_order(expected: np.ndarray, first: np.ndarray) -> dict[str, float | None]:
    """Return NEXT_ORDER_COLUMNS of the expected next order dates against the first realized ones (NaT:
    none expected, or no order placed): the first three of the customers with both dates, the last two of
    every customer with an expected date."""
    dated = ~np.isnat(expected)
    both = dated & ~np.isnat(first)
    errors = (first[both] - expected[both]) / np.timedelta64(1, "D")  # days after the expected date
    return {
        "next_order_customers": int(both.sum()),
        "next_order_mdae_days": float(np.median(np.abs(errors))) if both.any() else None,
        "next_order_early_share": float(np.mean(errors < 0)) if both.any() else None,
        "next_order_dated_customers": int(dated.sum()),
        "next_order_by_date_share": float(np.sum(errors <= 0) / dated.sum()) if dated.any() else None,
    }


def _filled(values: np.ndarray) -> np.ndarray:
    """Return a fetched column as a plain array, its NULLs NaT (dates) or NaN (numbers), not the masked
    array's underlying values (the epoch, 0)."""
    if not np.ma.isMaskedArray(values):
        return np.asarray(values)
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]").filled(np.datetime64("NaT"))
    return values.astype(float).filled(np.nan) if values.dtype.kind in "fiu" else values.filled()


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
        # unknown (None, recomputed later), not "nobody ordered" (0), from a view without first_order_date
        **(
            _next_order(held["expected_next_order_date"], held["first_order_date"])
            if "first_order_date" in held
            else dict.fromkeys(NEXT_ORDER_COLUMNS)
        ),
    }


def ensure_backtests_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ml.backtests, or add the columns a table made before them lacks (its rows then recompute)."""
    from include.warehouse import ensure_table

    added = BACKTEST_INPUT_COLUMNS | OUT_OF_TIME_COLUMN | ORDERS_COLUMNS | NEXT_ORDER_COLUMNS
    ensure_table(con, "ml", "backtests", BACKTESTS_DDL, added)


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
    stored = {  # a row made before the orders' or the next order's columns is recomputed: it lacks them
        (as_of_date, model_version, horizon_days): (scored_at, fingerprint)
        for as_of_date, model_version, horizon_days, scored_at, fingerprint in con.execute(
            "select as_of_date, model_version, horizon_days, scored_at, orders_fingerprint from ml.backtests "
            "where predicted_orders is not null and next_order_dated_customers is not null"
        ).fetchall()
    }
    # a view built before first_order_date lacks it until the next build: the next order's columns stay null
    first_order = (
        ", outcomes.first_order_date" if "first_order_date" in con.table(OUTCOMES_VIEW).columns else ""
    )
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
                scores.expected_next_order_date, outcomes.revenue, outcomes.is_churned, outcomes.orders
                {first_order}
            from {source} as scores
            inner join {OUTCOMES_VIEW} as outcomes
                on scores.customer_id = outcomes.customer_id
                and scores.as_of_date = outcomes.as_of_date
                and scores.horizon_days = outcomes.horizon_days
            where scores.as_of_date = ? and scores.model_version = ? and scores.horizon_days = ?
            """,
            list(key),
        ).fetchnumpy()
        held = {name: _filled(values) for name, values in held.items()}
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

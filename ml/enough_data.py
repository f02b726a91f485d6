"""Whether the marts hold enough data to train: their summary, the minimums it is held to, and the one
sentence that says what is missing (too few customers, too short a history, no labels of the horizon).

ml.train checks them before it fits anything, and ml.evaluate the label horizon (require_label_horizon).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from ml.data import require_mart_columns

MIN_CUSTOMERS_WITH_ORDERS = 500
MIN_HISTORY_DAYS = 180


@dataclass(frozen=True)
class TrainingDataSummary:
    """What the marts hold for training: the numbers check_enough_data compares with its minimums."""

    customers_with_orders: int
    history_days: int
    customers_with_3_orders: int
    labelled_cutoffs: int
    horizon_days: int
    # whether the labelled cutoffs hold a test, a validation and a fitting cutoff each a horizon apart
    # (ml.fitting.split_cutoffs); the marts' cutoffs start 90 days after the first order (dbt var
    # spine_min_history_days), so at 90 days this takes about a year of history, not MIN_HISTORY_DAYS
    evaluable: bool = True


def summarize_training_data(con: duckdb.DuckDBPyConnection, horizon_days: int) -> TrainingDataSummary:
    """Return the training-data summary read from marts.customer_features and marts.customer_labels."""
    try:
        customers, history, repeaters = con.execute(
            """
            with latest as (
                select max(cutoff_date) as cutoff_date from marts.customer_features
            )

            select
                count(*),
                coalesce(max(features.days_since_first_order), 0),
                count(*) filter (where features.orders_lifetime >= 3)
            from marts.customer_features as features
            inner join latest on features.cutoff_date = latest.cutoff_date
            """
        ).fetchone()
        labelled, fitting = con.execute(
            """
            with labelled as (
                select distinct cutoff_date from marts.customer_labels where horizon_days = $horizon
            ),

            validation as (
                select max(cutoff_date) as cutoff_date
                from labelled
                where cutoff_date + $horizon <= (select max(cutoff_date) from labelled)
            )

            select
                count(*),
                count(*) filter (where cutoff_date + $horizon <= (select cutoff_date from validation))
            from labelled
            """,
            {"horizon": horizon_days},
        ).fetchone()
    except duckdb.CatalogException:
        raise SystemExit(
            "marts.customer_features or marts.customer_labels does not exist: "
            "run the dbt build first (cvw build)."
        ) from None
    except duckdb.BinderException:
        require_mart_columns(con)  # a column read above was renamed or dropped: the sentence names it
        raise
    return TrainingDataSummary(
        int(customers), int(history), int(repeaters), int(labelled), horizon_days, evaluable=fitting > 0
    )


def require_label_horizon(con: duckdb.DuckDBPyConnection, horizon_days: int, verb: str = "train") -> None:
    """Stop with one sentence when the marts have no labels of the horizon: no build would make them, or
    the marts were built before the horizon was one of the build's while their cutoffs would have some.

    A build makes the label windows of include.dbt.label_horizons (dbt_project.yml's and CVW_HORIZON_DAYS),
    and the persistence baseline needs an order window of the horizon's length (ml.baselines): another
    horizon, or CVW_HORIZON_DAYS changed since the build, found no labelled cutoff and was reported as too
    little data, with the advice to load a longer history or shorten the horizon.
    """
    from include.dbt import label_horizons
    from ml.baselines import require_persistence_window

    require_persistence_window(horizon_days)
    built = label_horizons()
    try:
        [(held, due, latest)] = con.execute(
            """
            with cutoffs as (select distinct cutoff_date from marts.customer_features)
            select
                (select count(*) from marts.customer_labels where horizon_days = $horizon),
                count(*) filter (where cutoff_date + $horizon <= (select max(cutoff_date) from cutoffs)),
                max(cutoff_date)
            from cutoffs
            """,
            {"horizon": horizon_days},
        ).fetchall()
    except duckdb.CatalogException:
        held = due = latest = None  # summarize_training_data says to build the marts
    if held:
        return
    if horizon_days not in built:
        raise SystemExit(
            f"The marts have no {horizon_days}-day labels (a build makes {', '.join(map(str, built))}): set "
            f"CVW_HORIZON_DAYS={horizon_days} and rebuild them (cvw build) to {verb} for {horizon_days} days."
        )
    if due:  # a build with the horizon labels these cutoffs: the marts predate the setting
        raise SystemExit(
            f"The marts have no {horizon_days}-day labels, though {due} of their cutoffs are {horizon_days} "
            f"days or more before the latest ({latest}): they were built without that horizon; rebuild them "
            f"(cvw build) to {verb} for {horizon_days} days."
        )
    # else a short history holds none: check_enough_data says so


def check_enough_data(
    summary: TrainingDataSummary,
    min_customers: int = MIN_CUSTOMERS_WITH_ORDERS,
    min_history_days: int = MIN_HISTORY_DAYS,
) -> None:
    """Return None with enough data to train; else raise SystemExit naming what is missing in one sentence."""
    missing = []
    if summary.customers_with_orders < min_customers:
        missing.append(
            f"only {summary.customers_with_orders} customers with a completed order "
            f"(at least {min_customers})"
        )
    if summary.history_days < min_history_days:
        missing.append(f"only {summary.history_days} days of order history (at least {min_history_days})")
    if summary.customers_with_3_orders == 0:
        missing.append("no customer with 3 or more orders")
    if summary.labelled_cutoffs == 0:
        missing.append(f"no cutoff with a complete {summary.horizon_days}-day label window")
    elif not summary.evaluable:  # else ml.fitting.split_cutoffs refused it after this check had passed
        missing.append(
            f"fewer than three cutoffs with a complete {summary.horizon_days}-day label window, each "
            f"{summary.horizon_days} days or more after the one before (to fit, validate and test on)"
        )
    if missing:
        # the advice is for what is missing: more customers do not lengthen the history, nor a shorter
        # horizon add customers; it shortens the label windows (and their spacing) alone
        loads = []
        if summary.customers_with_orders < min_customers:
            loads.append("the orders of more customers")
        if (
            summary.history_days < min_history_days
            or summary.customers_with_3_orders == 0
            or summary.labelled_cutoffs == 0
            or not summary.evaluable
        ):
            loads.append("a longer order history")
        shorter = summary.labelled_cutoffs == 0 or not summary.evaluable
        advice = f"load {' and '.join(loads)}" + (
            " or use a shorter horizon (CVW_HORIZON_DAYS)" if shorter else ""
        )
        raise SystemExit(f"Too little data to train: {', '.join(missing)}; {advice}.")


def check_enough_sampled(
    summary: TrainingDataSummary,
    sample_share: float,
    max_customers: int | None,
    min_customers: int = MIN_CUSTOMERS_WITH_ORDERS,
) -> None:
    """Return None when the customer sample training reads holds at least min_customers; else raise
    SystemExit saying so in one sentence (check_enough_data counts every customer, not the sample)."""
    sampled = round(summary.customers_with_orders * sample_share)
    if sampled < min_customers:
        raise SystemExit(
            f"Too little data to train: CVW_TRAIN_MAX_CUSTOMERS={max_customers:,} samples about {sampled:,} "
            f"of the {summary.customers_with_orders:,} customers with a completed order (at least "
            f"{min_customers} are needed); raise CVW_TRAIN_MAX_CUSTOMERS to {min_customers} or more."
        )

"""Discounted customer lifetime value and the per-customer value fields, plus the too-little-data guard.

Discounted CLV over the prediction horizon is

    CLV = sum over months t = 1..T of margin_t / (1 + r) ** t

with r the monthly discount rate (setting CVW_DISCOUNT_RATE_MONTHLY, default 0.01) and T the horizon in
whole months (horizon_days / 30.4375, rounded; at least 1). The models predict one amount for the whole
horizon, so we assume the margin is spread evenly over its months (margin_t = margin / T) and that each
month's margin arrives at the month's end (hence t starts at 1). The margin is the predicted margin when a
model provides one, else the predicted revenue x the gross-margin rate (setting CVW_GROSS_MARGIN_RATE,
default 0.4). The functions take both rates as arguments; they never read settings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.data import arrow_floats, require_mart_columns
from ml.next_order import expected_next_order_dates

DEFAULT_DISCOUNT_RATE_MONTHLY = 0.01
DEFAULT_GROSS_MARGIN_RATE = 0.4
DAYS_PER_MONTH = 365.25 / 12
MIN_CUSTOMERS_WITH_ORDERS = 500
MIN_HISTORY_DAYS = 180

# The mart columns customer_value_fields reads (ml.score carries them through its two passes)
VALUE_COLUMNS = (
    "customer_id",
    "revenue_lifetime",
    "avg_order_value",
    "orders_lifetime",
    "order_days_lifetime",
    "days_since_first_order",
    "days_since_last_order",
)
CUSTOMER_VALUE_COLUMNS = (
    "customer_id",
    "historic_revenue",
    "predicted_revenue",
    "predicted_orders",
    "churn_probability",
    "discounted_clv",
    "avg_days_between_orders",
    "expected_next_order_date",
)


def horizon_months(horizon_days: int) -> int:
    """Return the horizon in whole months (90 days -> 3, 180 -> 6, 365 -> 12), at least 1."""
    if horizon_days <= 0:
        raise SystemExit(
            f"The horizon must be a positive number of days, not {horizon_days}: set CVW_HORIZON_DAYS."
        )
    return max(1, round(horizon_days / DAYS_PER_MONTH))


def discount_factors(months: int, discount_rate_monthly: float) -> np.ndarray:
    """Return 1 / (1 + r) ** t for t = 1..months: the present value of 1 received at each month's end."""
    if not 0.0 <= discount_rate_monthly < 1.0:
        raise SystemExit(
            f"The monthly discount rate must be in [0, 1), not {discount_rate_monthly}: "
            "set CVW_DISCOUNT_RATE_MONTHLY (0.01 is 1% a month)."
        )
    return 1.0 / (1.0 + discount_rate_monthly) ** np.arange(1, months + 1)


def discounted_clv(
    predicted_revenue: np.ndarray,
    horizon_days: int,
    discount_rate_monthly: float = DEFAULT_DISCOUNT_RATE_MONTHLY,
    gross_margin_rate: float = DEFAULT_GROSS_MARGIN_RATE,
    predicted_margin: np.ndarray | None = None,
) -> np.ndarray:
    """Return each customer's discounted margin over the horizon, spread evenly over its months."""
    if predicted_margin is None:
        if not 0.0 <= gross_margin_rate <= 1.0:
            raise SystemExit(
                f"The gross-margin rate must be in [0, 1], not {gross_margin_rate}: "
                "set CVW_GROSS_MARGIN_RATE."
            )
        margin = np.asarray(predicted_revenue, dtype=float) * gross_margin_rate
    else:
        margin = np.asarray(predicted_margin, dtype=float)
    months = horizon_months(horizon_days)
    return margin / months * discount_factors(months, discount_rate_monthly).sum()


def expected_orders(
    predicted_revenue: np.ndarray, avg_order_value: np.ndarray, fallback_orders: np.ndarray | None = None
) -> np.ndarray:
    """Return predicted revenue / historic average order value: the orders when no model predicts them.

    Where the average is 0 or missing (only free or fully refunded orders: revenue is never negative), the
    ratio says nothing about how often the customer orders; those rows get fallback_orders (BG/NBD's
    expected purchases in the horizon, which do not depend on order value, in orders: ml.score), else 0.
    """
    revenue = np.asarray(predicted_revenue, dtype=float)
    aov = np.asarray(avg_order_value, dtype=float)
    fallback = np.zeros_like(revenue) if fallback_orders is None else np.asarray(fallback_orders, dtype=float)
    fallback = np.where(np.isfinite(fallback), fallback, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(aov > 0, revenue / aov, fallback)


def orders_per_order_day(features: pa.Table) -> np.ndarray:
    """Return each row's completed orders per day with one (orders_lifetime / order_days_lifetime), else 1."""
    orders = arrow_floats(features.column("orders_lifetime"))
    days = arrow_floats(features.column("order_days_lifetime"))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(days > 0, orders / days, 1.0)


def days_between_order_days(features: pa.Table) -> pa.Array:
    """Return each row's mean days between its days with a completed order; null with fewer than two.

    The first and the last such day are days_since_first_order and days_since_last_order before the
    cutoff, so the mean of the order_days_lifetime - 1 gaps between them is their difference over that
    count. Several orders on one day count once, as a customer (and BG/NBD) sees one shopping day: the
    mart's mean_days_between_orders, a model feature, counts them as gaps of 0 days instead.
    """
    first = arrow_floats(features.column("days_since_first_order"))
    last = arrow_floats(features.column("days_since_last_order"))
    days = arrow_floats(features.column("order_days_lifetime"))
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = np.where(days > 1, (first - last) / (days - 1), np.nan)
    return pa.array(gaps, type=pa.float64(), from_pandas=True)


def customer_value_fields(
    features: pa.Table,
    predicted_revenue: np.ndarray,
    churn_probability: np.ndarray,
    as_of_date: date,
    horizon_days: int,
    discount_rate_monthly: float = DEFAULT_DISCOUNT_RATE_MONTHLY,
    gross_margin_rate: float = DEFAULT_GROSS_MARGIN_RATE,
    predicted_orders: np.ndarray | None = None,
    predicted_margin: np.ndarray | None = None,
    fallback_orders: np.ndarray | None = None,
) -> pa.Table:
    """Return CUSTOMER_VALUE_COLUMNS for the rows of a customer_features table and their predictions.

    `features` holds the mart's VALUE_COLUMNS. Without predicted_orders, orders are expected_orders of the
    revenue and the mart's avg_order_value, fallback_orders (BG/NBD's expected purchases) where that
    average is 0 or missing. The mart's columns stay Arrow arrays (customer ids are never turned into
    Python strings), so a chunk of a million-customer date costs only its arithmetic.
    """
    revenue = np.clip(np.asarray(predicted_revenue, dtype=float), 0.0, None)
    if predicted_orders is None:
        aov = arrow_floats(features.column("avg_order_value"))
        predicted_orders = expected_orders(revenue, aov, fallback_orders)
    orders = np.clip(np.asarray(predicted_orders, dtype=float), 0.0, None)
    churn = np.clip(np.asarray(churn_probability, dtype=float), 0.0, 1.0)
    per_day = orders_per_order_day(features)
    next_order = expected_next_order_dates(orders, churn, as_of_date, horizon_days, per_day)
    return pa.table(
        {
            "customer_id": pc.cast(features.column("customer_id"), pa.string()),
            "historic_revenue": pc.cast(features.column("revenue_lifetime"), pa.float64()),
            "predicted_revenue": revenue,
            "predicted_orders": orders,
            "churn_probability": churn,
            "discounted_clv": discounted_clv(
                revenue, horizon_days, discount_rate_monthly, gross_margin_rate, predicted_margin
            ),
            "avg_days_between_orders": days_between_order_days(features),
            "expected_next_order_date": pa.array(next_order, from_pandas=True).cast(pa.date32()),
        }
    )


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

"""Discounted customer lifetime value and the per-customer value fields.

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

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml.data import arrow_floats
from ml.next_order import expected_next_order_dates

DEFAULT_DISCOUNT_RATE_MONTHLY = 0.01
DEFAULT_GROSS_MARGIN_RATE = 0.4
DAYS_PER_MONTH = 365.25 / 12

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

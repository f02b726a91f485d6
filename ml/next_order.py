"""The expected date of a customer's next order: the median date of their next order under the two scores
they already have, the churn probability and the predicted orders (docs/scores.md, "Expected date of the
next order").

Per customer, with probability q the customer is buying in the horizon of H days and places days with an
order as a Poisson process at rate lam; otherwise none. With x = lam * H, the two scores pin q and x:

    churn probability      p = P(no order in the horizon) = (1 - q) + q * exp(-x)
    expected order days    D = predicted_orders / orders per day with an order = q * x

so q = D / x and (1 - exp(-x)) / x = (1 - p) / D, solved for x >= D (q <= 1) by bisection over every
customer at once. P(an order within t days) is then q * (1 - exp(-x * t / H)), which reaches 1/2 within the
horizon if and only if p < 1/2: the date exists only when an order is more likely than not. Where the
two scores admit no such q and x, the date follows the limit the model approaches:

- D <= 1 - p (no more order days than the chance of any: no x > 0 fits, whatever q): x -> 0, the chance of
  ordering, 1 - p, spread evenly over the horizon, P(an order within t days) = (1 - p) * t / H;
- else p < exp(-D) (fewer churners than D order days allow even if every customer bought: only q > 1 fits):
  q = 1 and x = -ln(p), the churn probability decides and the predicted orders are not used.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

BISECTION_STEPS = 50  # halves the bracket [D, D / (1 - p)] to 2**-50 of its width


def buying_share_and_rate(
    churn_probability: np.ndarray, order_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return each customer's q (the probability of buying in the horizon) and x (lam * H, the order days
    expected of a buyer) that reproduce their churn probability and expected order days.

    x is 0 where the orders are spread evenly (D <= 1 - p: q is then 1 - p) and inf where p is 0 (certain to
    order, at once); NaN where a score is NaN.
    """
    p = np.asarray(churn_probability, dtype=float)
    d = np.asarray(order_days, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = (1.0 - p) / d  # (1 - exp(-x)) / x, which falls from 1 at x = 0 towards 0
        uniform = d <= 1.0 - p  # no x > 0 reaches the target, whatever q
        inconsistent = ~uniform & (p < np.exp(-d))  # only an x < D reaches it: q would exceed 1
        solve = ~inconsistent & ~uniform & np.isfinite(target)
        # (1 - exp(-x)) / x <= 1 / x, so the root lies in [D, 1 / target] = [D, D / (1 - p)]
        low, high = d[solve], 1.0 / target[solve]
        wanted = target[solve]
        for _ in range(BISECTION_STEPS):
            middle = (low + high) / 2
            above = -np.expm1(-middle) / middle > wanted  # the curve is still above the target: x is larger
            low = np.where(above, middle, low)
            high = np.where(above, high, middle)
        x = np.full_like(p, np.nan)
        x[solve] = (low + high) / 2
        x[inconsistent] = -np.log(p[inconsistent])
        x[uniform] = 0.0
        q = np.full_like(p, np.nan)
        q[solve] = d[solve] / x[solve]
        q[inconsistent] = 1.0
        q[uniform] = 1.0 - p[uniform]
    return q, x


def median_days(churn_probability: np.ndarray, order_days: np.ndarray, horizon_days: int) -> np.ndarray:
    """Return the days t after the scoring date's start by which P(an order) reaches 1/2; NaN where it does
    not within the horizon (churn probability 1/2 or more) or a score is missing."""
    p = np.asarray(churn_probability, dtype=float)
    d = np.broadcast_to(np.asarray(order_days, dtype=float), p.shape)
    days = np.full(p.shape, np.nan)
    shown = p < 0.5  # the others get no date: their scores are not solved for
    p, (q, x) = p[shown], buying_share_and_rate(p[shown], d[shown])
    with np.errstate(divide="ignore", invalid="ignore"):
        # q * (1 - exp(-x t / H)) = 1/2; with x = 0, (1 - p) t / H = 1/2
        poisson = -horizon_days / x * np.log1p(-0.5 / q)
        days[shown] = np.where(x > 0, poisson, np.where(x == 0, horizon_days / (2.0 * (1.0 - p)), np.nan))
    return days


def expected_next_order_dates(
    predicted_orders: np.ndarray,
    churn_probability: np.ndarray,
    as_of_date: date,
    horizon_days: int,
    orders_per_order_day: np.ndarray | None = None,
) -> pd.DatetimeIndex:
    """Return the median date of each customer's next order: the first day by whose end the chance that
    they have ordered reaches 1/2; NaT when that chance stays below 1/2 over the horizon.

    The horizon starts at the scoring date's midnight (its day is the horizon's first, as the labels count
    it), so the day holding the median time t50 is as_of_date + ceil(t50) - 1 (the scoring date itself for
    t50 <= 1) and always lies within the horizon. Order days are predicted orders over the customer's orders
    per day with an order (1 when not given): a buyer who places five orders on each day they buy waits for
    their next buying day, not a fifth of it.
    """
    orders = np.asarray(predicted_orders, dtype=float)
    per_day = np.ones_like(orders) if orders_per_order_day is None else np.asarray(orders_per_order_day)
    per_day = np.where(np.isfinite(per_day) & (per_day >= 1.0), per_day, 1.0)
    t50 = median_days(churn_probability, orders / per_day, horizon_days)
    offset = np.maximum(np.ceil(t50) - 1.0, 0.0)
    return pd.Timestamp(as_of_date) + pd.to_timedelta(offset, unit="D")

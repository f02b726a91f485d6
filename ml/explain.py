"""Top reasons per customer from LightGBM's own SHAP contributions, as readable feature names with direction.

`booster.predict(matrix, pred_contrib=True)` returns, per row, one additive contribution per feature (in the
model's raw score: log-odds for churn, log revenue for the Tweedie CLV model) plus the expected value. A
customer's reasons are the features with the largest absolute contributions; the sign gives the direction:
"days since last order ↑ risk" pushes the churn probability up, "revenue last 90 days ↓ value" pulls the
predicted value down.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.data import CALENDAR_FEATURES

DIRECTIONS = {"churn": ("↑ risk", "↓ risk"), "clv": ("↑ value", "↓ value")}
REASON_SEPARATOR = "; "
# Whole-name overrides where the words of the column name read badly.
READABLE_OVERRIDES = {
    "std_days_between_orders": "variability of days between orders",
    "last_gap_to_mean_gap": "days since last order vs usual gap",
    "revenue_trend_90d": "revenue trend (last 90 days vs the 90 before)",
    "orders_trend_90d": "orders trend (last 90 days vs the 90 before)",
    "session_trend_30d": "visit trend (last 30 days vs the 60 before)",
    "days_to_year_end_peak": "days to the holiday peak",
    "cutoff_month": "month of year",
    "top_category_share": "share bought in top category",
    "days_signup_to_first_order": "days from sign-up to first order",
    "order_days_lifetime": "days with an order",
    "first_order_day_revenue": "revenue of the first day with an order",
    "btyd_expected_purchases": "expected purchases (BG/NBD)",
    "btyd_p_alive": "probability still active (BG/NBD)",
    "btyd_expected_order_value": "expected order value (Gamma-Gamma)",
    "btyd_revenue": "expected revenue (BG/NBD x Gamma-Gamma)",
}
_WINDOW = re.compile(r"^(\d+)d$")
_WORDS = {"avg": "average"}
# Calendar features say when the customer is scored, not who the customer is: never given as a reason.
NOT_REASONS = CALENDAR_FEATURES


def readable_name(column: str) -> str:
    """Return a feature column's readable name: overrides, else words with 90d -> "last 90 days"."""
    if column in READABLE_OVERRIDES:
        return READABLE_OVERRIDES[column]
    words = column.split("_")
    suffix = []
    if words and (window := _WINDOW.match(words[-1])):
        suffix = [f"last {window.group(1)} days"]
        words = words[:-1]
    if len(words) > 1 and words[-1] == "lifetime":
        words = ["lifetime", *words[:-1]]
    return " ".join([_WORDS.get(word, word) for word in words] + suffix)


def contributions(
    booster: lgb.Booster, matrix: pd.DataFrame | np.ndarray, num_threads: int | None = None
) -> np.ndarray:
    """Return the (rows x features) SHAP contributions of a single-output booster, without the bias column.

    num_threads: LightGBM threads for this call (default: the booster's own setting).
    """
    options = {} if num_threads is None else {"num_threads": num_threads}
    contrib = np.asarray(booster.predict(matrix, pred_contrib=True, **options), dtype=float)
    if contrib.shape[1] != booster.num_feature() + 1:
        raise ValueError(
            "top reasons need a single-output model (regression or binary), not a multiclass one"
        )
    return contrib[:, :-1]


def top_reasons(
    contrib: np.ndarray, features: Sequence[str], task: str, k: int = 3, exclude: Sequence[str] = NOT_REASONS
) -> np.ndarray:
    """Return a (rows x k) array of reasons, largest |contribution| first; "" where fewer are non-zero.

    Features in `exclude` (by default the calendar features) are never a reason.
    """
    if task not in DIRECTIONS:
        raise ValueError(f"task must be one of {sorted(DIRECTIONS)}, not {task!r}")
    contrib = np.asarray(contrib, dtype=float)
    if contrib.shape[1] != len(features):
        raise ValueError(f"{contrib.shape[1]} contribution columns for {len(features)} features")
    contrib = np.where(np.isin(np.asarray(features, dtype=object), list(exclude)), 0.0, contrib)
    k = min(k, contrib.shape[1])
    # stable sort on -|c|: ties keep feature order, so the same input always gives the same reasons
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(contrib, order, axis=1)
    names = np.array([readable_name(feature) for feature in features], dtype=object)[order]
    up, down = DIRECTIONS[task]
    labelled = np.where(values > 0, names + f" {up}", names + f" {down}")
    return np.where(values != 0, labelled, "").astype(object)


def join_reasons(reasons: np.ndarray) -> np.ndarray:
    """Return one string per row: the row's non-empty reasons joined by REASON_SEPARATOR."""
    reasons = np.asarray(reasons, dtype=object)
    joined = reasons[:, 0].copy()
    for column in range(1, reasons.shape[1]):
        part = reasons[:, column]
        joined = np.where(part != "", joined + REASON_SEPARATOR + part, joined)
    return joined


def explain(
    booster: lgb.Booster, matrix: pd.DataFrame, features: Sequence[str], task: str, k: int = 3
) -> np.ndarray:
    """Return each row's top-k reasons as one "; "-joined string (the score table's reasons columns)."""
    return join_reasons(top_reasons(contributions(booster, matrix), features, task, k))


def hurdle_value_contributions(
    churn_contrib: np.ndarray,
    spend_contrib: np.ndarray,
    churn_probability: np.ndarray,
    platt_slope: float = 1.0,
) -> np.ndarray:
    """Return first-order contributions to log revenue of the hurdle form revenue = (1 - p) x spend.

    log revenue = log(1 - p) + log spend. The spend booster's contributions are already in log space; a
    change dz of the churn booster's raw log-odds moves log(1 - p) by -slope x p x dz, with p the calibrated
    churn probability and slope the Platt slope (p = sigmoid(slope x z + intercept)).
    """
    p = np.asarray(churn_probability, dtype=float)[:, None]
    return np.asarray(spend_contrib, dtype=float) - platt_slope * p * np.asarray(churn_contrib, dtype=float)


def platt_slope(calibration: dict[str, Any]) -> float:
    """Return how much one unit of the churn booster's log-odds moves the calibrated log-odds."""
    churn = calibration.get("churn") or {}
    slope = churn.get("slope", 1.0) if churn.get("method") == "platt" else 1.0
    return float(slope) * float(calibration.get("churn_weight", 1.0))


def value_booster(calibration: dict[str, Any]) -> str:
    """Return the name of the booster that ranks revenue: "spend" for the hurdle form, else "clv"."""
    return "spend" if calibration.get("form", "tweedie") == "hurdle" else "clv"


def value_contributions(
    boosters: dict[str, lgb.Booster],
    matrix: pd.DataFrame | np.ndarray,
    calibration: dict[str, Any],
    churn_probability: np.ndarray,
    churn_contrib: np.ndarray,
    num_threads: int | None = None,
) -> np.ndarray:
    """Return the (rows x features) contributions behind the predicted value, in log revenue.

    The Tweedie booster's for the Tweedie form; for the hurdle form, revenue = (1 - p) x spend, the spend
    booster's with the churn booster's first-order effect on log(1 - p) (hurdle_value_contributions): the
    Tweedie booster of a hurdle model only sets the total, it ranks nobody.
    """
    if value_booster(calibration) == "spend":
        return hurdle_value_contributions(
            churn_contrib,
            contributions(boosters["spend"], matrix, num_threads),
            churn_probability,
            platt_slope(calibration),
        )
    return contributions(boosters["clv"], matrix, num_threads)


def mean_abs_contributions(contrib: np.ndarray, features: Sequence[str]) -> dict[str, float]:
    """Return the mean |contribution| of each feature, largest first: the SHAP summary of a model."""
    means = np.abs(np.asarray(contrib, dtype=float)).mean(axis=0)
    order = np.argsort(-means, kind="stable")
    return {features[i]: float(means[i]) for i in order}

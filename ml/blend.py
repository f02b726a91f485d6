"""The stored calibration applied: raw predictions blended and calibrated into revenue, churn probability
and orders, for customers scored together (ml.calibration fits the calibration these functions read).

The blend decides who gets the revenue; how much in total is the sum, over the customers scored together (a
whole cutoff), of the Tweedie booster's predictions - the booster fitted to the mean of revenue itself - or,
when the boosters learnt from less than a year of cutoffs (`revenue_total` "btyd", set by ml.fitting), of the
BG/NBD + Gamma-Gamma predictions, fitted on the scored customers' own history, times a seasonal factor
(`btyd_total_factor`, ml.btyd_total: the mean of 1 and their actual / predicted total a year earlier).

Orders in the horizon are the orders booster's (Poisson on the labels' orders), fitted to their mean as the
Tweedie booster is to revenue's; when BG/NBD + Gamma-Gamma set the revenue total, BG/NBD's expected orders
(its expected purchases, days with an order, times each customer's orders per such day) times their own
seasonal factor (`btyd_orders_factor`) set the orders total the same way (combine_orders). Measured against
the predicted revenue / historic average order value they replace, chosen on the validation cutoffs, they
ranked customers better there and were within 6% of the test cutoffs' orders where the ratio was 13-15%
over (docs/benchmarks.md, "Predicted orders").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit

_EPSILON = 1e-6
_REVENUE_FLOOR = 1e-6


def fit_revenue_scale(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the factor that makes the predicted total equal the target total (1 when undefined)."""
    total_predicted = float(np.sum(predicted))
    total_actual = float(np.sum(actual))
    if total_predicted <= 0 or total_actual <= 0:
        return 1.0
    return total_actual / total_predicted


def _log_odds(probability: np.ndarray) -> np.ndarray:
    """Return the log-odds of probabilities clipped away from 0 and 1."""
    return logit(np.clip(np.asarray(probability, dtype=float), _EPSILON, 1 - _EPSILON))


def apply_probability_calibration(calibrator: dict[str, Any] | None, probability: np.ndarray) -> np.ndarray:
    """Return calibrated probabilities (the raw ones when there is no calibrator)."""
    probability = np.asarray(probability, dtype=float)
    if not calibrator:
        return probability
    if calibrator["method"] == "platt":
        return expit(calibrator["slope"] * _log_odds(probability) + calibrator["intercept"])
    if calibrator["method"] == "isotonic":
        return np.interp(probability, calibrator["x"], calibrator["y"])
    raise ValueError(f"unknown calibration method {calibrator['method']!r}")


def blend_churn(raw: dict[str, np.ndarray], weight: float) -> np.ndarray:
    """Return sigmoid(w logit(LightGBM churn) + (1 - w) logit(BG/NBD churn)): uncalibrated blend."""
    return expit(weight * _log_odds(raw["churn"]) + (1 - weight) * _log_odds(raw["btyd_churn"]))


def blend_revenue(raw: dict[str, np.ndarray], form: str, weight: float, churn: np.ndarray) -> np.ndarray:
    """Return LightGBM revenue^w x BG/NBD-GG revenue^(1 - w), LightGBM's by Tweedie or by the hurdle.

    Where BG/NBD + Gamma-Gamma has no revenue (NaN: at a date before any customer's repeat order had a
    value, Gamma-Gamma has nothing to fit, ml.btyd_fit.fit_gamma_gamma), LightGBM's revenue stands alone.
    """
    lightgbm = raw["clv"] if form == "tweedie" else (1 - churn) * raw["spend"]
    if weight == 1.0:
        return np.clip(lightgbm, 0.0, None)
    btyd = np.asarray(raw["btyd_revenue"], dtype=float)
    blended = np.maximum(lightgbm, _REVENUE_FLOOR) ** weight * np.maximum(btyd, _REVENUE_FLOOR) ** (
        1 - weight
    )
    return np.where(np.isnan(btyd), np.clip(lightgbm, 0.0, None), blended)


def calibrated_churn(raw: dict[str, np.ndarray], calibration: dict[str, Any]) -> np.ndarray:
    """Return the churn probability: the chosen blend through its Platt calibrator."""
    churn = blend_churn(raw, calibration.get("churn_weight", 1.0))
    return np.clip(apply_probability_calibration(calibration.get("churn"), churn), 0.0, 1.0)


def unscaled_blend(
    raw: dict[str, np.ndarray], calibration: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (blended revenue before its scale, churn probability, the revenue total's source) per row.

    Every output is per customer, so rows can be blended a chunk at a time; the scale that makes the blend's
    total equal the source's (fit_revenue_scale) needs only the two sums over all the rows.
    """
    churn = calibrated_churn(raw, calibration)
    revenue = blend_revenue(raw, calibration["form"], calibration.get("revenue_weight", 1.0), churn)
    total = raw["clv"]
    if calibration.get("revenue_total") == "btyd":  # the Tweedie booster's where BG/NBD + GG has none (NaN)
        btyd = np.asarray(raw["btyd_revenue"], dtype=float)
        total = np.where(np.isnan(btyd), total, btyd * calibration.get("btyd_total_factor", 1.0))
    return revenue, churn, np.clip(total, 0.0, None)


def has_churn_level(calibration: dict[str, Any]) -> bool:
    """Return whether the churn probability's level is set per scored cutoff (`churn_level_error`)."""
    calibrator = calibration.get("churn")
    return "churn_level_error" in calibration and bool(calibrator) and calibrator["method"] == "platt"


def churn_log_odds(raw: dict[str, np.ndarray], calibration: dict[str, Any]) -> np.ndarray:
    """Return the churn blend's log-odds times its Platt slope: the displayed churn's before its level."""
    blend = blend_churn(raw, calibration.get("churn_weight", 1.0))
    return calibration["churn"]["slope"] * _log_odds(blend)


def churn_level(log_odds: np.ndarray, btyd_churn_mean: float, error: float) -> float:
    """Return the intercept d that makes the mean of sigmoid(log_odds + d) over the scored customers
    sigmoid(logit(BG/NBD's mean churn over them) + error): BG/NBD's level moved by its error a year earlier.
    """
    target = float(expit(_log_odds(np.array([btyd_churn_mean]))[0] + error))
    log_odds = np.asarray(log_odds, dtype=float)
    log_odds = log_odds[np.isfinite(log_odds)]
    if not len(log_odds):  # no scored customer has a score: nothing to set
        return 0.0
    reach = float(np.max(np.abs(log_odds))) + 50.0  # the mean runs from ~0 to ~1 over [-reach, reach]
    return float(brentq(lambda d: float(np.mean(expit(log_odds + d))) - target, -reach, reach, xtol=1e-12))


def leveled_churn(raw: dict[str, np.ndarray], calibration: dict[str, Any]) -> np.ndarray:
    """Return the displayed churn probability of customers scored together (a whole cutoff).

    Validation's calibrated churn, or, with `churn_level_error` (below a year of cutoffs with a labelled
    cutoff a year earlier: ml.btyd_total.churn_level_error), its slope with the level set for these rows
    (churn_level). The hurdle's revenue keeps validation's churn (unscaled_blend): its form and weight were
    chosen with it.
    """
    if not has_churn_level(calibration):
        return calibrated_churn(raw, calibration)
    log_odds = churn_log_odds(raw, calibration)
    btyd = np.asarray(raw["btyd_churn"], dtype=float)
    level = churn_level(log_odds, float(np.mean(btyd[np.isfinite(btyd)])), calibration["churn_level_error"])
    return expit(log_odds + level)


def combine(raw: dict[str, np.ndarray], calibration: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (predicted revenue, churn probability) of customers scored together, from raw predictions.

    Revenue is the chosen blend rescaled so that its total is the total of the `revenue_total` source
    (the Tweedie booster by default, else BG/NBD + Gamma-Gamma times `btyd_total_factor`) over these rows.
    The churn probability is leveled_churn's.
    """
    revenue, churn, total = unscaled_blend(raw, calibration)
    if has_churn_level(calibration):
        churn = leveled_churn(raw, calibration)
    return revenue * fit_revenue_scale(total, revenue), churn


def unscaled_orders(
    raw: dict[str, np.ndarray], calibration: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (the orders booster's orders, the orders total's source) per row; None without that booster.

    The source is the booster itself, or BG/NBD's expected orders (`btyd_orders`) times
    `btyd_orders_factor` when BG/NBD + Gamma-Gamma set the revenue total (the booster's where BG/NBD has
    none, NaN). A model saved before the orders booster has none: its orders are revenue / average order
    value (ml.clv.expected_orders).
    """
    if "orders" not in raw:
        return None
    orders = np.clip(np.asarray(raw["orders"], dtype=float), 0.0, None)
    total = orders
    if calibration.get("revenue_total") == "btyd":
        btyd = np.asarray(raw["btyd_orders"], dtype=float)
        total = np.where(np.isnan(btyd), orders, btyd * calibration.get("btyd_orders_factor", 1.0))
    return orders, np.clip(total, 0.0, None)


def combine_orders(raw: dict[str, np.ndarray], calibration: dict[str, Any]) -> np.ndarray | None:
    """Return the predicted orders of customers scored together (a whole cutoff); None without the booster.

    The orders booster's predictions, rescaled so that their total is the total of unscaled_orders' source.
    """
    parts = unscaled_orders(raw, calibration)
    if parts is None:
        return None
    orders, total = parts
    return orders * fit_revenue_scale(total, orders)


# The calibration entries the churn probability reads (calibrated_churn), and those revenue reads besides
# (unscaled_blend; the hurdle form reads the churn probability too).
CHURN_KEYS = ("churn_weight", "churn")
CHURN_LEVEL_KEYS = ("churn_level_error",)  # the displayed churn's level (leveled_churn), not the hurdle's
REVENUE_KEYS = ("form", "revenue_weight", "revenue_total", "btyd_total_factor")
ORDERS_KEYS = ("revenue_total", "btyd_orders_factor")  # what combine_orders reads besides the orders booster


def prediction_inputs(
    calibration: dict[str, Any], task: str, with_orders: bool = False
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Return the boosters a task's predictions ("churn" or "clv") are made of and the calibration they read.

    Churn is the churn booster through its blend and calibrator. Revenue is the Tweedie booster ("clv")
    or, for the hurdle form, the calibrated churn probability times the spend booster, with the Tweedie
    booster setting the total unless BG/NBD + Gamma-Gamma set it. `with_orders` (a model trained with the
    orders booster): the clv task's predicted orders are that booster's, through combine_orders.
    """
    if task == "churn":
        keys = (*CHURN_KEYS, *CHURN_LEVEL_KEYS)
        return ("churn",), {key: calibration[key] for key in keys if key in calibration}
    hurdle = calibration.get("form", "tweedie") == "hurdle"
    tweedie_total = calibration.get("revenue_total") != "btyd"
    boosters = ("churn", "spend", *(("clv",) if tweedie_total else ())) if hurdle else ("clv",)
    keys = (*REVENUE_KEYS, *(CHURN_KEYS if hurdle else ()), *(ORDERS_KEYS if with_orders else ()))
    boosters = (*boosters, *(("orders",) if with_orders else ()))
    return tuple(sorted(boosters)), {key: calibration[key] for key in keys if key in calibration}

"""What is fitted on a validation cutoff and stored as plain numbers in the model metadata.

From the raw predictions of models fitted on earlier cutoffs, on the validation cutoff:
- churn: the weight of LightGBM against BG/NBD in a blend of their log-odds (BG/NBD's churn is
  P(no purchase) = exp(-expected purchases)), chosen by ROC-AUC, then a Platt calibrator of the blend: its
  slope (0 or more: the order of the scores, ROC-AUC and lift unchanged) fitted on validation pooled with
  earlier out-of-time cutoffs, its intercept 0, the level the booster's (ml.churn_calibration); below a year
  of cutoffs, Platt fitted on validation alone;
- revenue: the CLV form (Tweedie, or the hurdle P(purchase) x E[revenue | purchase]) and the weight of
  LightGBM against BG/NBD + Gamma-Gamma in a geometric blend, chosen by ranking (Spearman, normalized Gini,
  top-10% capture). A weight of 1 is LightGBM alone.
The blend decides who gets the revenue; how much in total is the sum, over the customers scored together (a
whole cutoff), of the Tweedie booster's predictions - the booster fitted to the mean of revenue itself - or,
when the boosters learnt from less than a year of cutoffs (`revenue_total` "btyd", set by ml.fitting), of the
BG/NBD + Gamma-Gamma predictions, fitted on the scored customers' own history, times a seasonal factor
(`btyd_total_factor`, ml.fitting: the mean of 1 and their actual / predicted total a year earlier). A scale
factor fitted on validation was measured too and moved totals further from the truth (the validation-stage
boosters learn from a shorter, more censored history than the refitted ones), so it is only recorded
(`validation_total_ratio`), never applied. An isotonic calibrator (fit_isotonic) is the other form a
stored calibrator may take; the reliability table is ml.churn_calibration's.

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
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression

from ml import metrics
from ml.churn_calibration import fit_pooled_slope

# Candidate weights of LightGBM in the blends; 0 (BG/NBD alone) is a baseline, never the model.
LIGHTGBM_WEIGHTS = (1.0, 0.75, 0.5, 0.25)
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


def fit_platt(is_positive: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Return Platt parameters (slope, intercept) of P(y) = sigmoid(slope * logit(p) + intercept).

    The slope is held at 0 or above, so calibration never reverses the order of the scores: scores that
    rank worse than chance on validation get one probability, the observed rate, not their mirror image.
    """
    outcome = np.asarray(is_positive, dtype=float)
    z = _log_odds(probability)

    def negative_log_likelihood(params: np.ndarray) -> tuple[float, np.ndarray]:
        fitted = np.clip(expit(params[0] * z + params[1]), 1e-12, 1 - 1e-12)
        value = -np.sum(outcome * np.log(fitted) + (1 - outcome) * np.log(1 - fitted))
        residual = fitted - outcome
        return float(value), np.array([np.sum(residual * z), np.sum(residual)])

    result = minimize(
        negative_log_likelihood,
        np.array([1.0, 0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None), (None, None)],
    )
    return {"method": "platt", "slope": float(result.x[0]), "intercept": float(result.x[1])}


def fit_isotonic(is_positive: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """Return an isotonic map from raw to calibrated probability as its breakpoints."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(np.asarray(probability, dtype=float), np.asarray(is_positive, dtype=float))
    return {"method": "isotonic", "x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}


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


def combine(raw: dict[str, np.ndarray], calibration: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (predicted revenue, churn probability) of customers scored together, from raw predictions.

    Revenue is the chosen blend rescaled so that its total is the total of the `revenue_total` source
    (the Tweedie booster by default, else BG/NBD + Gamma-Gamma times `btyd_total_factor`) over these rows.
    """
    revenue, churn, total = unscaled_blend(raw, calibration)
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
        return ("churn",), {key: calibration[key] for key in CHURN_KEYS if key in calibration}
    hurdle = calibration.get("form", "tweedie") == "hurdle"
    tweedie_total = calibration.get("revenue_total") != "btyd"
    boosters = ("churn", "spend", *(("clv",) if tweedie_total else ())) if hurdle else ("clv",)
    keys = (*REVENUE_KEYS, *(CHURN_KEYS if hurdle else ()), *(ORDERS_KEYS if with_orders else ()))
    boosters = (*boosters, *(("orders",) if with_orders else ()))
    return tuple(sorted(boosters)), {key: calibration[key] for key in keys if key in calibration}


def ranking_score(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the mean of Spearman, normalized Gini and top-10% capture: how a revenue blend is chosen."""
    return float(
        np.mean(
            [
                metrics.spearman(actual, predicted),
                metrics.normalized_gini(actual, predicted),
                metrics.top_share_capture(actual, predicted, 0.10),
            ]
        )
    )


def _best(scores: dict[Any, float]) -> Any:
    """Return the key of the highest score: an undefined (NaN) score counts as the lowest, the first of ties
    wins (max alone would keep a NaN it met first, as nothing compares greater than NaN)."""
    return max(scores, key=lambda key: -np.inf if np.isnan(scores[key]) else scores[key])


def single_outcome(churned: np.ndarray) -> str | None:
    """Return why nothing can be calibrated on customers of one churn outcome (or none); else None."""
    if len(churned) and not churned.all() and churned.any():
        return None
    who = "every customer" if len(churned) and not churned.any() else "no customer"
    return f"{who} bought in its horizon: the churn probability is LightGBM's alone, uncalibrated"


def _churn_calibrator(
    churned: np.ndarray,
    blend: np.ndarray,
    weight: float,
    pool: tuple[tuple[np.ndarray, dict[str, np.ndarray]], ...] | None,
) -> dict[str, Any]:
    """Return validation's Platt calibrator (pool None), else the slope pooled over validation and `pool`."""
    if pool is None:
        return fit_platt(churned, blend)
    groups = [(y, blend_churn(raw, weight)) for y, raw in pool if single_outcome(y) is None]
    return fit_pooled_slope([(churned, blend), *groups])


def fit_calibration(
    raw: dict[str, np.ndarray],
    validation: pd.DataFrame,
    forms: tuple[str, ...],
    weights: tuple[float, ...] = LIGHTGBM_WEIGHTS,
    pool: tuple[tuple[np.ndarray, dict[str, np.ndarray]], ...] | None = (),
) -> dict[str, Any]:
    """Return the chosen blends and form, the churn calibrator and the revenue scale fitted on validation.

    The churn blend's weight is chosen on validation; its calibrator is the slope fitted on validation's
    blend and on each of `pool`'s (is_churned, raw predictions) of earlier cutoffs, each with an intercept
    of its own, the level left to the booster (ml.churn_calibration). With `pool` None (boosters that learnt
    from under a year of cutoffs, which have not seen every season's level: ml.fitting) it is Platt fitted
    on validation alone, slope and intercept.

    A validation cutoff where every customer churned (a shop that paused sales for the horizon) or none did
    has one outcome: the blends' scores are undefined, so LightGBM stands alone (weight 1, the first
    candidate), and Platt fitted there put every probability at that outcome (0.99999997 for customers of
    whom 77% churned at the next cutoff). The churn probability is then the churn booster's own, unscaled,
    and `skipped` says why (ml.train warns with it).
    """
    churned = validation["label_is_churned"].to_numpy(dtype=bool)
    actual = validation["label_revenue"].to_numpy(dtype=float)
    churn_scores = {w: metrics.roc_auc(churned, blend_churn(raw, w)) for w in weights}
    churn_weight = _best(churn_scores)
    skipped = single_outcome(churned)
    calibration: dict[str, Any] = {
        "churn_weight": churn_weight,
        "churn": None
        if skipped
        else _churn_calibrator(churned, blend_churn(raw, churn_weight), churn_weight, pool),
    }
    if skipped:
        calibration["skipped"] = skipped
    churn = calibrated_churn(raw, calibration)
    revenue_scores = {
        (form, w): ranking_score(actual, blend_revenue(raw, form, w, churn))
        for form in forms
        for w in weights
    }
    form, revenue_weight = _best(revenue_scores)
    calibration |= {"form": form, "revenue_weight": revenue_weight}
    calibration["validation_total_ratio"] = fit_revenue_scale(actual, combine(raw, calibration)[0])
    calibration["validation_scores"] = {
        "churn_roc_auc": {str(w): s for w, s in churn_scores.items()},
        "revenue_ranking": {f"{f} {w}": s for (f, w), s in revenue_scores.items()},
    }
    return calibration

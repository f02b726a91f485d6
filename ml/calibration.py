"""What is fitted on a validation cutoff and stored as plain numbers in the model metadata.

From the raw predictions of models fitted on earlier cutoffs, on the validation cutoff:
- churn: the weight of LightGBM against BG/NBD in a blend of their log-odds (BG/NBD's churn is
  P(no purchase) = exp(-expected purchases)), chosen by ROC-AUC, then a Platt calibrator of the blend: its
  slope (0 or more: the order of the scores, ROC-AUC and lift unchanged) fitted on validation pooled with
  earlier out-of-time cutoffs, its intercept 0, the level the booster's (ml.churn_calibration); below a year
  of cutoffs, Platt fitted on validation alone (the displayed level then set per scored cutoff when a
  labelled cutoff a year earlier exists: ml.blend.leveled_churn);
- revenue: the CLV form (Tweedie, or the hurdle P(purchase) x E[revenue | purchase]) and the weight of
  LightGBM against BG/NBD + Gamma-Gamma in a geometric blend, chosen by ranking (Spearman, normalized Gini,
  top-10% capture). A weight of 1 is LightGBM alone.
The revenue total is not fitted here: it is the Tweedie booster's, or BG/NBD + Gamma-Gamma's (ml.blend).
A scale factor fitted on validation was measured too and moved totals further from the truth (the
validation-stage boosters learn from a shorter, more censored history than the refitted ones), so it is only
recorded (`validation_total_ratio`), never applied. An isotonic calibrator (fit_isotonic) is the other form a
stored calibrator may take; the reliability table is ml.churn_calibration's. ml.blend applies what is fitted
here to raw predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from ml import metrics
from ml.blend import _log_odds, blend_churn, blend_revenue, calibrated_churn, combine, fit_revenue_scale
from ml.churn_calibration import fit_pooled_slope

# Candidate weights of LightGBM in the blends; 0 (BG/NBD alone) is a baseline, never the model.
LIGHTGBM_WEIGHTS = (1.0, 0.75, 0.5, 0.25)


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

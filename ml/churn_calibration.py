"""The churn calibrator: the scores' spread fitted out of time on several cutoffs, their level the booster's.

A Platt calibrator fitted on the one validation cutoff learns two things: how spread out the scores should be
(its slope), and how many customers churned at that cutoff (its intercept). The second is the season and the
trend of that cutoff, not a property of the model: on Online Retail II the intercept of the churn blend fitted
out of time at each monthly cutoff of a year ran from -0.35 to +1.43 while the slope stayed between 0.78 and
1.23, and a summer validation cutoff (churn 68%) put its +0.48 on the autumn test cutoff (churn 57%): 86% was
predicted in the 0.8-0.9 bin where 73% churned (docs/benchmarks.md, "Churn calibration").

So the slope is fitted on the pooled out-of-time predictions of several cutoffs - the validation cutoff and
the earlier ones, one horizon apart (label windows that do not overlap), within a year before it - with one
intercept per cutoff that absorbs its level, and the calibrator applies the slope alone (intercept 0). The
level of the probabilities stays the churn booster's, which learnt it with the cutoffs' calendar features on
every season it was fitted on. Boosters that learnt from under a year of cutoffs have not seen every season:
ml.fitting then calibrates with Platt on validation alone, as it takes the revenue total from BG/NBD, and,
where a labelled cutoff a year earlier exists, the displayed probability's level is set per scored cutoff
to BG/NBD's mean churn moved by BG/NBD's error a year earlier (ml.blend.leveled_churn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit

POOL_SPAN = pd.Timedelta(days=365)
_EPSILON = 1e-6


def pooled_cutoffs(
    cutoffs: list[pd.Timestamp], validation: pd.Timestamp, horizon_days: int
) -> list[pd.Timestamp]:
    """Return the validation cutoff and the earlier ones one horizon apart within a year, latest first.

    Each one after the first is the latest cutoff at least one horizon before the previous one (their label
    windows do not overlap), and has a cutoff one horizon before it to fit boosters on.
    """
    horizon = pd.Timedelta(days=horizon_days)
    earliest = min(cutoffs)
    chosen = [validation]
    while True:
        earlier = [c for c in cutoffs if c + horizon <= chosen[-1] and c > validation - POOL_SPAN]
        if not earlier or max(earlier) - horizon < earliest:
            return chosen
        chosen.append(max(earlier))


def fit_pooled_slope(groups: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Return a Platt calibrator whose slope is fitted on groups of (is_positive, probability), intercept 0.

    The slope is shared by the groups and each group has an intercept of its own, so one group's level (more
    or fewer positives than its scores say) never moves the slope nor the calibrated level. The slope is held
    at 0 or above, as ml.calibration.fit_platt holds it.
    """
    outcomes = [np.asarray(y, dtype=float) for y, _ in groups]
    log_odds = [logit(np.clip(np.asarray(p, dtype=float), _EPSILON, 1 - _EPSILON)) for _, p in groups]

    def negative_log_likelihood(params: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = 0.0, np.zeros_like(params)
        for index, (outcome, z) in enumerate(zip(outcomes, log_odds, strict=True)):
            fitted = np.clip(expit(params[0] * z + params[1 + index]), 1e-12, 1 - 1e-12)
            value -= float(np.sum(outcome * np.log(fitted) + (1 - outcome) * np.log(1 - fitted)))
            residual = fitted - outcome
            gradient[0] += np.sum(residual * z)
            gradient[1 + index] = np.sum(residual)
        return value, gradient

    result = minimize(
        negative_log_likelihood,
        np.r_[1.0, np.zeros(len(groups))],
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] + [(None, None)] * len(groups),
    )
    return {"method": "platt", "slope": float(result.x[0]), "intercept": 0.0}


def reliability_table(is_positive: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Return per equal-width probability bin: customers, mean predicted probability, observed rate.

    A bin's range is written with as many decimals as its width needs (0.05-0.10 for 20 bins).
    """
    probability = np.asarray(probability, dtype=float)
    outcome = np.asarray(is_positive, dtype=float)
    index = np.minimum((probability * bins).astype(int), bins - 1)
    table = (
        pd.DataFrame({"bin": index, "predicted": probability, "observed": outcome})
        .groupby("bin")
        .agg(
            customers=("predicted", "size"),
            mean_predicted=("predicted", "mean"),
            observed_rate=("observed", "mean"),
        )
        .reset_index()
    )
    decimals = max(1, len(f"{1 / bins:g}".partition(".")[2]))  # 1/10 = 0.1: one; 1/20 = 0.05: two
    table.insert(
        0,
        "probability_range",
        [f"{b / bins:.{decimals}f}-{(b + 1) / bins:.{decimals}f}" for b in table["bin"]],
    )
    return table.drop(columns="bin")

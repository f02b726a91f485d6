"""Evaluation metrics, one function each, on plain arrays.

Ranking metrics sort customers by descending prediction. Where predictions tie, the cumulative-gain
curve runs straight through the tied group (the expected curve over every order of the ties), so a tie
can neither help nor hurt a model. Deciles are cut by rank position, so every decile has n/10 customers
whatever the ties, and a tied group's totals are spread over the deciles its positions span, so the order
of tied rows cannot change a decile's total either. A NaN anywhere in the inputs (an actual value, a
label, a prediction) makes every metric NaN, undefined, as the arithmetic ones are by themselves: a
ranking metric would otherwise rank a NaN prediction last and a 0/1 metric read a NaN label as positive,
and give a number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score


def _arrays(actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both inputs as float arrays of the same length."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    if actual.shape != predicted.shape:
        raise ValueError(f"actual has shape {actual.shape} but predicted has {predicted.shape}")
    return actual, predicted


def _has_nan(*arrays: np.ndarray) -> bool:
    """Return whether any of the float arrays holds a NaN: a metric of them is then undefined."""
    return any(bool(np.isnan(array).any()) for array in arrays)


def _outcomes(is_positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Return 0/1 outcomes as booleans and scores as floats; None when either holds a NaN.

    The labels are read as numbers first: a NaN label cast straight to bool would be True, a positive.
    """
    outcome, score = _arrays(is_positive, score)
    if _has_nan(outcome, score):
        return None
    return outcome.astype(bool), score


def mean_absolute_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the mean absolute difference between actual and predicted values."""
    actual, predicted = _arrays(actual, predicted)
    return float(np.mean(np.abs(actual - predicted)))


def root_mean_squared_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the square root of the mean squared difference between actual and predicted values."""
    actual, predicted = _arrays(actual, predicted)
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return Spearman's rank correlation (ties get average ranks); NaN when either side is constant."""
    actual, predicted = _arrays(actual, predicted)
    if np.all(actual == actual[0]) or np.all(predicted == predicted[0]):
        return float("nan")
    return float(spearmanr(actual, predicted).statistic)


def aggregate_bias(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return (sum predicted - sum actual) / sum actual: +0.1 means the total is over-predicted by 10%.

    NaN when the actual total is zero: no relative error is defined.
    """
    actual, predicted = _arrays(actual, predicted)
    if actual.sum() == 0:
        return float("nan")
    return float((predicted.sum() - actual.sum()) / actual.sum())


def cumulative_gain(actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the gain curve's corners (share of customers, share of actual total) ranked by prediction.

    The curve starts at (0, 0) and has a corner at the end of every group of tied predictions, so it is
    straight across a tied group.
    """
    actual, predicted = _arrays(actual, predicted)
    order = np.argsort(-predicted, kind="stable")
    sorted_actual, sorted_predicted = actual[order], predicted[order]
    group_ends = np.flatnonzero(np.r_[sorted_predicted[1:] != sorted_predicted[:-1], True])
    gained = np.cumsum(sorted_actual)[group_ends]
    customers = (group_ends + 1) / len(actual)
    return np.r_[0.0, customers], np.r_[0.0, gained / actual.sum()]


def _gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return twice the area between the gain curve of an ordering and the diagonal."""
    share_customers, share_gained = cumulative_gain(actual, predicted)
    area = np.sum(np.diff(share_customers) * (share_gained[1:] + share_gained[:-1]) / 2)
    return float(2 * area - 1)


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the Gini of the ordering by prediction divided by the Gini of the ordering by actual value.

    NaN when the actual values are all equal (the best ordering gains nothing over a random one) or total
    zero: there is no ordering to find.
    """
    actual, predicted = _arrays(actual, predicted)
    if _has_nan(actual, predicted) or actual.sum() == 0 or np.all(actual == actual[0]):
        return float("nan")
    return _gini(actual, predicted) / _gini(actual, actual)


def top_share_capture(actual: np.ndarray, predicted: np.ndarray, share: float = 0.10) -> float:
    """Return the share of the actual total earned by the top `share` of customers ranked by prediction.

    NaN when the actual total is zero.
    """
    actual, predicted = _arrays(actual, predicted)
    if _has_nan(actual, predicted) or actual.sum() == 0:
        return float("nan")
    share_customers, share_gained = cumulative_gain(actual, predicted)
    return float(np.interp(share, share_customers, share_gained))


def decile_ranks(predicted: np.ndarray) -> np.ndarray:
    """Return each row's decile by rank of descending prediction (0 = highest), ties broken by position."""
    predicted = np.asarray(predicted, dtype=float)
    order = np.argsort(-predicted, kind="stable")
    deciles = np.empty(len(predicted), dtype=int)
    deciles[order] = np.arange(len(predicted)) * 10 // len(predicted)
    return deciles


def _decile_totals(actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the ten deciles' totals of actual and predicted, deciles cut by rank of descending prediction.

    A group of tied predictions is spread over the rank positions it holds: each decile gets the share of
    the group's totals that its positions in the group are of the group, the expected totals over every
    order of the tied customers. So a decile's total does not depend on the order of the rows.
    """
    order = np.argsort(-predicted, kind="stable")
    sorted_actual, sorted_predicted = actual[order], predicted[order]
    group = np.r_[0, np.cumsum(sorted_predicted[1:] != sorted_predicted[:-1])]  # tie group of each position
    groups = group[-1] + 1 if len(group) else 0
    positions = np.bincount(group * 10 + np.arange(len(actual)) * 10 // len(actual), minlength=groups * 10)
    share = positions.reshape(groups, 10) / np.bincount(group, minlength=groups)[:, None]
    group_actual = np.bincount(group, weights=sorted_actual, minlength=groups)
    group_predicted = np.bincount(group, weights=sorted_predicted, minlength=groups)
    return group_actual @ share, group_predicted @ share


def decile_mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the mean over prediction deciles of |sum predicted - sum actual| / |sum actual|.

    Tied predictions are spread over the deciles their rank positions span (_decile_totals), so the order
    of tied customers cannot change the error. Deciles whose actual total is zero have no relative error
    and are left out; NaN when all are.
    """
    actual, predicted = _arrays(actual, predicted)
    if _has_nan(actual, predicted) or len(actual) == 0:
        return float("nan")
    actual_sums, predicted_sums = _decile_totals(actual, predicted)
    defined = actual_sums != 0
    if not defined.any():
        return float("nan")
    errors = np.abs(predicted_sums[defined] - actual_sums[defined]) / np.abs(actual_sums[defined])
    return float(np.mean(errors))


def roc_auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """Return the area under the ROC curve of `score` for the positive class; NaN with one class only."""
    outcomes = _outcomes(is_positive, score)
    if outcomes is None or outcomes[0].all() or not outcomes[0].any():
        return float("nan")
    return float(roc_auc_score(*outcomes))


def pr_auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """Return the average precision (area under the precision-recall curve); NaN without positives."""
    outcomes = _outcomes(is_positive, score)
    if outcomes is None or not outcomes[0].any():
        return float("nan")
    return float(average_precision_score(*outcomes))


def brier_score(is_positive: np.ndarray, probability: np.ndarray) -> float:
    """Return the mean squared difference between the probability and the 0/1 outcome."""
    outcomes = _outcomes(is_positive, probability)
    if outcomes is None:
        return float("nan")
    outcome, probability = outcomes
    return float(np.mean((probability - outcome) ** 2))


def lift_at(is_positive: np.ndarray, score: np.ndarray, share: float = 0.10) -> float:
    """Return the positive rate among the top `share` by score divided by the overall positive rate."""
    outcomes = _outcomes(is_positive, score)
    if outcomes is None or not outcomes[0].any():
        return float("nan")
    return top_share_capture(outcomes[0].astype(float), outcomes[1], share) / share


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    rows: int,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the percentile interval of statistic(indices) over resamples of `rows` rows with replacement.

    (NaN, NaN) when the statistic is undefined on every resample.
    """
    draws = np.random.default_rng(seed).integers(0, rows, size=(resamples, rows))
    values = np.array([statistic(indices) for indices in draws])
    if np.isnan(values).all():
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_metric_interval(
    metric: Callable[[np.ndarray, np.ndarray], float],
    actual: np.ndarray,
    predicted: np.ndarray,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the percentile interval of one model's metric over customer resamples.

    For a metric judged against a fixed bound rather than another model (aggregate bias within ±10%): an
    interval that straddles the bound says this data cannot tell whether the model is inside it.
    """
    actual, predicted = _arrays(actual, predicted)
    return bootstrap_interval(lambda i: metric(actual[i], predicted[i]), len(actual), resamples, level, seed)


def paired_bootstrap_interval(
    metric: Callable[[np.ndarray, np.ndarray], float],
    actual: np.ndarray,
    predicted: np.ndarray,
    reference: np.ndarray,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the percentile interval of metric(predicted) - metric(reference) over customer resamples.

    Each resample draws len(actual) rows with replacement and scores both predictions on the same rows, so
    the interval is that of the difference between two models, not of either metric alone. An interval
    that holds zero says the data cannot tell which of the two is better on that metric. (NaN, NaN) when
    the metric is undefined on every resample (ROC-AUC of a holdout where nobody churned).
    """
    actual, predicted = _arrays(actual, predicted)
    reference = _arrays(actual, reference)[1]
    return bootstrap_interval(
        lambda i: metric(actual[i], predicted[i]) - metric(actual[i], reference[i]),
        len(actual),
        resamples,
        level,
        seed,
    )

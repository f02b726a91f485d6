"""Evaluation metrics, one function each, on plain arrays."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score


def mean_absolute_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return the mean absolute difference between actual and predicted values."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs(actual - predicted)))


def spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Return Spearman's rank correlation (ties get average ranks); NaN when either side is constant."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    if np.all(actual == actual[0]) or np.all(predicted == predicted[0]):
        return float("nan")
    return float(spearmanr(actual, predicted).statistic)


def roc_auc(is_positive: np.ndarray, score: np.ndarray) -> float:
    """Return the area under the ROC curve of `score` for the positive class; NaN with one class only."""
    is_positive = np.asarray(is_positive, dtype=bool)
    if is_positive.all() or not is_positive.any():
        return float("nan")
    return float(roc_auc_score(is_positive, np.asarray(score, dtype=float)))

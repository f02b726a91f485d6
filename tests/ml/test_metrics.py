"""Metrics give known answers on hand-made data."""

import math

import numpy as np
import pytest

from ml import metrics


def test_mean_absolute_error_is_the_mean_of_absolute_differences() -> None:
    assert metrics.mean_absolute_error(np.array([0, 10, 5]), np.array([1, 7, 5])) == pytest.approx(4 / 3)


def test_spearman_is_one_for_any_increasing_transform_and_minus_one_reversed() -> None:
    actual = np.array([1.0, 2.0, 3.0, 10.0])
    assert metrics.spearman(actual, actual**3) == pytest.approx(1.0)
    assert metrics.spearman(actual, -actual) == pytest.approx(-1.0)


def test_spearman_uses_average_ranks_for_ties() -> None:
    # ranks of actual [1.5, 1.5, 3], predicted [1, 2, 3]: Pearson of those ranks
    expected = np.corrcoef([1.5, 1.5, 3.0], [1.0, 2.0, 3.0])[0, 1]
    assert metrics.spearman(np.array([0.0, 0.0, 5.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(expected)


def test_spearman_is_undefined_for_a_constant_prediction() -> None:
    assert math.isnan(metrics.spearman(np.array([1.0, 2.0]), np.array([3.0, 3.0])))


def test_roc_auc_counts_correctly_ordered_pairs() -> None:
    # positives scored 0.9 and 0.4, negatives 0.5 and 0.1: 3 of 4 pairs ordered correctly
    labels = np.array([True, True, False, False])
    assert metrics.roc_auc(labels, np.array([0.9, 0.4, 0.5, 0.1])) == pytest.approx(0.75)


def test_roc_auc_is_undefined_with_one_class() -> None:
    assert math.isnan(metrics.roc_auc(np.array([True, True]), np.array([0.1, 0.2])))

"""Metrics give known answers on hand-made data."""

import math
import warnings

import numpy as np
import pytest

from ml import metrics


def test_mean_absolute_error_is_the_mean_of_absolute_differences() -> None:
    assert metrics.mean_absolute_error(np.array([0, 10, 5]), np.array([1, 7, 5])) == pytest.approx(4 / 3)


def test_root_mean_squared_error_squares_before_averaging() -> None:
    assert metrics.root_mean_squared_error(np.array([0, 0]), np.array([3, 4])) == pytest.approx(
        math.sqrt(12.5)
    )


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


def test_aggregate_bias_is_the_relative_error_of_the_total() -> None:
    assert metrics.aggregate_bias(np.array([10.0, 10.0]), np.array([12.0, 13.0])) == pytest.approx(0.25)
    assert metrics.aggregate_bias(np.array([10.0, 10.0]), np.array([5.0, 5.0])) == pytest.approx(-0.5)


def test_normalized_gini_of_one_swapped_pair_by_hand() -> None:
    actual = np.array([4.0, 3.0, 2.0, 1.0])
    # perfect gain curve 0, .4, .7, .9, 1 -> area .625 -> Gini .25
    # swapping the last two gives 0, .4, .7, .8, 1 -> area .6 -> Gini .2 -> normalized .8
    assert metrics.normalized_gini(actual, np.array([4.0, 3.0, 1.0, 2.0])) == pytest.approx(0.8)
    assert metrics.normalized_gini(actual, actual * 7 + 1) == pytest.approx(1.0)
    assert metrics.normalized_gini(actual, -actual) == pytest.approx(-1.0)


def test_normalized_gini_draws_a_straight_line_through_tied_predictions() -> None:
    # two tied groups {4, 3} and {2, 1}: corners (.5, .7) and (1, 1) -> area .6 -> Gini .2 -> normalized .8
    tied = np.array([1.0, 1.0, 0.0, 0.0])
    assert metrics.normalized_gini(np.array([4.0, 3.0, 2.0, 1.0]), tied) == pytest.approx(0.8)
    # the order of the rows inside a tie cannot change the answer
    assert metrics.normalized_gini(np.array([3.0, 4.0, 1.0, 2.0]), tied) == pytest.approx(0.8)
    # a constant prediction is a random ordering: Gini 0
    assert metrics.normalized_gini(np.array([4.0, 3.0, 2.0, 1.0]), np.zeros(4)) == pytest.approx(0.0)


def test_top_share_capture_is_the_share_earned_by_the_top_ranked() -> None:
    actual = np.array([10.0, 0, 0, 0, 0, 0, 0, 0, 0, 5.0])
    assert metrics.top_share_capture(actual, np.arange(10, 0, -1.0), 0.10) == pytest.approx(10 / 15)
    assert metrics.top_share_capture(actual, np.arange(10.0), 0.10) == pytest.approx(5 / 15)
    # all tied: the expected share of a random tenth
    assert metrics.top_share_capture(actual, np.ones(10), 0.10) == pytest.approx(0.10)


def test_deciles_are_cut_by_rank_so_ties_still_give_ten_equal_deciles() -> None:
    assert metrics.decile_ranks(np.zeros(20)).tolist() == [d for d in range(10) for _ in range(2)]
    assert metrics.decile_ranks(np.arange(10.0)).tolist() == list(range(9, -1, -1))


def test_decile_mape_averages_the_relative_error_of_each_decile_total() -> None:
    actual = np.arange(1.0, 21.0)
    assert metrics.decile_mape(actual, actual * 2) == pytest.approx(1.0)
    # deciles with no actual revenue have no relative error and are left out
    actual = np.array([5.0] + [0.0] * 9)
    predicted = np.array([10.0] + [1.0] * 9)
    assert metrics.decile_mape(actual, predicted) == pytest.approx(1.0)
    # a decile of net refunds (margin can be negative): its error counts as positive, relative to |-10|
    actual = np.array([100.0] * 9 + [-10.0])
    predicted = np.array([100.0] * 9 + [0.0])
    assert metrics.decile_mape(actual, predicted) == pytest.approx(1.0 / 10)


@pytest.mark.parametrize("tie_order", [[1, 2, 3], [2, 3, 1], [3, 1, 2]])
def test_decile_mape_spreads_tied_predictions_over_the_deciles_they_span_whatever_their_order(
    tie_order: list[int],
) -> None:
    # 20 customers, two per decile; customers 1-3 tie at 1 and hold positions 1-3: one in the first decile,
    # two in the second. Spread by position share, decile 1 gets 5 + 3/3 of actual and 5 + 3/3 predicted,
    # decile 2 gets 2 of each: no error, in any order of the tie (by row order it was 0.25 or 0.2667)
    actual = np.array([5.0, 3.0, 0.0, 0.0] + [0.0] * 16)
    predicted = np.array([5.0, 1.0, 1.0, 1.0] + [0.0] * 16)
    rows = [0, *tie_order, *range(4, 20)]
    assert metrics.decile_mape(actual[rows], predicted[rows]) == pytest.approx(0.0, abs=1e-12)


def test_decile_mape_of_a_tie_spanning_deciles_is_the_error_of_the_expected_totals() -> None:
    # ten customers tied at 2, one decile each: every decile's expected actual is 10 / 10 = 1, predicted 2,
    # as the report's decile chart shows a constant model (one point: mean predicted 2, mean actual 1)
    actual = np.array([10.0] + [0.0] * 9)
    assert metrics.decile_mape(actual, np.full(10, 2.0)) == pytest.approx(1.0)
    assert metrics.decile_mape(actual[::-1], np.full(10, 2.0)) == pytest.approx(1.0)


def test_roc_auc_counts_correctly_ordered_pairs() -> None:
    # positives scored 0.9 and 0.4, negatives 0.5 and 0.1: 3 of 4 pairs ordered correctly
    labels = np.array([True, True, False, False])
    assert metrics.roc_auc(labels, np.array([0.9, 0.4, 0.5, 0.1])) == pytest.approx(0.75)


def test_roc_auc_is_undefined_with_one_class() -> None:
    assert math.isnan(metrics.roc_auc(np.array([True, True]), np.array([0.1, 0.2])))


def test_pr_auc_is_the_mean_precision_at_each_positive() -> None:
    # positives at ranks 1 and 3: precisions 1/1 and 2/3
    labels = np.array([True, False, True, False])
    assert metrics.pr_auc(labels, np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx((1 + 2 / 3) / 2)


def test_brier_score_is_the_mean_squared_probability_error() -> None:
    assert metrics.brier_score(np.array([True, False]), np.array([0.8, 0.4])) == pytest.approx(0.1)


def test_lift_at_ten_percent_compares_the_top_tenth_with_the_base_rate() -> None:
    labels = np.array([True, True, True] + [False] * 7)
    score = np.arange(10, 0, -1.0)  # the first customer ranks first
    assert metrics.lift_at(labels, score, 0.10) == pytest.approx(1 / 0.3)
    assert metrics.lift_at(labels, -score, 0.10) == pytest.approx(0.0)


def test_paired_bootstrap_interval_is_exact_when_every_resample_gives_the_same_difference() -> None:
    actual = np.array([1.0, 4.0, 9.0, 16.0, 25.0])
    # one model is off by 1 on every customer, the other by 3: on any resample the MAE differs by -2
    low, high = metrics.paired_bootstrap_interval(
        metrics.mean_absolute_error, actual, actual + 1, actual - 3, resamples=50
    )
    assert (low, high) == pytest.approx((-2.0, -2.0))


def test_paired_bootstrap_interval_of_a_metric_undefined_on_every_resample_is_nan_without_a_warning() -> None:
    # nobody churned at the holdout: ROC-AUC is NaN on every resample, and `cvw evaluate --bootstrap`
    # printed numpy's "RuntimeWarning: All-NaN slice encountered" before its table
    churned = np.zeros(40, dtype=bool)
    ours, theirs = np.linspace(0, 1, 40), np.linspace(1, 0, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = metrics.paired_bootstrap_interval(metrics.roc_auc, churned, ours, theirs, resamples=30)
    assert math.isnan(low) and math.isnan(high)


def test_paired_bootstrap_interval_is_zero_for_the_same_predictions() -> None:
    actual = np.arange(20, dtype=float)
    predicted = np.sqrt(actual)
    assert metrics.paired_bootstrap_interval(metrics.spearman, actual, predicted, predicted) == (0.0, 0.0)


def test_paired_bootstrap_interval_scores_both_models_on_the_same_resampled_rows() -> None:
    # errors that differ from row to row, one model 1 worse on every row: paired resamples always differ by
    # exactly -1, while resampling each model's rows separately would spread the difference around -1
    actual = np.zeros(5)
    predicted = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    low, high = metrics.paired_bootstrap_interval(
        metrics.mean_absolute_error, actual, predicted, predicted + 1, resamples=200
    )
    assert (low, high) == pytest.approx((-1.0, -1.0))


def test_bootstrap_metric_interval_of_a_bias_the_same_on_every_row_is_that_bias() -> None:
    actual = np.array([3.0, 0.0, 10.0, 250.0, 1.0])
    assert metrics.bootstrap_metric_interval(
        metrics.aggregate_bias, actual, actual * 1.1, resamples=50
    ) == pytest.approx((0.1, 0.1))


def test_bootstrap_metric_interval_spans_what_the_resampled_customers_can_give() -> None:
    # one customer spent nothing and is predicted 50, the other spent 100 and is predicted 50: a resample of
    # the second twice gives -0.5, one of each 0, the first twice no total (NaN, left out)
    low, high = metrics.bootstrap_metric_interval(
        metrics.aggregate_bias, np.array([0.0, 100.0]), np.array([50.0, 50.0]), resamples=200
    )
    assert (low, high) == (-0.5, 0.0)


def test_ranking_and_total_metrics_are_undefined_without_anything_to_rank_or_a_total() -> None:
    ranks = np.arange(10.0)
    assert math.isnan(metrics.normalized_gini(np.full(10, 5.0), ranks))  # all equal: no ordering to find
    assert math.isnan(metrics.normalized_gini(np.zeros(10), ranks))
    assert math.isnan(metrics.top_share_capture(np.zeros(10), ranks))
    assert math.isnan(metrics.aggregate_bias(np.zeros(3), np.ones(3)))
    assert metrics.top_share_capture(np.full(10, 5.0), ranks) == pytest.approx(0.1)  # defined: a tenth


REVENUE_METRICS = (
    metrics.mean_absolute_error,
    metrics.root_mean_squared_error,
    metrics.spearman,
    metrics.normalized_gini,
    metrics.top_share_capture,
    metrics.decile_mape,
    metrics.aggregate_bias,
)
CHURN_METRICS = (metrics.roc_auc, metrics.pr_auc, metrics.brier_score, metrics.lift_at)


@pytest.mark.parametrize("metric", REVENUE_METRICS, ids=lambda metric: metric.__name__)
def test_a_revenue_metric_is_undefined_when_a_prediction_or_an_actual_is_nan(metric) -> None:
    # without the NaN, every one of them is defined; normalized Gini and top-10% capture used to rank the
    # NaN prediction last and give 0.8 and 0.16
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    assert not math.isnan(metric(actual, actual + 0.5))
    assert math.isnan(metric(actual, np.array([1.0, np.nan, 3.0, 4.0])))
    assert math.isnan(metric(np.array([1.0, np.nan, 3.0, 4.0]), actual))


@pytest.mark.parametrize("metric", CHURN_METRICS, ids=lambda metric: metric.__name__)
def test_a_churn_metric_is_undefined_when_a_score_or_a_label_is_nan(metric) -> None:
    # ROC-AUC and PR-AUC raised on a NaN score, lift at 10% gave 2.0; a NaN label was read as a churner
    labels = np.array([1.0, 0.0, 1.0, 0.0])
    scores = np.array([0.9, 0.2, 0.6, 0.1])
    assert not math.isnan(metric(labels, scores))
    assert math.isnan(metric(labels, np.array([0.9, np.nan, 0.6, 0.1])))
    assert math.isnan(metric(np.array([1.0, np.nan, 1.0, 0.0]), scores))

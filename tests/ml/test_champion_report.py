"""The training report's value drivers are the ones of the booster that ranks revenue, as the reasons' are."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from ml.champion import orders_summary, report_evaluation
from ml.gate import split_by_task
from ml.report_html import render_html
from ml.train import format_metrics

PARAMS = {"verbose": -1, "seed": 1, "deterministic": True, "num_threads": 1, "min_data_in_leaf": 5}
FEATURES = ["spend_signal", "total_signal"]


def _test_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({column: rng.uniform(0, 10, 200) for column in FEATURES})
    churned = rng.uniform(0, 1, 200) < 0.5
    return frame.assign(label_revenue=np.where(churned, 0.0, 5.0), label_is_churned=churned.astype(int))


def _boosters(frame: pd.DataFrame) -> dict[str, lgb.Booster]:
    """Spend learns from spend_signal only, the Tweedie booster from total_signal only; churn from neither.

    Each learns where the other signal is constant, so it never splits on it.
    """
    fits = {
        "spend": ("gamma", "spend_signal", 1.0 + frame["spend_signal"] ** 2),
        "clv": ("tweedie", "total_signal", 1.0 + frame["total_signal"] ** 2),
        "churn": ("binary", None, np.zeros(len(frame))),
    }
    boosters = {}
    for name, (objective, signal, label) in fits.items():
        matrix = pd.DataFrame({c: frame[c] if c == signal else 1.0 for c in FEATURES}, index=frame.index)
        boosters[name] = lgb.train({**PARAMS, "objective": objective}, lgb.Dataset(matrix, label=label), 20)
    return boosters


def _report(
    form: str,
    sample_share: float = 1.0,
    holdout: tuple[pd.DataFrame, np.ndarray] | None = None,
    out_of_time: dict[str, float] | None = None,
    table: pd.DataFrame | None = None,
    totals: tuple[dict, dict] = ({}, {}),
) -> tuple[dict, dict[str, lgb.Booster], pd.DataFrame]:
    """Return the report evaluation of a test frame (default: _test_frame, churn 0.25 for everyone), with
    more out-of-time metrics, another long metrics table (default: the model's Spearman) and the tested
    model's and the champion's calibration keys of their totals when given."""
    frame, churn = holdout or (_test_frame(), np.full(200, 0.25))
    boosters = _boosters(frame)
    calibration = {"form": form, "churn": {"method": "platt", "slope": 2.0, "intercept": 0.0}}
    metadata = {
        "calibration": calibration | totals[1],
        "version": "v-test",
        "features": FEATURES,
        "categorical_levels": {},
        "evaluated_model": {
            "calibration": calibration | totals[0],
            "categorical_levels": {},
            "models": sorted(boosters),
        },
        "test_cutoff": "2025-10-01",
        "horizon_days": 90,
        "clv_form": form,
        "validation_cutoff": "2025-07-01",
        "refit_cutoffs": ["2024-09-01", "2024-10-01", "2025-01-01"],
        "train_cutoffs": ["2024-09-01", "2024-10-01"],
        "training_rows": 200,
        "training_sample_share": sample_share,
        "out_of_time_metrics": {
            "test_customers": 200,
            "test_predicted_revenue": 1.0,
            "test_actual_revenue": 1.0,
            **(out_of_time or {}),
        },
    }
    if table is None:
        table = pd.DataFrame({"model": ["model"], "metric": ["revenue_spearman"], "value": [0.5]})
    predictions = (np.full(len(frame), 5.0), churn)
    return report_evaluation(metadata, frame, predictions, table, boosters), boosters, frame


def _mean_abs_contribution(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    return np.abs(booster.predict(frame[FEATURES], pred_contrib=True)[:, :-1]).mean(axis=0)


def test_a_hurdle_models_value_drivers_are_its_spend_boosters_not_the_tweedie_total_one() -> None:
    evaluation, boosters, frame = _report("hurdle")
    # the churn booster learnt nothing, so log((1 - p) x spend) moves with the spend booster alone
    spend = _mean_abs_contribution(boosters["spend"], frame)
    assert spend[0] > 0 and spend[1] == 0
    assert evaluation["shap_summary"]["clv"] == {"spend_signal": pytest.approx(spend[0]), "total_signal": 0.0}
    assert evaluation["feature_importance"]["clv"]["total_signal"] == 0.0
    assert evaluation["feature_importance"]["clv"]["spend_signal"] > 0
    html = render_html(evaluation)
    assert "SHAP summary: clv (spend booster, hurdle form)" in html and "<title>Model v-test</title>" in html


def test_a_tweedie_models_value_drivers_are_its_tweedie_boosters() -> None:
    evaluation, boosters, frame = _report("tweedie")
    total = _mean_abs_contribution(boosters["clv"], frame)
    assert evaluation["shap_summary"]["clv"] == {"total_signal": pytest.approx(total[1]), "spend_signal": 0.0}
    assert evaluation["feature_importance"]["clv"]["spend_signal"] == 0.0
    assert "SHAP summary: clv (Tweedie booster)" in render_html(evaluation)


def test_the_test_customers_of_a_sampled_training_are_said_to_be_the_sample() -> None:
    # the warehouse holds more customers at the test cutoff than the report's 200: it says whose numbers
    assert _report("tweedie", sample_share=0.403)[0]["summary"]["customers at the test cutoff"] == (
        "200, the fixed training sample (40.3% of the customers, CVW_TRAIN_MAX_CUSTOMERS): every number and "
        "chart below is of them"
    )
    assert _report("tweedie")[0]["summary"]["customers at the test cutoff"] == "200"


def test_the_summary_says_the_charts_are_of_the_tested_model_and_which_cutoffs_each_model_learnt() -> None:
    summary = _report("tweedie")[0]["summary"]
    assert summary["tested model (every number and chart below)"] == (
        "learnt from 2 cutoffs, 2024-09-01 to 2024-10-01, its form and calibration chosen on 2025-07-01; "
        "total revenue from the Tweedie booster, churn level its churn booster's"
    )
    assert summary["champion (the model that scores)"] == (
        "refitted on 3 cutoffs, 2024-09-01 to 2025-01-01, 200 rows, recalibrated on 2025-10-01; "
        "total revenue from the Tweedie booster, churn level its churn booster's"
    )


def test_the_summary_says_where_each_models_totals_come_from_when_they_differ() -> None:
    # the tested model learnt from under a year of cutoffs, the champion from a year: they differ in both
    tested = {
        "revenue_total": "btyd",
        "btyd_total_factor": 1.0853,
        "churn_level_error": 0.401,
        "churn_level_cutoff": "2024-10-01",
    }
    summary = _report("hurdle", totals=(tested, {"revenue_total": "tweedie"}))[0]["summary"]
    assert summary["tested model (every number and chart below)"].endswith(
        "chosen on 2025-07-01; total revenue from BG/NBD + Gamma-Gamma (under a year of cutoffs) x seasonal "
        "factor 1.085, churn level BG/NBD's mean churn moved by its error on 2024-10-01 (+0.401 log-odds)"
    )
    assert summary["champion (the model that scores)"].endswith(
        "recalibrated on 2025-10-01; total revenue from the Tweedie booster, churn level its churn booster's"
    )
    without_level = _report("hurdle", totals=({"revenue_total": "btyd"}, {}))[0]["summary"]
    assert without_level["tested model (every number and chart below)"].endswith(
        "total revenue from BG/NBD + Gamma-Gamma (under a year of cutoffs), churn level Platt's on its "
        "calibration cutoff"
    )


def test_the_report_has_the_churn_reliability_of_the_holdout_it_charts() -> None:
    frame = _test_frame()
    # hand-made holdout: 200 customers in three probability bins, the ones churned counted per bin
    churn = np.r_[np.repeat([0.02, 0.08], 50), np.full(60, 0.15), np.repeat([0.9, 1.0], 20)]
    churned = np.r_[np.repeat([1, 0], [10, 90]), np.repeat([1, 0], [6, 54]), np.repeat([1, 0], [30, 10])]
    order = np.random.default_rng(5).permutation(len(frame))  # the holdout's row order is not the bins'
    frame = frame.assign(label_is_churned=churned[order])
    evaluation = _report("tweedie", holdout=(frame, churn[order]))[0]
    assert evaluation["churn_reliability"] == [
        {"probability_range": "0.0-0.1", "customers": 100, "mean_predicted": pytest.approx(0.05),
         "observed_rate": 0.1},
        {"probability_range": "0.1-0.2", "customers": 60, "mean_predicted": pytest.approx(0.15),
         "observed_rate": 0.1},
        {"probability_range": "0.9-1.0", "customers": 40, "mean_predicted": pytest.approx(0.95),
         "observed_rate": 0.75},
    ]  # fmt: skip
    html = render_html(evaluation)
    assert '<tr><td>0.9-1.0</td><td class="num">40</td><td class="num">0.95</td>' in html
    assert "Churn reliability by bin, 2025-10-01 + 90 days" in html and "Not provided" not in html


def test_the_summary_says_the_test_cutoffs_predicted_and_actual_orders() -> None:
    assert "predicted vs actual orders" not in _report("tweedie")[0]["summary"]  # no orders booster
    metrics = {"orders_aggregate_bias": -0.05, "orders_mae": 0.512, "test_actual_orders": 1200.0}
    summary = _report("tweedie", out_of_time=metrics)[0]["summary"]
    assert summary["predicted vs actual orders"] == "1,140 vs 1,200 (-5.0%; MAE 0.51 a customer)"


def test_a_holdout_without_orders_says_the_predicted_orders_and_that_none_was_placed() -> None:
    # the predicted total was actual x (1 + bias): nan when no order was placed, where bias is undefined
    metrics = {
        "orders_aggregate_bias": float("nan"),
        "orders_mae": 0.285,
        "test_actual_orders": 0.0,
        "test_predicted_orders": 57.2,
    }
    summary = _report("tweedie", out_of_time=metrics)[0]["summary"]
    assert summary["predicted vs actual orders"] == "57 vs 0 (no order was placed; MAE 0.28 a customer)"
    # what `cvw train` prints reads the same metrics the same way
    metadata = {
        "version": "v-test",
        "clv_form": "tweedie",
        "fit_cutoffs": ["2024-09-01"],
        "validation_cutoff": "2025-07-01",
        "train_cutoffs": ["2024-09-01", "2024-10-01"],
        "test_cutoff": "2025-10-01",
        "refit_cutoffs": ["2024-09-01", "2024-10-01", "2025-10-01"],
        "horizon_days": 90,
        "baseline_metrics": {},
        "out_of_time_metrics": {
            "test_customers": 200,
            "test_predicted_revenue": 10.0,
            "test_actual_revenue": 0.0,
            "revenue_spearman": float("nan"),
            "revenue_normalized_gini": float("nan"),
            "revenue_top10_capture": float("nan"),
            "revenue_aggregate_bias": float("nan"),
            "churn_roc_auc": float("nan"),
            **metrics,
        },
    }
    first, second = format_metrics(metadata).splitlines()[:2]
    assert first.endswith("; orders 57 vs 0 (no order was placed; MAE 0.28 a customer)")
    assert ": fitted on 1 cutoff, calibrated on 2025-07-01, refitted on 2, tested out of time" in first
    # the summary said the tested model's refit alone, and the warning on totals then named a larger one
    assert second == "  scores with it refitted on all 3 labelled cutoffs, to 2025-10-01"


def test_the_registry_keeps_the_orders_metrics_under_the_clv_task_and_old_rows_read_as_before() -> None:
    flat = {
        "revenue_mae": 4.0,
        "orders_mae": 0.5,
        "orders_aggregate_bias": -0.05,
        "test_actual_orders": 1200.0,
        "test_predicted_orders": 1140.0,
        "churn_roc_auc": 0.7,
        "test_customers": 200,
    }
    split = split_by_task(flat)
    assert split == {
        "clv": {
            "mae": 4.0,
            "orders_mae": 0.5,
            "orders_aggregate_bias": -0.05,
            "test_actual_orders": 1200.0,
            "test_predicted_orders": 1140.0,
        },
        "churn": {"roc_auc": 0.7},
    }
    assert orders_summary(split["clv"]) == "1,140 vs 1,200 (-5.0%; MAE 0.50 a customer)"
    # a version registered before: its clv metrics hold no orders, and it has no orders line
    assert orders_summary({"mae": 4.0, "spearman": 0.6}) is None


def test_the_report_shows_a_dash_for_the_orders_of_a_baseline_that_predicts_none() -> None:
    table = pd.DataFrame(
        {
            "model": ["model", "model", "naive_rate"],
            "metric": ["revenue_spearman", "orders_mae", "revenue_spearman"],
            "value": [0.5, 0.25, 0.125],
        }
    )
    evaluation = _report("tweedie", table=table)[0]
    assert evaluation["baselines"] == [
        {"model": "model", "revenue_spearman": 0.5, "orders_mae": 0.25},
        {"model": "naive_rate", "revenue_spearman": 0.125},
    ]
    html = render_html(evaluation)
    assert '<tr><td>orders_mae</td><td class="num">0.2500</td><td class="num">—</td></tr>' in html

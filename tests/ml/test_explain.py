"""Reasons come from LightGBM's SHAP contributions: largest first, readable names, the right direction."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from ml import explain

PARAMS = {
    "min_data_in_leaf": 5,
    "num_leaves": 4,
    "learning_rate": 0.3,
    "verbose": -1,
    "seed": 1,
    "num_threads": 1,
}


def test_readable_names_turn_windows_and_lifetime_into_words() -> None:
    names = [
        "revenue_90d",
        "days_since_last_order",
        "orders_lifetime",
        "cart_abandonment_rate_90d",
        "avg_order_value",
    ]
    assert [explain.readable_name(n) for n in names] == [
        "revenue last 90 days",
        "days since last order",
        "lifetime orders",
        "cart abandonment rate last 90 days",
        "average order value",
    ]
    # a trend compares two windows: its name says which, as "last 90 days" alone would mislead
    trends = ["revenue_trend_90d", "orders_trend_90d", "session_trend_30d"]
    assert [explain.readable_name(n) for n in trends] == [
        "revenue trend (last 90 days vs the 90 before)",
        "orders trend (last 90 days vs the 90 before)",
        "visit trend (last 30 days vs the 60 before)",
    ]


def test_top_reasons_rank_by_absolute_contribution_and_read_the_sign() -> None:
    contrib = np.array([[0.5, -2.0, 0.1], [0.0, 0.0, 0.3], [0.2, -0.2, 0.0]])
    features = ["orders_90d", "revenue_90d", "days_since_last_order"]
    reasons = explain.top_reasons(contrib, features, "churn")
    assert reasons.tolist() == [
        ["revenue last 90 days ↓ risk", "orders last 90 days ↑ risk", "days since last order ↑ risk"],
        ["days since last order ↑ risk", "", ""],  # zero contributions are no reason
        ["orders last 90 days ↑ risk", "revenue last 90 days ↓ risk", ""],  # a tie keeps feature order
    ]
    assert explain.join_reasons(reasons).tolist() == [
        "revenue last 90 days ↓ risk; orders last 90 days ↑ risk; days since last order ↑ risk",
        "days since last order ↑ risk",
        "orders last 90 days ↑ risk; revenue last 90 days ↓ risk",
    ]
    assert explain.top_reasons(contrib[:1], features, "clv", k=1).tolist() == [
        ["revenue last 90 days ↓ value"]
    ]


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "cutoff_month": rng.integers(1, 13, n).astype(float),
            "days_since_last_order": rng.integers(1, 366, n).astype(float),
            "revenue_90d": rng.uniform(0, 10, n),
        }
    )


def test_a_churn_model_that_only_knows_recency_gives_recency_as_the_top_reason() -> None:
    frame = _frame()
    churned = (frame["days_since_last_order"] > 180).astype(int)
    booster = lgb.train(
        {**PARAMS, "objective": "binary"}, lgb.Dataset(frame, label=churned), num_boost_round=20
    )
    probe = pd.DataFrame(
        {"cutoff_month": [6.0, 6.0], "days_since_last_order": [360.0, 5.0], "revenue_90d": [5.0, 5.0]}
    )
    contrib = explain.contributions(booster, probe)
    raw = booster.predict(probe, raw_score=True)
    bias = booster.predict(probe, pred_contrib=True)[:, -1]
    assert contrib.sum(axis=1) + bias == pytest.approx(raw)  # SHAP contributions add up to the raw score
    top = explain.top_reasons(contrib, list(probe.columns), "churn", k=1)[:, 0]
    assert top.tolist() == ["days since last order ↑ risk", "days since last order ↓ risk"]
    summary = explain.mean_abs_contributions(explain.contributions(booster, frame), list(frame.columns))
    assert next(iter(summary)) == "days_since_last_order"


def test_a_value_model_driven_by_recent_revenue_explains_value_up_and_down() -> None:
    frame = _frame()
    revenue = 3.0 * frame["revenue_90d"] + 1.0
    booster = lgb.train({**PARAMS, "objective": "regression"}, lgb.Dataset(frame, label=revenue), 30)
    probe = pd.DataFrame(
        {"cutoff_month": [6.0, 6.0], "days_since_last_order": [90.0, 90.0], "revenue_90d": [9.5, 0.5]}
    )
    reasons = explain.explain(booster, probe, list(probe.columns), "clv", k=1)
    assert reasons.tolist() == ["revenue last 90 days ↑ value", "revenue last 90 days ↓ value"]


def test_hurdle_value_contributions_combine_spend_and_purchase_probability_to_first_order() -> None:
    churn = np.array([[1.0, 0.0], [0.0, -2.0]])
    spend = np.array([[0.0, 0.5], [0.25, 0.0]])
    # log revenue = log(1 - p) + log spend; d log(1 - p) / dz = -slope x p
    result = explain.hurdle_value_contributions(churn, spend, np.array([0.5, 0.1]), platt_slope=2.0)
    assert result.tolist() == [[-1.0, 0.5], [0.25, 0.4]]


def test_btyd_model_outputs_have_readable_names() -> None:
    assert explain.readable_name("btyd_p_alive") == "probability still active (BG/NBD)"


def test_calendar_features_are_never_a_reason_unless_asked() -> None:
    contrib = np.array([[5.0, 1.0]])
    features = ["cutoff_month", "revenue_90d"]
    assert explain.top_reasons(contrib, features, "churn", k=2).tolist() == [
        ["revenue last 90 days ↑ risk", ""]
    ]
    assert explain.top_reasons(contrib, features, "churn", k=1, exclude=()).tolist() == [
        ["month of year ↑ risk"]
    ]

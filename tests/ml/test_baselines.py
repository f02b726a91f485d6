"""Baselines compute what their definitions say, from the mart's columns, on hand-made rows."""

import numpy as np
import pandas as pd
import pytest

from ml import baselines


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "revenue_90d": [0.0, 50.0, 200.0],
            "orders_90d": [0, 1, 3],
            "revenue_lifetime": [100.0, 300.0, 900.0],
            "orders_lifetime": [1, 2, 9],
            "tenure_days": [200, 300, 900],
            "btyd_revenue": [1.0, 30.0, 120.0],
            "btyd_expected_purchases": [0.1, 0.5, 2.0],
        }
    )


def test_persistence_repeats_the_last_window_and_calls_a_customer_without_order_in_it_churned() -> None:
    revenue, churn = baselines.persistence(_rows(), 90)
    assert revenue.tolist() == [0.0, 50.0, 200.0]
    assert churn.tolist() == [1.0, 0.0, 0.0]


def test_persistence_stops_with_a_sentence_for_a_window_the_mart_lacks() -> None:
    with pytest.raises(SystemExit, match="revenue_120d"):
        baselines.persistence(_rows(), 120)


def test_naive_rate_is_revenue_per_day_of_tenure_times_the_horizon() -> None:
    revenue, churn = baselines.naive_rate(_rows(), 90)
    assert revenue == pytest.approx([100 / 200 * 90, 300 / 300 * 90, 900 / 900 * 90])
    # Poisson at the order rate: P(no order in 90 days) = exp(-orders / tenure x 90)
    assert churn == pytest.approx(np.exp(-np.array([1 / 200, 2 / 300, 9 / 900]) * 90))


def test_btyd_baseline_scores_churn_by_expected_purchases() -> None:
    revenue, churn = baselines.btyd(_rows())
    assert revenue.tolist() == [1.0, 30.0, 120.0]
    assert churn == pytest.approx(np.exp(-np.array([0.1, 0.5, 2.0])))


def test_rfm_lightgbm_learns_from_the_rfm_columns_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(baselines.RFM_PARAMS, "num_threads", 1)
    rng = np.random.default_rng(0)
    n = 2000
    train = pd.DataFrame(
        {
            "days_since_last_order": rng.integers(1, 400, n),
            "orders_lifetime": rng.integers(1, 20, n),
            "revenue_lifetime": rng.uniform(10, 1000, n),
            "days_since_first_order": rng.integers(400, 800, n),
            "region": "a column the baseline must ignore",
        }
    )
    train["label_is_churned"] = train["days_since_last_order"] > 200
    train["label_revenue"] = np.where(train["label_is_churned"], 0.0, train["orders_lifetime"] * 10.0)
    boosters = baselines.fit_rfm_lightgbm(train)
    assert boosters["clv"].feature_name() == [
        "days_since_last_order",
        "orders_lifetime",
        "revenue_lifetime",
        "days_since_first_order",
    ]
    revenue, churn = baselines.rfm_lightgbm(boosters, train)
    assert ((churn > 0.5) == train["label_is_churned"]).mean() > 0.98
    alive = ~train["label_is_churned"]
    assert np.corrcoef(revenue[alive], train.loc[alive, "label_revenue"])[0, 1] > 0.95

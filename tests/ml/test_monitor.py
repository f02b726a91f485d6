"""PSI gives hand-computed values; drift and backtests are written once per key with exact numbers."""

import math
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import monitor

TRAINING = np.arange(100, dtype=float)  # quartile edges 24.75, 49.5, 74.25: 25 values in each bin


def test_psi_of_identical_distributions_is_zero() -> None:
    assert monitor.psi(TRAINING, TRAINING.copy(), bins=4) == 0.0
    assert monitor.psi(TRAINING, np.repeat(TRAINING, 3), bins=10) == pytest.approx(0.0, abs=1e-12)


def test_psi_of_a_known_shift_is_the_hand_computed_value() -> None:
    shifted = np.array([0.0] * 10 + [30.0] * 20 + [60.0] * 30 + [90.0] * 40)  # shares 0.1, 0.2, 0.3, 0.4
    expected = sum((a - 0.25) * math.log(a / 0.25) for a in (0.1, 0.2, 0.3, 0.4))
    assert monitor.psi(TRAINING, shifted, bins=4) == pytest.approx(expected)
    assert expected == pytest.approx(0.2282, abs=1e-4)


def test_empty_bins_count_as_epsilon_and_nulls_have_their_own_bin() -> None:
    all_low = np.zeros(50)
    eps = monitor.EPSILON
    expected = (1 - 0.25) * math.log(1 / 0.25) + 3 * (eps - 0.25) * math.log(eps / 0.25)
    assert monitor.psi(TRAINING, all_low, bins=4) == pytest.approx(expected)
    half_null = np.concatenate([TRAINING, np.full(100, np.nan)])  # every share halves, null share 0.5
    expected_null = 4 * (0.125 - 0.25) * math.log(0.5) + (0.5 - eps) * math.log(0.5 / eps)
    assert monitor.psi(TRAINING, half_null, bins=4) == pytest.approx(expected_null)


def test_text_columns_bin_by_training_level_with_one_bin_for_unseen_levels() -> None:
    training = pd.DataFrame({"region": ["north", "south"] * 50})
    reference = monitor.reference_distribution(training, ["region"])
    assert reference == {
        "region": {"kind": "categorical", "levels": ["north", "south"], "shares": [0.5, 0.5, 0, 0]}
    }
    counts = monitor.bin_counts(reference, pd.DataFrame({"region": ["north", "east", "east", None]}))
    assert counts["region"].tolist() == [1, 0, 2, 1]


def test_counting_in_chunks_gives_the_same_psi_as_all_at_once() -> None:
    rng = np.random.default_rng(0)
    training = pd.DataFrame({"x": rng.normal(size=500), "churn_probability": rng.uniform(size=500)})
    scoring = pd.DataFrame({"x": rng.normal(0.3, 1, 300), "churn_probability": rng.uniform(size=300)})
    reference = monitor.reference_distribution(training, ["x", "churn_probability"])
    whole = monitor.psi_from_counts(reference, monitor.bin_counts(reference, scoring))
    parts = [monitor.bin_counts(reference, scoring.iloc[i : i + 70]) for i in range(0, 300, 70)]
    summed = {column: sum(part[column] for part in parts) for column in reference}
    assert monitor.psi_from_counts(reference, summed) == whole
    assert whole["x"] > whole["churn_probability"]


def test_drift_status_uses_the_documented_thresholds() -> None:
    statuses = [monitor.drift_status(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)]
    assert statuses == ["stable", "stable", "moderate", "moderate", "significant", "significant"]


def test_feature_drift_rows_are_replaced_per_date_and_model() -> None:
    con = duckdb.connect()
    run_at = datetime(2025, 1, 2)
    monitor.write_feature_drift(con, date(2025, 1, 1), "v1", {"x": 0.3, "y": 0.01}, run_at)
    monitor.write_feature_drift(con, date(2025, 1, 1), "v1", {"x": 0.12}, run_at)
    monitor.write_feature_drift(con, date(2025, 2, 1), "v1", {"x": 0.0}, run_at)
    rows = con.execute(
        "select as_of_date::varchar, feature, psi, status from ml.feature_drift order by 1"
    ).fetchall()
    assert rows == [("2025-01-01", "x", 0.12, "moderate"), ("2025-02-01", "x", 0.0, "stable")]


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema scores")
    con.execute("create schema marts")
    con.execute(
        """
        create table scores.customer_scores as
        select * from (values
            ('A', date '2025-01-01', 0.1, 10.0, 'v1', 90), ('B', date '2025-01-01', 0.9, 0.0, 'v1', 90),
            ('C', date '2025-01-01', 0.8, 5.0, 'v1', 90), ('D', date '2025-01-01', 0.2, 5.0, 'v1', 90),
            ('A', date '2025-06-01', 0.5, 7.0, 'v1', 90)
        ) as t(customer_id, as_of_date, churn_probability, predicted_revenue, model_version, horizon_days)
        """
    )
    con.execute(
        """
        create table marts.score_outcomes as
        select * from (values
            ('A', date '2025-01-01', 90, 20.0, false), ('B', date '2025-01-01', 90, 0.0, true),
            ('C', date '2025-01-01', 90, 0.0, true), ('D', date '2025-01-01', 90, 10.0, false),
            ('A', date '2025-01-01', 30, 1.0, false)
        ) as t(customer_id, as_of_date, horizon_days, revenue, is_churned)
        """
    )
    return con


def test_backtests_cover_scored_dates_whose_horizon_has_labels_with_exact_metrics() -> None:
    con = _warehouse()
    run_at = datetime(2025, 7, 1)
    monitor.run_backtests(con, run_at=run_at)
    result = monitor.run_backtests(con, run_at=run_at)  # a re-run replaces, never duplicates
    assert con.execute("select count(*) from ml.backtests").fetchone() == (1,)
    row = result.iloc[0].to_dict()
    assert (row["as_of_date"], row["model_version"], row["customers"]) == (date(2025, 1, 1), "v1", 4)
    assert (row["predicted_revenue"], row["realized_revenue"]) == (20.0, 30.0)
    assert row["revenue_bias"] == pytest.approx(-1 / 3)
    assert row["revenue_mae"] == pytest.approx(5.0)  # |10-20| + 0 + |5-0| + |5-10| over 4
    assert row["churn_roc_auc"] == 1.0
    assert (row["predicted_churn_rate"], row["realized_churn_rate"]) == (pytest.approx(0.5), 0.5)


def test_each_scored_horizon_is_backtested_against_its_own_labels() -> None:
    # the same date scored by a 365-day model too (an earlier champion): its rows meet the 365-day labels
    # only, and its backtest is recorded under 365 days, whatever horizon the champion has now
    con = _warehouse()
    con.execute(
        """
        insert into scores.customer_scores values
            ('A', date '2025-01-01', 0.1, 40.0, 'v0', 365), ('B', date '2025-01-01', 0.5, 10.0, 'v0', 365)
        """
    )
    con.execute(
        """
        insert into marts.score_outcomes values
            ('A', date '2025-01-01', 365, 50.0, false), ('B', date '2025-01-01', 365, 0.0, true)
        """
    )
    result = monitor.run_backtests(con, run_at=datetime(2026, 2, 1))
    summary = result[["model_version", "horizon_days", "customers", "predicted_revenue", "realized_revenue"]]
    assert summary.sort_values("model_version").to_records(index=False).tolist() == [
        ("v0", 365, 2, 50.0, 50.0),
        ("v1", 90, 4, 20.0, 30.0),
    ]


def test_backtests_refuse_a_table_outside_the_allow_list() -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        monitor.run_backtests(duckdb.connect(), source="raw.orders; drop table x")


def test_calendar_features_are_not_monitored() -> None:
    features = ["orders_90d", "cutoff_month", "days_to_year_end_peak", "region"]
    assert monitor.monitored_columns(features) == ["orders_90d", "region"]

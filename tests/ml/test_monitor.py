"""PSI gives hand-computed values; drift is written once per key with exact numbers."""

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


class _InterruptedAsCommitReturns:
    """A DuckDB connection whose COMMIT goes through, then is interrupted (Ctrl-C, Airflow's timeout)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def execute(self, query: str, *args):
        result = self._con.execute(query, *args)
        if query.strip().lower() == "commit":
            raise KeyboardInterrupt
        return result

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def test_an_interrupt_as_the_drift_commits_reaches_the_caller_and_the_rows_stay() -> None:
    con = duckdb.connect()
    with pytest.raises(KeyboardInterrupt):  # not DuckDB's "cannot rollback - no transaction is active"
        monitor.write_feature_drift(
            _InterruptedAsCommitReturns(con), date(2025, 1, 1), "v1", {"x": 0.3}, datetime(2025, 1, 2)
        )
    assert con.execute("select feature, psi from ml.feature_drift").fetchall() == [("x", 0.3)]


def test_calendar_features_are_not_monitored() -> None:
    features = ["orders_90d", "cutoff_month", "days_to_year_end_peak", "region"]
    assert monitor.monitored_columns(features) == ["orders_90d", "region"]

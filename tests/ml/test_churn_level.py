"""Below a year of cutoffs the churn probability's level is set per scored cutoff: BG/NBD's mean churn there,
moved by BG/NBD's churn error at the labelled cutoff a year earlier; its spread and the revenue stay
validation's."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from ml import blend, btyd_total, fitting

CUTOFF = pd.Timestamp("2024-06-01")  # a year earlier (365 days): 2023-06-02


def _labelled(cutoff: str, churned: list[bool], purchases: list[float], history: int) -> pd.DataFrame:
    """Return a labelled cutoff's rows: churn labels, BG/NBD's expected purchases, days of history."""
    return pd.DataFrame(
        {
            "cutoff_date": pd.Timestamp(cutoff),
            "label_is_churned": churned,
            "btyd_expected_purchases": purchases,
            "days_since_first_order": history,
        }
    )


def _raw(churn: list[float], btyd_churn: list[float]) -> dict[str, np.ndarray]:
    """Return raw predictions of customers: the churn booster's, BG/NBD's churn, and revenue ones."""
    count = len(churn)
    return {
        "churn": np.array(churn),
        "btyd_churn": np.array(btyd_churn),
        "spend": np.linspace(100.0, 200.0, count),
        "clv": np.linspace(50.0, 10.0, count),
        "btyd_revenue": np.linspace(40.0, 20.0, count),
    }


PLATT = {"churn_weight": 1.0, "churn": {"method": "platt", "slope": 2.0, "intercept": 1.5}}


def test_the_year_earlier_error_is_bg_nbd_s_at_the_labelled_cutoff_the_revenue_factor_uses() -> None:
    half = float(np.log(2.0))  # exp(-ln 2) = 0.5: BG/NBD's churn
    labelled = pd.concat(
        [
            _labelled("2023-06-05", [True, True, True, False], [half] * 4, 200),  # 3 days off: used
            _labelled("2023-06-01", [False, False, False, True], [half] * 4, 179),  # too short a history
            _labelled("2023-05-01", [True, False, False, False], [half] * 4, 400),  # 32 days off
        ]
    )
    found = btyd_total.churn_level_error(labelled, CUTOFF)
    # logit(3/4) - logit(1/2) = ln 3
    assert found == {
        "churn_level_error": pytest.approx(np.log(3.0), abs=1e-12),
        "churn_level_cutoff": "2023-06-05",
    }
    assert btyd_total.churn_level_error(labelled.iloc[4:], CUTOFF) == {}
    # every customer churned a year earlier: that rate has no log-odds
    assert btyd_total.churn_level_error(_labelled("2023-06-05", [True] * 4, [half] * 4, 200), CUTOFF) == {}


def test_the_level_makes_the_mean_churn_bg_nbd_s_moved_by_the_error_a_year_earlier() -> None:
    # BG/NBD's mean churn 0.5 moved by ln 3: the scored customers' mean churn is 3/4
    calibration = {**PLATT, "churn_level_error": float(np.log(3.0))}
    same = blend.leveled_churn(_raw([0.2, 0.2], [0.3, 0.7]), calibration)
    np.testing.assert_allclose(same, [0.75, 0.75], rtol=1e-12)

    raw = _raw([0.1, 0.3, 0.6, 0.9], [0.2, 0.4, 0.6, 0.8])
    churn = blend.leveled_churn(raw, calibration)
    assert churn.mean() == pytest.approx(0.75, abs=1e-12)
    # the spread is validation's slope: the log-odds differ by 2 x those of the booster's scores
    np.testing.assert_allclose(np.diff(logit(churn)), 2.0 * np.diff(logit(raw["churn"])), rtol=1e-9)


def test_the_hurdle_s_revenue_keeps_validation_s_churn_and_only_the_displayed_churn_moves() -> None:
    raw = _raw([0.1, 0.3, 0.6, 0.9], [0.2, 0.4, 0.6, 0.8])
    before = {**PLATT, "form": "hurdle", "revenue_weight": 1.0, "revenue_total": "btyd"}
    revenue, churn = blend.combine(raw, before)
    leveled_revenue, leveled = blend.combine(raw, {**before, "churn_level_error": float(np.log(3.0))})
    np.testing.assert_array_equal(leveled_revenue, revenue)
    np.testing.assert_array_equal(churn, expit(2.0 * logit(raw["churn"]) + 1.5))  # validation's Platt
    assert leveled.mean() == pytest.approx(0.75, abs=1e-12)


def test_without_a_year_earlier_error_or_a_platt_calibrator_the_churn_is_validation_s() -> None:
    raw = _raw([0.1, 0.3, 0.6, 0.9], [0.2, 0.4, 0.6, 0.8])
    for calibration in (PLATT, {"churn_weight": 1.0, "churn": None, "churn_level_error": 1.0}):
        np.testing.assert_array_equal(
            blend.leveled_churn(raw, calibration), blend.calibrated_churn(raw, calibration)
        )
    assert (
        fitting.churn_level({"churn": None}, _labelled("2023-06-05", [True, False], [1.0, 1.0], 200), CUTOFF)
        == {}
    )


def test_the_churn_task_reads_the_level_and_the_hurdle_s_revenue_does_not() -> None:
    calibration = {**PLATT, "form": "hurdle", "revenue_weight": 1.0, "churn_level_error": 0.4}
    assert "churn_level_error" in blend.prediction_inputs(calibration, "churn")[1]
    assert "churn_level_error" not in blend.prediction_inputs(calibration, "clv")[1]

"""The churn calibrator fits the scores' spread on several out-of-time cutoffs, and leaves their level."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from ml import blend, calibration, churn_calibration

SCORES = np.array([0.2, 0.35, 0.5, 0.65, 0.8])


def _cutoff(shift: float, customers: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Return (churned, score) of a cutoff where a score p churns at sigmoid(logit(p) + shift) exactly."""
    churned, scores = [], []
    for score in SCORES:
        positives = round(customers * expit(logit(score) + shift))
        churned.append(np.arange(customers) < positives)
        scores.append(np.full(customers, score))
    return np.concatenate(churned), np.concatenate(scores)


def test_a_validation_season_s_churn_level_is_not_carried_to_the_test_cutoff() -> None:
    # the booster's scores are right on the test cutoff (a score p churns at p); the validation cutoff had
    # a season of more churn (+1 log-odds), the cutoff a horizon earlier one of less (-1 log-odds)
    validation, earlier, test = _cutoff(+1.0), _cutoff(-1.0), _cutoff(0.0)
    single = calibration.fit_platt(*validation)
    pooled = churn_calibration.fit_pooled_slope([validation, earlier])

    assert single["slope"] == pytest.approx(1.0, abs=1e-3)
    assert single["intercept"] == pytest.approx(1.0, abs=1e-3)  # validation's season, applied to the test
    assert pooled == {"method": "platt", "slope": pytest.approx(1.0, abs=1e-3), "intercept": 0.0}
    churned, scores = test
    for fitted, error in ((single, 0.244), (pooled, 0.0)):
        calibrated = blend.apply_probability_calibration(fitted, scores)
        table = churn_calibration.reliability_table(churned, calibrated)
        # validation's calibrator predicts 0.594 for the customers scored 0.35, of whom 35% churn
        gap = (table["mean_predicted"] - table["observed_rate"]).abs().max()
        assert gap == pytest.approx(error, abs=1e-3)


def test_the_pooled_slope_sharpens_scores_that_are_too_flat_at_every_cutoff() -> None:
    # at both cutoffs a score's log-odds are half the true ones (slope 2), each cutoff at its own level
    groups = []
    for shift in (0.5, -0.7):
        churned, scores = _cutoff(0.0)
        groups.append((churned, expit((logit(scores) + shift) / 2)))
    fitted = churn_calibration.fit_pooled_slope(groups)
    assert fitted["slope"] == pytest.approx(2.0, abs=1e-3)
    assert fitted["intercept"] == 0.0


def test_pooled_cutoffs_are_one_horizon_apart_within_a_year_and_each_has_cutoffs_to_fit_on() -> None:
    monthly = list(pd.date_range("2010-03-01", "2011-06-01", freq="MS")) + [pd.Timestamp("2011-06-11")]
    pooled = churn_calibration.pooled_cutoffs(monthly, pd.Timestamp("2011-06-11"), 90)
    # 2010-06-01 is more than a year before 2011-06-11; each label window ends where the next one starts
    assert pooled == [pd.Timestamp(d) for d in ("2011-06-11", "2011-03-01", "2010-12-01", "2010-09-01")]
    # 180 days: 2010-06-01 would be the next, but nothing lies 180 days before it to fit boosters on
    assert churn_calibration.pooled_cutoffs(monthly, pd.Timestamp("2010-12-01"), 180) == [
        pd.Timestamp("2010-12-01")
    ]


def _raw(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Return raw predictions whose churn booster and BG/NBD both give the scores (every blend is them)."""
    ones = np.ones_like(scores)
    return {"churn": scores, "btyd_churn": scores, "clv": 1 - scores, "spend": ones, "btyd_revenue": ones}


def test_training_s_churn_probability_keeps_the_booster_s_level_fitted_on_a_pool_of_cutoffs() -> None:
    (validation_churned, validation_scores), earlier = _cutoff(+1.0), _cutoff(-1.0)
    validation = pd.DataFrame(
        {"label_is_churned": validation_churned, "label_revenue": np.where(validation_churned, 0.0, 10.0)}
    )
    fitted = calibration.fit_calibration(
        _raw(validation_scores), validation, ("tweedie",), pool=((earlier[0], _raw(earlier[1])),)
    )
    assert fitted["churn"] == {"method": "platt", "slope": pytest.approx(1.0, abs=1e-3), "intercept": 0.0}
    churned, scores = _cutoff(0.0)
    table = churn_calibration.reliability_table(churned, blend.calibrated_churn(_raw(scores), fitted))
    assert table["mean_predicted"].to_numpy() == pytest.approx(table["observed_rate"].to_numpy(), abs=1e-3)

"""The boosters and how they are fitted on stacked past cutoffs, chosen and calibrated on a later one, tested
on the last; ml.train runs it on the warehouse, saves, registers and gates the model.

Cutoffs are never split at random. For a test cutoff T and horizon h:
- validation cutoff V: the latest labelled cutoff with V + h <= T;
- fit cutoffs: every c with c + h <= V. Boosters fitted on them predict V, where ml.calibration chooses the
  CLV form (Tweedie, or the hurdle P(purchase) x E[revenue | purchase]) and the blends with BG/NBD +
  Gamma-Gamma, and fits the churn calibrator (its slope with that of earlier cutoffs: ml.churn_calibration);
- refit cutoffs: every c with c + h <= T. The chosen boosters are refitted on them, keep V's calibration and
  predict T, which nothing has looked at.
The champion repeats the last step one cutoff later: calibrated on T, refitted on every labelled cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.blend import combine
from ml.btyd_total import btyd_orders, churn_level_error, seasonal_factors, total_source
from ml.calibration import fit_calibration
from ml.churn_calibration import POOL_SPAN, pooled_cutoffs
from ml.data import (
    feature_columns,
)
from ml.features import categorical_levels, model_matrix, with_btyd_features

SEED = 7
# Every core (OpenMP's count: OMP_NUM_THREADS caps it), as scoring's predictions use (ml.score).
TRAIN_THREADS = 0
# Small trees: a few thousand customers per cutoff, and mostly the same customers at every cutoff.
BASE_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": SEED,
    # the same trees on any number of threads (checked on 1.8M rows: the same splits, and one leaf value in
    # 2,100 differed in its 17th significant digit). LightGBM asks for one of the force_* options with it;
    # col-wise also skips its start-up test of both layouts, which on a busy machine made two threads three
    # times slower than one (docs/benchmarks.md)
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": TRAIN_THREADS,
    "verbose": -1,
}
# booster name: (params, boosting rounds). "clv" regresses revenue with Tweedie (a point mass at zero and a
# long right tail); "spend" is E[revenue | purchase] (gamma, log link) for the hurdle; "churn" is binary;
# "orders" regresses the orders in the horizon (Poisson): the scores' predicted_orders (ml.blend).
BOOSTERS: dict[str, tuple[dict[str, Any], int]] = {
    "clv": ({**BASE_PARAMS, "objective": "tweedie", "tweedie_variance_power": 1.3}, 300),
    "spend": ({**BASE_PARAMS, "objective": "gamma"}, 300),
    "churn": ({**BASE_PARAMS, "objective": "binary"}, 300),
    "orders": ({**BASE_PARAMS, "objective": "poisson"}, 300),
}
# The Tweedie booster ("clv") is always fitted: it sets the total revenue whichever form ranks customers.
CLV_FORMS: dict[str, tuple[str, ...]] = {
    "tweedie": ("churn", "clv", "orders"),
    "hurdle": ("churn", "clv", "orders", "spend"),
}
MODEL_NAME = "model"  # the project's model in evaluation tables, next to the baselines' names


@dataclass(frozen=True)
class CutoffSplit:
    """Which cutoffs fit, validate, refit and test one evaluation (see the module docstring)."""

    fit: list[pd.Timestamp]
    validation: pd.Timestamp
    refit: list[pd.Timestamp]
    test: pd.Timestamp
    horizon: pd.Timedelta = pd.Timedelta(0)


@dataclass
class FittedModel:
    """Boosters with everything needed to predict: inputs, category levels and the validation calibration."""

    boosters: dict[str, lgb.Booster]
    features: list[str]
    levels: dict[str, list[str]]
    calibration: dict[str, Any] = field(default_factory=dict)
    # per cutoff pooled for the churn calibrator (validation's included): (is_churned, raw predictions) there,
    # out of time; the champion's calibrator pools them with the test cutoff
    churn_pool: dict[pd.Timestamp, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)


def split_cutoffs(cutoffs: list[pd.Timestamp], test: pd.Timestamp, horizon_days: int) -> CutoffSplit:
    """Return the out-of-time split for a test cutoff; stop with a sentence when history is too short."""
    horizon = pd.Timedelta(days=horizon_days)
    refit = sorted(c for c in set(cutoffs) if c + horizon <= test)
    validation = refit[-1] if refit else None
    fit = [c for c in refit if validation is not None and c + horizon <= validation]
    if not fit:
        raise SystemExit(
            f"Too few labelled cutoffs before {test.date()} for a {horizon_days}-day horizon: fitting, "
            "validation and test need three cutoffs, each at least one horizon after the one before; "
            "load a longer history or use a shorter horizon."
        )
    return CutoffSplit(fit=fit, validation=validation, refit=refit, test=test, horizon=horizon)


def at_cutoffs(frame: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """Return the rows of a frame at the given cutoffs."""
    return frame[frame["cutoff_date"].isin(cutoffs)]


def fit_boosters(frame: pd.DataFrame, names: tuple[str, ...], features: list[str]) -> FittedModel:
    """Return the named boosters fitted on a labelled frame (spend on the rows with a purchase only)."""
    if not (frame["label_revenue"] > 0).any():
        cutoffs = sorted(frame["cutoff_date"].unique())
        first, last = (pd.Timestamp(c).date() for c in (cutoffs[0], cutoffs[-1]))
        raise SystemExit(
            f"No customer bought in the label windows of the {len(cutoffs)} cutoffs from {first} to {last}: "
            "every customer churned there, so there is no revenue to learn from; load the orders after "
            "them, or use a longer horizon."
        )
    levels = categorical_levels(frame, features)
    # LightGBM bins a Dataset's features once, whatever its label, and every booster bins as BASE_PARAMS say:
    # the boosters fitted on the same rows (churn and clv) share one Dataset, its label set before each fit
    datasets: dict[bool, lgb.Dataset] = {}
    boosters = {}
    for name in names:
        params, rounds = BOOSTERS[name]
        purchasers_only = name == "spend"
        rows = frame[(frame["label_orders"] > 0) & (frame["label_revenue"] > 0)] if purchasers_only else frame
        target = {"churn": rows["label_is_churned"].astype(int), "orders": rows["label_orders"]}.get(
            name, rows["label_revenue"]
        )
        if purchasers_only not in datasets:
            datasets[purchasers_only] = lgb.Dataset(model_matrix(rows, features, levels))
        dataset = datasets[purchasers_only]
        dataset.set_label(target.to_numpy(dtype=float))
        boosters[name] = lgb.train(params, dataset, num_boost_round=rounds)
    return FittedModel(boosters=boosters, features=features, levels=levels)


def raw_predictions(model: FittedModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return every booster's uncalibrated prediction and the BTYD ones for the rows of a frame."""
    matrix = model_matrix(frame, model.features, model.levels)
    raw = {name: booster.predict(matrix) for name, booster in model.boosters.items()}
    raw["btyd_revenue"] = frame["btyd_revenue"].to_numpy(dtype=float)
    raw["btyd_churn"] = np.exp(-frame["btyd_expected_purchases"].to_numpy(dtype=float))
    raw["btyd_orders"] = btyd_orders(frame)
    return raw


def predict(model: FittedModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return calibrated (predicted revenue, churn probability) for a frame that has the BTYD columns."""
    return combine(raw_predictions(model, frame), model.calibration)


def fit_evaluated_model(frame: pd.DataFrame, split: CutoffSplit, features: list[str]) -> FittedModel:
    """Return the model for the split's test cutoff: form and calibrators from validation, refitted."""
    stage = fit_boosters(at_cutoffs(frame, split.fit), ("churn", "clv", "spend"), features)
    validation = at_cutoffs(frame, [split.validation])
    total = total_source(split.refit)
    # the churn level is the booster's once it learnt from a year of cutoffs, as the revenue total is
    pool = churn_pool(frame, split, features) if total == "tweedie" else None
    raw = raw_predictions(stage, validation)
    pooled = None if pool is None else tuple(pool.values())
    calibration = fit_calibration(raw, validation, tuple(CLV_FORMS), pool=pooled)
    calibration["validation_cutoff"] = str(split.validation.date())
    calibration["revenue_total"] = total
    if total == "btyd":
        calibration |= seasonal_factors(at_cutoffs(frame, split.refit), split.test)
        calibration |= churn_level(calibration, at_cutoffs(frame, split.refit), split.test)
    model = fit_boosters(at_cutoffs(frame, split.refit), CLV_FORMS[calibration["form"]], features)
    model.calibration = calibration
    model.churn_pool = {split.validation: (validation["label_is_churned"].to_numpy(bool), raw)} | (pool or {})
    return model


def churn_level(calibration: dict[str, Any], labelled: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, Any]:
    """Return BG/NBD's churn error a year before the cutoff (ml.btyd_total.churn_level_error) when the churn
    calibrator is validation's Platt (below a year of cutoffs), which it sets the level of; else {}."""
    calibrator = calibration.get("churn")
    if not calibrator or calibrator["method"] != "platt":
        return {}
    return churn_level_error(labelled, cutoff)


def churn_pool(
    frame: pd.DataFrame, split: CutoffSplit, features: list[str]
) -> dict[pd.Timestamp, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Return per cutoff pooled with validation for the churn calibrator (ml.churn_calibration) its
    (is_churned, raw predictions) there, from a churn booster fitted on the cutoffs a horizon before it."""
    pool = {}
    for cutoff in pooled_cutoffs(split.refit, split.validation, split.horizon.days)[1:]:
        fit = at_cutoffs(frame, [c for c in split.refit if c + split.horizon <= cutoff])
        if not (fit["label_revenue"] > 0).any():  # nobody bought: nothing to learn (fit_boosters would stop)
            continue
        stage = fit_boosters(fit, ("churn",), features)
        rows = at_cutoffs(frame, [cutoff])
        pool[cutoff] = (rows["label_is_churned"].to_numpy(bool), raw_predictions(stage, rows))
    return pool


def fit_champion(
    frame: pd.DataFrame,
    evaluated: FittedModel,
    test_cutoff: pd.Timestamp,
    scoring_cutoff: pd.Timestamp | None = None,
) -> FittedModel:
    """Return the champion: the evaluated form recalibrated on the test cutoff, refitted on every cutoff.

    When BG/NBD + Gamma-Gamma set its total, the seasonal factor is the one for scoring_cutoff (none when
    it is not given).
    """
    test = at_cutoffs(frame, [test_cutoff])
    form = evaluated.calibration["form"]
    total = total_source(frame["cutoff_date"].unique())
    # the churn calibrator pools the test cutoff with the evaluated model's cutoffs within a year before it,
    # once the boosters learn from a year of cutoffs (else Platt on the test cutoff: fit_calibration)
    pool = tuple(v for c, v in evaluated.churn_pool.items() if c > test_cutoff - POOL_SPAN)
    calibration = fit_calibration(
        raw_predictions(evaluated, test), test, (form,), pool=pool if total == "tweedie" else None
    )
    calibration["validation_cutoff"] = str(test_cutoff.date())
    calibration["revenue_total"] = total
    if total == "btyd" and scoring_cutoff is not None:
        calibration |= seasonal_factors(frame, scoring_cutoff)
        calibration |= churn_level(calibration, frame, scoring_cutoff)
    champion = fit_boosters(frame, CLV_FORMS[form], evaluated.features)
    champion.calibration = calibration
    return champion


def prepare_frame(frame: pd.DataFrame, horizon_days: int) -> tuple[pd.DataFrame, list[str]]:
    """Return the frame with the BTYD outputs of each cutoff added, and the model's input columns."""
    frame = with_btyd_features(frame, horizon_days)
    return frame, feature_columns(frame)


def predict_customers(
    frame: pd.DataFrame, boosters: dict[str, lgb.Booster], metadata: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (predicted revenue, churn probability) of a saved model for the customers of a features frame.

    Score a whole cutoff at once: BG/NBD + Gamma-Gamma are fitted on the frame's customers at each cutoff, and
    the total revenue of the rows is the Tweedie booster's total over them, or BG/NBD + Gamma-Gamma's times
    the seasonal factor when the calibration says so (ml.blend, `revenue_total`).
    """
    frame = with_btyd_features(frame, int(metadata["horizon_days"]))
    calibration = metadata.get("calibration") or {"form": "tweedie"}  # a model from before calibration
    model = FittedModel(boosters, metadata["features"], metadata["categorical_levels"], calibration)
    return predict(model, frame)

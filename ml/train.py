"""Train CLV and churn models on stacked past cutoffs, choose and calibrate on a later one, test on the last.

Cutoffs are never split at random. For a test cutoff T and horizon h:
- validation cutoff V: the latest labelled cutoff with V + h <= T;
- fit cutoffs: every c with c + h <= V. Boosters fitted on them predict V, where ml.calibration chooses the
  CLV form (Tweedie, or the hurdle P(purchase) x E[revenue | purchase]) and the blends with BG/NBD +
  Gamma-Gamma, and fits the churn calibrator;
- refit cutoffs: every c with c + h <= T. The chosen boosters are refitted on them, keep V's calibration and
  predict T, which nothing has looked at.
The champion repeats the last step one cutoff later: calibrated on T, refitted on every labelled cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa

from include.settings import get_settings
from include.unfinished import TRAINING_MARTS, require_finished_marts
from include.warehouse import connect, connect_when_free, scoring_date
from ml.artifacts import (
    find_champion,
    new_version,
    registering,
    remove_abandoned_versions,
    removed_unless_registered,
    save_model_version,
)
from ml.btyd import BTYD_FEATURES, btyd_inputs, btyd_parameters, fit_btyd
from ml.calibration import combine, fit_calibration, reliability_table
from ml.champion import champion_on_holdout, drift_reference, orders_summary, report_evaluation, write_report
from ml.clv import MIN_CUSTOMERS_WITH_ORDERS as MIN_CUSTOMERS
from ml.clv import (
    MIN_HISTORY_DAYS,
    check_enough_data,
    check_enough_sampled,
    orders_per_order_day,
    require_label_horizon,
    summarize_training_data,
)
from ml.compiled import compiled_for_date
from ml.data import (
    date_customers,
    feature_columns,
    load_training_frame,
    require_mart_columns,
    training_sample_share,
)
from ml.feature_contract import feature_differences, mart_feature_types, require_learnable_features
from ml.features import categorical_levels, model_matrix, with_btyd_features
from ml.provenance import feature_hash, git_commit, library_versions

SEED = 7
# How far the test cutoff's total predicted revenue may be from the actual before training warns (issue 4).
TOTAL_REVENUE_TOLERANCE = 0.10
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
# "orders" regresses the orders in the horizon (Poisson): the scores' predicted_orders (ml.calibration).
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
# Below a year of refit cutoffs the boosters have not seen every season (and on a young warehouse the early
# cutoffs' histories are cut short): on real data their totals were off by 25% to 170% (docs/benchmarks.md),
# BG/NBD + Gamma-Gamma's by less, so the total comes from BG/NBD then, and the metadata carries a warning.
# A year is the span the cutoffs cover, not their number: twelve monthly cutoffs, whose first and last are
# 11 months apart (334 days at least; eleven span 306 at most). Counting them would take extra cutoff dates
# or a denser spine for more seasons (docs/benchmarks.md, half-monthly cutoffs).
MIN_REFIT_SPAN = pd.Timedelta(days=334)
# BG/NBD + Gamma-Gamma know no season. When they set the total, it is the mean of their total and of their
# total corrected by their own error at the labelled cutoff one year earlier (the same season): the nearest
# within half a month, and one with MIN_HISTORY_DAYS of orders before it, as BG/NBD fitted on a shorter,
# censored history errs for that reason rather than the season's.
YEAR = pd.Timedelta(days=365)
SEASON_TOLERANCE = pd.Timedelta(days=16)


@dataclass(frozen=True)
class CutoffSplit:
    """Which cutoffs fit, validate, refit and test one evaluation (see the module docstring)."""

    fit: list[pd.Timestamp]
    validation: pd.Timestamp
    refit: list[pd.Timestamp]
    test: pd.Timestamp


@dataclass
class FittedModel:
    """Boosters with everything needed to predict: inputs, category levels and the validation calibration."""

    boosters: dict[str, lgb.Booster]
    features: list[str]
    levels: dict[str, list[str]]
    calibration: dict[str, Any] = field(default_factory=dict)


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
    return CutoffSplit(fit=fit, validation=validation, refit=refit, test=test)


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


def btyd_orders(frame: pd.DataFrame) -> np.ndarray:
    """Return BG/NBD's expected orders: its expected purchases (days with an order) x orders per such day."""
    days = pa.table({c: frame[c].to_numpy(dtype=float) for c in ("orders_lifetime", "order_days_lifetime")})
    return frame["btyd_expected_purchases"].to_numpy(dtype=float) * orders_per_order_day(days)


def seasonal_factors(labelled: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, float]:
    """Return the seasonal factors of BG/NBD's revenue and orders totals at a cutoff."""
    labelled = labelled.assign(btyd_orders=btyd_orders(labelled))
    return {
        "btyd_total_factor": seasonal_total_factor(labelled, cutoff),
        "btyd_orders_factor": seasonal_total_factor(labelled, cutoff, "label_orders", "btyd_orders"),
    }


def predict(model: FittedModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return calibrated (predicted revenue, churn probability) for a frame that has the BTYD columns."""
    return combine(raw_predictions(model, frame), model.calibration)


def total_source(refit_cutoffs) -> str:
    """Return which predictions set the total revenue: "tweedie", or "btyd" below a year of cutoffs."""
    cutoffs = pd.to_datetime(pd.Series(list(refit_cutoffs)))
    return "tweedie" if len(cutoffs) and cutoffs.max() - cutoffs.min() >= MIN_REFIT_SPAN else "btyd"


def seasonal_total_factor(
    labelled: pd.DataFrame,
    cutoff: pd.Timestamp,
    actual: str = "label_revenue",
    predicted: str = "btyd_revenue",
) -> float:
    """Return the factor on the BG/NBD + GG total at a cutoff: (1 + actual / predicted a year earlier) / 2.

    `labelled` holds rows whose horizon ended by the cutoff, with their labels; the factor is 1 when none of
    their cutoffs lies within half a month of a year earlier with MIN_HISTORY_DAYS of history. The totals
    are of revenue, or of the columns named (the orders: label_orders and btyd_orders).
    """
    totals = labelled.groupby("cutoff_date").agg(
        actual=(actual, "sum"),
        predicted=(predicted, "sum"),
        history=("days_since_first_order", "max"),
    )
    distance = (totals.index - (cutoff - YEAR)).to_series(index=totals.index).abs()
    usable = (
        (distance <= SEASON_TOLERANCE) & (totals["history"] >= MIN_HISTORY_DAYS) & (totals["predicted"] > 0)
    )
    if not usable.any():
        return 1.0
    year_ago = distance[usable].idxmin()
    return float((1.0 + totals.loc[year_ago, "actual"] / totals.loc[year_ago, "predicted"]) / 2.0)


def fit_evaluated_model(frame: pd.DataFrame, split: CutoffSplit, features: list[str]) -> FittedModel:
    """Return the model for the split's test cutoff: form and calibrators from validation, refitted."""
    stage = fit_boosters(at_cutoffs(frame, split.fit), ("churn", "clv", "spend"), features)
    validation = at_cutoffs(frame, [split.validation])
    calibration = fit_calibration(raw_predictions(stage, validation), validation, tuple(CLV_FORMS))
    calibration["validation_cutoff"] = str(split.validation.date())
    calibration["revenue_total"] = total_source(split.refit)
    if calibration["revenue_total"] == "btyd":
        calibration |= seasonal_factors(at_cutoffs(frame, split.refit), split.test)
    model = fit_boosters(at_cutoffs(frame, split.refit), CLV_FORMS[calibration["form"]], features)
    model.calibration = calibration
    return model


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
    calibration = fit_calibration(raw_predictions(evaluated, test), test, (form,))
    calibration["validation_cutoff"] = str(test_cutoff.date())
    calibration["revenue_total"] = total_source(frame["cutoff_date"].unique())
    if calibration["revenue_total"] == "btyd" and scoring_cutoff is not None:
        calibration |= seasonal_factors(frame, scoring_cutoff)
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
    the seasonal factor when the calibration says so (ml.calibration, `revenue_total`).
    """
    frame = with_btyd_features(frame, int(metadata["horizon_days"]))
    calibration = metadata.get("calibration") or {"form": "tweedie"}  # a model from before calibration
    model = FittedModel(boosters, metadata["features"], metadata["categorical_levels"], calibration)
    return predict(model, frame)


def _cutoff_dates(cutoffs) -> list[str]:
    """Return cutoffs as sorted ISO date strings."""
    return sorted(str(pd.Timestamp(c).date()) for c in cutoffs)


def train_models(
    warehouse_path: Path | None = None, horizon_days: int | None = None, min_customers: int = MIN_CUSTOMERS
) -> dict[str, Any]:
    """Evaluate out of time against the baselines, fit and save a model, gate it; return its metadata.

    The new version is saved with its report and drift reference, recorded in ml.model_registry with its
    evaluation in ml.evaluations (the rows of its model_version), and becomes champion only if it passes the
    gate (ml.champion); the returned metadata says whether it did ("promoted", "gate_reason").
    """
    from ml.evaluate import evaluate_cutoff, undefined_holdout, with_evaluation_keys
    from ml.evaluate import write_rows as write_evaluation_rows
    from ml.gate import metrics_from_evaluation
    from ml.registry import promote_or_reject

    settings = get_settings()
    horizon_days = horizon_days or settings.horizon_days
    find_champion(settings.artifacts_dir)  # the gate reads it: a broken folder stops here, not after the fit
    with connect(warehouse_path, read_only=True) as con:
        require_finished_marts(con, TRAINING_MARTS, "train")
        require_label_horizon(con, horizon_days)
        summary = summarize_training_data(con, horizon_days)
        check_enough_data(summary, min_customers=min_customers)
        require_mart_columns(con, horizon_days)
        require_learnable_features(mart_feature_types(con))
        sample_share = training_sample_share(con, settings.train_max_customers)
        check_enough_sampled(summary, sample_share, settings.train_max_customers, min_customers)
        frame = load_training_frame(con, horizon_days, sample_share)
        mart_types = mart_feature_types(con)
        scoring_cutoff = pd.Timestamp(scoring_date(con))
        scoring_customers = date_customers(con, scoring_cutoff.date())
    frame, features = prepare_frame(frame, horizon_days)
    test_cutoff = frame["cutoff_date"].max()
    split = split_cutoffs(list(frame["cutoff_date"].unique()), test_cutoff, horizon_days)
    evaluated, table, predictions = evaluate_cutoff(frame, features, test_cutoff, horizon_days)
    candidate = MODEL_NAME
    _, baseline_metrics = metrics_from_evaluation(table, candidate)
    test = at_cutoffs(frame, [test_cutoff])
    revenue, churn = predictions[candidate]
    out_of_time = {row.metric: row.value for row in table[table["model"] == candidate].itertuples()}
    out_of_time |= {
        "test_customers": int(len(test)),
        "test_actual_revenue": float(test["label_revenue"].sum()),
        "test_predicted_revenue": float(revenue.sum()),
        "test_churn_rate": float(test["label_is_churned"].mean()),
        "test_actual_orders": float(test["label_orders"].sum()),
        "test_predicted_orders": table.attrs["predicted_orders"][candidate],
    }

    warnings = []
    if sample_share < 1.0:
        warnings.append(
            f"trained on a fixed sample of {sample_share:.1%} of the customers (CVW_TRAIN_MAX_CUSTOMERS="
            f"{settings.train_max_customers:,}); every customer is scored"
        )
    if total_source(split.refit) == "btyd":
        warnings.append(
            f"the evaluated model learnt from {len(split.refit)} cutoffs, less than a year of them: total "
            "revenue comes from BG/NBD + Gamma-Gamma and is unreliable (load more history)"
        )
    bias = out_of_time.get("revenue_aggregate_bias")
    if bias is not None and abs(bias) > TOTAL_REVENUE_TOLERANCE:
        warnings.append(
            f"total predicted revenue of the test cutoff is {bias:+.1%} off the actual, outside the "
            f"±{TOTAL_REVENUE_TOLERANCE:.0%} target: budgets built on predicted totals will be off too"
        )
    undefined = undefined_holdout(test["label_is_churned"], test_cutoff, horizon_days)
    if undefined:  # a window of a closed shop: every model and baseline is nan there
        warnings.append(undefined + " (a first model is promoted regardless)")
    champion = fit_champion(frame, evaluated, test_cutoff, scoring_cutoff)
    for model in (evaluated, champion):  # a cutoff of one churn outcome (ml.calibration.single_outcome)
        if "skipped" in model.calibration:
            warnings.append(
                f"calibration cutoff {model.calibration['validation_cutoff']}: {model.calibration['skipped']}"
            )
    hashed = feature_hash(features, champion.levels)
    for folder in remove_abandoned_versions(settings.artifacts_dir):
        print(f"removed {folder.name}, the folder of a training whose process died before registering it")
    version, trained_at = new_version(settings.artifacts_dir, hashed)
    metadata = {
        "version": version,
        "models": sorted(champion.boosters),
        "clv_form": champion.calibration["form"],
        "calibration": champion.calibration,
        "horizon_days": horizon_days,
        "trained_at": trained_at.isoformat(),
        "features": features,
        "categorical_levels": champion.levels,
        # the mart's DuckDB type of each feature read from it: scoring refuses a mart where one changed kind
        "feature_types": {column: mart_types[column] for column in features if column in mart_types},
        "feature_hash": hashed,
        # the evaluated model learnt from train_cutoffs, was chosen and calibrated on validation_cutoff
        # (itself fitted on fit_cutoffs) and tested on test_cutoff; the champion learnt from refit_cutoffs
        "fit_cutoffs": _cutoff_dates(split.fit),
        "validation_cutoff": str(split.validation.date()),
        "train_cutoffs": _cutoff_dates(split.refit),
        "test_cutoff": str(test_cutoff.date()),
        "refit_cutoffs": _cutoff_dates(frame["cutoff_date"].unique()),
        "training_rows": int(len(frame)),
        # below 1: a fixed hash sample of customers (CVW_TRAIN_MAX_CUSTOMERS), the same at every cutoff
        "training_sample_share": sample_share,
        # BG/NBD + Gamma-Gamma as fitted on the test cutoff's customers (training's fit there): what scoring
        # uses at a date too small to fit them on (ml.btyd.identified_fit; ml.score_btyd.fit_date_btyd)
        "btyd_parameters": {
            "cutoff": str(test_cutoff.date()),
            **btyd_parameters(fit_btyd(btyd_inputs(test))),
        },
        "params": {
            name: {**params, "boosting_rounds": rounds} for name, (params, rounds) in BOOSTERS.items()
        },
        "out_of_time_metrics": out_of_time,
        "warnings": warnings,
        "baseline_metrics": baseline_metrics,
        "churn_reliability": reliability_table(test["label_is_churned"], churn).to_dict(orient="records"),
        "versions": library_versions(),
        "git_commit": git_commit(dbt_project_dir=settings.dbt_project_dir),
    }
    # the scores' reference is the champion's own on the test cutoff: the monitor then compares one model's
    # scores over two populations, not the evaluated model's with the refitted champion's
    metadata["drift_reference"] = drift_reference(test, features, *predict(champion, test))
    # the boosters tested out of time are kept too: a later candidate's gate re-scores them on its holdout,
    # whose labels the refitted ones may have learnt (ml.champion.champion_on_holdout)
    metadata["evaluated_model"] = {
        "models": sorted(evaluated.boosters),
        "calibration": evaluated.calibration,
        "categorical_levels": evaluated.levels,
    }
    # the folder goes again unless the registry records the version: a failed try leaves no orphan
    with removed_unless_registered(settings.artifacts_dir, version):
        folder = save_model_version(
            settings.artifacts_dir,
            version,
            champion.boosters,
            metadata,
            evaluated_boosters=evaluated.boosters,
        )
        evaluation = report_evaluation(metadata, test, (revenue, churn), table, evaluated.boosters)
        report = write_report(folder, evaluation)

        current = find_champion(settings.artifacts_dir)
        on_holdout = champion_on_holdout(
            current,
            test,
            metadata["test_cutoff"],
            horizon_days,
            settings.artifacts_dir,
        )
        # a champion that cannot score this mart (its features differ from the mart's) is not one to keep
        unfit = None
        if current:
            unfit = feature_differences(
                current[2]["features"], mart_types, BTYD_FEATURES, current[2].get("feature_types")
            )
        evaluation_rows = with_evaluation_keys(table, test_cutoff.date(), horizon_days, frame, version)
        registering(settings.artifacts_dir, version)
        # minutes of fitting are lost if this fails on another process's lock (a prune, a notebook): wait
        with connect_when_free(warehouse_path) as con:
            # the rows carry the version, and are written with its registry rows: ml.evaluations and
            # ml.model_registry join on model_version, and neither holds a version the other lacks
            promoted, reason = promote_or_reject(
                con,
                settings.artifacts_dir,
                metadata,
                champion_metrics=on_holdout[0] if on_holdout else None,
                champion_scored_by=on_holdout[1] if on_holdout else None,
                champion_unfit=unfit,
                configured_horizon_days=settings.horizon_days,
                write_with=lambda con: write_evaluation_rows(con, evaluation_rows),
            )
    if promoted:  # compiled now, in the minutes of training, so its first large scoring is not slowed by it
        compiled_for_date(folder, champion.boosters, metadata, scoring_customers)
    metadata |= {"promoted": promoted, "gate_reason": reason, "report": str(report)}
    return metadata


def format_metrics(metadata: dict[str, Any]) -> str:
    """Return a short human summary of a trained model's out-of-time metrics next to the baselines'."""
    m = metadata["out_of_time_metrics"]
    lines = [
        f"model {metadata['version']} ({metadata['clv_form']} CLV): fitted on {len(metadata['fit_cutoffs'])} "
        f"cutoffs, calibrated on {metadata['validation_cutoff']}, refitted on "
        f"{len(metadata['train_cutoffs'])}, tested out of time at {metadata['test_cutoff']} "
        f"({m['test_customers']} customers, {metadata['horizon_days']}-day horizon): predicted revenue "
        f"{m['test_predicted_revenue']:,.0f} vs actual {m['test_actual_revenue']:,.0f}"
        + (f"; orders {orders}" if (orders := orders_summary(m)) else ""),
        f"  {'':20} {'Spearman':>9} {'Gini':>6} {'top10%':>7} {'bias':>7} {'churn AUC':>10}",
    ]
    rows = {MODEL_NAME: m}
    for name, clv in metadata["baseline_metrics"].get("clv", {}).items():
        churn = metadata["baseline_metrics"].get("churn", {}).get(name, {})
        rows[name] = {f"revenue_{k}": v for k, v in clv.items()} | {f"churn_{k}": v for k, v in churn.items()}
    for name, row in rows.items():
        lines.append(
            f"  {name:20} {row['revenue_spearman']:9.3f} {row['revenue_normalized_gini']:6.3f} "
            f"{row['revenue_top10_capture']:7.3f} {row['revenue_aggregate_bias']:+7.1%} "
            f"{row['churn_roc_auc']:10.3f}"
        )
    lines += [f"  warning: {warning}" for warning in metadata.get("warnings", [])]
    if "promoted" in metadata:
        verdict = "promoted to champion" if metadata["promoted"] else "rejected, the champion keeps scoring"
        lines.append(f"  gate: {verdict}: {metadata['gate_reason']}")
        lines.append(f"  report: {metadata['report']}")
    return "\n".join(lines)

"""Train the CLV regressor and the churn classifier on stacked past cutoffs, checked out of time."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from include.settings import get_settings
from include.warehouse import connect
from ml import metrics
from ml.artifacts import promote_champion, save_model_version
from ml.data import feature_columns, load_training_frame
from ml.features import categorical_levels, model_matrix

SEED = 7
BOOSTING_ROUNDS = 300
# Tweedie suits revenue: a point mass at zero (no purchase) and a long right tail.
CLV_PARAMS: dict[str, Any] = {
    "objective": "tweedie",
    "tweedie_variance_power": 1.3,
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": SEED,
    "deterministic": True,
    "num_threads": 2,
    "verbose": -1,
}
CHURN_PARAMS: dict[str, Any] = {**CLV_PARAMS, "objective": "binary"}
del CHURN_PARAMS["tweedie_variance_power"]


def split_out_of_time(frame: pd.DataFrame, horizon_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test): the latest labelled cutoff, and every cutoff whose horizon ends by it."""
    test_cutoff = frame["cutoff_date"].max()
    train_end = test_cutoff - pd.Timedelta(days=horizon_days)
    train = frame[frame["cutoff_date"] <= train_end]
    if train.empty:
        raise SystemExit(
            f"Only {frame['cutoff_date'].nunique()} labelled cutoff(s) for a {horizon_days}-day horizon: "
            "out-of-time evaluation needs a training cutoff whose horizon ends before the test cutoff; "
            "load a longer history or use a shorter horizon."
        )
    return train, frame[frame["cutoff_date"] == test_cutoff]


def _fit(params: dict[str, Any], matrix: pd.DataFrame, target: pd.Series) -> lgb.Booster:
    """Return a booster fitted on one matrix and target."""
    dataset = lgb.Dataset(matrix, label=target.to_numpy(dtype=float), free_raw_data=False)
    return lgb.train(params, dataset, num_boost_round=BOOSTING_ROUNDS)


def fit_models(
    frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> dict[str, lgb.Booster]:
    """Return the CLV and churn boosters fitted on a labelled frame."""
    matrix = model_matrix(frame, features, levels)
    return {
        "clv": _fit(CLV_PARAMS, matrix, frame["label_revenue"]),
        "churn": _fit(CHURN_PARAMS, matrix, frame["label_is_churned"].astype(int)),
    }


def evaluate(
    boosters: dict[str, lgb.Booster], test: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> dict[str, float]:
    """Return the out-of-time metrics of fitted boosters on the test cutoff."""
    matrix = model_matrix(test, features, levels)
    revenue = boosters["clv"].predict(matrix)
    churn = boosters["churn"].predict(matrix)
    return {
        "revenue_mae": metrics.mean_absolute_error(test["label_revenue"], revenue),
        "revenue_spearman": metrics.spearman(test["label_revenue"], revenue),
        "churn_roc_auc": metrics.roc_auc(test["label_is_churned"], churn),
        "test_customers": int(len(test)),
        "test_actual_revenue": float(test["label_revenue"].sum()),
        "test_predicted_revenue": float(revenue.sum()),
        "test_churn_rate": float(test["label_is_churned"].mean()),
    }


def _feature_hash(features: list[str], levels: dict[str, list[str]]) -> str:
    """Return a short hash of the feature list and category levels, so scoring can detect a mismatch."""
    payload = json.dumps({"features": features, "levels": levels}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def train_models(warehouse_path: Path | None = None, horizon_days: int | None = None) -> dict[str, Any]:
    """Train, evaluate out of time, refit on every labelled cutoff, save and promote; return the metadata."""
    settings = get_settings()
    horizon_days = horizon_days or settings.horizon_days
    with connect(warehouse_path, read_only=True) as con:
        frame = load_training_frame(con, horizon_days)
    features = feature_columns(frame.drop(columns=["label_revenue", "label_orders", "label_is_churned"]))
    train, test = split_out_of_time(frame, horizon_days)
    levels = categorical_levels(train, features)
    evaluation = evaluate(fit_models(train, features, levels), test, features, levels)

    # The champion learns from every labelled cutoff, the test cutoff included: the freshest behaviour.
    all_levels = categorical_levels(frame, features)
    boosters = fit_models(frame, features, all_levels)
    trained_at = datetime.now(UTC)
    feature_hash = _feature_hash(features, all_levels)
    version = f"{trained_at:%Y%m%dT%H%M%SZ}-{feature_hash}"
    metadata = {
        "version": version,
        "models": sorted(boosters),
        "horizon_days": horizon_days,
        "trained_at": trained_at.isoformat(),
        "features": features,
        "categorical_levels": all_levels,
        "feature_hash": feature_hash,
        "train_cutoffs": sorted(str(c.date()) for c in train["cutoff_date"].unique()),
        "test_cutoff": str(test["cutoff_date"].max().date()),
        "refit_cutoffs": sorted(str(c.date()) for c in frame["cutoff_date"].unique()),
        "training_rows": int(len(frame)),
        "params": {"clv": CLV_PARAMS, "churn": CHURN_PARAMS, "boosting_rounds": BOOSTING_ROUNDS},
        "out_of_time_metrics": evaluation,
        "versions": {
            "lightgbm": lgb.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    save_model_version(settings.artifacts_dir, version, boosters, metadata)
    promote_champion(settings.artifacts_dir, version)
    return metadata


def format_metrics(metadata: dict[str, Any]) -> str:
    """Return a short human summary of a trained model's out-of-time metrics."""
    m = metadata["out_of_time_metrics"]
    return (
        f"model {metadata['version']}: trained on {len(metadata['train_cutoffs'])} cutoffs, "
        f"tested out of time at {metadata['test_cutoff']} ({m['test_customers']} customers, "
        f"{metadata['horizon_days']}-day horizon)\n"
        f"  revenue  MAE {m['revenue_mae']:.2f}  Spearman {m['revenue_spearman']:.3f}  "
        f"predicted {m['test_predicted_revenue']:,.0f} vs actual {m['test_actual_revenue']:,.0f}\n"
        f"  churn    ROC-AUC {m['churn_roc_auc']:.3f}  (churn rate {m['test_churn_rate']:.1%})"
    )

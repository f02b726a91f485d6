"""The table ml.model_registry: its columns, its statuses, and the rows a model version's metadata gives.

ml.registry writes and reads these rows (register_model, the champion gate); this module only says what
they hold, so building a version's rows needs no warehouse.

The metadata dict registry_rows reads, as ml.registry's register_model and promote_or_reject pass it (keys
beyond these are ignored):
    version        str, the model version (artifacts/models/<version>/)
    horizon_days   int
    trained_at     ISO timestamp str or datetime
    features       list of feature columns; feature_types optional {mart column: DuckDB type} at training
                   (scoring's type check); feature_hash optional (computed from features and
                   categorical_levels when absent, as training computes it)
    cutoffs        list of ISO dates the final model learnt from (refit_cutoffs or train_cutoffs also read)
    test_cutoff    optional ISO date: the holdout the metrics were measured on
    validation_cutoff  optional ISO date: where the tested model's form and calibration were chosen
    params         {"clv": {...}, "spend": {...}, "churn": {...}}: each booster's parameters (a dict without
                   booster keys is stored for every task)
    calibration    optional, ml.calibration's: with it, each task's row records the params of the boosters
                   its predictions are made of and the calibration they go through (task_params)
    metrics        {"clv": {"spearman": .., "normalized_gini": ..}, "churn": {"roc_auc": ..}} on the
                   holdout; without it, a flat "out_of_time_metrics" is split:
                   revenue_* and clv_* -> clv, churn_* -> churn, and the predicted orders'
                   (ml.gate.CLV_ORDERS_METRICS) -> clv under their own names
    baseline_metrics  {"clv": {"<baseline>": {"spearman": ..}}, "churn": {"<baseline>": {"roc_auc": ..}}}
    versions       optional {"python": .., "lightgbm": .., ...} (library_versions() when absent);
                   git_commit optional (git_commit(): HEAD, "<sha>-dirty" with uncommitted code, when absent)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb

from ml.blend import prediction_inputs
from ml.gate import GATE_METRICS, task_metrics
from ml.provenance import feature_hash, git_commit, library_versions

CHAMPION, REJECTED, RETIRED = "champion", "challenger-rejected", "retired"
REGISTRY_DDL = """
create table if not exists ml.model_registry (
    model_version varchar not null,
    task varchar not null,
    horizon_days integer not null,
    first_cutoff date,
    last_cutoff date,
    cutoffs varchar not null,
    test_cutoff date,
    validation_cutoff date,
    features varchar not null,
    feature_hash varchar not null,
    params varchar not null,
    metrics varchar not null,
    baseline_metrics varchar not null,
    library_versions varchar not null,
    git_commit varchar not null,
    trained_at timestamp not null,
    status varchar not null,
    reason varchar not null,
    updated_at timestamp not null,
    pruned_at timestamp,
    primary key (model_version, task)
)
"""
# Columns added since the table's first release: a registry made before them gets them, empty on its rows.
ADDED_COLUMNS = {"test_cutoff": "date", "validation_cutoff": "date", "pruned_at": "timestamp"}


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema ml and table ml.model_registry when they do not exist, and add columns it lacks."""
    from include.warehouse import ensure_table

    ensure_table(con, "ml", "model_registry", REGISTRY_DDL, ADDED_COLUMNS)


def _iso_date(value: Any) -> str | None:
    """Return a date or timestamp (or its ISO text) as an ISO date, None for None."""
    return None if value is None else str(value)[:10]


def task_params(metadata: dict[str, Any], task: str) -> dict[str, Any]:
    """Return what made a task's predictions: its boosters' parameters and the calibration they go through.

    {"boosters": {name: params}, "calibration": {...}} for a model with a calibration (ml.calibration's
    prediction_inputs: the hurdle CLV form reads the spend and churn boosters as well, and the clv task's
    predicted orders the orders booster when the model has one); without one, the
    task's params as metadata gives them.
    """
    params = metadata.get("params", {})
    if not metadata.get("calibration"):
        return params.get(task, params)
    boosters, calibration = prediction_inputs(metadata["calibration"], task, with_orders="orders" in params)
    return {"boosters": {name: params.get(name, params) for name in boosters}, "calibration": calibration}


def registry_rows(metadata: dict[str, Any], status: str, reason: str) -> list[dict[str, Any]]:
    """Return the registry rows of a model version's metadata: one per task (clv, churn), column -> value."""
    if status not in (CHAMPION, REJECTED, RETIRED):
        raise ValueError(f"status must be {CHAMPION}, {REJECTED} or {RETIRED}, not {status!r}")
    metrics, baselines = task_metrics(metadata), metadata.get("baseline_metrics", {})
    listed = metadata.get("cutoffs") or metadata.get("refit_cutoffs") or metadata.get("train_cutoffs") or []
    cutoffs = sorted(str(cutoff)[:10] for cutoff in listed)
    trained_at = metadata.get("trained_at") or datetime.now(UTC)
    trained_at = datetime.fromisoformat(trained_at) if isinstance(trained_at, str) else trained_at
    common = {
        "model_version": metadata["version"],
        "horizon_days": int(metadata["horizon_days"]),
        "first_cutoff": cutoffs[0] if cutoffs else None,
        "last_cutoff": cutoffs[-1] if cutoffs else None,
        "cutoffs": json.dumps(cutoffs),
        "test_cutoff": _iso_date(metadata.get("test_cutoff")),
        "validation_cutoff": _iso_date(metadata.get("validation_cutoff")),
        "features": json.dumps(metadata["features"]),
        "feature_hash": metadata.get("feature_hash")
        or feature_hash(metadata["features"], metadata.get("categorical_levels", {})),
        "library_versions": json.dumps(metadata.get("versions") or library_versions(), sort_keys=True),
        "git_commit": metadata.get("git_commit") or git_commit(),
        "trained_at": trained_at.astimezone(UTC).replace(tzinfo=None) if trained_at.tzinfo else trained_at,
        "status": status,
        "reason": reason,
        "updated_at": datetime.now(UTC).replace(tzinfo=None),
    }
    return [
        {
            **common,
            "task": task,
            "params": json.dumps(task_params(metadata, task), sort_keys=True, default=str),
            "metrics": json.dumps(metrics.get(task, {}), sort_keys=True, default=str),
            "baseline_metrics": json.dumps(baselines.get(task, {}), sort_keys=True, default=str),
        }
        for task in sorted(GATE_METRICS)
    ]

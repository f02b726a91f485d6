"""The champion gate: promote a candidate model only when it holds the champion and beats the baselines.

Gate metrics (GATE_METRICS), all higher-is-better ranking measures, because tiers and actions consume the
ranking: CLV Spearman rank correlation and normalized Gini, churn ROC-AUC. On the holdout, each gate metric
the candidate reports must be (1) not worse than the champion's by more than `tolerance` (absolute,
default 0.01) and (2) strictly better than every baseline that reports it. A task that reports none of its
gate metrics, an undefined (NaN) metric, or a task without any baseline rejects the candidate.

Metrics by task look like {"clv": {"spearman": 0.61, "normalized_gini": 0.55}, "churn": {"roc_auc": 0.8}};
baselines like {"clv": {"<baseline>": {"spearman": 0.4}}, "churn": {"<baseline>": {"roc_auc": 0.7}}}.
Flat names (revenue_spearman, churn_roc_auc: ml.evaluate's) are split with split_by_task.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import pandas as pd

GATE_METRICS = {"clv": ("spearman", "normalized_gini"), "churn": ("roc_auc",)}
DEFAULT_TOLERANCE = 0.01
# The clv task's predicted orders, kept under their own names (orders_mae is not revenue's mae): their
# metrics on the holdout and the test cutoff's predicted and actual orders (ml.train), which the training
# summary and report read (ml.champion.orders_summary). A version registered before them has none.
CLV_ORDERS_METRICS = (
    "orders_mae",
    "orders_spearman",
    "orders_aggregate_bias",
    "test_predicted_orders",
    "test_actual_orders",
)


def split_by_task(flat: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Return flat metrics by task: revenue_spearman -> clv spearman, churn_roc_auc -> churn roc_auc, and
    CLV_ORDERS_METRICS -> clv under their own names."""
    prefixes = {"revenue_": "clv", "clv_": "clv", "churn_": "churn"}
    split: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        if key in CLV_ORDERS_METRICS:
            split.setdefault("clv", {})[key] = value
            continue
        for prefix, task in prefixes.items():
            if key.startswith(prefix):
                split.setdefault(task, {})[key.removeprefix(prefix)] = value
    return split


def task_metrics(metadata: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return the holdout metrics by task: metadata["metrics"], else the flat out_of_time_metrics split."""
    if "metrics" in metadata:
        return metadata["metrics"]
    return split_by_task(metadata.get("out_of_time_metrics", {}))


def metrics_from_evaluation(
    table: pd.DataFrame, candidate: str
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """Return (candidate metrics, baseline metrics) by task from a long (model, metric, value) table.

    The table is ml.evaluate's (one row per model and metric, metric names like revenue_spearman); the
    rows of model `candidate` are the candidate, every other model is a baseline.
    """
    by_model = {
        model: split_by_task(dict(zip(rows["metric"], rows["value"], strict=True)))
        for model, rows in table.groupby("model", sort=True)
    }
    if candidate not in by_model:
        raise ValueError(f"the evaluation table has no rows for model {candidate!r}")
    baselines: dict[str, dict[str, dict[str, float]]] = {}
    for model, tasks in by_model.items():
        for task, values in tasks.items():
            if model != candidate:
                baselines.setdefault(task, {})[model] = values
    return by_model[candidate], baselines


def _defined(value: Any) -> bool:
    """Return True for a number that is not NaN."""
    return isinstance(value, numbers.Real) and not math.isnan(value)


def decide_promotion(
    candidate_metrics: dict[str, dict[str, float]],
    champion_metrics: dict[str, dict[str, float]] | None,
    baseline_metrics: dict[str, dict[str, dict[str, float]]],
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[bool, str]:
    """Return (promote, reason): promote when each gate metric holds the champion and beats every baseline."""
    failures, notes = [], []
    for task, gate in GATE_METRICS.items():
        reported = [metric for metric in gate if metric in candidate_metrics.get(task, {})]
        if not reported:
            failures.append(f"{task} reports none of its gate metrics ({', '.join(gate)})")
        for metric in reported:
            value = candidate_metrics[task][metric]
            if not _defined(value):
                failures.append(f"{task} {metric} is undefined")
                continue
            note = f"{task} {metric} {value:.4f}"
            champion = (champion_metrics or {}).get(task, {}).get(metric)
            if _defined(champion):
                note += f" (champion {champion:.4f})"
                if value < champion - tolerance:
                    failures.append(f"{note} is worse than the champion by more than {tolerance}")
            baselines = {
                name: scores[metric]
                for name, scores in baseline_metrics.get(task, {}).items()
                if _defined(scores.get(metric))
            }
            if not baselines:
                failures.append(f"{task} {metric} has no baseline to beat")
                continue
            best = max(baselines, key=baselines.get)
            note += f" vs best baseline {best} {baselines[best]:.4f}"
            if value <= baselines[best]:
                failures.append(
                    f"{task} {metric} {value:.4f} does not beat baseline {best} ({baselines[best]:.4f})"
                )
            notes.append(note)
    if failures:
        return False, "rejected: " + "; ".join(failures)
    return True, "promoted: " + "; ".join(notes)

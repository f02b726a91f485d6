"""What a training run leaves beside its boosters: the drift reference, the HTML report, the gate decision.

- Drift reference (ml.monitor): the distribution of every monitored feature and of the two scores over the
  test cutoff's customers, scored by the evaluated model (out of sample, like a real scoring date).
- Report (ml.report_html): gains, calibration, ROC/PR, churn reliability, feature importance, SHAP summary
  and the baseline table of the out-of-time test, written as artifacts/models/<version>/report.html, with
  the evaluation JSON that `cvw report` re-renders.
- Gate (ml.registry.promote_or_reject): the new version becomes champion only when it beats every baseline
  and holds the current champion within the tolerance. The champion is measured on the new model's holdout
  by boosters that learnt no label of it: its refitted ones when their last label window ended by the
  holdout's cutoff, else the ones it was tested with (fitted before its own test cutoff, saved beside
  them), as the candidate's are. When neither qualifies (a champion tested at a later cutoff than the
  candidate, saved before its tested boosters were, or its folder lost them) or the holdout lacks one of
  its features, its stored metrics, from its own holdout, are used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml import explain, monitor
from ml.churn_calibration import reliability_table
from ml.features import model_matrix
from ml.gate import split_by_task
from ml.report_html import load_evaluation, render_report, save_evaluation

SCORE_COLUMNS = ("churn_probability", "predicted_revenue")
SHAP_SAMPLE_ROWS = 20_000  # the SHAP summary is a mean over customers: a sample of them is enough
REPORT_FILE, EVALUATION_FILE = "report.html", "evaluation.json"
# What the value's feature importance and SHAP summary are of, by the booster that ranks revenue
VALUE_DRIVERS = {"clv": "Tweedie booster", "spend": "spend booster, hurdle form"}
VALUE_DRIVER_NOTES = {
    "clv": "the Tweedie booster, which ranks revenue",
    "spend": (
        "the spend booster, which ranks revenue with P(purchase) in the hurdle form (its SHAP: log of "
        "(1 - p) x spend, as the value reasons; the Tweedie booster sets the total only)"
    ),
}


def drift_reference(
    test: pd.DataFrame, features: list[str], revenue: np.ndarray, churn: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Return the monitor's reference bins of the test cutoff's features and the champion's scores there."""
    snapshot = test[features].assign(predicted_revenue=revenue, churn_probability=churn)
    return monitor.reference_distribution(snapshot, [*monitor.monitored_columns(features), *SCORE_COLUMNS])


def _sample_rows(rows: int, limit: int = SHAP_SAMPLE_ROWS) -> np.ndarray:
    """Return the positions of at most `limit` of `rows` rows, the same ones every run."""
    positions = np.arange(rows)
    return positions if rows <= limit else pd.Series(positions).sample(limit, random_state=0).to_numpy()


def _cutoff_span(cutoffs: list[str]) -> str:
    """Return "N cutoffs, FIRST to LAST" of sorted ISO cutoff dates."""
    return f"{len(cutoffs)} cutoffs, {cutoffs[0]} to {cutoffs[-1]}" if cutoffs else "no cutoffs"


def _test_customers(customers: int, sample_share: float) -> str:
    """Return the test cutoff's customer count, saying when they are the training sample, not all of them."""
    if sample_share >= 1.0:
        return f"{customers:,}"
    return (
        f"{customers:,}, the fixed training sample ({sample_share:.1%} of the customers, "
        "CVW_TRAIN_MAX_CUSTOMERS): every number and chart below is of them"
    )


def report_evaluation(
    metadata: dict[str, Any],
    test: pd.DataFrame,
    predictions: tuple[np.ndarray, np.ndarray],
    table: pd.DataFrame,
    evaluated_boosters: dict[str, lgb.Booster],
) -> dict[str, Any]:
    """Return the report_html evaluation dict of a training run (see ml.report_html).

    The value's drivers are those of the booster that ranks revenue, as the score table's value reasons
    are (ml.explain.value_contributions): for the hurdle form the spend booster, with P(purchase) from the
    churn booster, not the Tweedie booster that only sets the total.
    """
    from ml.evaluation_views import describe_totals, wide_records

    revenue, churn = predictions
    features, levels = metadata["features"], metadata["categorical_levels"]
    calibration = metadata["evaluated_model"]["calibration"]
    rows = _sample_rows(len(test))
    matrix = model_matrix(test.iloc[rows], features, levels)
    churn_contrib = explain.contributions(evaluated_boosters["churn"], matrix)
    value_contrib = explain.value_contributions(
        evaluated_boosters, matrix, calibration, np.asarray(churn)[rows], churn_contrib
    )
    shap = {
        task: explain.mean_abs_contributions(contrib, features)
        for task, contrib in (("clv", value_contrib), ("churn", churn_contrib))
    }
    value_booster = explain.value_booster(calibration)
    importance = {}
    for task, name in (("clv", value_booster), ("churn", "churn")):
        booster = evaluated_boosters[name]
        gains = booster.feature_importance("gain").astype(float).tolist()
        importance[task] = dict(zip(booster.feature_name(), gains, strict=True))
    m, share = metadata["out_of_time_metrics"], metadata.get("training_sample_share", 1.0)
    return {
        "title": f"Model {metadata['version']}",
        "summary": {
            "test cutoff (out of time)": metadata["test_cutoff"],
            "horizon": f"{metadata['horizon_days']} days",
            "customers at the test cutoff": _test_customers(m["test_customers"], share),
            "predicted vs actual revenue": (
                f"{m['test_predicted_revenue']:,.0f} vs {m['test_actual_revenue']:,.0f}"
            ),
            **({"predicted vs actual orders": orders} if (orders := orders_summary(m)) else {}),
            "CLV form": metadata["clv_form"],
            # the charts and tables are of the model as tested, not of the champion refitted after the test
            "tested model (every number and chart below)": (
                f"learnt from {_cutoff_span(metadata['train_cutoffs'])}, its form and calibration chosen on "
                f"{metadata['validation_cutoff']}; {describe_totals(calibration)}"
            ),
            "champion (the model that scores)": (
                f"refitted on {_cutoff_span(metadata['refit_cutoffs'])}, {metadata['training_rows']:,} rows, "
                f"recalibrated on {metadata['test_cutoff']}; {describe_totals(metadata['calibration'])}"
            ),
            "customers sampled for training": f"{share:.1%}",
            "SHAP summary over": f"{len(matrix):,} customers of the test cutoff",
            "value drivers of": VALUE_DRIVER_NOTES[value_booster],
            "warnings": "; ".join(metadata.get("warnings", [])) or "none",
        },
        "clv": {"actual": test["label_revenue"].to_numpy(dtype=float), "predicted": revenue},
        "churn": {"is_churned": test["label_is_churned"].to_numpy(dtype=int), "probability": churn},
        # the table training stores as metadata's churn_reliability, of the same holdout as the charts
        "churn_reliability": reliability_table(test["label_is_churned"], churn).to_dict(orient="records"),
        "feature_importance": importance,
        "shap_summary": shap,
        "drivers_of": {"clv": VALUE_DRIVERS[value_booster], "churn": "churn booster"},
        "baselines": wide_records(table),
    }


def write_report(folder: Path, evaluation: dict[str, Any]) -> Path:
    """Write the evaluation JSON and the HTML report into a model version's folder; return the report."""
    save_evaluation(evaluation, folder / EVALUATION_FILE)
    return render_report(evaluation, folder / REPORT_FILE)


def orders_summary(m: dict[str, Any]) -> str | None:
    """Return the test cutoff's predicted vs actual orders, their bias and MAE a customer, from a model's
    metrics (flat out_of_time_metrics or the registry's clv ones); None for a model without orders metrics.

    A model trained before test_predicted_orders was stored has its predicted total as actual x (1 + bias).
    """
    actual, bias, mae = (m.get(key) for key in ("test_actual_orders", "orders_aggregate_bias", "orders_mae"))
    predicted = m.get("test_predicted_orders")
    if predicted is None and actual is not None and bias is not None and bias == bias:
        predicted = actual * (1 + bias)
    if predicted is None or actual is None or mae is None:
        return None
    off = f"{bias:+.1%}" if actual else "no order was placed"
    return f"{predicted:,.0f} vs {actual:,.0f} ({off}; MAE {mae:.2f} a customer)"


def _learnt_labels_after(cutoffs: list[str], horizon_days: int, test_cutoff: str) -> bool:
    """Return whether a label window of the cutoffs ends after the test cutoff, where the holdout's starts."""
    last = max((pd.Timestamp(cutoff) for cutoff in cutoffs), default=None)
    return last is not None and last + pd.Timedelta(days=horizon_days) > pd.Timestamp(test_cutoff)


def champion_on_holdout(
    champion: tuple[str, dict[str, lgb.Booster], dict[str, Any]] | None,
    test: pd.DataFrame,
    test_cutoff: str,
    horizon_days: int,
    artifacts_dir: Path,
) -> tuple[dict[str, dict[str, float]], str] | None:
    """Return the current champion's metrics on the new holdout and which of its boosters made them, or None.

    The refitted boosters (the ones that score) when no label they learnt is of the holdout's window: their
    last refit cutoff is at least one horizon before the holdout's cutoff. Else the boosters the champion
    was tested with, saved in its version's EVALUATED folder, when every label they learnt (their train
    cutoffs and the validation cutoff that calibrated them) ended by the holdout's cutoff: a champion
    trained a month before learnt two of a 90-day holdout's three months in its refit, and that head start
    is not skill. None (the gate then uses the champion's stored metrics, or none:
    ml.registry.promote_or_reject) when there is no champion, when it predicts another horizon, when the
    holdout lacks one of its features, or when no boosters of it qualify or are saved.
    """
    from ml.artifacts import EVALUATED, booster_file, load_boosters, version_dir
    from ml.evaluate import score
    from ml.fitting import predict_customers

    def on_holdout(boosters: dict[str, lgb.Booster], metadata: dict[str, Any]) -> dict[str, dict[str, float]]:
        return split_by_task(score(test, *predict_customers(test, boosters, metadata)))

    if champion is None:
        return None
    version, boosters, metadata = champion
    if int(metadata["horizon_days"]) != horizon_days or not set(metadata["features"]) <= set(test.columns):
        return None
    if not _learnt_labels_after(metadata["refit_cutoffs"], horizon_days, test_cutoff):
        return on_holdout(boosters, metadata), "its refitted boosters"
    tested = metadata.get("evaluated_model")
    if tested is None or _learnt_labels_after(
        [*metadata["train_cutoffs"], metadata["validation_cutoff"]], horizon_days, test_cutoff
    ):
        return None
    folder = version_dir(artifacts_dir, version) / EVALUATED
    if not all(booster_file(folder, name).exists() for name in tested["models"]):
        # the folder was pruned, or restored without them: the stored metrics stand in, and the log says why
        logging.getLogger(__name__).warning(
            "Champion %s lacks the boosters it was tested with (%s): the gate compares the candidate with "
            "its stored metrics, from its own holdout.",
            version,
            folder,
        )
        return None
    boosters = load_boosters(folder, tested["models"])
    as_tested = {**metadata, **tested}  # their calibration and category levels, the champion's features
    scored_by = (
        f"the boosters it was tested with at {metadata['test_cutoff']}, as its refitted ones learnt labels "
        "of this holdout"
    )
    return on_holdout(boosters, as_tested), scored_by


def rerender_report(version_or_path: str | None = None, out: Path | None = None) -> Path:
    """Re-render a saved training report: a model version, an evaluation JSON path, or the champion's."""
    from include.settings import get_settings
    from ml.artifacts import champion_version, models_dir, version_dir

    artifacts_dir = get_settings().artifacts_dir
    if version_or_path and Path(version_or_path).is_file():
        evaluation_path = Path(version_or_path)
    elif version_or_path and (version_or_path.endswith(".json") or "/" in version_or_path):
        raise SystemExit(f"{version_or_path} does not exist: pass the evaluation.json a training run saved.")
    else:
        version = version_or_path if version_or_path is not None else champion_version(artifacts_dir)
        if version is None:
            raise SystemExit(
                f"No champion model in {models_dir(artifacts_dir)}: "
                "train one first (cvw train) or name a version."
            )
        evaluation_path = version_dir(artifacts_dir, version) / EVALUATION_FILE
        if not evaluation_path.exists():
            raise SystemExit(
                f"{evaluation_path} does not exist: {version} is not a model version trained here, or "
                "`cvw models prune` removed its folder (`cvw models` says pruned)."
            )
    evaluation = load_evaluation(evaluation_path)
    return render_report(evaluation, out or evaluation_path.with_name(REPORT_FILE))

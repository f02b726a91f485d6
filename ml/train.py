"""`cvw train`: evaluate out of time against the baselines, fit the champion, save, register and gate it.

The model and its out-of-time split are ml.fitting's. Training reads the marts once (a fixed hash sample
above CVW_TRAIN_MAX_CUSTOMERS), evaluates the model at the latest labelled cutoff against every baseline
(ml.evaluate), fits the champion one cutoff later, saves it with its report and drift reference, records it
in ml.model_registry with its evaluation, and promotes it only through the gate (ml.champion, ml.registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from include.settings import get_settings
from include.unfinished import TRAINING_MARTS, require_finished_marts
from include.warehouse import connect, connect_when_free, marts_scoring_date
from ml import fitting
from ml.artifacts import (
    find_champion,
    new_version,
    registering,
    remove_abandoned_versions,
    removed_unless_registered,
    save_model_version,
)
from ml.btyd import BTYD_FEATURES, btyd_inputs, btyd_parameters, fit_btyd
from ml.btyd_total import totals_warning
from ml.champion import champion_on_holdout, drift_reference, orders_summary, report_evaluation, write_report
from ml.churn_calibration import reliability_table
from ml.compiled import compiled_for_date
from ml.data import (
    date_customers,
    load_training_frame,
    require_mart_columns,
    training_sample_share,
)
from ml.enough_data import MIN_CUSTOMERS_WITH_ORDERS as MIN_CUSTOMERS
from ml.enough_data import (
    check_enough_data,
    check_enough_sampled,
    require_label_horizon,
    summarize_training_data,
)
from ml.feature_contract import feature_differences, mart_feature_types, require_learnable_features
from ml.fitting import (
    MODEL_NAME,
    at_cutoffs,
    fit_champion,
    predict,
    prepare_frame,
    split_cutoffs,
)
from ml.provenance import feature_hash, git_commit, library_versions

# How far the test cutoff's total predicted revenue may be from the actual before training warns (issue 4).
TOTAL_REVENUE_TOLERANCE = 0.10


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
    from ml.evaluate import evaluate_cutoff, undefined_holdout
    from ml.evaluation_table import with_evaluation_keys
    from ml.evaluation_table import write_rows as write_evaluation_rows
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
        scoring_cutoff = pd.Timestamp(marts_scoring_date(con))
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
    totals = totals_warning(
        evaluated.calibration, champion.calibration, len(split.refit), frame["cutoff_date"].nunique()
    )
    if totals:
        warnings.append(totals)
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
            name: {**params, "boosting_rounds": rounds} for name, (params, rounds) in fitting.BOOSTERS.items()
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
    fitted = len(metadata["fit_cutoffs"])
    lines = [
        f"model {metadata['version']} ({metadata['clv_form']} CLV): fitted on {fitted} "
        f"cutoff{'s' if fitted != 1 else ''}, calibrated on {metadata['validation_cutoff']}, refitted on "
        f"{len(metadata['train_cutoffs'])}, tested out of time at {metadata['test_cutoff']} "
        f"({m['test_customers']} customers, {metadata['horizon_days']}-day horizon): predicted revenue "
        f"{m['test_predicted_revenue']:,.0f} vs actual {m['test_actual_revenue']:,.0f}"
        + (f"; orders {orders}" if (orders := orders_summary(m)) else ""),
        # what scores: the boosters refitted once more, on every labelled cutoff (the test cutoff's too)
        f"  scores with it refitted on all {len(metadata['refit_cutoffs'])} labelled cutoffs, to "
        f"{metadata['refit_cutoffs'][-1]}",
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

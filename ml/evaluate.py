"""`evaluate`: the model against every baseline at one cutoff, printed and stored in ml.evaluations.

    python -m ml.evaluate --cutoff 2011-09-09 --horizon 90 [--warehouse PATH] [--bootstrap N]

The cutoff must be a labelled cutoff of the marts. The model is fitted on earlier cutoffs only (see
ml.fitting), the baselines on the same customers at the same cutoff, and every metric of ml.metrics is
computed for each. Rows go to ml.evaluations (ml.evaluation_table) in long format (one row per model and
metric); re-running the same evaluation on the same data replaces its rows.

Its model_version is null: this is an ad-hoc evaluation of the current configuration, a fit that is never
saved nor registered. `cvw train` stores its evaluation with the version it registers in ml.model_registry
(and under an id of that version's, so neither a later training run nor `cvw evaluate` replaces it): join
the two on model_version.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ml import metrics
from ml.arguments import whole_number
from ml.baselines import all_baselines, require_persistence_window
from ml.blend import combine, combine_orders
from ml.churn_calibration import reliability_table
from ml.data import persistence_columns
from ml.evaluation_table import store, with_evaluation_keys
from ml.fitting import (
    MODEL_NAME,
    FittedModel,
    at_cutoffs,
    fit_evaluated_model,
    raw_predictions,
    split_cutoffs,
)

REVENUE_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "revenue_mae": metrics.mean_absolute_error,
    "revenue_rmse": metrics.root_mean_squared_error,
    "revenue_spearman": metrics.spearman,
    "revenue_normalized_gini": metrics.normalized_gini,
    "revenue_top10_capture": metrics.top_share_capture,
    "revenue_decile_mape": metrics.decile_mape,
    "revenue_aggregate_bias": metrics.aggregate_bias,
}
CHURN_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "churn_roc_auc": metrics.roc_auc,
    "churn_pr_auc": metrics.pr_auc,
    "churn_brier": metrics.brier_score,
    "churn_lift_at_10": metrics.lift_at,
}
# The scores' predicted_orders against the labels' orders in the horizon: the model's (its orders booster),
# BG/NBD's expected orders and persistence's orders of the last horizon (the other baselines predict none).
ORDERS_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "orders_mae": metrics.mean_absolute_error,
    "orders_spearman": metrics.spearman,
    "orders_aggregate_bias": metrics.aggregate_bias,
}
# The metrics a practitioner compares models on first; `--bootstrap` gives intervals for these.
HEADLINE_METRICS = ("revenue_spearman", "revenue_normalized_gini", "revenue_top10_capture", "churn_roc_auc")
RESAMPLES = whole_number(0, "{value} resamples: give 0 (no intervals) or more, e.g. 1000")  # --bootstrap
HORIZON = whole_number(1, "{value} days: a horizon is at least 1 day, e.g. 90")  # --horizon


def score(test: pd.DataFrame, revenue: np.ndarray, churn: np.ndarray) -> dict[str, float]:
    """Return every revenue and churn metric of one model's predictions on the test rows."""
    actual = test["label_revenue"].to_numpy(dtype=float)
    churned = test["label_is_churned"].to_numpy(dtype=bool)
    values = {name: function(actual, revenue) for name, function in REVENUE_METRICS.items()}
    values |= {name: function(churned, churn) for name, function in CHURN_METRICS.items()}
    return values


def orders_predictions(
    raw: dict[str, np.ndarray], calibration: dict, test: pd.DataFrame, horizon_days: int
) -> dict[str, np.ndarray]:
    """Return the predicted orders of the model (when it has an orders booster) and of the baselines that
    predict orders, on the test rows."""
    orders = {"bgnbd_gamma_gamma": raw["btyd_orders"]}
    orders["persistence"] = test[persistence_columns(horizon_days)[1]].to_numpy(dtype=float)
    model = combine_orders(raw, calibration)
    return orders if model is None else {MODEL_NAME: model, **orders}


def evaluate_cutoff(
    frame: pd.DataFrame, features: list[str], test_cutoff: pd.Timestamp, horizon_days: int
) -> tuple[FittedModel, pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Return the evaluated model, the long metrics table and every model's test predictions.

    table.attrs["predicted_orders"] holds the total predicted orders of each model that predicts them.
    """
    require_persistence_window(horizon_days)  # before the boosters are fitted, not after
    split = split_cutoffs(list(frame["cutoff_date"].unique()), test_cutoff, horizon_days)
    model = fit_evaluated_model(frame, split, features)
    test = at_cutoffs(frame, [test_cutoff])
    raw = raw_predictions(model, test)
    predictions = {MODEL_NAME: combine(raw, model.calibration)}
    predictions |= all_baselines(at_cutoffs(frame, split.refit), test, horizon_days)
    actual_orders = test["label_orders"].to_numpy(dtype=float)
    orders = orders_predictions(raw, model.calibration, test, horizon_days)
    table = pd.DataFrame(
        [
            {"model": name, "metric": metric, "value": value}
            for name, (revenue, churn) in predictions.items()
            for metric, value in score(test, revenue, churn).items()
        ]
        + [
            {"model": name, "metric": metric, "value": function(actual_orders, predicted)}
            for name, predicted in orders.items()
            for metric, function in ORDERS_METRICS.items()
        ]
    )
    table["customers"] = len(test)
    table.attrs["predicted_orders"] = {name: float(predicted.sum()) for name, predicted in orders.items()}
    return model, table, predictions


def undefined_holdout(churned: pd.Series, cutoff: date | pd.Timestamp, horizon_days: int) -> str | None:
    """Return why the holdout's ranking metrics are undefined (NaN): no buyer or no churner; else None."""
    rate = float(churned.mean()) if len(churned) else float("nan")
    day = pd.Timestamp(cutoff).date()
    if rate == 1.0:
        return (
            f"no customer of the cutoff {day} ordered in the {horizon_days} days after it: Spearman, Gini, "
            "top-10% capture and churn ROC-AUC are undefined (nan) there, and the gate rejects a model "
            "without them"
        )
    if rate == 0.0:
        return (
            f"every customer of the cutoff {day} ordered in the {horizon_days} days after it: churn ROC-AUC "
            "is undefined (nan) there, and the gate rejects a model without it"
        )
    return None


def difference_intervals(
    test: pd.DataFrame, predictions: dict[str, tuple[np.ndarray, np.ndarray]], resamples: int
) -> pd.DataFrame:
    """Return, per baseline and headline metric, the model's metric minus the baseline's with its 95%
    paired bootstrap interval over the test customers (ml.metrics.paired_bootstrap_interval)."""
    actual = {
        "revenue": test["label_revenue"].to_numpy(dtype=float),
        "churn": test["label_is_churned"].to_numpy(dtype=bool),
    }
    metric_functions = REVENUE_METRICS | CHURN_METRICS
    rows = []
    for baseline in (name for name in predictions if name != MODEL_NAME):
        for metric in HEADLINE_METRICS:
            side = 1 if metric.startswith("churn_") else 0  # (revenue, churn) predictions
            target = actual["churn" if side else "revenue"]
            function = metric_functions[metric]
            ours, theirs = predictions[MODEL_NAME][side], predictions[baseline][side]
            low, high = metrics.paired_bootstrap_interval(function, target, ours, theirs, resamples)
            difference = function(target, ours) - function(target, theirs)
            rows.append(
                {"baseline": baseline, "metric": metric, "difference": difference, "low": low, "high": high}
            )
    return pd.DataFrame(rows)


def load_evaluation_frame(warehouse: Path | None, cutoff: date, horizon_days: int) -> pd.DataFrame:
    """Return the labelled frame for an evaluation; stop with one sentence when the marts lack the cutoff.

    Above CVW_TRAIN_MAX_CUSTOMERS customers it holds the fixed sample training reads (ml.data), so memory
    stays bounded and the evaluation is training's; frame.attrs["sample_share"] says which share.
    """
    from include.settings import get_settings
    from include.unfinished import TRAINING_MARTS, require_finished_marts
    from include.warehouse import connect, marts_scoring_date
    from ml.data import feature_cutoffs, load_training_frame, require_mart_columns, training_sample_share
    from ml.enough_data import require_label_horizon

    with connect(warehouse, read_only=True) as con:
        require_finished_marts(con, TRAINING_MARTS, "evaluate")
        # as training checks it: a horizon without labels or an order window of its length said to rebuild
        # the mart with --full-refresh (45) or to add 0 to the dbt var label_horizons (0)
        require_label_horizon(con, horizon_days, "evaluate")
        if cutoff not in feature_cutoffs(con):
            if cutoff + timedelta(days=horizon_days) > marts_scoring_date(con):
                # its window runs past the data: a spine with the cutoff would leave it unlabelled still
                labelled = "select max(cutoff_date) from marts.customer_labels where horizon_days = ?"
                latest = con.execute(labelled, [horizon_days]).fetchone()[0]
                raise SystemExit(_incomplete_window(cutoff, horizon_days, latest))
            # the dbt var is only read from the project file: a var given to one build would be dropped,
            # and its cutoff deleted, by the next build without it (transform's, daily)
            raise SystemExit(
                f"marts.customer_features has no cutoff at {cutoff}: add it to the spine under vars in "
                f"{get_settings().dbt_project_dir / 'dbt_project.yml'} (extra_cutoff_dates: ['{cutoff}']), "
                "rebuild the marts (cvw build; under Airflow, trigger transform) and evaluate again."
            )
        require_mart_columns(con, horizon_days)
        share = training_sample_share(con, get_settings().train_max_customers)
        frame = load_training_frame(con, horizon_days, share)
    frame.attrs["sample_share"] = share
    if pd.Timestamp(cutoff) not in set(frame["cutoff_date"]):
        # the marts have labels of this horizon (require_label_horizon): the window runs past their data
        raise SystemExit(_incomplete_window(cutoff, horizon_days, frame["cutoff_date"].max().date()))
    return frame


def _incomplete_window(cutoff: date, horizon_days: int, latest: date) -> str:
    """Return the sentence refusing a cutoff whose label window runs past the marts' data."""
    return (
        f"The {horizon_days}-day window after {cutoff} is not complete in marts.customer_labels (the marts' "
        f"data ends before it does): choose a cutoff up to {latest}, the latest whose window is complete."
    )


def bias_intervals(
    test: pd.DataFrame, predictions: dict[str, tuple[np.ndarray, np.ndarray]], resamples: int
) -> pd.DataFrame:
    """Return each model's aggregate revenue bias with its 95% bootstrap interval over the test customers.

    The target is a bound (within ±10%), not a baseline to beat; a heavy-tailed total moves with the few
    customers who spend most, and the interval says whether a bias near the bound is outside it.
    """
    actual = test["label_revenue"].to_numpy(dtype=float)
    rows = []
    for name, (revenue, _) in predictions.items():
        low, high = metrics.bootstrap_metric_interval(metrics.aggregate_bias, actual, revenue, resamples)
        bias = metrics.aggregate_bias(actual, revenue)
        rows.append({"model": name, "aggregate_bias": bias, "low": low, "high": high})
    return pd.DataFrame(rows)


def run(cutoff: date, horizon_days: int, warehouse: Path | None = None, bootstrap: int = 0) -> pd.DataFrame:
    """Evaluate the model and the baselines at a cutoff, store the rows and return the long table.

    With bootstrap > 0, table.attrs["intervals"] holds difference_intervals and table.attrs["bias_intervals"]
    bias_intervals over that many resamples.
    """
    from include.warehouse import connect_when_free
    from ml.fitting import prepare_frame

    frame = load_evaluation_frame(warehouse, cutoff, horizon_days)
    sample_share = frame.attrs["sample_share"]
    frame = frame[frame["cutoff_date"] <= pd.Timestamp(cutoff)]
    frame, features = prepare_frame(frame, horizon_days)
    model, table, predictions = evaluate_cutoff(frame, features, pd.Timestamp(cutoff), horizon_days)
    table = with_evaluation_keys(table, cutoff, horizon_days, frame)
    # the fit is lost if this fails on another process's lock (a notebook, `cvw sql`): wait, as training does
    with connect_when_free(warehouse) as con:
        store(con, table)
    test = at_cutoffs(frame, [pd.Timestamp(cutoff)])
    table.attrs["calibration"] = model.calibration
    table.attrs["sample_share"] = sample_share
    table.attrs["reliability"] = reliability_table(test["label_is_churned"], predictions[MODEL_NAME][1])
    table.attrs["undefined"] = undefined_holdout(test["label_is_churned"], cutoff, horizon_days)
    if bootstrap:
        table.attrs["intervals"] = difference_intervals(test, predictions, bootstrap)
        table.attrs["bias_intervals"] = bias_intervals(test, predictions, bootstrap)
    return table


def main(argv: list[str] | None = None) -> int:
    """Parse --cutoff, --horizon and --warehouse, run the evaluation and print its table; return 0."""
    from ml.cli import _date as iso_date  # the other verbs' sentence for a date that is not one
    from ml.evaluation_views import describe, wide_text

    parser = argparse.ArgumentParser(prog="cvw evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", type=iso_date, required=True, help="labelled cutoff, YYYY-MM-DD")
    parser.add_argument("--horizon", type=HORIZON, required=True, help="horizon in days, e.g. 90")
    parser.add_argument("--warehouse", type=Path, default=None, help="DuckDB file (default: CVW_WAREHOUSE)")
    parser.add_argument(
        "--bootstrap",
        type=RESAMPLES,
        default=0,
        metavar="N",
        help="also print the model minus each baseline on the headline metrics, and each model's aggregate "
        "bias, with a 95%% interval from N bootstrap resamples of the customers (e.g. 1000; each resample "
        "scores every metric again)",
    )
    args = parser.parse_args(argv)
    table = run(args.cutoff, args.horizon, args.warehouse, args.bootstrap)
    first = table.iloc[0]
    share = table.attrs["sample_share"]
    sampled = (f", a fixed sample of {share:.1%} of the customers as training reads them "
               "(CVW_TRAIN_MAX_CUSTOMERS)" if share < 1 else "")  # fmt: skip
    print(
        f"{first['evaluation_id']}: {first['customers']} customers at {args.cutoff}{sampled}, "
        f"{args.horizon}-day horizon (stored in ml.evaluations)\n"
    )
    print(describe(table.attrs["calibration"]) + "\n")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(wide_text(table))
        if table.attrs["undefined"]:
            print(f"\nwarning: {table.attrs['undefined']}; evaluate another cutoff to compare the models")
        print("\nchurn reliability of the model at the cutoff:")
        print(table.attrs["reliability"].to_string(index=False))
        if args.bootstrap:
            print(
                f"\nmodel minus each baseline, 95% interval over {args.bootstrap} paired bootstrap resamples "
                "(an interval holding 0: this data cannot tell the two apart on that metric):"
            )
            print(table.attrs["intervals"].to_string(index=False, float_format="{:+.4f}".format))
            print(
                f"\naggregate revenue bias of each model, 95% interval over the same {args.bootstrap} "
                "resamples (an interval across ±10%: this data cannot tell whether the total is within it):"
            )
            print(table.attrs["bias_intervals"].to_string(index=False, float_format="{:+.1%}".format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`evaluate` and `train` on a small hand-built warehouse: every model and baseline scored on the same
customers, rows stored once per evaluation, clear sentences when the marts cannot answer."""

import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from include.settings import get_settings
from ml import evaluate, evaluation_views, train

BASELINES = {"bgnbd_gamma_gamma", "lightgbm_rfm", "naive_rate", "persistence"}
pytestmark = pytest.mark.usefixtures("quick_boosters")


@pytest.fixture(scope="module")
def evaluated(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    """Evaluate at 2024-09-01 once, on a copy; return the copy, the stored rows and what was printed.

    Tests that evaluate again write to a copy of their own (`own_warehouse`): in any order, none sees
    another's rows.
    """
    import contextlib
    import io

    path = tmp_path_factory.mktemp("evaluated") / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert evaluate.main(["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(path)]) == 0
    return path, _stored(path), printed.getvalue()


@pytest.fixture
def own_warehouse(warehouse: Path, tmp_path: Path) -> Path:
    """Return a copy of the module's warehouse for one test that writes evaluations."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    return path


def _stored(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * from ml.evaluations order by model, metric").df()


def _evaluation_rows(path: Path) -> int:
    """Return the rows of ml.evaluations, 0 when the table does not exist yet."""
    with duckdb.connect(str(path), read_only=True) as con:
        try:
            return con.execute("select count(*) from ml.evaluations").fetchone()[0]
        except duckdb.CatalogException:
            return 0


def test_evaluate_scores_the_model_and_every_baseline_on_the_same_customers(
    evaluated: tuple[Path, pd.DataFrame, str],
) -> None:
    warehouse, stored, printed = evaluated
    metrics = [*evaluate.REVENUE_METRICS, *evaluate.CHURN_METRICS]
    models = set(stored["model"])
    assert models == BASELINES | {"model"}
    # the predicted orders of the model and of the two baselines that predict orders: 3 metrics each
    assert len(stored) == len(models) * len(metrics) + 3 * 3 == 5 * 11 + 9
    orders = sorted(evaluate.ORDERS_METRICS)
    with_orders = {"model": orders, "bgnbd_gamma_gamma": orders, "persistence": orders}
    expected = {name: sorted(metrics + with_orders.get(name, [])) for name in models}
    assert stored.groupby("model")["metric"].apply(sorted).to_dict() == expected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        at_cutoff = con.execute(
            "select count(*) from marts.customer_features where cutoff_date = date '2024-09-01'"
        ).fetchone()[0]
    assert set(stored["customers"]) == {at_cutoff}
    assert set(stored["cutoff_date"].astype(str)) == {"2024-09-01"} and set(stored["horizon_days"]) == {90}
    assert "bgnbd_gamma_gamma" in printed and "revenue_normalized_gini" in printed
    assert "orders_aggregate_bias" in printed
    assert "probability_range" in printed  # the reliability table


def test_evaluating_again_on_the_same_data_replaces_the_rows(
    evaluated: tuple[Path, pd.DataFrame, str], own_warehouse: Path
) -> None:
    _, before, _ = evaluated
    warehouse = own_warehouse
    evaluate.main(["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(warehouse)])
    evaluate.main(["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(warehouse)])
    after = _stored(warehouse)
    assert len(after) == len(before)
    pd.testing.assert_series_equal(after["value"], before["value"])


def test_an_evaluation_waits_for_a_reader_that_took_the_warehouse_while_it_fitted(
    evaluated: tuple[Path, pd.DataFrame, str], own_warehouse: Path, monkeypatch, hold_warehouse
) -> None:
    # the rows were written through one connect(): a `cvw sql` or a notebook that opened the warehouse in
    # the seconds of fitting failed the evaluation on the lock and threw the fit away
    _, before, _ = evaluated
    fit, readers = evaluate.evaluate_cutoff, []

    def fit_then_open(*args, **kwargs):
        fitted = fit(*args, **kwargs)
        readers.append(hold_warehouse(own_warehouse, read_only=True, seconds=3))
        return fitted

    monkeypatch.setattr(evaluate, "evaluate_cutoff", fit_then_open)
    evaluate.run(date(2024, 9, 1), 90, own_warehouse)
    assert [reader.wait(timeout=30) for reader in readers] == [0]
    assert _evaluation_rows(own_warehouse) == len(before)


def test_a_cutoff_the_marts_do_not_have_stops_with_the_rebuild_sentence(warehouse: Path) -> None:
    # it named the dbt var extra_cutoff_dates, which no cvw verb takes: not where to set it
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["--cutoff", "2024-09-09", "--horizon", "90", "--warehouse", str(warehouse)])
    project_file = get_settings().dbt_project_dir / "dbt_project.yml"
    assert str(stopped.value) == (
        "marts.customer_features has no cutoff at 2024-09-09: add it to the spine under vars in "
        f"{project_file} (extra_cutoff_dates: ['2024-09-09']), rebuild the marts (cvw build; under Airflow, "
        "trigger transform) and evaluate again."
    )


def test_a_cutoff_without_a_complete_label_window_stops_with_a_sentence(warehouse: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["--cutoff", "2024-12-01", "--horizon", "90", "--warehouse", str(warehouse)])
    # 90-day labels exist (a rebuild with label_horizons would change nothing): the window runs past the data
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (latest,) = con.execute(
            "select max(cutoff_date) from marts.customer_labels where horizon_days = 90"
        ).fetchone()
    assert str(stopped.value) == (
        "The 90-day window after 2024-12-01 is not complete in marts.customer_labels (the marts' data ends "
        f"before it does): choose a cutoff up to {latest}, the latest whose window is complete."
    )


@pytest.mark.parametrize("cutoff", ["2024-12-15", "2062-01-01"])
def test_a_cutoff_off_the_spine_whose_window_cannot_be_complete_says_so_not_to_rebuild(
    warehouse: Path, cutoff: str
) -> None:
    # it advised adding the cutoff to extra_cutoff_dates and rebuilding, after which evaluate refused it
    # again: its 90-day window runs past the data, whatever the spine holds
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["--cutoff", cutoff, "--horizon", "90", "--warehouse", str(warehouse)])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (latest,) = con.execute(
            "select max(cutoff_date) from marts.customer_labels where horizon_days = 90"
        ).fetchone()
    assert str(stopped.value) == (
        f"The 90-day window after {cutoff} is not complete in marts.customer_labels (the marts' data ends "
        f"before it does): choose a cutoff up to {latest}, the latest whose window is complete."
    )


def test_train_stops_with_a_sentence_when_there_are_too_few_customers(warehouse: Path) -> None:
    with pytest.raises(SystemExit, match="Too little data to train"):
        train.train_models(warehouse_path=warehouse, horizon_days=90, min_customers=10_000)


def test_train_stops_with_a_sentence_when_its_customer_sample_is_below_the_minimum(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 customers pass the minimum of 500, but a cap of 30 would train on about 30 of them
    monkeypatch.setenv("CVW_TRAIN_MAX_CUSTOMERS", "30")
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    with pytest.raises(SystemExit, match="CVW_TRAIN_MAX_CUSTOMERS=30 samples about 30 of the 600 customers"):
        train.train_models(warehouse_path=warehouse, horizon_days=90, min_customers=500)
    assert not (tmp_path / "artifacts").exists()


def test_bootstrap_gives_each_baseline_the_stored_differences_with_intervals_around_them(
    own_warehouse: Path,
) -> None:
    warehouse = own_warehouse
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        table = evaluate.run(date(2024, 9, 1), 90, warehouse, bootstrap=40)
        evaluate.main(
            ["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(warehouse), "--bootstrap", "40"]
        )
    intervals = table.attrs["intervals"]
    assert len(intervals) == len(BASELINES) * len(evaluate.HEADLINE_METRICS) == 16
    assert set(intervals["baseline"]) == BASELINES
    values = table.set_index(["model", "metric"])["value"]
    for row in intervals.itertuples():
        assert row.difference == pytest.approx(values["model", row.metric] - values[row.baseline, row.metric])
        assert row.low <= row.high
    assert "paired bootstrap resamples" in printed.getvalue()
    assert "lightgbm_rfm" in printed.getvalue().split("paired bootstrap resamples")[1]
    biases = table.attrs["bias_intervals"].set_index("model")
    assert set(biases.index) == {"model", *BASELINES}
    for name, row in biases.iterrows():
        assert row["aggregate_bias"] == pytest.approx(values[name, "revenue_aggregate_bias"])
        assert row["low"] <= row["aggregate_bias"] <= row["high"]
    assert "persistence" in printed.getvalue().split("aggregate revenue bias of each model")[1]


def test_without_bootstrap_no_intervals_are_computed(warehouse: Path) -> None:
    attrs = evaluate.run(date(2024, 9, 1), 90, warehouse).attrs
    assert "intervals" not in attrs and "bias_intervals" not in attrs


def test_a_baseline_identical_to_the_model_differs_by_exactly_zero() -> None:
    test = pd.DataFrame({"label_revenue": [0.0, 5.0, 1.0, 9.0, 3.0], "label_is_churned": [1, 0, 1, 0, 0]})
    revenue, churn = np.array([0.5, 4.0, 2.0, 8.0, 1.0]), np.array([0.9, 0.2, 0.6, 0.1, 0.4])
    intervals = evaluate.difference_intervals(
        test, {"model": (revenue, churn), "copy": (revenue.copy(), churn.copy())}, resamples=30
    )
    assert list(intervals["metric"]) == list(evaluate.HEADLINE_METRICS)
    assert intervals[["difference", "low", "high"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]] * 4


def test_a_horizon_without_an_order_window_stops_before_any_booster_is_fitted(monkeypatch) -> None:
    # CVW_HORIZON_DAYS=60 passed every data check, fitted every booster, then stopped on the persistence
    # baseline, which needs a 60-day order window the feature mart does not have
    def fit(*args, **kwargs):
        raise AssertionError("a booster was fitted")

    monkeypatch.setattr(evaluate, "fit_evaluated_model", fit)
    frame = pd.DataFrame({"cutoff_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-05-01"])})
    with pytest.raises(SystemExit, match=r"needs revenue_60d and orders_60d .* windows \(30, 90, 180, 365\)"):
        evaluate.evaluate_cutoff(frame, [], pd.Timestamp("2024-05-01"), 60)


def test_evaluate_reads_the_customer_sample_training_reads(
    own_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = own_warehouse
    # it read every customer whatever CVW_TRAIN_MAX_CUSTOMERS said: memory unbounded at 1M customers, and
    # an evaluation of other customers than training's stored for the same cutoff
    from ml.data import in_sample

    monkeypatch.setenv("CVW_TRAIN_MAX_CUSTOMERS", "300")
    evaluate.main(["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(warehouse)])
    printed = capsys.readouterr().out
    with duckdb.connect(str(warehouse), read_only=True) as con:
        query = "select count(distinct customer_id) from marts.customer_features"
        (everyone,) = con.execute(query).fetchone()
        sampled, parameters = in_sample("customer_id", 300 / everyone)
        at_cutoff = "select count(*) from marts.customer_features where cutoff_date = date '2024-09-01'"
        expected = con.execute(f"{at_cutoff} and {sampled}", parameters).fetchone()[0]
    stored = _stored(warehouse)
    this_run = stored["evaluation_id"] == printed.split(":")[0]  # the first line names the evaluation
    assert set(stored.loc[this_run, "customers"]) == {expected}
    assert 0 < expected < 300
    share = f"{300 / everyone:.1%}"
    assert f"{expected} customers at 2024-09-01, a fixed sample of {share} of the customers" in printed


def test_a_negative_bootstrap_stops_at_the_command_line_before_anything_is_fitted(
    own_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --bootstrap -3 fitted every booster, stored the evaluation, then ended in numpy's traceback
    # "negative dimensions are not allowed"
    argv = ["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(own_warehouse)]
    argv += ["--bootstrap", "-3"]
    before = _evaluation_rows(own_warehouse)
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(argv)
    assert stopped.value.code == 2  # argparse's usage error
    assert "argument --bootstrap: -3 resamples: give 0 (no intervals) or more" in capsys.readouterr().err
    assert _evaluation_rows(own_warehouse) == before


@pytest.mark.parametrize(
    ("horizon", "sentence"),
    [
        # it said the mart lacked revenue_45d and to rebuild it with cvw build --full-refresh, which makes
        # no 45-day window
        ("45", r"^The persistence baseline needs revenue_45d and orders_45d in marts.customer_features"),
        # it said to "load more history, use a shorter horizon or rebuild with label_horizons including 30"
        (
            "30",
            r"^The marts have no 30-day labels \(a build makes 90, 365\): set CVW_HORIZON_DAYS=30 and "
            r"rebuild them \(cvw build\) to evaluate for 30 days\.$",
        ),
    ],
)
def test_a_horizon_the_marts_cannot_answer_is_the_sentence_train_gives(
    own_warehouse: Path, monkeypatch: pytest.MonkeyPatch, horizon: str, sentence: str
) -> None:
    monkeypatch.delenv("CVW_HORIZON_DAYS", raising=False)
    argv = ["--cutoff", "2024-09-01", "--horizon", horizon, "--warehouse", str(own_warehouse)]
    before = _evaluation_rows(own_warehouse)
    with pytest.raises(SystemExit, match=sentence):
        evaluate.main(argv)
    assert _evaluation_rows(own_warehouse) == before


def test_a_horizon_below_one_day_stops_at_the_command_line(
    own_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --horizon 0 said "No labelled cutoffs for a 0-day horizon ... rebuild with label_horizons including 0"
    argv = ["--cutoff", "2024-09-01", "--horizon", "0", "--warehouse", str(own_warehouse)]
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(argv)
    assert stopped.value.code == 2  # argparse's usage error
    assert "argument --horizon: 0 days: a horizon is at least 1 day, e.g. 90" in capsys.readouterr().err


def test_a_holdout_without_buyers_or_churners_says_why_its_metrics_are_nan() -> None:
    # a shop closed for the test cutoff's 90 days: cvw train and cvw evaluate printed nan for every model and
    # baseline, and the gate "rejected: clv spearman is undefined; ...", without a word on why
    churned = pd.Series([True, True, True])
    assert evaluate.undefined_holdout(churned, pd.Timestamp("2025-10-01"), 90) == (
        "no customer of the cutoff 2025-10-01 ordered in the 90 days after it: Spearman, Gini, top-10% "
        "capture and churn ROC-AUC are undefined (nan) there, and the gate rejects a model without them"
    )
    assert evaluate.undefined_holdout(~churned, date(2025, 10, 1), 30) == (
        "every customer of the cutoff 2025-10-01 ordered in the 30 days after it: churn ROC-AUC is undefined "
        "(nan) there, and the gate rejects a model without it"
    )
    assert evaluate.undefined_holdout(pd.Series([True, False]), date(2025, 10, 1), 90) is None


def test_an_evaluation_with_buyers_and_churners_has_no_undefined_warning(evaluated) -> None:
    assert "undefined (nan)" not in evaluated[2]


def test_the_orders_of_the_model_and_of_the_baselines_that_predict_them() -> None:
    test = pd.DataFrame({"orders_90d": [0, 2, 5]})
    raw = {"orders": np.array([0.5, 1.5, 3.0]), "btyd_orders": np.array([1.0, 2.0, 3.0])}
    orders = evaluate.orders_predictions(raw, {"form": "tweedie"}, test, 90)
    assert {name: values.tolist() for name, values in orders.items()} == {
        "model": [0.5, 1.5, 3.0],  # the orders booster's
        "bgnbd_gamma_gamma": [1.0, 2.0, 3.0],  # BG/NBD's expected orders
        "persistence": [0.0, 2.0, 5.0],  # the last 90 days' orders again
    }
    # a model saved before the orders booster: the baselines' alone
    assert set(evaluate.orders_predictions({"btyd_orders": raw["btyd_orders"]}, {}, test, 90)) == {
        "bgnbd_gamma_gamma",
        "persistence",
    }


def _long_table() -> pd.DataFrame:
    """A long metrics table: the model with orders, a baseline without them, an undefined churn AUC."""
    rows = [
        ("model", "revenue_mae", 1.25),
        ("model", "orders_mae", 0.5),
        ("model", "churn_roc_auc", 0.75),
        ("naive_rate", "revenue_mae", 2.0),
        ("naive_rate", "churn_roc_auc", float("nan")),
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "value"])


def test_a_metric_a_baseline_predicts_nothing_for_prints_a_dash_and_an_undefined_one_nan() -> None:
    assert [line.split() for line in evaluation_views.wide_text(_long_table()).splitlines()] == [
        ["model", "model", "naive_rate"],
        ["metric"],
        ["revenue_mae", "1.250", "2.000"],
        ["orders_mae", "0.500", "—"],
        ["churn_roc_auc", "0.750", "nan"],
    ]


def test_the_report_rows_leave_out_the_metrics_a_baseline_predicts_nothing_for() -> None:
    records = evaluation_views.wide_records(_long_table())
    assert records[0] == {"model": "model", "revenue_mae": 1.25, "orders_mae": 0.5, "churn_roc_auc": 0.75}
    assert set(records[1]) == {"model", "revenue_mae", "churn_roc_auc"}  # no orders_mae
    assert records[1]["revenue_mae"] == 2.0 and np.isnan(records[1]["churn_roc_auc"])


def test_evaluate_prints_a_dash_for_the_orders_of_the_baselines_that_predict_none(
    evaluated: tuple[Path, pd.DataFrame, str],
) -> None:
    _, stored, printed = evaluated
    (line,) = [line for line in printed.splitlines() if line.startswith("orders_mae ")]
    columns = dict(zip(sorted(BASELINES | {"model"}), line.split()[1:], strict=True))
    assert columns["lightgbm_rfm"] == columns["naive_rate"] == "—"
    model_mae = stored.query("model == 'model' and metric == 'orders_mae'")["value"].item()
    assert columns["model"] == f"{model_mae:.3f}" and "NaN" not in printed

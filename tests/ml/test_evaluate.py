"""`evaluate` and `train` on a small hand-built warehouse: every model and baseline scored on the same
customers, rows stored once per evaluation, clear sentences when the marts cannot answer."""

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import baselines, evaluate, train

CUSTOMERS = 600
DATA_END = pd.Timestamp("2025-01-01")  # the as-of date: the scoring cutoff
CUTOFFS = list(pd.date_range("2023-07-01", "2024-12-01", freq="MS"))
BASELINES = {"bgnbd_gamma_gamma", "lightgbm_rfm", "naive_rate", "persistence"}


def _orders(rng: np.random.Generator) -> pd.DataFrame:
    """Return completed orders of customers who buy at their own rate until they lapse."""
    first = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 540, CUSTOMERS), unit="D")
    rate = rng.gamma(1.0, 1 / 40, CUSTOMERS)  # orders per day
    lifetime = rng.exponential(400, CUSTOMERS)
    spend = rng.gamma(3.0, 20, CUSTOMERS)
    rows = []
    for customer in range(CUSTOMERS):
        day, end = 0.0, min(lifetime[customer], (DATA_END - first[customer]).days - 1)
        while day <= end:
            rows.append((f"c{customer:04d}", first[customer] + pd.Timedelta(days=int(day)), spend[customer]))
            day += rng.exponential(1 / rate[customer])
    orders = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "revenue"])
    orders["revenue"] *= rng.gamma(4.0, 0.25, len(orders))
    return orders


def _marts(orders: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return customer_features and customer_labels (90 days) as the dbt marts would hold them."""
    features, labels = [], []
    for cutoff in [*CUTOFFS, DATA_END]:
        past = orders[orders["ordered_at"] < cutoff]
        days_before = (cutoff - past["ordered_at"]).dt.days
        recent = days_before <= 90
        grouped = past.assign(
            days_before=days_before, recent=recent, recent_revenue=past["revenue"].where(recent, 0.0)
        ).groupby("customer_id")
        frame = pd.DataFrame(
            {
                "orders_lifetime": grouped.size(),
                "revenue_lifetime": grouped["revenue"].sum(),
                "first_order_value": grouped["revenue"].first(),
                "days_since_first_order": grouped["days_before"].max(),
                "days_since_last_order": grouped["days_before"].min(),
                "orders_90d": grouped["recent"].sum(),
                "revenue_90d": grouped["recent_revenue"].sum(),
            }
        ).reset_index()
        frame["tenure_days"] = frame["days_since_first_order"]
        frame["avg_order_value"] = frame["revenue_lifetime"] / frame["orders_lifetime"]
        frame["region"] = np.where(frame["customer_id"].str[-1].isin(list("01234")), "north", "south")
        frame.insert(1, "cutoff_date", cutoff.date())
        frame.insert(2, "is_scoring_date", cutoff == DATA_END)
        features.append(frame)
        if cutoff + pd.Timedelta(days=90) <= DATA_END:
            end = cutoff + pd.Timedelta(days=90)
            window = orders[(orders["ordered_at"] >= cutoff) & (orders["ordered_at"] < end)]
            label = frame[["customer_id", "cutoff_date"]].merge(
                window.groupby("customer_id").agg(orders=("revenue", "size"), revenue=("revenue", "sum")),
                left_on="customer_id",
                right_index=True,
                how="left",
            )
            label = label.fillna({"orders": 0, "revenue": 0.0}).assign(horizon_days=90)
            label["is_churned"] = label["orders"] == 0
            labels.append(label)
    return pd.concat(features, ignore_index=True), pd.concat(labels, ignore_index=True)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    features, labels = _marts(_orders(np.random.default_rng(7)))
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.register("features", features)
        con.register("labels", labels)
        con.execute("create table marts.customer_features as select * from features")
        con.execute("create table marts.customer_labels as select * from labels")
    return path


@pytest.fixture(scope="module", autouse=True)
def quick_boosters() -> None:
    """Fit 40 rounds on one thread: what these tests check does not depend on either."""
    with pytest.MonkeyPatch.context() as patch:
        quick = {name: ({**params, "num_threads": 1}, 40) for name, (params, _) in train.BOOSTERS.items()}
        patch.setattr(train, "BOOSTERS", quick)
        patch.setitem(baselines.RFM_PARAMS, "num_threads", 1)
        patch.setattr(baselines, "RFM_ROUNDS", 40)
        yield


@pytest.fixture(scope="module")
def evaluated(warehouse: Path) -> tuple[pd.DataFrame, str]:
    """Evaluate at 2024-09-01 once; return the stored rows and what was printed."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert (
            evaluate.main(["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(warehouse)]) == 0
        )
    return _stored(warehouse), printed.getvalue()


def _stored(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * from ml.evaluations order by model, metric").df()


def test_evaluate_scores_the_model_and_every_baseline_on_the_same_customers(
    warehouse: Path, evaluated: tuple[pd.DataFrame, str]
) -> None:
    stored, printed = evaluated
    metrics = [*evaluate.REVENUE_METRICS, *evaluate.CHURN_METRICS]
    models = set(stored["model"])
    assert models == BASELINES | {"model"}
    assert len(stored) == len(models) * len(metrics) == 5 * 11
    assert stored.groupby("model")["metric"].apply(sorted).map(lambda m: m == sorted(metrics)).all()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        at_cutoff = con.execute(
            "select count(*) from marts.customer_features where cutoff_date = date '2024-09-01'"
        ).fetchone()[0]
    assert set(stored["customers"]) == {at_cutoff}
    assert set(stored["cutoff_date"].astype(str)) == {"2024-09-01"} and set(stored["horizon_days"]) == {90}
    assert "bgnbd_gamma_gamma" in printed and "revenue_normalized_gini" in printed
    assert "probability_range" in printed  # the reliability table


def test_evaluating_again_on_the_same_data_replaces_the_rows(
    warehouse: Path, evaluated: tuple[pd.DataFrame, str]
) -> None:
    before, _ = evaluated
    evaluate.main(["--cutoff", "2024-09-01", "--horizon", "90", "--warehouse", str(warehouse)])
    after = _stored(warehouse)
    assert len(after) == len(before)
    pd.testing.assert_series_equal(after["value"], before["value"])


def test_a_cutoff_the_marts_do_not_have_stops_with_the_rebuild_sentence(warehouse: Path) -> None:
    with pytest.raises(SystemExit, match="no cutoff at 2024-09-09: rebuild the marts with that cutoff"):
        evaluate.main(["--cutoff", "2024-09-09", "--horizon", "90", "--warehouse", str(warehouse)])


def test_a_cutoff_without_a_complete_label_window_stops_with_a_sentence(warehouse: Path) -> None:
    with pytest.raises(SystemExit, match="90-day window after 2024-12-01 is not complete"):
        evaluate.main(["--cutoff", "2024-12-01", "--horizon", "90", "--warehouse", str(warehouse)])


def test_train_saves_a_champion_evaluated_out_of_time_that_scoring_can_use(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.artifacts import load_champion
    from ml.score import predict_scores

    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path))
    metadata = train.train_models(warehouse_path=warehouse, horizon_days=90, min_customers=100)
    test_cutoff = date.fromisoformat(metadata["test_cutoff"])
    assert test_cutoff == date(2024, 10, 1)  # the latest cutoff with a complete 90-day window
    assert all((test_cutoff - date.fromisoformat(c)).days >= 90 for c in metadata["train_cutoffs"])
    assert metadata["validation_cutoff"] == "2024-07-01"
    assert set(metadata["out_of_time_metrics"]) >= {"revenue_mae", "revenue_spearman", "churn_roc_auc"}
    assert set(metadata["baseline_metrics"]["clv"]) == BASELINES

    version, boosters, saved = load_champion(tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute("select * from marts.customer_features where is_scoring_date").df()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    scores = predict_scores(frame, boosters, saved, version)
    assert len(scores) == len(frame)
    assert scores["churn_probability"].between(0, 1).all() and (scores["predicted_revenue"] >= 0).all()


def test_train_stops_with_a_sentence_when_there_are_too_few_customers(warehouse: Path) -> None:
    with pytest.raises(SystemExit, match="Too little data to train"):
        train.train_models(warehouse_path=warehouse, horizon_days=90, min_customers=10_000)

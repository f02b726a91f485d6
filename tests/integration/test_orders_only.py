"""A shop that delivers orders alone: dbt, training and scoring run, and every total reconciles with raw."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from include.dbt import run_dbt
from include.raw_schema import RAW_TABLES
from include.raw_tables import create_tables
from include.synthetic import generate_shop

LOADED = datetime(2025, 1, 1, 6, 0)
GROSS_MARGIN_RATE = 0.4  # dbt_project.yml default
ORDER_COLUMNS = ["order_id", "customer_id", "ordered_at", "amount"]


def orders_only_frame() -> pd.DataFrame:
    """Return two years of a generated shop's orders with only the required columns filled."""
    orders = generate_shop(700, seed=11, start=date(2023, 1, 1), end=date(2024, 12, 31))["orders"]
    frame = orders[ORDER_COLUMNS].copy()
    for column in RAW_TABLES["orders"]:
        if column.name not in ORDER_COLUMNS:
            frame[column.name] = None
    frame["_source_file"] = "orders.csv"
    frame["_loaded_at"] = LOADED
    return frame


def create_orders_only_warehouse(path: Path, orders: pd.DataFrame) -> None:
    """Create every raw table of the contract, empty, and load the orders (names come from the contract)."""
    with duckdb.connect(str(path)) as con:
        create_tables(con)
        con.register("orders_frame", orders)
        names = ", ".join([*(column.name for column in RAW_TABLES["orders"]), "_source_file", "_loaded_at"])
        con.execute(f"insert into raw.orders ({names}) select {names} from orders_frame")


def read(path: Path, query: str) -> pd.DataFrame:
    """Return the result of a read-only query on the warehouse (queries are constants of this file)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query).df()


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    """Return the raw orders of the shop."""
    return orders_only_frame()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, orders: pd.DataFrame) -> Path:
    """Return the path of an orders-only warehouse after `dbt build` (as of the day after the last order)."""
    path = tmp_path_factory.mktemp("orders_only") / "warehouse.duckdb"
    create_orders_only_warehouse(path, orders)
    run_dbt(["build"], warehouse_path=path)
    return path


def test_the_shop_is_big_enough_to_mean_something(orders: pd.DataFrame) -> None:
    assert orders["customer_id"].nunique() >= 600
    assert (orders["ordered_at"].max() - orders["ordered_at"].min()).days >= 700


def test_fct_orders_values_every_order_at_its_amount(warehouse: Path, orders: pd.DataFrame) -> None:
    facts = read(warehouse, "select * from marts.fct_orders").set_index("order_id").sort_index()
    expected = orders.set_index("order_id").sort_index()
    assert len(facts) == len(expected)
    assert (facts["status"] == "completed").all() and not facts["has_lines"].any()
    pd.testing.assert_series_equal(facts["revenue"], expected["amount"], check_names=False)
    pd.testing.assert_series_equal(facts["margin"], expected["amount"] * GROSS_MARGIN_RATE, check_names=False)
    assert facts["sales_channel"].isna().all()


def test_dim_customers_has_every_buyer_without_a_profile(warehouse: Path, orders: pd.DataFrame) -> None:
    customers = read(warehouse, "select * from marts.dim_customers").set_index("customer_id").sort_index()
    per_customer = orders.groupby("customer_id")["amount"].agg(["count", "sum"]).sort_index()
    assert customers.index.tolist() == per_customer.index.tolist()
    assert not customers["has_profile"].any() and customers["region"].isna().all()
    assert customers["orders"].tolist() == per_customer["count"].tolist()
    assert customers["revenue"].to_numpy() == pytest.approx(per_customer["sum"].to_numpy(), rel=1e-12)
    assert (customers["sessions"] == 0).all()


def test_features_at_the_scoring_date_reconcile_and_line_event_profile_features_are_null(
    warehouse: Path, orders: pd.DataFrame
) -> None:
    features = read(warehouse, "select * from marts.customer_features where is_scoring_date")
    features = features.set_index("customer_id").sort_index()
    as_of = pd.Timestamp(orders["ordered_at"].max()).normalize() + pd.Timedelta(days=1)
    assert pd.Timestamp(features["cutoff_date"].iloc[0]) == as_of
    per_customer = orders.groupby("customer_id")["amount"].agg(["count", "sum"]).sort_index()
    assert features.index.tolist() == per_customer.index.tolist()
    assert features["orders_lifetime"].tolist() == per_customer["count"].tolist()
    assert features["revenue_lifetime"].to_numpy() == pytest.approx(per_customer["sum"].to_numpy(), rel=1e-12)
    assert features["margin_lifetime"].to_numpy() == pytest.approx(
        per_customer["sum"].to_numpy() * GROSS_MARGIN_RATE, rel=1e-12
    )
    first_orders = orders.sort_values(["ordered_at", "order_id"]).groupby("customer_id")["amount"].first()
    assert features["first_order_value"].to_numpy() == pytest.approx(first_orders.sort_index().to_numpy())
    # BG/NBD's purchases are days with an order: 38 of these customers ordered twice on some day
    days = orders.assign(order_date=pd.to_datetime(orders["ordered_at"]).dt.normalize())
    per_day = days.groupby(["customer_id", "order_date"])["amount"].sum().reset_index()
    order_days = per_day.groupby("customer_id").agg(
        days=("order_date", "size"), first_day_revenue=("amount", "first")
    )
    assert (features["orders_lifetime"] > order_days["days"]).sum() == 38
    assert features["order_days_lifetime"].tolist() == order_days["days"].tolist()
    assert features["first_order_day_revenue"].to_numpy() == pytest.approx(
        order_days["first_day_revenue"].to_numpy(), rel=1e-12
    )
    unknown = [
        "items_lifetime",
        "items_90d",
        "avg_items_per_order",
        "return_rate",  # lines
        "distinct_products",
        "distinct_categories",
        "top_category_share",  # lines and products
        "sessions_30d",
        "sessions_90d",
        "product_views_90d",
        "days_since_last_visit",  # events
        "region",
        "age_band",
        "acquisition_channel",
        "days_signup_to_first_order",  # customers
        "first_order_sales_channel",  # an order column the shop leaves empty
    ]
    assert features[unknown].isna().all().all(), features[unknown].notna().sum()
    assert features["cancellation_rate"].eq(0).all()


def test_labels_reconcile_with_raw_orders_in_each_window(warehouse: Path, orders: pd.DataFrame) -> None:
    labels = read(warehouse, "select * from marts.customer_labels where horizon_days = 90")
    assert labels["cutoff_date"].nunique() >= 12
    windows = labels[["customer_id", "cutoff_date", "horizon_end_date"]].merge(orders, on="customer_id")
    inside = windows[
        (windows["ordered_at"] >= pd.to_datetime(windows["cutoff_date"]))
        & (windows["ordered_at"] < pd.to_datetime(windows["horizon_end_date"]))
    ]
    expected = inside.groupby(["customer_id", "cutoff_date"])["amount"].agg(["count", "sum"])
    actual = labels.set_index(["customer_id", "cutoff_date"])
    expected = expected.reindex(actual.index, fill_value=0)
    assert actual["orders"].tolist() == expected["count"].tolist()
    assert actual["revenue"].to_numpy() == pytest.approx(expected["sum"].to_numpy(), rel=1e-12, abs=1e-9)
    assert (actual["is_churned"] == (expected["count"] == 0)).all()


def test_rfm_segments_every_buyer(warehouse: Path, orders: pd.DataFrame) -> None:
    rfm = read(warehouse, "select customer_id, rfm_segment from marts.customer_rfm")
    assert len(rfm) == orders["customer_id"].nunique() and rfm["rfm_segment"].notna().all()


def test_models_train_and_score_every_buyer(
    warehouse: Path, orders: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml.score import score_customers
    from ml.train import train_models

    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    monkeypatch.delenv("CVW_AS_OF_DATE", raising=False)
    train_models(warehouse_path=warehouse)
    written = score_customers(warehouse_path=warehouse)
    buyers = orders["customer_id"].nunique()  # every order is completed and before the scoring date
    scores = read(warehouse, "select customer_id, churn_probability from scores.customer_scores")
    assert written == len(scores) == buyers
    assert scores["churn_probability"].between(0, 1).all()


def test_cvw_as_of_date_is_the_date_scored_when_the_marts_were_built_for_another(
    warehouse: Path, orders: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CVW_AS_OF_DATE set after the marts were built (for the day after the last order): `cvw score` scored
    # the marts' date, written as the latest, instead of the date the setting names
    import shutil

    from include.scoring import marts_as_of_date, score_as_of
    from ml.train import train_models

    copy = tmp_path / "warehouse.duckdb"  # the built marts, without the models and scores of other tests
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop schema if exists ml cascade")
        con.execute("drop schema if exists scores cascade")
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CVW_WAREHOUSE", str(copy))
    monkeypatch.delenv("CVW_AS_OF_DATE", raising=False)
    train_models(warehouse_path=copy)
    marts_date = marts_as_of_date(copy)
    monkeypatch.setenv("CVW_AS_OF_DATE", "2024-07-01")
    scored = score_as_of(with_reasons=False)
    buyers = orders.loc[orders["ordered_at"] < pd.Timestamp("2024-07-01"), "customer_id"].nunique()
    assert scored == {"as_of_date": "2024-07-01", "rows": buyers, "marts": "built for 2024-07-01"}
    dated = read(copy, "select as_of_date, count(*) as n from scores.customer_scores group by 1")
    assert dated.astype({"as_of_date": str}).values.tolist() == [["2024-07-01", buyers]]  # nothing else
    # the RFM rows of the scratch copy's marts came back with the scores, for the BI marts of the date
    kept = read(
        copy, "select as_of_date, count(*) as n, count(rfm_segment) as k from scores.customer_rfm group by 1"
    )
    assert kept.astype({"as_of_date": str}).values.tolist() == [["2024-07-01", buyers, buyers]]
    assert marts_as_of_date(copy) == marts_date == date(2025, 1, 1)  # the warehouse's marts stay as they were

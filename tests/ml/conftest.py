"""A small hand-built warehouse (the marts as dbt would hold them, built in pandas) and quick boosters."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import baselines, fitting

CUSTOMERS = 600
DATA_END = pd.Timestamp("2025-01-01")  # the as-of date: the scoring cutoff
CUTOFFS = list(pd.date_range("2023-07-01", "2024-12-01", freq="MS"))


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
        order_date = past["ordered_at"].dt.normalize()
        first_day = order_date.eq(order_date.groupby(past["customer_id"]).transform("min"))
        grouped = past.assign(
            days_before=days_before,
            recent=recent,
            recent_revenue=past["revenue"].where(recent, 0.0),
            order_date=order_date,
            first_day_revenue=past["revenue"].where(first_day, 0.0),
        ).groupby("customer_id")
        frame = pd.DataFrame(
            {
                "orders_lifetime": grouped.size(),
                "revenue_lifetime": grouped["revenue"].sum(),
                "first_order_value": grouped["revenue"].first(),
                "order_days_lifetime": grouped["order_date"].nunique(),
                "first_order_day_revenue": grouped["first_day_revenue"].sum(),
                "days_since_first_order": grouped["days_before"].max(),
                "days_since_last_order": grouped["days_before"].min(),
                "orders_90d": grouped["recent"].sum(),
                "revenue_90d": grouped["recent_revenue"].sum(),
            }
        ).reset_index()
        frame["tenure_days"] = frame["days_since_first_order"]
        frame["avg_order_value"] = frame["revenue_lifetime"] / frame["orders_lifetime"]
        gaps = (frame["days_since_first_order"] - frame["days_since_last_order"]) / (
            frame["orders_lifetime"] - 1
        )
        frame["mean_days_between_orders"] = gaps.where(frame["orders_lifetime"] > 1)
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


@pytest.fixture(scope="module")
def quick_boosters() -> None:
    """Fit 40 rounds on one thread: what these tests check does not depend on either."""
    with pytest.MonkeyPatch.context() as patch:
        quick = {name: ({**params, "num_threads": 1}, 40) for name, (params, _) in fitting.BOOSTERS.items()}
        patch.setattr(fitting, "BOOSTERS", quick)
        patch.setitem(baselines.RFM_PARAMS, "num_threads", 1)
        patch.setattr(baselines, "RFM_ROUNDS", 40)
        yield

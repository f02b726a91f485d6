"""End to end through real dbt and a real DuckDB file: hand-made raw rows with hand-computed answers."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date, datetime
from math import sqrt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from include.dbt import DbtFailed, dbt_environment, run_dbt
from include.raw_schema import RAW_TABLES
from include.raw_tables import create_tables, mark_replaced

AS_OF = date(2024, 10, 1)
CUTOFFS = [date(2024, 5, 1), date(2024, 6, 1), date(2024, 7, 1), date(2024, 8, 1), date(2024, 9, 1), AS_OF]
LOADED = datetime(2024, 10, 1, 6, 0)
LATE_LOADED = datetime(2024, 10, 2, 6, 0)


def ts(text: str) -> datetime:
    """Return the timestamp of an ISO 'YYYY-MM-DD HH:MM[:SS]' string."""
    return datetime.fromisoformat(text)


# Rows without lineage columns, in contract column order.
PRODUCTS = [
    ("p1", "Teddy", "toys", 10.0, 4.0),
    ("p2", "Novel", "books", 30.0, None),  # no cost: margin = revenue x 0.4
    ("p3", "Lamp", "home", 100.0, 70.0),
]
CUSTOMERS = [
    ("c1", ts("2024-01-01 09:00"), "UK", "North", "search", "25-34"),
    ("c2", None, "UK", "South", "social", "35-44"),
    ("c3", ts("2024-04-01 12:00"), "UK", "North", "email", "18-24"),
    ("c4", ts("2024-02-01 10:00"), "UK", "East", "search", "45-54"),  # only a cancelled order
    ("c5", ts("2024-05-01 10:00"), "UK", "East", "search", "45-54"),  # only events
]
ORDERS = [
    ("o1", "c1", ts("2024-01-10 10:00"), 20.0, "completed", None, "web"),
    ("o2", "c1", ts("2024-03-15 12:00"), 25.0, None, 5.0, "app"),  # order discount = its line discount
    ("o3", "c1", ts("2024-05-20 09:00"), 10.0, "cancelled", None, "web"),
    ("o4", "c1", ts("2024-06-10 15:00"), 30.0, None, None, "web"),
    ("o5", "c1", ts("2024-08-05 11:00"), 50.0, "completed", 10.0, "app"),  # discount on no line
    ("o6", "c2", ts("2024-02-01 08:00"), 116.0, "completed", None, "web"),
    ("o7", "c3", ts("2024-05-31 23:30"), 10.0, "completed", None, "web"),
    ("o8", "c3", ts("2024-06-01 00:00"), 100.0, "completed", None, "web"),  # on the 06-01 cutoff day
    ("o9", "c4", ts("2024-03-01 10:00"), 10.0, "cancelled", None, "web"),
]
ORDER_ITEMS = [
    ("o1", 1, "p1", 2, 10.0, None, None),  # revenue 20, margin 2 x 6 = 12
    ("o2", 1, "p2", 1, 30.0, 5.0, 0),  # revenue 25, margin 25 x 0.4 = 10
    ("o3", 1, "p1", 1, 10.0, None, None),  # cancelled
    ("o4", 1, "p1", 3, 10.0, None, 1),  # one unit returned: revenue 20, margin 12
    ("o5", 1, "p2", 2, 30.0, 0.0, 0),  # revenue 60 - order discount 10 = 50, margin 50 x 0.4 = 20
    ("o6", 1, "p3", 1, 100.0, None, None),  # revenue 100
    ("o6", 2, "p1", 2, 10.0, 4.0, 1),  # one of two returned, with half the discount: revenue 10 - 2 = 8
    ("o7", 1, "p1", 1, 10.0, None, None),  # revenue 10
    ("o8", 1, "p3", 1, 100.0, None, None),  # revenue 100
    ("o9", 1, "p1", 1, 10.0, None, None),  # cancelled
]
EVENTS = [
    ("e1", "s1", "c1", "page_view", ts("2024-05-25 10:00"), None),
    ("e2", "s1", "c1", "product_view", ts("2024-05-25 10:01"), "p1"),
    ("e3", "s1", "c1", "add_to_cart", ts("2024-05-25 10:02"), "p1"),  # abandoned cart
    ("e4", "s2", "c1", "product_view", ts("2024-06-10 14:50"), "p1"),
    ("e5", "s2", "c1", "add_to_cart", ts("2024-06-10 14:55"), "p1"),
    ("e6", "s2", "c1", "purchase", ts("2024-06-10 15:00"), None),
    ("e7", "s3", None, "product_view", ts("2024-05-26 09:00"), "p2"),  # anonymous
    ("e8", "s4", "c5", "page_view", ts("2024-06-15 09:00"), None),
]

# Rows landing later: an order on a cutoff day, one after it, and an event on the cutoff day.
LATE_ORDERS = [
    ("o10", "c2", ts("2024-07-01 00:00"), 100.0, "completed", None, "web"),
    ("o11", "c1", ts("2024-07-15 10:00"), 30.0, "completed", None, "web"),
]
LATE_ORDER_ITEMS = [("o10", 1, "p3", 1, 100.0, None, None), ("o11", 1, "p2", 1, 30.0, None, None)]
LATE_EVENTS = [("e9", "s5", "c2", "product_view", ts("2024-07-01 00:00:01"), "p3")]

# A session two logged-in customers shared on one day (a family tablet), with an anonymous event in it, and an
# anonymous session: the shared visit counts for each customer, with all of the session's activity that day.
SHARED_AS_OF = date(2024, 7, 1)
SHARED_ORDERS = [
    ("o1", "c1", ts("2024-01-05 10:00"), 10.0, "completed", None, "web"),
    ("o2", "c2", ts("2024-01-06 10:00"), 10.0, "completed", None, "web"),
]
SHARED_EVENTS = [
    ("e1", "s1", "c1", "product_view", ts("2024-06-10 10:00"), None),
    ("e2", "s1", "c2", "add_to_cart", ts("2024-06-10 10:05"), None),
    ("e3", "s1", None, "page_view", ts("2024-06-10 10:06"), None),
    ("e4", "s2", None, "page_view", ts("2024-06-12 10:00"), None),
]


def insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple],
    source_file: str,
    loaded_at: datetime = LOADED,
    mark: bool = True,
) -> None:
    """Append contract-ordered rows to raw.<table> with lineage columns (table names from the contract), and
    mark the rows they replace, as the loader does (`mark` false: not, as a loader bug would)."""
    assert table in RAW_TABLES
    names = [column.name for column in RAW_TABLES[table]] + ["_source_file", "_loaded_at"]
    placeholders = ", ".join(["?"] * len(names))
    con.executemany(
        f"insert into raw.{table} ({', '.join(names)}) values ({placeholders})",
        [(*row, source_file, loaded_at) for row in rows],
    )
    if mark:
        mark_replaced(con, table, loaded_at)


def write_raw(path: Path, loads: dict[str, list[tuple]]) -> None:
    """Create the raw schema from the contract and load each table's rows from a file named after it."""
    with duckdb.connect(str(path)) as con:
        create_tables(con)
        for table, rows in loads.items():
            insert(con, table, rows, f"{table}.csv")


def create_raw_warehouse(path: Path) -> None:
    """Create the raw schema from the contract and load the hand-made rows, with a few loaded twice."""
    write_raw(
        path,
        {"products": PRODUCTS, "customers": CUSTOMERS, "orders": ORDERS, "order_items": ORDER_ITEMS,
         "events": EVENTS},
    )  # fmt: skip
    with duckdb.connect(str(path)) as con:
        # o6 also came in an earlier file, as cancelled: the latest load (completed) wins.
        stale_o6 = ("o6", "c2", ts("2024-02-01 08:00"), 116.0, "cancelled", None, "web")
        insert(con, "orders", [stale_o6], "orders_old.csv", loaded_at=datetime(2024, 2, 2))
        # A line loaded twice: counted once.
        insert(con, "order_items", ORDER_ITEMS[:1], "order_items_again.csv")


def read_table(path: Path, table: str, order_by: str) -> pd.DataFrame:
    """Return a mart table (schema-qualified name from this file) sorted by `order_by`."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(f"select * from {table} order by {order_by}").df()


def build(path: Path) -> None:
    """Run dbt build on the warehouse as of AS_OF."""
    run_dbt(["build"], warehouse_path=path, dbt_vars={"as_of_date": AS_OF.isoformat()})


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a warehouse built once from the hand-made rows."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    create_raw_warehouse(path)
    build(path)
    return path


@pytest.fixture(scope="module")
def features(warehouse: Path) -> pd.DataFrame:
    """Return marts.customer_features indexed by (customer_id, cutoff_date)."""
    frame = read_table(warehouse, "marts.customer_features", "customer_id, cutoff_date")
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"]).dt.date
    return frame.set_index(["customer_id", "cutoff_date"])


@pytest.fixture(scope="module")
def labels(warehouse: Path) -> pd.DataFrame:
    """Return marts.customer_labels indexed by (customer_id, cutoff_date, horizon_days)."""
    frame = read_table(warehouse, "marts.customer_labels", "customer_id, cutoff_date, horizon_days")
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"]).dt.date
    return frame.set_index(["customer_id", "cutoff_date", "horizon_days"])


def test_feature_rows_are_customers_with_a_completed_order_before_each_cutoff(features: pd.DataFrame) -> None:
    counts = features.reset_index().groupby("cutoff_date").size().to_dict()
    # 05-01: c1, c2; from 06-01 also c3 (order at 05-31 23:30); never c4 (cancelled only) or c5 (events).
    assert counts == {CUTOFFS[0]: 2, **{cutoff: 3 for cutoff in CUTOFFS[1:]}}
    scoring = features.reset_index().query("is_scoring_date")
    assert set(scoring["cutoff_date"]) == {AS_OF}
    assert sorted(scoring["customer_id"]) == ["c1", "c2", "c3"]


def test_order_features_of_a_customer_at_a_cutoff(features: pd.DataFrame) -> None:
    row = features.loc[("c1", date(2024, 7, 1))]
    # Completed before 07-01: o1 (20), o2 (25), o4 (20 after a return); o3 is cancelled.
    assert row["orders_lifetime"] == 3
    assert row["revenue_lifetime"] == pytest.approx(65.0)
    assert row["margin_lifetime"] == pytest.approx(12 + 10 + 12)
    assert row["items_lifetime"] == 6
    assert (row["orders_30d"], row["orders_90d"], row["orders_180d"], row["orders_365d"]) == (1, 1, 3, 3)
    assert (row["revenue_30d"], row["revenue_90d"], row["revenue_180d"]) == pytest.approx((20.0, 20.0, 65.0))
    assert row["avg_order_value"] == pytest.approx(65 / 3)
    assert row["days_since_last_order"] == (date(2024, 7, 1) - date(2024, 6, 10)).days == 21
    assert row["days_since_first_order"] == (date(2024, 7, 1) - date(2024, 1, 10)).days
    assert row["tenure_days"] == (date(2024, 7, 1) - date(2024, 1, 1)).days
    assert row["days_signup_to_first_order"] == 9
    # Gaps between completed orders: 65 and 87 days.
    assert row["mean_days_between_orders"] == pytest.approx(76.0)
    assert row["std_days_between_orders"] == pytest.approx(sqrt(2 * 11**2))
    assert row["last_gap_to_mean_gap"] == pytest.approx(21 / 76)
    # Days 1-90 before: 20; days 91-180: 45.
    assert row["revenue_trend_90d"] == pytest.approx((20 - 45) / (20 + 45))
    assert row["cancellation_rate"] == pytest.approx(1 / 4)
    assert row["return_rate"] == pytest.approx(1 / 6)
    assert row["discount_share"] == pytest.approx(5 / 80)
    assert (row["distinct_products"], row["distinct_categories"]) == (2, 2)
    assert row["top_category_share"] == pytest.approx(5 / 6)
    assert row["first_order_value"] == pytest.approx(20.0)
    assert (row["region"], row["age_band"], row["acquisition_channel"]) == ("North", "25-34", "search")
    assert row["cutoff_month"] == 7
    assert row["days_to_year_end_peak"] == (date(2024, 11, 15) - date(2024, 7, 1)).days


def test_an_order_just_before_midnight_counts_and_one_at_midnight_does_not(features: pd.DataFrame) -> None:
    row = features.loc[("c3", date(2024, 6, 1))]
    assert (row["orders_lifetime"], row["revenue_lifetime"], row["days_since_last_order"]) == (1, 10.0, 1)
    assert pd.isna(row["std_days_between_orders"]) and pd.isna(row["mean_days_between_orders"])
    assert row["tenure_days"] == (date(2024, 6, 1) - date(2024, 4, 1)).days


def test_a_reloaded_order_counts_once_and_a_return_gives_its_discount_back(features: pd.DataFrame) -> None:
    row = features.loc[("c2", date(2024, 5, 1))]
    assert (row["orders_lifetime"], row["revenue_lifetime"], row["cancellation_rate"]) == (1, 108.0, 0.0)
    assert row["return_rate"] == pytest.approx(1 / 3)
    assert pd.isna(row["days_signup_to_first_order"])
    assert row["tenure_days"] == (date(2024, 5, 1) - date(2024, 2, 1)).days  # no sign-up: since first order


def test_behaviour_features_are_null_without_events_and_counted_from_sessions(features: pd.DataFrame) -> None:
    behaviour = ["sessions_30d", "sessions_90d", "product_views_90d", "days_since_last_visit"]
    assert features.loc[("c2", AS_OF), behaviour].isna().all()
    assert features.loc[("c1", date(2024, 5, 1)), behaviour].isna().all()  # its first event is on 05-25
    row = features.loc[("c1", date(2024, 7, 1))]
    assert (row["sessions_30d"], row["sessions_90d"]) == (1, 2)
    assert (row["product_views_90d"], row["add_to_carts_90d"]) == (2, 2)
    assert row["cart_abandonment_rate_90d"] == pytest.approx(0.5)
    assert row["view_to_purchase_rate_90d"] == pytest.approx(0.5)
    assert row["days_since_last_visit"] == 21
    assert row["session_trend_30d"] == pytest.approx((1 - 0.5) / (1 + 0.5))


def test_labels_sum_completed_orders_in_complete_horizons_only(labels: pd.DataFrame) -> None:
    # 90 days: cutoffs 05-01, 06-01, 07-01 end by 10-01; 08-01 would end 10-30. No 365-day window is complete.
    assert labels.reset_index().groupby(["horizon_days", "cutoff_date"]).size().to_dict() == {
        (90, date(2024, 5, 1)): 2,
        (90, date(2024, 6, 1)): 3,
        (90, date(2024, 7, 1)): 3,
    }
    c1 = labels.loc[("c1", date(2024, 7, 1), 90)]
    # o5: 60 of p2 (no cost) less the 10 order discount: margin 50 x 0.4, as with the discount on its line
    assert (c1["orders"], c1["revenue"], c1["margin"], c1["is_churned"]) == (1, 50.0, 20.0, False)
    # 05-01 window: o3 is cancelled and excluded, o4 counts net of its return.
    c1_may = labels.loc[("c1", date(2024, 5, 1), 90)]
    assert (c1_may["orders"], c1_may["revenue"]) == (1, 20.0)
    c2 = labels.loc[("c2", date(2024, 7, 1), 90)]
    assert (c2["orders"], c2["revenue"], c2["is_churned"]) == (0, 0.0, True)
    # An order at 00:00 on the cutoff day belongs to the label window, not to the features.
    c3 = labels.loc[("c3", date(2024, 6, 1), 90)]
    assert (c3["orders"], c3["revenue"], c3["is_churned"]) == (1, 100.0, False)


def test_rfm_scores_and_segments(warehouse: Path) -> None:
    rfm = read_table(warehouse, "marts.customer_rfm", "customer_id").set_index("customer_id")
    assert rfm["as_of_date"].map(lambda value: pd.Timestamp(value).date()).eq(AS_OF).all()
    assert rfm.loc["c1", ["recency_days", "frequency", "monetary"]].tolist() == [57, 4, 115.0]
    assert rfm.loc["c2", ["recency_days", "frequency", "monetary"]].tolist() == [243, 1, 108.0]
    assert rfm.loc["c3", ["recency_days", "frequency", "monetary"]].tolist() == [122, 2, 110.0]
    scores = rfm[["r_score", "f_score", "m_score"]].to_dict("index")
    assert scores == {
        "c1": {"r_score": 5, "f_score": 5, "m_score": 5},
        "c2": {"r_score": 1, "f_score": 1, "m_score": 1},
        "c3": {"r_score": 3, "f_score": 3, "m_score": 3},
    }
    assert rfm["rfm_segment"].to_dict() == {"c1": "Champions", "c2": "Lost", "c3": "Need Attention"}


def test_rows_on_or_after_a_cutoff_never_change_its_features(
    warehouse: Path, features: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    with duckdb.connect(str(path)) as con:  # a later load: the incremental models pick it up
        insert(con, "orders", LATE_ORDERS, "orders_late.csv", loaded_at=LATE_LOADED)
        insert(con, "order_items", LATE_ORDER_ITEMS, "order_items_late.csv", loaded_at=LATE_LOADED)
        insert(con, "events", LATE_EVENTS, "events_late.csv", loaded_at=LATE_LOADED)
    build(path)
    rebuilt = read_table(path, "marts.customer_features", "customer_id, cutoff_date")
    rebuilt["cutoff_date"] = pd.to_datetime(rebuilt["cutoff_date"]).dt.date
    rebuilt = rebuilt.set_index(["customer_id", "cutoff_date"])

    def up_to_july(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame.index.get_level_values("cutoff_date") <= date(2024, 7, 1)]

    pd.testing.assert_frame_equal(up_to_july(rebuilt), up_to_july(features))
    # The late rows do reach the later cutoffs: the comparison above has teeth.
    assert rebuilt.loc[("c2", date(2024, 8, 1)), "orders_lifetime"] == 2
    assert rebuilt.loc[("c2", date(2024, 8, 1)), "days_since_last_visit"] == 31
    assert rebuilt.loc[("c1", date(2024, 8, 1)), "orders_lifetime"] == 4


def test_every_feature_at_a_cutoff_is_what_the_data_before_it_alone_gives(
    warehouse: Path, features: pd.DataFrame, tmp_path: Path
) -> None:
    # The leakage guard of every column, a feature added later too (the dbt test
    # assert_customer_features_use_only_data_before_cutoff recomputes three): delete every order, line and
    # event on or after 06-01 (o8, a Saturday order at 00:00 that day, among them), build as of 06-01, and
    # each feature of that cutoff must be what the full warehouse holds for it.
    cutoff = date(2024, 6, 1)
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    with duckdb.connect(str(path)) as con:
        later_orders = "select order_id from raw.orders where ordered_at >= ?"
        con.execute(f"delete from raw.order_items where order_id in ({later_orders})", [cutoff])
        con.execute("delete from raw.orders where ordered_at >= ?", [cutoff])
        con.execute("delete from raw.events where event_at >= ?", [cutoff])
    run_dbt(["build", "--full-refresh"], warehouse_path=path, dbt_vars={"as_of_date": cutoff.isoformat()})
    alone = read_table(path, "marts.customer_features", "customer_id, cutoff_date")
    alone["cutoff_date"] = pd.to_datetime(alone["cutoff_date"]).dt.date
    alone = alone.set_index(["customer_id", "cutoff_date"]).xs(cutoff, level="cutoff_date", drop_level=False)
    assert alone.index.get_level_values("customer_id").tolist() == ["c1", "c2", "c3"]
    in_full = features.xs(cutoff, level="cutoff_date", drop_level=False)
    pd.testing.assert_frame_equal(
        alone.drop(columns="is_scoring_date"), in_full.drop(columns="is_scoring_date")
    )


def test_spine_vars_set_in_dbt_project_yml_change_the_cutoffs_not_the_unit_tests(
    tmp_path: Path, project_copy: Path
) -> None:
    # an analyst sets the spine's vars in dbt_project.yml, as docs/operations.md says (its own comment gives
    # extra_cutoff_dates of 2011 for Online Retail II): the unit tests of int_cutoff_spine read them too and
    # failed the build ("actual differs from expected"), as they pinned the as-of date and the history only
    settings = project_copy / "dbt_project.yml"
    text = settings.read_text()
    for old, new in (
        ("  as_of_date: null\n", f"  as_of_date: '{AS_OF.isoformat()}'\n"),
        ("  spine_months: null\n", "  spine_months: 3\n"),
        ("  extra_cutoff_dates: []\n", "  extra_cutoff_dates: ['2024-06-15']\n"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    settings.write_text(text)
    path = tmp_path / "warehouse.duckdb"
    create_raw_warehouse(path)
    run_dbt(["build"], warehouse_path=path)  # unit tests included
    features = read_table(path, "marts.customer_features", "customer_id, cutoff_date")
    cutoffs = set(pd.to_datetime(features["cutoff_date"]).dt.date)
    assert cutoffs == {date(2024, 6, 15), date(2024, 7, 1), date(2024, 8, 1), date(2024, 9, 1), AS_OF}


def test_a_build_without_days_since_last_visit_passes_the_leakage_test(
    tmp_path: Path, project_copy: Path
) -> None:
    # an analyst drops days_since_last_visit, a feature no code reads by name (docs/operations.md): the build
    # failed on the leakage test, "Binder Error: Values list "features" does not have a column named ..."
    project = project_copy
    model = project / "models" / "marts" / "ml" / "customer_features.sql"
    model.write_text(model.read_text().replace("        session_features.days_since_last_visit,\n", ""))
    properties = project / "models" / "marts" / "ml" / "_ml__models.yml"
    text = properties.read_text()
    start = text.index("      - name: days_since_last_visit\n")
    properties.write_text(text[:start] + text[text.index("      - name: ", start + 1) :])
    path = tmp_path / "warehouse.duckdb"
    create_raw_warehouse(path)
    build(path)
    features = read_table(path, "marts.customer_features", "customer_id, cutoff_date")
    assert "days_since_last_visit" not in features.columns and len(features) == 17


LEAKAGE_TEST = "assert_customer_features_use_only_data_before_cutoff"
# (change, customer, cutoff): three feature rows made to look as if they read data on or after their cutoff
LEAKS = [
    ("orders_lifetime = orders_lifetime + 1", "c1", "2024-07-01"),
    ("days_since_last_order = 0", "c3", "2024-06-01"),
    ("days_since_last_visit = 0", "c1", "2024-06-01"),
]


def plant_leaks(path: Path) -> None:
    """Make the feature rows of LEAKS wrong, each as its change says."""
    with duckdb.connect(str(path)) as con:
        for change, customer, cutoff in LEAKS:
            updated = con.execute(
                f"update marts.customer_features set {change} where customer_id = ? and cutoff_date = ?",
                [customer, date.fromisoformat(cutoff)],
            ).fetchone()
            assert updated == (1,)


def test_the_leakage_test_returns_each_feature_row_that_saw_its_cutoff_day_or_later(
    warehouse: Path, tmp_path: Path
) -> None:
    # Three rows made to look as if they had read data on or after their cutoff: c1 at 07-01 counting o5
    # (placed 08-05), c3 at 06-01 with o8 (placed at its midnight) as its last order, and c1 at 06-01 with
    # its visit of 06-10 as its last (the one before it was 05-25, 7 days before).
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    plant_leaks(path)
    args = ["test", "--select", LEAKAGE_TEST, "--store-failures"]
    with pytest.raises(DbtFailed, match=rf"{LEAKAGE_TEST}.*Got 3 results"):
        run_dbt(args, warehouse_path=path, dbt_vars={"as_of_date": AS_OF.isoformat()})
    with duckdb.connect(str(path), read_only=True) as con:
        [(schema,)] = con.execute(
            "select table_schema from information_schema.tables where table_name = ?", [LEAKAGE_TEST]
        ).fetchall()
        returned = con.execute(
            "select customer_id, cutoff_date, orders_lifetime, orders_before_cutoff, days_since_last_order, "
            "expected_days_since_last_order, days_since_last_visit, expected_days_since_last_visit "
            f"from {schema}.{LEAKAGE_TEST} order by customer_id, cutoff_date"
        ).fetchall()
    assert returned == [
        ("c1", date(2024, 6, 1), 2, 2, 78, 78, 0, 7),
        ("c1", date(2024, 7, 1), 4, 3, 21, 21, 21, 21),
        ("c3", date(2024, 6, 1), 1, 1, 0, 1, None, None),
    ]


def plant_second_session_day(path: Path) -> None:
    """Add a second row of s1's session-day of 05-25 (c1) to int_events_sessionized: a day no later load of
    these tests rebuilds."""
    with duckdb.connect(str(path)) as con:
        table = "intermediate.int_events_sessionized"
        con.execute(f"insert into {table} select * from {table} where session_id = 's1'")


def remove_second_session_day(path: Path) -> None:
    """Delete the row plant_second_session_day added (the later of s1's two rows)."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "delete from intermediate.int_events_sessionized where session_id = 's1' and rowid = "
            "(select max(rowid) from intermediate.int_events_sessionized where session_id = 's1')"
        )


def test_a_build_after_a_dbt_run_tests_every_row_the_run_wrote(warehouse: Path, tmp_path: Path) -> None:
    # `dbt run` writes the session tables without testing them; the second row stands for a wrong row it
    # wrote. The build after it tests every row of what the run wrote, until one passes.
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    as_of = {"as_of_date": AS_OF.isoformat()}
    with duckdb.connect(str(path)) as con:
        e10 = ("e10", "s4", "c5", "page_view", ts("2024-06-15 09:30"), None)
        insert(con, "events", [e10], "events_1.csv", loaded_at=LATE_LOADED)
    run_dbt(["run"], warehouse_path=path, dbt_vars=as_of)
    plant_second_session_day(path)
    build_args = ["build", "--exclude", "test_type:unit"]
    with pytest.raises(DbtFailed) as after_run:
        run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)
    assert failed_tests(after_run.value) == {SESSION_DAY_KEY_TEST: "Got 1 result"}

    # mended by hand: the build passes, every test of the model having run, and the next build is scoped
    # again (the same wrong row, planted once more where it rebuilds nothing, passes)
    remove_second_session_day(path)
    run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)
    plant_second_session_day(path)
    run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)


# The leakage test's recomputation at the planted cutoffs, each aggregated on its own as a daily build's one
# cutoff (macro leakage_history_at), and both at once (macro leakage_history), side by side.
ONE_CUTOFF_AND_EVERY_CUTOFF = """
with
orders as (select * from {{ ref('stg_shop__orders') }}),
events as (select * from {{ ref('stg_shop__events') }}),
{%- for cutoff in ['2024-06-01', '2024-07-01'] %}
features_{{ loop.index }} as (
    select * from {{ ref('customer_features') }} where cutoff_date = date '{{ cutoff }}'
),
at_{{ loop.index }} as ({{ leakage_history_at(cutoff, 'features_' ~ loop.index, 'orders', 'events', true) }}),
{%- endfor %}
both_cutoffs as (
    select * from {{ ref('customer_features') }} where cutoff_date in ('2024-06-01', '2024-07-01')
),
at_both as ({{ leakage_history('both_cutoffs', 'orders', 'events', true) }}),
rows as (
    select 'one' as way, * from at_1
    union all select 'one', * from at_2
    union all select 'every', * from at_both
)
select
    way, customer_id, cast(cutoff_date as varchar) as cutoff_date, orders_lifetime, orders_before_cutoff,
    days_since_last_order, cast(last_order_at as varchar) as last_order_at, days_since_last_visit,
    cast(last_event_at as varchar) as last_event_at
from rows
"""


def test_a_daily_builds_one_cutoff_is_checked_for_leaks_as_every_cutoff_is(
    warehouse: Path, tmp_path: Path, dbt_show
) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    plant_leaks(path)
    shown = dbt_show(ONE_CUTOFF_AND_EVERY_CUTOFF, {**os.environ, **dbt_environment(path)}, limit=100)
    one = sorted(tuple(row.values())[1:] for row in shown if row["way"] == "one")
    every = sorted(tuple(row.values())[1:] for row in shown if row["way"] == "every")
    assert one == every
    # c1 and c3 at 06-01, c1 and c2 at 07-01, each with its planted leak beside what the data before gives
    assert one == [
        ("c1", "2024-06-01", 2, 2, 78, "2024-03-15 12:00:00", 0, "2024-05-25 10:02:00"),
        ("c1", "2024-07-01", 4, 3, 21, "2024-06-10 15:00:00", 21, "2024-06-10 15:00:00"),
        ("c2", "2024-06-01", 1, 1, 121, "2024-02-01 08:00:00", None, None),
        ("c2", "2024-07-01", 1, 1, 151, "2024-02-01 08:00:00", None, None),
        ("c3", "2024-06-01", 1, 1, 0, "2024-05-31 23:30:00", None, None),
        ("c3", "2024-07-01", 2, 2, 30, "2024-06-01 00:00:00", None, None),
    ]


FEATURE_KEY_TEST = "unique_combination_of_columns_customer_features_customer_id__cutoff_date"
# days_since_last_order >= 1 and <= days_since_first_order
DAYS_SINCE_TEST = (
    "expression_is_true_customer_features_days_since_last_order__days_since_last_order_1_and_"
    "days_since_last_order_days_since_first_order"
)
EVENT_KEY_TEST = "unique_new_keys_stg_shop__events_event_id__int_events_sessionized"
LINE_KEY_TEST = "unique_new_keys_stg_shop__order_items_order_id__line_number__int_order_items_priced"
ORDER_KEY_TEST = "unique_new_keys_stg_shop__orders_order_id__int_orders_valued"
# the key tests of the incremental models of orders and lines, and the lines' order test
ORDER_MODEL_TESTS = [
    "unique_new_keys_int_orders_valued_order_id__int_orders_valued",
    "unique_new_keys_int_orders_running_totals_order_id__int_orders_running_totals",
    "unique_new_keys_int_order_items_priced_order_id__line_number__int_order_items_priced",
    "relationships_stg_shop__order_items_order_id__order_id__ref_stg_shop__orders_",
    "unique_new_keys_fct_orders_order_id__int_orders_valued__int_orders_valued",
]


def failed_tests(error: DbtFailed) -> dict[str, str]:
    """Return {test name: dbt's message} for each test a DbtFailed names."""
    found = re.findall(r"test\.customer_value\.(\w+)(?:\.[0-9a-f]+)? \((Got \d+ results?)\b", str(error))
    return dict(found)


def test_a_build_tests_what_it_rebuilt_and_loaded_and_dbt_test_every_row(
    warehouse: Path, tmp_path: Path
) -> None:
    # Wrong rows where a later build does not write: the three LEAKS (cutoffs 06-01 and 07-01) and a second
    # row of c2 at 05-01. Then a load of one event on 07-01, which rebuilds the feature cutoffs after it
    # (08-01, 09-01 and the scoring date) and no label.
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    plant_leaks(path)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into marts.customer_features select * from marts.customer_features "
            "where customer_id = 'c2' and cutoff_date = date '2024-05-01'"
        )
        insert(con, "events", LATE_EVENTS, "events_late.csv", loaded_at=LATE_LOADED)
    as_of = {"as_of_date": AS_OF.isoformat()}
    target = tmp_path / "target"
    # the text 'False' is how the transform DAG renders its param test_every_row when false
    built = {**as_of, "test_every_row": "False"}
    run_dbt(["build", "--target-path", str(target)], warehouse_path=path, dbt_vars=built)  # passes

    results = json.loads((target / "run_results.json").read_text())["results"]
    compiled = {result["unique_id"].split(".")[2]: result["compiled_code"] for result in results}
    rebuilt = "in (cast('2024-08-01' as date), cast('2024-09-01' as date), cast('2024-10-01' as date))"
    assert rebuilt in compiled[LEAKAGE_TEST]
    assert rebuilt in compiled[FEATURE_KEY_TEST]
    for test in [EVENT_KEY_TEST, LINE_KEY_TEST, ORDER_KEY_TEST, *ORDER_MODEL_TESTS]:
        assert "_loaded_at > cast('2024-10-01 06:00:00' as timestamp)" in compiled[test], test
    # the events' key test compares the rows whose key lies in the new keys' range (e9 alone): the scan can
    # skip row groups by their min/max; no order or line is new, so their tests bound nothing
    assert "and tested.event_id >= 'e9' and tested.event_id <= 'e9'" in compiled[EVENT_KEY_TEST]
    assert "tested.order_id >=" not in compiled[ORDER_KEY_TEST]

    # the same build with var test_every_row finds them ('True' as the DAG renders it, or true)
    with pytest.raises(DbtFailed) as every_row:
        run_dbt(["build"], warehouse_path=path, dbt_vars={**as_of, "test_every_row": "True"})
    planted = {LEAKAGE_TEST: "Got 3 results", FEATURE_KEY_TEST: "Got 1 result"}
    planted[DAYS_SINCE_TEST] = "Got 1 result"  # days_since_last_order = 0 breaks it too
    assert failed_tests(every_row.value) == planted

    # An event loaded twice in the first load, neither marked replaced: `dbt test` tests every row.
    with duckdb.connect(str(path)) as con:
        insert(con, "events", [row for row in EVENTS if row[0] == "e8"], "events_again.csv", mark=False)
    with pytest.raises(DbtFailed) as every_test:
        run_dbt(["test", "--exclude", "test_type:unit"], warehouse_path=path, dbt_vars=as_of)
    assert failed_tests(every_test.value) == {**planted, EVENT_KEY_TEST: "Got 1 result"}

    # The failed build left the staged events unfinished (the leakage test, which reads them, failed): the
    # next build compares every event key, e8's of the first load included.
    with pytest.raises(DbtFailed) as after_failure:
        run_dbt(["build"], warehouse_path=path, dbt_vars=as_of)
    assert failed_tests(after_failure.value) == {EVENT_KEY_TEST: "Got 1 result"}

    # On a warehouse whose builds all passed, a new load repeating an old event's key, an old line's and an
    # old order's, not marked replaced: the build compares each new key with every row equal to it (the
    # new keys' range is that one key: its bounds hold the old row; the events' range runs from a new id with
    # a quote in it, written as an SQL literal, to e1).
    path = tmp_path / "passed.duckdb"
    shutil.copyfile(warehouse, path)
    new_load = datetime(2024, 10, 3, 6, 0)
    with duckdb.connect(str(path)) as con:
        e1 = [row for row in EVENTS if row[0] == "e1"]
        quoted = ("e'0", "s6", "c1", "page_view", ts("2024-09-20 08:00"), None)
        insert(con, "events", [*e1, quoted], "events_new.csv", loaded_at=new_load, mark=False)
        insert(con, "order_items", ORDER_ITEMS[-1:], "order_items_new.csv", loaded_at=new_load, mark=False)
        insert(con, "orders", ORDERS[:1], "orders_new.csv", loaded_at=new_load, mark=False)
    with pytest.raises(DbtFailed) as new_key:
        run_dbt(["build"], warehouse_path=path, dbt_vars=as_of)
    new_keys = {EVENT_KEY_TEST: "Got 1 result", LINE_KEY_TEST: "Got 1 result", ORDER_KEY_TEST: "Got 1 result"}
    assert failed_tests(new_key.value) == new_keys


SESSION_DAY_KEY_TEST = (
    "unique_combination_of_columns_int_events_sessionized_session_id__activity_date__customer_id"
)
SESSION_KEY_TEST = "unique_combination_of_columns_fct_sessions_session_id__customer_id"
ACTIVE_DAY_KEY_TEST = "unique_combination_of_columns_int_customer_active_day_spans_customer_id__activity_date"


def rebuilt_units(path: Path, target: Path) -> dict[str, list[str]]:
    """Return, for each session table's key test of the last build into `target`, the units (days, sessions,
    customers) of the rows its compiled `where` keeps, read from the warehouse at `path`."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    compiled = {result["unique_id"].split(".")[2]: result["compiled_code"] for result in results}
    units = {}
    for test, unit in [
        (SESSION_DAY_KEY_TEST, "activity_date"),
        (SESSION_KEY_TEST, "session_id"),
        (ACTIVE_DAY_KEY_TEST, "customer_id"),
    ]:
        [kept] = re.findall(r"(\(select \* from .+?\) dbt_subquery)", compiled[test], flags=re.DOTALL)
        with duckdb.connect(str(path), read_only=True) as con:
            found = con.execute(f"select distinct {unit} from {kept} order by 1").fetchall()
        units[test] = [str(value) for (value,) in found]
    return units


def test_the_session_tables_key_tests_look_at_what_a_build_rebuilt_and_at_every_row_after_a_failure(
    warehouse: Path, tmp_path: Path
) -> None:
    # A second row of a key, in the units no later load touches: s1's session-day of 05-25 (c1), its
    # session (c1) and c1's active day 05-25 (which the second load rebuilds, replacing the planted row).
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, path)
    with duckdb.connect(str(path)) as con:
        day = "activity_date = date '2024-05-25'"
        for table, key in [
            ("intermediate.int_events_sessionized", f"session_id = 's1' and {day}"),
            ("marts.fct_sessions", "session_id = 's1'"),
            ("intermediate.int_customer_active_day_spans", f"customer_id = 'c1' and {day}"),
        ]:
            con.execute(f"insert into {table} select * from {table} where {key}")
    as_of = {"as_of_date": AS_OF.isoformat()}
    target = tmp_path / "target"
    build_args = ["build", "--exclude", "test_type:unit", "--target-path", str(target)]

    # An event of c5 in s4 on 06-15: that day, that session and that customer are rebuilt, and tested.
    with duckdb.connect(str(path)) as con:
        e10 = ("e10", "s4", "c5", "page_view", ts("2024-06-15 09:30"), None)
        insert(con, "events", [e10], "events_1.csv", loaded_at=LATE_LOADED)
    run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)  # passes
    assert rebuilt_units(path, target) == {
        SESSION_DAY_KEY_TEST: ["2024-06-15"],
        SESSION_KEY_TEST: ["s4"],
        ACTIVE_DAY_KEY_TEST: ["c5"],
    }

    # e7 (anonymous, s3 on 05-26) reloaded as c3's on 05-27: the days from 05-26 (05-26 is gone), s3, c3 and
    # the customers with a day from 05-26 (c1 on 06-10, c5 on 06-15) are rebuilt.
    with duckdb.connect(str(path)) as con:
        e7 = ("e7", "s3", "c3", "product_view", ts("2024-05-27 09:00"), "p2")
        insert(con, "events", [e7], "events_2.csv", loaded_at=datetime(2024, 10, 3, 6, 0))
    run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)  # passes: s1's rows were not rebuilt
    assert rebuilt_units(path, target) == {
        SESSION_DAY_KEY_TEST: ["2024-05-27", "2024-06-10", "2024-06-15"],
        SESSION_KEY_TEST: ["s3"],
        ACTIVE_DAY_KEY_TEST: ["c1", "c3", "c5"],
    }

    # Every row: s1's second session-day row fails the build, which skips the models after
    # int_events_sessionized and leaves them unfinished. The next build, with nothing new, tests every row of
    # them again, and fails the same way.
    with pytest.raises(DbtFailed) as every_row:
        run_dbt(build_args, warehouse_path=path, dbt_vars={**as_of, "test_every_row": True})
    assert failed_tests(every_row.value) == {SESSION_DAY_KEY_TEST: "Got 1 result"}
    with pytest.raises(DbtFailed) as after_failure:
        run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)
    assert failed_tests(after_failure.value) == {SESSION_DAY_KEY_TEST: "Got 1 result"}

    # With that row gone, fct_sessions (unfinished since) is built and tested on every row: its second s1 row.
    remove_second_session_day(path)
    with pytest.raises(DbtFailed) as next_model:
        run_dbt(build_args, warehouse_path=path, dbt_vars=as_of)
    assert failed_tests(next_model.value) == {SESSION_KEY_TEST: "Got 1 result"}


def test_extra_cutoff_dates_get_features_and_labels_when_their_horizon_is_complete(
    warehouse: Path, tmp_path: Path
) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, path)
    # 06-15 + 90 days = 09-13, complete by 10-01; 07-06 + 90 = 10-04 is not; 11-01 is after the as-of date
    extra = ["2024-06-15", "2024-07-06", "2024-11-01"]
    dbt_vars = {"as_of_date": AS_OF.isoformat(), "extra_cutoff_dates": extra}
    # the unit tests pin the spine's other vars, and vars given to the command win over theirs
    run_dbt(["build", "--exclude", "test_type:unit"], warehouse_path=path, dbt_vars=dbt_vars)
    features = read_table(path, "marts.customer_features", "customer_id, cutoff_date")
    labels = read_table(path, "marts.customer_labels", "customer_id, cutoff_date, horizon_days")
    features["cutoff_date"] = pd.to_datetime(features["cutoff_date"]).dt.date
    assert set(features["cutoff_date"]) == {*CUTOFFS, date(2024, 6, 15), date(2024, 7, 6)}
    june = features[features["cutoff_date"] == date(2024, 6, 15)].set_index("customer_id")
    assert june["orders_lifetime"].to_dict() == {"c1": 3, "c2": 1, "c3": 2}  # o1, o2, o4; o6; o7, o8
    assert not june["is_scoring_date"].any()
    labels["cutoff_date"] = pd.to_datetime(labels["cutoff_date"]).dt.date
    label_cutoffs = labels.groupby(["horizon_days", "cutoff_date"]).size().to_dict()
    assert label_cutoffs == {
        (90, date(2024, 5, 1)): 2,
        (90, date(2024, 6, 1)): 3,
        (90, date(2024, 6, 15)): 3,
        (90, date(2024, 7, 1)): 3,
    }
    june_labels = labels[labels["cutoff_date"] == date(2024, 6, 15)].set_index("customer_id")
    # [06-15, 09-13): o5 of c1 only
    assert june_labels[["orders", "revenue", "is_churned"]].to_dict("index") == {
        "c1": {"orders": 1, "revenue": 50.0, "is_churned": False},
        "c2": {"orders": 0, "revenue": 0.0, "is_churned": True},
        "c3": {"orders": 0, "revenue": 0.0, "is_churned": True},
    }


def test_a_bad_extra_cutoff_date_fails_with_one_sentence(warehouse: Path) -> None:
    dbt_vars = {"extra_cutoff_dates": ["2024-06-01", "2024-13-01"]}
    message = r"extra_cutoff_dates=2024-13-01 is not a date: pass it as YYYY-MM-DD\."
    with pytest.raises(RuntimeError, match=message):
        run_dbt(["parse"], warehouse_path=warehouse, dbt_vars=dbt_vars)


@pytest.mark.parametrize(
    ("horizons", "shown"), [([90, -30], "-30"), ([0, 90], "0"), ([90, 400.5], "400.5"), ([90, "abc"], "abc")]
)
def test_a_label_horizon_that_is_not_a_whole_day_fails_with_one_sentence(
    warehouse: Path, horizons: list[object], shown: str
) -> None:
    # `| int` read abc as 0 and 400.5 as 400, and -30 built labels of a window ending before its cutoff: every
    # customer churned, without a word (dbt run by hand; cvw build reads the project's list first)
    message = rf"label_horizons={shown} is not a whole number of at least 1: set it like \[90, 365\]\."
    with pytest.raises(RuntimeError, match=message):
        run_dbt(["parse"], warehouse_path=warehouse, dbt_vars={"label_horizons": horizons})


@pytest.mark.parametrize(
    ("var_name", "value", "example"),
    [
        ("spine_months", "abc", "12 or leave it null"),
        ("spine_months", -2, "12 or leave it null"),
        ("spine_months", 2.5, "12 or leave it null"),
        ("spine_min_history_days", "abc", "90"),
        ("spine_min_history_days", -30, "90"),
    ],
)
def test_a_spine_var_that_is_not_a_whole_number_fails_with_one_sentence(
    warehouse: Path, var_name: str, value: object, example: str
) -> None:
    # `| int` read abc as 0 (spine_months: the scoring cutoff alone, failing a unit test with "actual differs
    # from expected"; spine_min_history_days: cutoffs from the first order on), 2.5 as 2, and spine_months=-2
    # kept every month, as null does: a spine other than the one asked for, without a word
    message = rf"The dbt var {var_name}={value} is not a whole number of at least 0: set it like {example}\."
    with pytest.raises(RuntimeError, match=message):
        run_dbt(["parse"], warehouse_path=warehouse, dbt_vars={var_name: value})


def test_a_bad_as_of_date_fails_with_one_sentence_naming_the_command(warehouse: Path) -> None:
    with pytest.raises(RuntimeError, match=r"`dbt parse` failed .*as_of_date=yesterday is not a date"):
        run_dbt(["parse"], warehouse_path=warehouse, dbt_vars={"as_of_date": "yesterday"})


@pytest.mark.parametrize("var_name", ["as_of_date", "extra_cutoff_dates"])
@pytest.mark.parametrize("day", ["2023-02-29", "2024-04-31", "0000-01-01"])
def test_a_day_outside_its_month_fails_with_the_sentence_naming_the_var(
    warehouse: Path, var_name: str, day: str
) -> None:
    # 29 February of a year that has none passed the pattern, then failed in strptime: "Compilation Error in
    # model int_cutoff_spine: day is out of range for month", naming neither the var nor the fix
    with pytest.raises(RuntimeError, match=rf"`dbt parse` failed .*{var_name}={day} is not a date: pass it"):
        run_dbt(["parse"], warehouse_path=warehouse, dbt_vars={var_name: day})


def test_window_basket_and_first_order_features(features: pd.DataFrame) -> None:
    row = features.loc[("c1", date(2024, 7, 1))]
    # 30 days before 07-01: o4 only (margin 12, 3 units bought, revenue 20); 180 days: o1, o2, o4.
    assert (row["margin_30d"], row["margin_180d"]) == pytest.approx((12.0, 34.0))
    assert (row["items_30d"], row["items_180d"], row["items_365d"]) == (3, 6, 6)
    assert (row["avg_order_value_30d"], row["avg_order_value_180d"]) == pytest.approx((20.0, 65 / 3))
    assert pd.isna(features.loc[("c2", date(2024, 7, 1)), "avg_order_value_30d"])  # no order in the window
    assert row["avg_items_per_order"] == pytest.approx(2.0)
    # Orders in days 1-90 before: 1 (o4); days 91-180: 2 (o1, o2).
    assert row["orders_trend_90d"] == pytest.approx((1 - 2) / (1 + 2))
    assert row["first_order_sales_channel"] == "web"
    assert features.loc[("c3", AS_OF), "first_order_sales_channel"] == "web"


def test_fct_orders_values_each_order_once(warehouse: Path) -> None:
    orders = read_table(warehouse, "marts.fct_orders", "order_id").set_index("order_id")
    assert orders.index.tolist() == [f"o{number}" for number in range(1, 10)]
    assert orders.loc["o6", ["status", "revenue", "line_count", "items", "returned_items"]].tolist() == [
        "completed",
        108.0,
        2,
        3,
        1,
    ]
    o5 = orders.loc["o5", ["revenue", "margin", "discount_amount"]].tolist()
    assert o5 == pytest.approx([50.0, 20.0, 10.0])  # the 10 order discount sits on no line; p2 has no cost
    assert orders["is_cancelled"].sum() == 2 and orders["is_first_order"].sum() == 3
    assert orders.loc["o4", "days_since_previous_order"] == (date(2024, 6, 10) - date(2024, 3, 15)).days


def test_dim_customers_covers_buyers_cancellers_and_browsers(warehouse: Path) -> None:
    customers = read_table(warehouse, "marts.dim_customers", "customer_id").set_index("customer_id")
    assert customers.index.tolist() == ["c1", "c2", "c3", "c4", "c5"]
    c1 = customers.loc["c1", ["orders", "cancelled_orders", "revenue", "sessions"]].tolist()
    assert c1 == [4, 1, 115.0, 2]
    assert customers.loc["c4", ["orders", "cancelled_orders", "is_buyer"]].tolist() == [0, 1, False]
    assert customers.loc["c5", ["orders", "is_buyer", "sessions", "region"]].tolist() == [0, False, 1, "East"]
    assert customers.loc["c2", "first_order_sales_channel"] == "web"
    assert pd.isna(customers.loc["c2", "signed_up_at"])


def test_fct_sessions_one_row_per_session(warehouse: Path) -> None:
    sessions = read_table(warehouse, "marts.fct_sessions", "session_id").set_index("session_id")
    assert sessions.index.tolist() == ["s1", "s2", "s3", "s4"]
    assert sessions.loc["s1", ["events", "add_to_carts", "has_purchase", "is_abandoned_cart"]].tolist() == [
        3,
        1,
        False,
        True,
    ]
    s2 = sessions.loc["s2", ["has_purchase", "is_abandoned_cart", "duration_seconds"]].tolist()
    assert s2 == [True, False, 600]
    assert not sessions.loc["s3", "is_logged_in"] and pd.isna(sessions.loc["s3", "customer_id"])


def test_every_mart_column_is_typed_and_described() -> None:
    import yaml

    marts = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"
    for properties in marts.rglob("_*__models.yml"):
        for model in yaml.safe_load(properties.read_text())["models"]:
            assert model["config"]["contract"]["enforced"] is True, model["name"]
            for column in model["columns"]:
                assert column.get("description") and column.get("data_type"), (model["name"], column["name"])


def test_the_gross_margin_rate_follows_the_project_setting(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dbt's margin of products without unit_cost and the CLV's margin come from one setting.
    monkeypatch.setenv("CVW_GROSS_MARGIN_RATE", "0.55")
    target = tmp_path / "target"
    compile_args = ["compile", "--select", "int_orders_valued", "--target-path", str(target)]
    run_dbt(compile_args, warehouse_path=warehouse)
    compiled = next(target.rglob("int_orders_valued.sql")).read_text()
    assert "charged_amount * 0.55" in compiled and "* 0.4\n" not in compiled


@pytest.mark.parametrize("rate", ["40%", "abc", "1.5"])
def test_a_gross_margin_rate_that_is_not_a_share_fails_with_one_sentence(
    warehouse: Path, tmp_path: Path, rate: str
) -> None:
    # dbt_project.yml read CVW_GROSS_MARGIN_RATE with | float: a dbt run by hand with 40% or abc valued every
    # margin without a unit cost at 0.0, and 1.5 above the revenue (cvw refuses them in include.settings)
    message = (
        rf"The dbt var gross_margin_rate={re.escape(rate)} \(CVW_GROSS_MARGIN_RATE\) is not a share from 0 "
        r"to 1: set it like 0\.4 \(40% is 0\.4\) or leave it empty\."
    )
    compile_args = ["compile", "--select", "int_orders_valued", "--target-path", str(tmp_path / "target")]
    with pytest.raises(RuntimeError, match=message):
        run_dbt(compile_args, warehouse_path=warehouse, dbt_vars={"gross_margin_rate": rate})


def test_a_session_shared_by_two_customers_is_a_visit_of_each(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    write_raw(path, {"orders": SHARED_ORDERS, "events": SHARED_EVENTS})
    # with every data test: the leakage guard finds each customer's own last event
    dbt_vars = {"as_of_date": SHARED_AS_OF.isoformat()}
    run_dbt(["build", "--exclude", "test_type:unit"], warehouse_path=path, dbt_vars=dbt_vars)
    features = read_table(path, "marts.customer_features", "customer_id")
    features = features[pd.to_datetime(features["cutoff_date"]).dt.date == SHARED_AS_OF]
    expected = {"sessions_30d": 1, "sessions_90d": 1, "product_views_90d": 1, "add_to_carts_90d": 1}
    expected["days_since_last_visit"] = (SHARED_AS_OF - date(2024, 6, 10)).days  # 21
    behaviour = list(expected)
    assert features.set_index("customer_id")[behaviour].to_dict("index") == {"c1": expected, "c2": expected}
    assert features["cart_abandonment_rate_90d"].tolist() == [1.0, 1.0]  # the session's cart, nothing bought
    customers = read_table(path, "marts.dim_customers", "customer_id").set_index("customer_id")
    assert customers["sessions"].to_dict() == {"c1": 1, "c2": 1}
    assert customers["last_visit_at"].tolist() == [pd.Timestamp("2024-06-10 10:06")] * 2
    sessions = read_table(path, "marts.fct_sessions", "session_id, customer_id")
    rows = sessions[["session_id", "customer_id", "logged_in_customers", "events", "add_to_carts"]]
    assert rows.astype(object).where(rows.notna(), None).values.tolist() == [
        ["s1", "c1", 2, 3, 1],
        ["s1", "c2", 2, 3, 1],
        ["s2", None, 0, 1, 0],
    ]


# The same sale delivered twice: a 10 discount on the whole order (o1), and the same 10 granted on its lines
# in proportion to their amounts (o2). p1 has a unit cost, p2 none (margin = revenue x 0.4).
DISCOUNT_PRODUCTS = [("p1", "Teddy", "toys", 10.0, 4.0), ("p2", "Novel", "books", 30.0, None)]
DISCOUNT_ORDERS = [
    ("o1", "c1", ts("2024-01-05 10:00"), 40.0, "completed", 10.0, "web"),
    ("o2", "c2", ts("2024-01-05 10:00"), 40.0, "completed", 10.0, "web"),
]
DISCOUNT_ORDER_ITEMS = [
    ("o1", 1, "p1", 2, 10.0, None, None),
    ("o1", 2, "p2", 1, 30.0, None, None),
    ("o2", 1, "p1", 2, 10.0, 4.0, None),  # 20 of 50: 4 of the 10
    ("o2", 2, "p2", 1, 30.0, 6.0, None),  # 30 of 50: 6 of the 10
]


def test_an_order_discount_lowers_margin_as_the_same_discount_on_the_lines(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    loads = {"products": DISCOUNT_PRODUCTS, "orders": DISCOUNT_ORDERS, "order_items": DISCOUNT_ORDER_ITEMS}
    write_raw(path, loads)
    run_dbt(["run", "--select", "+fct_orders"], warehouse_path=path, dbt_vars={"as_of_date": "2024-02-01"})
    orders = read_table(path, "marts.fct_orders", "order_id").set_index("order_id")
    # p1: 2 x (10 - 4) - 4 = 8; p2 (no cost): (30 - 6) x 0.4 = 9.6
    assert orders["revenue"].tolist() == pytest.approx([40.0, 40.0])
    assert orders["margin"].tolist() == pytest.approx([17.6, 17.6])


def test_29_february_of_a_leap_year_is_a_date(warehouse: Path) -> None:
    for var_name in ("as_of_date", "extra_cutoff_dates"):
        assert run_dbt(["parse"], warehouse_path=warehouse, dbt_vars={var_name: "2024-02-29"}) is None

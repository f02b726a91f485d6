"""The daily run, which rebuilds the new scoring date alone, gives the marts of a full refresh."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from include.dbt import run_dbt
from tests.integration.test_dbt_incremental import LOADED_AT, RELATIONS, append, frames, read

ITEM_FEATURES = "intermediate.int_order_items_aggregated_to_cutoffs"
# The first load ends on 19 June (scoring date 20 June); the second brings 20 June alone, so the daily run
# builds one cutoff, the new scoring date 21 June, and keeps the monthly cutoffs of 1 May and 1 June.
FIRST = {
    "products": [
        ("p1", "Teddy", "toys", 10.0, 4.0),
        ("p2", "Kite", "toys", 20.0, 8.0),
        ("p3", "Atlas", "books", 30.0, 12.0),
        ("p4", "Novel", "books", 15.0, 6.0),
    ],
    "orders": [
        ("o1", "c1", datetime(2024, 1, 5, 10), 50.0, "completed", None, "web"),
        ("o2", "c1", datetime(2024, 3, 3, 10), 70.0, "completed", None, "web"),
        ("o3", "c2", datetime(2024, 2, 1, 10), 50.0, "cancelled", None, "web"),
        ("o4", "c2", datetime(2024, 5, 20, 10), 20.0, "completed", None, "app"),
        ("o5", "c3", datetime(2024, 6, 19, 10), 20.0, "completed", None, "web"),
    ],
    "order_items": [
        ("o1", 1, "p1", 2, 10.0, None, 0),
        ("o1", 2, "p3", 1, 30.0, None, 0),
        ("o2", 1, "p1", 1, 10.0, None, 0),  # a product bought again
        ("o2", 2, "p2", 3, 20.0, None, 0),
        ("o3", 1, "p1", 5, 10.0, None, 0),  # cancelled: not counted
        ("o4", 1, "p9", 2, 10.0, None, 0),  # a product the catalogue lacks: no category
        ("o5", 1, "p2", 1, 20.0, None, 0),
    ],
    "events": [("e1", "s1", "c1", "product_view", datetime(2024, 6, 10, 10), "p1")],
}
SECOND = {
    "orders": [
        ("o6", "c1", datetime(2024, 6, 20, 10), 135.0, "completed", None, "web"),
        ("o7", "c4", datetime(2024, 6, 20, 11), 10.0, "completed", None, "web"),
    ],
    "order_items": [
        ("o6", 1, "p3", 4, 30.0, None, 0),
        ("o6", 2, "p4", 1, 15.0, None, 0),
        ("o7", 1, "p1", 1, 10.0, None, 0),
    ],
    "events": [("e2", "s2", "c4", "add_to_cart", datetime(2024, 6, 20, 11), "p1")],
}
CANARY = date(2024, 6, 1)  # a monthly cutoff the daily run must keep, not rebuild
LABELS = "marts.customer_labels"  # none: no 90-day window after a cutoff ends by the scoring date


@pytest.fixture(scope="module")
def scoring_day_warehouses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (built, then run after a one-day load; that copy fully refreshed) warehouses."""
    root = tmp_path_factory.mktemp("scoring_day")
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    append(incremental, frames(FIRST), "1", LOADED_AT[0])
    run_dbt(["build", "--exclude", "test_type:unit"], warehouse_path=incremental)
    with duckdb.connect(str(incremental)) as con:
        con.execute(f"update {ITEM_FEATURES} set distinct_products = -1 where cutoff_date = ?", [CANARY])
    append(incremental, frames(SECOND), "2", LOADED_AT[1])
    run_dbt(["build", "--exclude", "test_type:unit"], warehouse_path=incremental)
    shutil.copy(incremental, full)
    run_dbt(["run", "--full-refresh"], warehouse_path=full)
    return incremental, full


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_the_daily_run_equals_full_refresh(scoring_day_warehouses: tuple[Path, Path], relation: str) -> None:
    incremental, full = scoring_day_warehouses
    keys = RELATIONS[relation]
    actual, expected = read(incremental, relation, keys), read(full, relation, keys)
    if relation == ITEM_FEATURES:
        canary = actual["cutoff_date"] == pd.Timestamp(CANARY)
        assert canary.sum() == 2 and (actual.loc[canary, "distinct_products"] == -1).all()  # kept
        actual.loc[canary, "distinct_products"] = expected.loc[canary, "distinct_products"]
    assert len(actual) == len(expected) and (len(actual) == 0) == (relation == LABELS)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9)


def test_the_new_scoring_date_counts_products_and_categories_bought_before_it(
    scoring_day_warehouses: tuple[Path, Path],
) -> None:
    incremental, _ = scoring_day_warehouses
    items = read(incremental, ITEM_FEATURES, ["customer_id", "cutoff_date"])
    assert sorted(items["cutoff_date"].dt.date.unique()) == [date(2024, 5, 1), CANARY, date(2024, 6, 21)]
    scoring = items[items["is_scoring_date"]].set_index("customer_id")
    assert scoring["cutoff_date"].eq(pd.Timestamp("2024-06-21")).all()
    columns = ["distinct_products", "distinct_categories", "top_category_share"]
    assert scoring[columns].to_dict("index") == {
        # p1, p3, p2, p4; toys 2 + 1 + 3 units, books 1 + 4 + 1
        "c1": {"distinct_products": 4, "distinct_categories": 2, "top_category_share": 0.5},
        # p9 of no category: a product, no category, and the whole share
        "c2": {"distinct_products": 1, "distinct_categories": 0, "top_category_share": 1.0},
        "c3": {"distinct_products": 1, "distinct_categories": 1, "top_category_share": 1.0},
        "c4": {"distinct_products": 1, "distinct_categories": 1, "top_category_share": 1.0},
    }


def test_the_scoring_dates_order_features_are_written_once_into_the_mart(
    scoring_day_warehouses: tuple[Path, Path],
) -> None:
    incremental, _ = scoring_day_warehouses
    orders = read(
        incremental, "intermediate.int_orders_aggregated_to_cutoffs", ["customer_id", "cutoff_date"]
    )
    assert sorted(orders["cutoff_date"].dt.date.unique()) == [date(2024, 5, 1), CANARY]  # not 21 June
    features = read(incremental, "marts.customer_features", ["customer_id", "cutoff_date"])
    scoring = features[features["is_scoring_date"]].set_index("customer_id")
    assert scoring["cutoff_date"].eq(pd.Timestamp("2024-06-21")).all()
    columns = ["orders_lifetime", "revenue_lifetime", "orders_30d", "revenue_90d", "days_since_last_order"]
    assert scoring[columns].to_dict("index") == {
        # o1 50, o2 70 (3 March: before the 90 days), o6 135 on 20 June
        "c1": {
            "orders_lifetime": 3,
            "revenue_lifetime": 255.0,
            "orders_30d": 1,
            "revenue_90d": 135.0,
            "days_since_last_order": 1,
        },
        # o3 cancelled; o4 on 20 May, 32 days before: in the 90 days, not the 30
        "c2": {
            "orders_lifetime": 1,
            "revenue_lifetime": 20.0,
            "orders_30d": 0,
            "revenue_90d": 20.0,
            "days_since_last_order": 32,
        },
        "c3": {
            "orders_lifetime": 1,
            "revenue_lifetime": 20.0,
            "orders_30d": 1,
            "revenue_90d": 20.0,
            "days_since_last_order": 2,
        },
        "c4": {
            "orders_lifetime": 1,
            "revenue_lifetime": 10.0,
            "orders_30d": 1,
            "revenue_90d": 10.0,
            "days_since_last_order": 1,
        },
    }

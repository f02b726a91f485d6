"""The Online Retail II preset on the real UCI files: every line accounted for, revenue as defined.

The files live beside the repository (`../shared/data/online_retail_ii`, or CVW_ONLINE_RETAIL_DIR). Without
them the test is skipped locally and fails in CI (environment variable CI set), where they are provided.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from include.importer import import_preset
from include.presets.online_retail import default_files
from include.settings import get_settings

FIRST, SECOND = default_files(get_settings().online_retail_dir)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict:
    """Import both files twice into a fresh warehouse; return the warehouse and both imports' loads."""
    missing = [str(path) for path in (FIRST, SECOND) if not path.is_file()]
    if missing:
        message = f"Online Retail II files not found ({', '.join(missing)}): set CVW_ONLINE_RETAIL_DIR."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    warehouse = tmp_path_factory.mktemp("online_retail") / "warehouse.duckdb"
    first = import_preset("online-retail-ii", [FIRST, SECOND], warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    counts = {
        t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
        for t in ("orders", "order_items", "customers", "products", "_rejects")
    }
    con.close()
    second = import_preset("online-retail-ii", [FIRST, SECOND], warehouse)
    return {"warehouse": warehouse, "first": first, "second": second, "counts": counts}


@pytest.fixture()
def con(imported):
    """Yield a read-only connection to the imported warehouse."""
    connection = duckdb.connect(str(imported["warehouse"]), read_only=True)
    yield connection
    connection.close()


def test_every_line_of_each_file_is_loaded_or_rejected(imported) -> None:
    loads = {load.file: load for load in imported["first"]}
    first, second = loads[FIRST.name], loads[SECOND.name]
    assert (first.rows_read, first.rows_loaded, first.rows_rejected) == (525_461, 417_534, 107_927)
    assert first.rejects == {
        "no customer id (guest checkout)": 105_803,
        "negative quantity on a non-cancelled invoice (stock adjustment)": 2_121,
        "negative price (bad-debt adjustment)": 3,
    }
    assert (second.rows_read, second.rows_loaded, second.rows_rejected) == (531_282, 383_419, 147_863)
    assert second.rejects == {
        "no customer id (guest checkout)": 133_358,
        "duplicate of a line already loaded": 14_505,
    }
    assert first.derived == {"orders": 23_587, "customers": 4_383, "products": 4_031}
    assert second.derived == {"orders": 17_760, "customers": 1_559, "products": 614}
    for load in (first, second):
        assert load.rows_read == load.rows_loaded + load.rows_rejected


def test_the_warehouse_holds_each_line_once(imported, con) -> None:
    assert imported["counts"] == {
        "orders": 41_347,
        "order_items": 800_953,
        "customers": 5_942,
        "products": 4_645,
        "_rejects": 255_790,
    }
    logged = con.execute(
        "select file_name, rows_read, rows_loaded, rows_rejected from raw._file_loads "
        "order by loaded_at, file_name"
    ).fetchall()
    assert sorted(logged) == [
        (SECOND.name, 531_282, 383_419, 147_863),
        (FIRST.name, 525_461, 417_534, 107_927),
    ]
    # no invoice is split across the two files, and every line's order and customer exist
    assert con.execute(
        "select count(*) from (select order_id from raw.order_items group by 1 "
        "having count(distinct _source_file) > 1)"
    ).fetchone() == (0,)
    assert con.execute(
        "select count(*) from raw.order_items left join raw.orders using (order_id) "
        "where orders.order_id is null"
    ).fetchone() == (0,)
    assert con.execute(
        "select count(*) from raw.orders left join raw.customers using (customer_id) "
        "where customers.customer_id is null"
    ).fetchone() == (0,)
    query = (
        "select count(distinct customer_id), min(length(customer_id)), max(length(customer_id)) "
        "from raw.orders"
    )
    assert con.execute(query).fetchone() == (5_942, 5, 5)  # ids like '12346', never '12346.0'


def test_revenue_matches_the_reference_definition(con) -> None:
    # reference: Σ Quantity × Price over non-cancelled lines with a customer, the overlap counted once
    reference = con.execute(
        """
        with first_file as (
            select Invoice as invoice, Quantity * Price as revenue, "Customer ID" as customer
            from read_parquet($first)
        ),
        second_file as (
            select
                cast(InvoiceNo as varchar) as invoice, Quantity * UnitPrice as revenue, CustomerID as customer
            from read_parquet($second)
        )
        select sum(revenue) from (
            select revenue from first_file where customer is not null and invoice not like 'C%'
            union all
            select revenue from second_file
            where customer <> 0 and invoice not in (select invoice from first_file)
        )
    """,
        {"first": str(FIRST), "second": str(SECOND)},
    ).fetchone()[0]
    # what dbt computes (int_order_items_priced): kept quantity × unit_price − discount, non-cancelled orders
    warehouse = con.execute("""
        select sum((items.quantity - coalesce(items.returned_quantity, 0)) * items.unit_price
                   - coalesce(items.discount_amount, 0))
        from raw.order_items as items inner join raw.orders using (order_id)
        where orders.status = 'completed'
    """).fetchone()[0]
    assert round(reference, 2) == 17_431_533.18
    assert warehouse == pytest.approx(reference, abs=0.005)
    charged = con.execute("select sum(amount) from raw.orders where status = 'completed'").fetchone()[0]
    assert charged == pytest.approx(reference, abs=1.0)  # order amounts are rounded to the cent


def test_cancellations_are_cancelled_orders_with_positive_units(con) -> None:
    expected = con.execute(
        "select count(distinct Invoice) from read_parquet(?) where Invoice like 'C%' "
        'and "Customer ID" is not null',
        [str(FIRST)],
    ).fetchone()[0]
    assert expected == 4_372
    query = "select status, count(*) from raw.orders where order_id like 'C%' group by 1"
    assert con.execute(query).fetchall() == [("cancelled", expected)]
    assert con.execute("select count(*) from raw.orders where status = 'cancelled'").fetchone() == (expected,)
    assert con.execute(
        "select min(quantity), count(returned_quantity) from raw.order_items where order_id like 'C%'"
    ).fetchone() == (1, 0)


def test_customers_get_a_region_and_products_a_typical_price(con) -> None:
    regions = con.execute("select region, count(*) from raw.customers group by 1 order by 2 desc").fetchall()
    assert regions == [("United Kingdom", 5_410), ("Europe", 465), ("Rest of world", 60), (None, 7)]
    query = "select product_name, list_price, category, unit_cost from raw.products where product_id = ?"
    product = con.execute(query, ["85123A"]).fetchone()
    assert product == ("WHITE HANGING HEART T-LIGHT HOLDER", 2.95, None, None)


def test_a_rejected_line_points_at_its_row_in_the_file(con) -> None:
    row_number, raw_values = con.execute(
        "select row_number, raw_values from raw._rejects where file_name = ? order by row_number limit 1",
        [FIRST.name],
    ).fetchone()
    original = con.execute(
        "select * from read_parquet(?, file_row_number = true) where file_row_number = ?",
        [str(FIRST), row_number - 1],
    ).fetchone()
    assert list(json.loads(raw_values).values()) == list(original[:-1])


def test_a_second_import_adds_nothing(imported, con) -> None:
    assert [(load.file, load.skipped, load.rows_loaded) for load in imported["second"]] == [
        (FIRST.name, True, 0),
        (SECOND.name, True, 0),
    ]
    counts = {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in imported["counts"]}
    assert counts == imported["counts"]


def test_preset_files_can_be_named_or_taken_from_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no preset 'online-retail'"):
        import_preset("online-retail", [], tmp_path / "w.duckdb")
    with pytest.raises(ValueError, match=r"missing.parquet not found: give the preset's files"):
        import_preset("online-retail-ii", [tmp_path / "missing.parquet"], tmp_path / "w.duckdb")

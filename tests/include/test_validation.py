"""Validation with quarantine: every row loaded or rejected with its reason; bad files change nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import include.ingest as ingest
from include.importer import import_preset
from include.importer import main as import_main
from include.mapping import Mapping
from include.presets.online_retail import load_file as load_online_retail
from include.raw_schema import RAW_TABLES, REJECT_COLUMNS
from include.raw_tables import create_tables
from include.warehouse import connect


def _write(path: Path, text: str) -> Path:
    """Write a hand-made CSV (dedented lines) and return its path."""
    path.write_text("\n".join(line.strip() for line in text.strip().splitlines()) + "\n")
    return path


def _query(warehouse: Path, sql: str) -> list[tuple]:
    """Return the rows of a read-only query on the warehouse."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Return every row of every raw table, the rejects and the load log, to compare before and after."""
    tables = [*RAW_TABLES, "_rejects", "_file_loads"]
    return {table: sorted(_query(warehouse, f'select * from raw."{table}"'), key=repr) for table in tables}


def _import(*argv: str) -> int:
    """Run `cvw import` with the arguments; return its exit code."""
    return import_main(list(argv))


ORDERS = """
    order_id,customer_id,ordered_at,amount,status
    O1,C1,2024-01-05 10:00:00,10.5,completed
    ,C1,2024-01-05 11:00:00,3,completed
    O3,C2,yesterday,7,completed
    O4,C2,2024-01-06 09:00:00,abc,completed
    O5,C3,2024-01-07 09:00:00,-5,completed
    O6,C3,2024-01-07 10:00:00,5,refunded
    O7,C3,2999-01-01 00:00:00,5,completed
    O1,C9,2024-02-01 00:00:00,1,completed
    O9,C3,2024-01-08 00:00:00,20,CANCELLED
"""

ORDER_ITEMS = """
    order_id,line_number,product_id,quantity,unit_price,returned_quantity
    O1,1,P1,2,3.5,0
    O1,2,P2,-1,4,
    O1,3,P2,2.5,4,
    O1,4,P2,x,4,
    O1,5,P3,1,-2,
    O1,6,P3,2,1,3
    O1,7,P3,3000000000,1,
    O1,8,P3,2.5,abc,
    O1,1,P9,1,1,
    O404,1,P1,1,1,
    O5,1,P1,1,1,
    O9,1,P1,4,5,1
"""


def test_every_row_is_loaded_or_rejected_with_its_reason(tmp_path: Path, capsys) -> None:
    warehouse = tmp_path / "w.duckdb"
    orders = _write(tmp_path / "orders.csv", ORDERS)
    items = _write(tmp_path / "order_items.csv", ORDER_ITEMS)
    assert _import("--table", "orders", str(orders), "--warehouse", str(warehouse)) == 0
    assert _import("--table", "order_items", str(items), "--warehouse", str(warehouse)) == 0
    out = capsys.readouterr().out
    assert "9 read = 2 rows loaded + 7 rejected" in out
    assert "12 read = 2 rows loaded + 10 rejected" in out.split("order_items.csv")[1]

    assert _query(warehouse, "select order_id, customer_id, amount, status from raw.orders order by 1") == [
        ("O1", "C1", 10.5, "completed"),
        ("O9", "C3", 20.0, "CANCELLED"),
    ]
    rejects = _query(warehouse, "select table_name, row_number, reason from raw._rejects order by 1 desc, 2")
    assert rejects == [
        ("orders", 2, "missing order_id"),
        ("orders", 3, "unparsable date in ordered_at"),
        ("orders", 4, "non-numeric amount"),
        ("orders", 5, "negative amount"),
        ("orders", 6, "status is neither completed nor cancelled"),
        ("orders", 7, "ordered_at in the future"),
        ("orders", 8, "duplicate key within the file"),
        ("order_items", 2, "negative quantity on a non-return"),
        ("order_items", 3, "quantity is not a whole number"),
        ("order_items", 4, "non-numeric quantity"),
        ("order_items", 5, "negative unit_price"),
        ("order_items", 6, "returned_quantity outside 0..quantity"),
        ("order_items", 7, "quantity is out of range"),  # a whole number, beyond INTEGER's 2,147,483,647
        ("order_items", 8, "non-numeric unit_price"),  # rule 3 (any column) comes before rule 4
        ("order_items", 9, "duplicate key within the file"),
        ("order_items", 10, "order line of an unknown order"),
        ("order_items", 11, "order line of a rejected order"),  # O5's negative amount
    ]
    # the order each reject was part of, as read: tells a rejected order's line from one of an order not sent
    assert _query(
        warehouse, "select row_number, order_id from raw._rejects where table_name = 'orders' order by 1"
    ) == [(2, None), (3, "O3"), (4, "O4"), (5, "O5"), (6, "O6"), (7, "O7"), (8, "O1")]
    assert _query(
        warehouse,
        "select order_id, line_number, quantity, returned_quantity from raw.order_items order by 1, 2",
    ) == [("O1", 1, 2, 0), ("O9", 1, 4, 1)]
    logged = _query(
        warehouse, "select file_name, rows_read, rows_loaded, rows_rejected from raw._file_loads order by 1"
    )
    assert logged == [("order_items.csv", 12, 2, 10), ("orders.csv", 9, 2, 7)]


def test_a_zoned_timestamp_after_now_is_in_the_future_and_a_local_one_has_14_hours(
    tmp_path: Path, capsys
) -> None:
    # one hour ahead of the clock: a zoned instant that has not happened yet, or a local time east of UTC
    ahead = datetime.now(UTC).replace(microsecond=0, tzinfo=None) + timedelta(hours=1)
    in_new_york = ahead - timedelta(hours=5)
    orders = _write(
        tmp_path / "orders.csv",
        f"""
        order_id,customer_id,ordered_at,amount
        Z1,C1,{ahead:%Y-%m-%dT%H:%M:%S}Z,1
        Z2,C1,{in_new_york:%Y-%m-%d %H:%M:%S} -0500,1
        L1,C1,{ahead:%Y-%m-%d %H:%M:%S},1
        P1,C1,{ahead - timedelta(hours=2):%Y-%m-%d %H:%M:%S}+02:00,1
        """,
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import("--table", "orders", str(orders), "--warehouse", str(warehouse)) == 0
    assert "4 read = 2 rows loaded + 2 rejected" in capsys.readouterr().out
    assert _query(warehouse, "select order_id, ordered_at from raw.orders order by 1") == [
        ("L1", ahead),  # as delivered: the shop's clock
        ("P1", ahead - timedelta(hours=4)),  # three hours ago in UTC
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (1, "ordered_at in the future"),
        (2, "ordered_at in the future"),
    ]
    assert _query(warehouse, "select rows_read, rows_loaded, rows_rejected from raw._file_loads") == [
        (4, 2, 2)
    ]


def test_parquet_timestamps_with_a_zone_get_no_14_hours_and_those_without_do(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ahead = datetime.now(UTC).replace(microsecond=0, tzinfo=None) + timedelta(hours=1)
    warehouse = tmp_path / "w.duckdb"
    for unit in ("us", "ns"):
        for name, zone in (("zoned", "UTC"), ("local", None)):
            path = tmp_path / f"{name}_{unit}.parquet"
            table = {"order_id": [path.stem], "customer_id": ["C1"], "amount": [1.0]}
            times = pa.array([ahead], type=pa.timestamp(unit, tz=zone))
            pq.write_table(pa.table({**table, "ordered_at": times}), path)
            assert _import("--table", "orders", str(path), "--warehouse", str(warehouse)) == 0
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [("local_ns",), ("local_us",)]
    logged = "select file_name, rows_read, rows_loaded, rows_rejected from raw._file_loads order by 1"
    assert _query(warehouse, logged) == [
        ("local_ns.parquet", 1, 1, 0),
        ("local_us.parquet", 1, 1, 0),
        ("zoned_ns.parquet", 1, 0, 1),
        ("zoned_us.parquet", 1, 0, 1),
    ]
    assert _query(warehouse, "select distinct reason from raw._rejects") == [("ordered_at in the future",)]


def test_the_future_limits_are_5_minutes_for_a_zoned_timestamp_and_14_hours_for_a_local_one(
    tmp_path: Path,
) -> None:
    loaded_at = datetime(2025, 1, 1, 12)  # the load's time, UTC
    orders = _write(
        tmp_path / "orders.csv",
        """
        order_id,customer_id,ordered_at,amount
        Z1,C1,2025-01-01T12:05:00Z,1
        Z2,C1,2025-01-01T12:05:01Z,1
        Z3,C1,2025-01-01 13:05:01+01:00,1
        Z4,C1,2025-01-02 02:00:00+14:00,1
        Z5,C1,2025-01-01 12:05:01 UTC,1
        L1,C1,2025-01-02 02:00:00,1
        L2,C1,2025-01-02 02:00:01,1
        """,
    )
    lines = _write(
        tmp_path / "online_retail.csv",
        """
        InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
        1,A,Lamp,1,2025-01-01 12:05:01Z,3.5,13085,United Kingdom
        2,A,Lamp,1,2025-01-02 02:00:00,3.5,13085,United Kingdom
        """,
    )
    with connect(tmp_path / "w.duckdb", create=True) as con:
        create_tables(con)
        load = ingest.load_table_file(con, orders, loaded_at, Mapping("orders"))
        assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (7, 3, 4)
        assert load.rejects == {"ordered_at in the future": 4}
        loaded = con.execute("select order_id from raw.orders order by 1").fetchall()
        assert loaded == [("L1",), ("Z1",), ("Z4",)]  # at their limits: 14 hours, 5 minutes, 12:00 UTC
        preset = load_online_retail(con, lines, loaded_at)
        assert (preset.rows_read, preset.rows_loaded, preset.rows_rejected) == (2, 1, 1)
        assert preset.rejects == {"invoice date in the future": 1}
        rejected = con.execute("select file_name, row_number from raw._rejects order by 1, 2").fetchall()
    assert rejected == [
        ("online_retail.csv", 1),
        ("orders.csv", 2),
        ("orders.csv", 3),
        ("orders.csv", 5),
        ("orders.csv", 7),
    ]


def test_a_rejected_row_keeps_its_original_values_as_json(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    _import("--table", "orders", str(_write(tmp_path / "orders.csv", ORDERS)), "--warehouse", str(warehouse))
    ((raw_values, rejected_at),) = _query(
        warehouse, "select raw_values, rejected_at from raw._rejects where row_number = 4"
    )
    assert json.loads(raw_values) == {
        "order_id": "O4",
        "customer_id": "C2",
        "ordered_at": "2024-01-06 09:00:00",
        "amount": "abc",
        "status": "completed",
    }
    assert rejected_at == _query(warehouse, "select loaded_at from raw._file_loads")[0][0]
    columns = [row[0] for row in _query(warehouse, "describe raw._rejects")]
    assert columns == [column.name for column in REJECT_COLUMNS]


def test_rows_already_loaded_are_rejected_as_duplicates_and_new_rows_append(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    first = _write(
        tmp_path / "orders_1.csv",
        """
        order_id,customer_id,ordered_at,amount
        A,C1,2024-01-01 00:00:00,1
        B,C1,2024-01-02 00:00:00,2
    """,
    )
    second = _write(
        tmp_path / "orders_2.csv",
        """
        order_id,customer_id,ordered_at,amount
        A,C1,2024-01-01 00:00:00,1
        B,C1,2024-01-02 00:00:00,99
        C,C2,2024-01-03 00:00:00,3
    """,
    )
    _import("--table", "orders", str(first), "--warehouse", str(warehouse))
    _import("--table", "orders", str(second), str(first), "--warehouse", str(warehouse))
    assert _query(warehouse, "select order_id, amount, _source_file from raw.orders order by 1") == [
        ("A", 1.0, "orders_1.csv"),
        ("B", 2.0, "orders_1.csv"),
        ("C", 3.0, "orders_2.csv"),
    ]
    assert _query(warehouse, "select file_name, row_number, reason from raw._rejects order by 2") == [
        ("orders_2.csv", 1, "duplicate of a row already loaded"),
        ("orders_2.csv", 2, "key already loaded with different values"),
    ]
    # orders_1.csv was delivered again in the second call: same content, skipped, nothing logged twice
    assert _query(warehouse, "select file_name, rows_loaded from raw._file_loads order by 1") == [
        ("orders_1.csv", 2),
        ("orders_2.csv", 1),
    ]


def test_a_correction_loads_as_a_newer_version_only_when_updates_are_allowed(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    header, b = "order_id,customer_id,ordered_at,amount,status\n", "B,C1,2024-01-02,20,completed\n"
    (tmp_path / "orders.csv").write_text(header + "A,C1,2024-01-01,10,completed\n" + b)
    (tmp_path / "status.csv").write_text(header + "A,C1,2024-01-01,10,cancelled\n" + b)
    _import("--table", "orders", str(tmp_path / "orders.csv"), "--warehouse", str(warehouse))
    _import(
        "--table", "orders", str(tmp_path / "status.csv"), "--allow-updates", "--warehouse", str(warehouse)
    )
    assert _query(warehouse, "select order_id, status, _source_file from raw.orders order by 1, 3") == [
        ("A", "completed", "orders.csv"),
        ("A", "cancelled", "status.csv"),
        ("B", "completed", "orders.csv"),
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [
        (2, "duplicate of a row already loaded"),
    ]
    # the first version of A is marked replaced, at the time of the load that brought the second
    replaced = "select status from raw.orders where _replaced_at = (select max(_loaded_at) from raw.orders)"
    assert _query(warehouse, replaced) == [("completed",)]
    assert _query(warehouse, "select count(*) from raw.orders where _replaced_at is null") == [(2,)]


def test_a_value_changed_back_loads_as_the_newest_version(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    header, a = "order_id,customer_id,ordered_at,amount,status\n", "A,C1,2024-01-01,10,"
    (tmp_path / "orders_1.csv").write_text(header + a + "completed\n")
    (tmp_path / "orders_2.csv").write_text(header + a + "cancelled\n")
    (tmp_path / "orders_3.csv").write_text(header + a + "completed\nB,C1,2024-01-02,20,completed\n")
    for name in ("orders_1.csv", "orders_2.csv", "orders_3.csv"):
        _import("--table", "orders", str(tmp_path / name), "--allow-updates", "--warehouse", str(warehouse))
    # A is back to its first values: a newer version than the cancelled one, not a duplicate of the first
    versions = "select order_id, status, _source_file, _replaced_at is null from raw.orders order by 1, 3"
    assert _query(warehouse, versions) == [
        ("A", "completed", "orders_1.csv", False),
        ("A", "cancelled", "orders_2.csv", False),
        ("A", "completed", "orders_3.csv", True),
        ("B", "completed", "orders_3.csv", True),
    ]
    assert _query(warehouse, "select count(*) from raw._rejects") == [(0,)]
    # delivered once more (beside a new order), it equals the current version: rejected as a duplicate
    (tmp_path / "orders_4.csv").write_text(header + a + "completed\nC,C1,2024-01-03,30,completed\n")
    four = str(tmp_path / "orders_4.csv")
    _import("--table", "orders", four, "--allow-updates", "--warehouse", str(warehouse))
    assert _query(warehouse, "select file_name, row_number, reason from raw._rejects") == [
        ("orders_4.csv", 1, "duplicate of a row already loaded"),
    ]
    current = "select order_id, _source_file from raw.orders where _replaced_at is null order by 1"
    assert _query(warehouse, current) == [("A", "orders_3.csv"), ("B", "orders_3.csv"), ("C", "orders_4.csv")]


@pytest.mark.parametrize(("order", "current"), [(("a", "b"), "cancelled"), (("b", "a"), "completed")])
def test_of_two_files_with_one_name_in_one_call_the_later_one_is_current(
    tmp_path: Path, order: tuple[str, str], current: str
) -> None:
    warehouse = tmp_path / "w.duckdb"
    header = "order_id,customer_id,ordered_at,amount,status\n"
    for folder, status in (("a", "completed"), ("b", "cancelled")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "orders.csv").write_text(header + f"A,C1,2024-01-01,10,{status}\n")
    files = [str(tmp_path / folder / "orders.csv") for folder in order]
    _import("--table", "orders", *files, "--allow-updates", "--warehouse", str(warehouse))
    assert _query(warehouse, "select count(*) from raw._rejects") == [(0,)]
    versions = "select status, _source_file, _replaced_at is null from raw.orders order by 1"
    assert _query(warehouse, versions) == sorted(
        [
            ("completed", "orders.csv", current == "completed"),
            ("cancelled", "orders.csv", current == "cancelled"),
        ]
    )
    assert _query(warehouse, "select status from raw.orders where _replaced_at is null") == [(current,)]


def test_a_warehouse_from_before_replacement_marks_gains_them_at_the_next_load(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    header = "order_id,customer_id,ordered_at,amount\n"
    (tmp_path / "orders_1.csv").write_text(header + "A,C1,2024-01-01,10\nB,C1,2024-01-02,20\n")
    (tmp_path / "orders_2.csv").write_text(header + "A,C1,2024-01-05,10\n")
    (tmp_path / "orders_3.csv").write_text(header + "C,C1,2024-01-06,30\n")
    for name in ("orders_1.csv", "orders_2.csv"):
        _import("--table", "orders", str(tmp_path / name), "--allow-updates", "--warehouse", str(warehouse))
    with duckdb.connect(str(warehouse)) as con:  # as an older loader left it: no marks
        con.execute("alter table raw.orders drop column _replaced_at")
    _import("--table", "orders", str(tmp_path / "orders_3.csv"), "--warehouse", str(warehouse))
    marks = "select order_id, ordered_at, _replaced_at is not null from raw.orders order by 1, 2"
    assert _query(warehouse, marks) == [
        ("A", datetime(2024, 1, 1), True),
        ("A", datetime(2024, 1, 5), False),
        ("B", datetime(2024, 1, 2), False),
        ("C", datetime(2024, 1, 6), False),
    ]


def test_orders_of_unknown_customers_are_rejected_only_once_customers_are_loaded(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    header = "order_id,customer_id,ordered_at,amount\n"
    (tmp_path / "orders_1.csv").write_text(header + "A,ghost,2024-01-01,1\n")
    (tmp_path / "customers.csv").write_text("customer_id,country\nC1,GB\n")
    (tmp_path / "orders_2.csv").write_text(header + "B,ghost,2024-01-02,1\nC,C1,2024-01-02,1\n")
    _import("--table", "orders", str(tmp_path / "orders_1.csv"), "--warehouse", str(warehouse))
    _import("--table", "customers", str(tmp_path / "customers.csv"), "--warehouse", str(warehouse))
    _import("--table", "orders", str(tmp_path / "orders_2.csv"), "--warehouse", str(warehouse))
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [("A",), ("C",)]
    rejects = _query(warehouse, "select file_name, row_number, reason from raw._rejects")
    assert rejects == [("orders_2.csv", 1, "order of an unknown customer")]


def test_an_orders_only_file_with_the_four_required_columns_is_enough(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    csv = _write(
        tmp_path / "orders.csv",
        """
        order_id,customer_id,ordered_at,amount
        1001,42,2024-03-01,19.99
        1002,42,2024-03-09 18:30,5
    """,
    )
    assert _import("--table", "orders", str(csv), "--warehouse", str(warehouse)) == 0
    assert _query(warehouse, "select * exclude (_loaded_at) from raw.orders order by 1") == [
        ("1001", "42", datetime(2024, 3, 1), 19.99, None, None, None, "orders.csv", None),
        ("1002", "42", datetime(2024, 3, 9, 18, 30), 5.0, None, None, None, "orders.csv", None),
    ]
    empty = {table: _query(warehouse, f"select count(*) from raw.{table}")[0][0] for table in RAW_TABLES}
    assert empty == {"customers": 0, "products": 0, "orders": 2, "order_items": 0, "events": 0}


def test_a_file_missing_a_required_column_fails_whole_and_changes_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    _import("--table", "orders", str(_write(tmp_path / "orders.csv", ORDERS)), "--warehouse", str(warehouse))
    before = _snapshot(warehouse)
    good = _write(tmp_path / "orders_good.csv", "order_id,customer_id,ordered_at,amount\nN1,C1,2024-01-01,1")
    bad = _write(tmp_path / "orders_bad.csv", "order_id,customer_id,ordered_at\nN2,C1,2024-01-01")
    with pytest.raises(SystemExit) as stop:
        _import("--table", "orders", str(good), str(bad), "--warehouse", str(warehouse))
    assert str(stop.value) == (
        "orders_bad.csv lacks the required column amount of raw.orders: add it, "
        "or map one of its columns to it (--map amount=YOUR_COLUMN; its columns: order_id, customer_id, "
        "ordered_at)."
    )
    assert _snapshot(warehouse) == before


def test_a_column_of_the_wrong_type_fails_the_whole_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    frame = pd.DataFrame(
        {
            "order_id": ["A", "B"],
            "customer_id": ["C1", "C2"],
            "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "amount": [date(2024, 1, 1)] * 2,
        }
    )
    frame.to_parquet(tmp_path / "orders.parquet")
    with pytest.raises(SystemExit) as stop:
        _import("--table", "orders", str(tmp_path / "orders.parquet"), "--warehouse", str(warehouse))
    assert str(stop.value) == (
        "orders.parquet: column 'amount' is DATE, which cannot become amount (DOUBLE) of raw.orders: "
        "deliver numbers in it, or map another column."
    )
    assert not warehouse.exists()  # not even the tables: the warehouse this load created went with it


def test_a_csv_column_where_no_value_parses_fails_the_whole_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    csv = _write(
        tmp_path / "orders.csv",
        """
        order_id,customer_id,ordered_at,amount
        A,C1,31/01/2024 10:00,1
        B,C1,01/02/2024 11:00,2
    """,
    )
    with pytest.raises(SystemExit) as stop:
        _import("--table", "orders", str(csv), "--warehouse", str(warehouse))
    assert str(stop.value) == (
        "orders.csv: no value of column 'ordered_at' parses as a timestamp for raw.orders.ordered_at "
        "(e.g. '01/02/2024 11:00'): fix the column or the mapping (2 of its 2 values read as dates with "
        "--date-format '%d/%m/%Y %H:%M')."
    )
    assert (
        _import(
            "--table", "orders", str(csv), "--date-format", "%d/%m/%Y %H:%M", "--warehouse", str(warehouse)
        )
        == 0
    )
    assert _query(warehouse, "select ordered_at from raw.orders order by 1") == [
        (datetime(2024, 1, 31, 10),),
        (datetime(2024, 2, 1, 11),),
    ]


def test_a_load_interrupted_halfway_leaves_the_warehouse_as_it_was(tmp_path: Path, monkeypatch) -> None:
    warehouse = tmp_path / "w.duckdb"
    first = _write(tmp_path / "orders_1.csv", "order_id,customer_id,ordered_at,amount\nA,C1,2024-01-01,1")
    _import("--table", "orders", str(first), "--warehouse", str(warehouse))
    before = _snapshot(warehouse)
    header = "order_id,customer_id,ordered_at,amount\n"
    second = _write(tmp_path / "orders_2.csv", header + "B,C1,2024-01-02,2\nB,C1,x,3")
    third = _write(tmp_path / "orders_3.csv", header + "C,C1,2024-01-03,3")
    real_log = ingest.log_load
    calls = []

    def crash_on_the_second_file(con, load, loaded_at):
        calls.append(load.file)
        if len(calls) == 2:  # orders_2.csv is loaded, its reject written, orders_3.csv appended: then a crash
            raise KeyboardInterrupt
        return real_log(con, load, loaded_at)

    monkeypatch.setattr(ingest, "log_load", crash_on_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        _import("--table", "orders", str(second), str(third), "--warehouse", str(warehouse))
    assert calls == ["orders_2.csv", "orders_3.csv"]
    assert _snapshot(warehouse) == before
    monkeypatch.setattr(ingest, "log_load", real_log)
    _import("--table", "orders", str(second), str(third), "--warehouse", str(warehouse))
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [("A",), ("B",), ("C",)]


ONLINE_RETAIL_2009 = """
    Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
    1001,A,Lamp,2,12/1/2010 8:26,3.5,13085.0,United Kingdom
    1001,B,Vase,1,12/1/2010 8:26,10,13085.0,United Kingdom
    1001,A,Lamp,2,12/1/2010 8:26,3.5,13085.0,United Kingdom
    C1002,A,Lamp,-2,12/2/2010 9:00,3.5,13085.0,United Kingdom
    1003,B,damaged,-5,12/2/2010 10:00,0,,United Kingdom
    A1004,B,Adjust bad debt,1,12/3/2010 10:00,-100,,United Kingdom
    1005,A,Lamp,1,12/3/2010 11:00,3.5,,United Kingdom
    1006,C,Gift,1,12/4/2010 11:00,0,12347.0,EIRE
    1007,A,Lamp,1,someday,3.5,12347.0,EIRE
    1008,A,Lamp,1,12/5/2010 11:00,3.5,12348.0,Unspecified
    1009,A,Lamp,1,12/5/2010 12:00,3.5,12348.0,Unspecified
    1009,B,Vase,1,12/5/2010 12:00,10,12349.0,Unspecified
"""

ONLINE_RETAIL_2010 = """
    InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
    1001,A,Lamp,2,12/1/2010 8:26,3.5,13085,United Kingdom
    1001,A,Lamp,2,12/1/2010 8:26,3.5,13085,United Kingdom
    1001,A,Lamp,2,12/1/2010 8:26,3.5,13085,United Kingdom
    1010,B,Missing_Description,3,12/6/2010 9:00,10,0,USA
    1011,B,Missing_Description,3,12/6/2010 9:00,10,13085,United Kingdom
    1012,D,Missing_Description,1,12/7/2010 9:00,2.5,15000,USA
"""


def test_a_preset_file_loaded_before_is_skipped_without_advising_a_reload_the_preset_refuses(
    tmp_path: Path, capsys
) -> None:
    # it said "cvw import --reload loads it again", and `cvw import --preset ... --reload` is refused
    lines = _write(tmp_path / "online_retail_ii.csv", ONLINE_RETAIL_2009)
    command = ["--preset", "online-retail-ii", str(lines), "--warehouse", str(tmp_path / "w.duckdb")]
    assert import_main(command) == 0
    capsys.readouterr()
    assert import_main(command) == 0
    skipped = "skipped (already loaded: a preset loads a file once)"
    assert capsys.readouterr().out == f"{'online_retail_ii.csv':<40} -> {'order_items':<24} {skipped}\n"
    with pytest.raises(SystemExit):
        import_main([*command, "--reload"])


def test_a_preset_dry_run_counts_every_line_and_loads_nothing(tmp_path: Path, capsys) -> None:
    lines = _write(tmp_path / "online_retail_ii.csv", ONLINE_RETAIL_2009)
    warehouse = tmp_path / "w.duckdb"
    command = ["--preset", "online-retail-ii", str(lines), "--warehouse", str(warehouse)]
    assert import_main([*command, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "12 read = 6 rows loaded + 6 rejected" in printed and "rows added to raw.orders" in printed
    assert printed.endswith(f"dry run: rolled back, nothing was loaded into {warehouse}\n")
    assert not warehouse.exists()
    assert import_main(command) == 0  # not skipped: the dry run recorded no load
    assert "12 read = 6 rows loaded + 6 rejected" in capsys.readouterr().out


def test_the_online_retail_preset_accounts_for_every_line(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    first = _write(tmp_path / "online_retail_ii.csv", ONLINE_RETAIL_2009)
    second = _write(tmp_path / "online_retail.csv", ONLINE_RETAIL_2010)
    loads = import_preset("online-retail-ii", [first, second], warehouse)
    counts = [(load.rows_read, load.rows_loaded, load.rows_rejected) for load in loads]
    assert counts == [(12, 6, 6), (6, 2, 4)]
    assert loads[0].derived == {"orders": 4, "customers": 3, "products": 3}
    assert loads[1].derived == {"orders": 2, "customers": 1, "products": 1}
    assert _query(warehouse, "select file_name, row_number, reason from raw._rejects order by 1 desc, 2") == [
        ("online_retail_ii.csv", 5, "negative quantity on a non-cancelled invoice (stock adjustment)"),
        ("online_retail_ii.csv", 6, "negative price (bad-debt adjustment)"),
        ("online_retail_ii.csv", 7, "no customer id (guest checkout)"),
        ("online_retail_ii.csv", 9, "unparsable invoice date"),
        ("online_retail_ii.csv", 11, "invoice with more than one customer id"),
        ("online_retail_ii.csv", 12, "invoice with more than one customer id"),
        ("online_retail.csv", 1, "duplicate of a line already loaded"),
        ("online_retail.csv", 2, "duplicate of a line already loaded"),
        ("online_retail.csv", 3, "line of an invoice already loaded from another file"),
        ("online_retail.csv", 4, "no customer id (guest checkout)"),
    ]
    assert _query(
        warehouse, "select order_id, customer_id, ordered_at, amount, status from raw.orders order by 1"
    ) == [
        ("1001", "13085", datetime(2010, 12, 1, 8, 26), 24.0, "completed"),
        ("1006", "12347", datetime(2010, 12, 4, 11, 0), 0.0, "completed"),
        ("1008", "12348", datetime(2010, 12, 5, 11, 0), 3.5, "completed"),
        ("1011", "13085", datetime(2010, 12, 6, 9, 0), 30.0, "completed"),
        ("1012", "15000", datetime(2010, 12, 7, 9, 0), 2.5, "completed"),
        ("C1002", "13085", datetime(2010, 12, 2, 9, 0), 7.0, "cancelled"),
    ]
    query = (
        "select order_id, line_number, product_id, quantity, unit_price from raw.order_items "
        "where order_id in ('1001', 'C1002') order by 1, 2"
    )
    # identical lines of one invoice both count; a cancellation's units are positive
    assert _query(warehouse, query) == [
        ("1001", 1, "A", 2, 3.5),
        ("1001", 2, "B", 1, 10.0),
        ("1001", 3, "A", 2, 3.5),
        ("C1002", 1, "A", 2, 3.5),
    ]
    assert _query(warehouse, "select customer_id, country, region from raw.customers order by 1") == [
        ("12347", "EIRE", "Europe"),
        ("12348", None, None),
        ("13085", "United Kingdom", "United Kingdom"),
        ("15000", "USA", "Rest of world"),
    ]
    assert _query(warehouse, "select product_id, product_name, list_price from raw.products order by 1") == [
        ("A", "Lamp", 3.5),
        ("B", "Vase", 10.0),
        ("C", "Gift", None),
        ("D", None, 2.5),
    ]
    revenue = _query(
        warehouse,
        "select sum(quantity * unit_price) from raw.order_items "
        "inner join raw.orders using (order_id) where status = 'completed'",
    )
    assert revenue == [(60.0,)]

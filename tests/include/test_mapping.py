"""Column mappings: a user's own column names, date formats, constants and defaults, without editing code."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from include.importer import expand
from include.importer import main as import_main
from include.mapping import Mapping, build_mapping, parse_pairs, read_mapping_file, resolve
from include.value_casts import NumberFormat, date_format_params, finite_timestamp, has_zone

SHOP_EXPORT = (
    "OrderNo;Client;Date;Total;Channel\n"
    "A-1;  17;31/01/2024 09:15;12.50;\n"
    "A-2;17;01/02/2024 18:00;7;app\n"
    "A-3;18;02/02/2024 08:00;;web\n"
)


def _query(warehouse: Path, sql: str) -> list[tuple]:
    """Return the rows of a read-only query on the warehouse."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_map_flags_and_a_date_format_load_a_shop_export(tmp_path: Path, capsys) -> None:
    export = tmp_path / "export.csv"
    export.write_text(SHOP_EXPORT)
    warehouse = tmp_path / "w.duckdb"
    code = import_main(
        [
            "--table",
            "orders",
            str(export),
            "--map",
            "order_id=OrderNo",
            "--map",
            "customer_id=Client",
            "--map",
            "ordered_at=Date",
            "--map",
            "amount=Total",
            "--map",
            "sales_channel=Channel",
            "--date-format",
            "%d/%m/%Y %H:%M",
            "--warehouse",
            str(warehouse),
        ]
    )
    assert code == 0
    assert "3 read = 2 rows loaded + 1 rejected" in capsys.readouterr().out
    query = "select order_id, customer_id, ordered_at, amount, sales_channel from raw.orders order by 1"
    rows = _query(warehouse, query)
    assert rows == [
        ("A-1", "17", datetime(2024, 1, 31, 9, 15), 12.5, None),
        ("A-2", "17", datetime(2024, 2, 1, 18, 0), 7.0, "app"),
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [(3, "missing amount")]


def test_a_yaml_mapping_with_constants_and_defaults(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(SHOP_EXPORT)
    mapping = tmp_path / "orders.yaml"
    mapping.write_text(
        "table: orders\n"
        "columns:\n"
        "  order_id: OrderNo\n  customer_id: Client\n  ordered_at: Date\n  amount: Total\n"
        "  sales_channel: Channel\n"
        'date_format: "%d/%m/%Y %H:%M"\n'
        "constants: {status: completed}\n"
        "defaults: {amount: 0, sales_channel: web}\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert import_main(["--mapping", str(mapping), str(export), "--warehouse", str(warehouse)]) == 0
    rows = _query(warehouse, "select order_id, amount, status, sales_channel from raw.orders order by 1")
    assert rows == [
        ("A-1", 12.5, "completed", "web"),
        ("A-2", 7.0, "completed", "app"),
        ("A-3", 0.0, "completed", "web"),
    ]
    assert _query(warehouse, "select count(*) from raw._rejects") == [(0,)]


def test_flags_override_the_yaml_file(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("table: orders\ncolumns: {order_id: OrderNo, amount: Total}\ndate_format: '%Y'\n")
    built = build_mapping(None, {"amount": "Gross"}, "%d.%m.%Y", base=read_mapping_file(mapping))
    assert built == Mapping("orders", {"order_id": "OrderNo", "amount": "Gross"}, "%d.%m.%Y")


def test_unmapped_contract_columns_are_read_by_name_case_insensitively(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Order_ID": ["1", "2"],
            "CustomerID": [17850.0, 13047.0],
            "ORDERED_AT": pd.to_datetime(["2010-12-01 08:26", "2010-12-01 08:28"]),
            "Amount": [15.3, 22.0],
        }
    )
    frame.to_parquet(tmp_path / "orders.parquet")
    warehouse = tmp_path / "w.duckdb"
    assert (
        import_main(
            [
                "--table",
                "orders",
                str(tmp_path / "orders.parquet"),
                "--map",
                "customer_id=CustomerID",
                "--warehouse",
                str(warehouse),
            ]
        )
        == 0
    )
    query = "select order_id, customer_id, ordered_at, amount from raw.orders order by 1"
    assert _query(warehouse, query) == [
        ("1", "17850", datetime(2010, 12, 1, 8, 26), 15.3),  # a float id loses its '.0'
        ("2", "13047", datetime(2010, 12, 1, 8, 28), 22.0),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: build_mapping("order", {}),
            "'order' is not a raw table: choose one of customers, products, orders",
        ),
        (
            lambda: build_mapping("orders", {"total": "Total"}),
            "'total' in the mapping's columns is not a column of raw.orders",
        ),
        (
            lambda: build_mapping("orders", base={"table": "customers"}),
            "--table orders contradicts `table: customers`",
        ),
        (  # YAML `defaults: {status: }` or `~`: it loaded the text 'None' as every missing status
            lambda: build_mapping("orders", base={"defaults": {"status": None}}),
            "'status' in the mapping's defaults has no value (empty, or YAML's null): give one, or leave "
            "status out of defaults.",
        ),
        (  # --constant status= would reject every row as a missing status
            lambda: build_mapping("orders", constants={"status": " "}),
            "'status' in the mapping's constants has no value",
        ),
        (
            lambda: parse_pairs(["order_id"], "--map"),
            "--map 'order_id' is not of the form CONTRACT_COLUMN=VALUE",
        ),
        (
            lambda: resolve(
                Mapping("orders", {"amount": "Total"}),
                dict.fromkeys(["order_id", "customer_id", "ordered_at"], "VARCHAR"),
                "x.csv",
            ),
            "x.csv has no column 'Total', which the mapping gives for amount: map one of its columns "
            "(order_id, customer_id, ordered_at).",
        ),
    ],
)
def test_mapping_mistakes_end_in_one_sentence(call, message: str) -> None:
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value).startswith(message)


def test_a_bad_date_format_or_missing_file_stops_with_one_sentence(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(SHOP_EXPORT)
    base = ["--table", "orders", "--warehouse", str(tmp_path / "w.duckdb")]
    with pytest.raises(SystemExit, match=r"The date format '%Q' is not a strptime format"):
        import_main([*base, str(export), "--date-format", "%Q"])
    with pytest.raises(SystemExit, match=r"No file matches '.*nothing_\*.csv': check the pattern."):
        import_main([*base, str(tmp_path / "nothing_*.csv")])
    with pytest.raises(SystemExit, match=r"The file .*gone.csv does not exist: check the path."):
        import_main([*base, str(tmp_path / "gone.csv")])


def test_a_second_table_in_one_import_is_refused_not_dropped(tmp_path: Path, capsys) -> None:
    # argparse kept the last --table: the orders file was never loaded and every line was rejected as an
    # order line of an unknown order
    export = tmp_path / "export.csv"
    export.write_text(SHOP_EXPORT)
    warehouse = tmp_path / "w.duckdb"
    with pytest.raises(SystemExit):
        import_main(["--table", "orders", str(export), "--table", "order_items", str(export),
                     "--warehouse", str(warehouse)])  # fmt: skip
    assert "give --table once per call" in capsys.readouterr().err
    assert not warehouse.exists()


def test_glob_patterns_expand_sorted(tmp_path: Path) -> None:
    for name in ("orders_2024-02.csv", "orders_2024-01.csv", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert expand([str(tmp_path / "orders_*.csv"), str(tmp_path / "notes.txt")]) == [
        tmp_path / "orders_2024-01.csv",
        tmp_path / "orders_2024-02.csv",
        tmp_path / "notes.txt",
    ]


def _import_orders(path: Path, warehouse: Path, *extra: str) -> int:
    """Import one orders file into the warehouse; return the command's exit code."""
    return import_main(["--table", "orders", str(path), "--warehouse", str(warehouse), *extra])


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_zoned_text_timestamps_become_utc_whatever_the_machines_zone(
    tmp_path: Path, monkeypatch, zone: str
) -> None:
    monkeypatch.setenv("TZ", zone)
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        "o1,c1,2024-01-01 10:00:00+02:00,10\n"
        "o2,c1,2024-01-01 10:00:00-05:00,10\n"
        "o3,c1,2024-01-01T10:00:00Z,10\n"
        "o4,c1,2024-01-01 10:00,10\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    assert _query(warehouse, "select order_id, ordered_at from raw.orders order by 1") == [
        ("o1", datetime(2024, 1, 1, 8)),
        ("o2", datetime(2024, 1, 1, 15)),
        ("o3", datetime(2024, 1, 1, 10)),
        ("o4", datetime(2024, 1, 1, 10)),  # no zone: as delivered
    ]
    with_offset = tmp_path / "offset.csv"
    with_offset.write_text("order_id,customer_id,ordered_at,amount\no5,c1,2024-01-01 10:00:00+0200,10\n")
    assert _import_orders(with_offset, warehouse, "--date-format", "%Y-%m-%d %H:%M:%S%z") == 0
    assert _query(warehouse, "select ordered_at from raw.orders where order_id = 'o5'") == [
        (datetime(2024, 1, 1, 8),)
    ]


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_an_offset_after_a_space_is_read_as_the_offset(tmp_path: Path, monkeypatch, zone: str) -> None:
    # Shopify's order export (and Ruby's Time#to_s) write `2019-02-08 15:21:46 -0500`: every row was
    # "unparsable date in ordered_at", and the whole file failed
    monkeypatch.setenv("TZ", zone)
    export = tmp_path / "orders_export.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        "o1,c1,2019-02-08 15:21:46 -0500,10\n"
        "o2,c1,2024-03-31 01:30:00 +02:00,10\n"  # the night Paris moves to summer time: 30 March in UTC
        "o3,c1,2025-01-01 00:30:00 +01:00,10\n"  # New Year in Paris: still 2024 in UTC
        "o4,c1,2024-02-29 23:59:59.999 Z,10\n"
        "o5,c1,2024-03-01 00:00 -05,10\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    assert _query(warehouse, "select order_id, ordered_at from raw.orders order by 1") == [
        ("o1", datetime(2019, 2, 8, 20, 21, 46)),
        ("o2", datetime(2024, 3, 30, 23, 30)),
        ("o3", datetime(2024, 12, 31, 23, 30)),
        ("o4", datetime(2024, 2, 29, 23, 59, 59, 999000)),
        ("o5", datetime(2024, 3, 1, 5)),
    ]
    assert _query(warehouse, "select rows_read, rows_loaded, rows_rejected from raw._file_loads") == [
        (5, 5, 0)
    ]


@pytest.mark.parametrize(
    ("text", "formats", "instant", "zoned"),
    [
        ("2024-01-31 13:45", [], datetime(2024, 1, 31, 13, 45), False),
        ("2024-01-31", [], datetime(2024, 1, 31), False),
        ("2024-01-31T13:45:00.5", [], datetime(2024, 1, 31, 13, 45, 0, 500000), False),
        ("2024-01-31T13:45:00Z", [], datetime(2024, 1, 31, 13, 45), True),
        ("2024-01-31 13:45:00+00", [], datetime(2024, 1, 31, 13, 45), True),
        ("2024-01-31 13:45 UTC", [], datetime(2024, 1, 31, 13, 45), True),
        ("2024-01-31 13:45+02:00", [], datetime(2024, 1, 31, 11, 45), True),
        ("2019-02-08 15:21:46 -0500", [], datetime(2019, 2, 8, 20, 21, 46), True),
        ("2024-01-31 13:45 Europe/Paris", [], datetime(2024, 1, 31, 12, 45), True),
        ("31/01/2024 13:45 +0100", ["%d/%m/%Y %H:%M %z"], datetime(2024, 1, 31, 12, 45), True),
        ("01/31/2024 01:45 PM", ["%m/%d/%Y %I:%M %p"], datetime(2024, 1, 31, 13, 45), False),  # PM: no zone
        ("2024-01-31 13:45Z", ["%m/%d/%Y %I:%M %p"], datetime(2024, 1, 31, 13, 45), True),  # ISO after
    ],
)
def test_a_text_timestamp_says_whether_it_carried_a_zone(
    text: str, formats: list[str], instant: datetime, zoned: bool
) -> None:
    # rule 13 gives a zoned timestamp (an instant) no 14 hours; DuckDB's TIMESTAMP cast drops a zone unsaid
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    sql = (
        f"select {finite_timestamp('$v', 'VARCHAR', len(formats))}, {has_zone('$v', 'VARCHAR', len(formats))}"
    )
    assert con.execute(sql, {"v": text, **date_format_params(formats)}).fetchone() == (instant, zoned)


def test_parquet_timestamps_with_a_zone_at_any_precision_and_with_a_default_become_utc(
    tmp_path: Path, monkeypatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("TZ", "America/New_York")
    instant = datetime.fromisoformat("2024-01-01T10:00:00+00:00")
    for unit in ("us", "ns"):
        path = tmp_path / f"orders_{unit}.parquet"
        times = pa.array([instant, None], type=pa.timestamp(unit, tz="UTC"))
        table = {"order_id": [f"{unit}1", f"{unit}2"], "customer_id": ["c1", "c1"], "amount": [1.0, 2.0]}
        pq.write_table(pa.table({**table, "ordered_at": times}), path)
        assert _import_orders(path, tmp_path / "w.duckdb", "--default", "ordered_at=2024-02-01") == 0
    rows = _query(tmp_path / "w.duckdb", "select order_id, ordered_at from raw.orders order by 1")
    assert rows == [
        ("ns1", datetime(2024, 1, 1, 10)),
        ("ns2", datetime(2024, 2, 1)),
        ("us1", datetime(2024, 1, 1, 10)),
        ("us2", datetime(2024, 2, 1)),
    ]


def test_nanosecond_timestamps_are_cut_to_the_microsecond_not_rounded_past_midnight(
    tmp_path: Path, monkeypatch
) -> None:
    # DuckDB's cast of TIMESTAMP_NS rounds: an order at 23:59:59.999999999 on 29 February (pandas writes
    # datetime64[ns]) was loaded at 1 March 00:00, history of no cutoff of 1 March, and a New Year's Eve one
    # moved into the next year
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    nanos = [
        1709251199999999999,  # 2024-02-29 23:59:59.999999999 UTC
        1735689599999999500,  # 2024-12-31 23:59:59.9999995 UTC
        -1,  # 1969-12-31 23:59:59.999999999 UTC
        1709251200000000000,  # 2024-03-01 00:00:00 UTC
    ]
    for zone in (None, "UTC"):
        path = tmp_path / f"orders_{zone or 'naive'}.parquet"
        ids = [f"{zone or 'naive'}{n}" for n in range(1, 5)]
        table = {"order_id": ids, "customer_id": ["c1"] * 4, "amount": [1.0] * 4}
        pq.write_table(pa.table({**table, "ordered_at": pa.array(nanos, pa.timestamp("ns", tz=zone))}), path)
        assert _import_orders(path, tmp_path / "w.duckdb") == 0
    expected = [
        datetime(2024, 2, 29, 23, 59, 59, 999999),
        datetime(2024, 12, 31, 23, 59, 59, 999999),
        datetime(1969, 12, 31, 23, 59, 59, 999999),
        datetime(2024, 3, 1),
    ]
    rows = _query(tmp_path / "w.duckdb", "select order_id, ordered_at from raw.orders order by 1")
    assert rows == [(f"UTC{n}", at) for n, at in enumerate(expected, 1)] + [
        (f"naive{n}", at) for n, at in enumerate(expected, 1)
    ]


def test_a_whole_float_id_with_a_default_is_the_same_id_and_nan_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": [17850.0, None, float("nan")],
            "ordered_at": pd.to_datetime(["2024-01-01"] * 3),
            "amount": [1.0, 2.0, 3.0],
        }
    ).to_parquet(path)
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(path, warehouse, "--default", "customer_id=guest") == 0
    assert _query(warehouse, "select order_id, customer_id from raw.orders order by 1") == [
        ("o1", "17850"),
        ("o2", "guest"),
        ("o3", "guest"),  # pandas writes NaN for a missing float: no value, so the default
    ]


def test_a_nan_or_infinite_float_id_without_a_default_is_a_missing_required_value(tmp_path: Path) -> None:
    # A float id column holds NaN where an id is missing (Polars and Spark write it so; pandas writes a
    # null): NaN and infinities loaded as a NULL customer_id, past rule 1, failing every dbt build after
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "orders.parquet"
    table = {
        "order_id": ["o1", "o2", "o3"],
        "customer_id": pa.array([17850.0, float("nan"), float("inf")]),
        "ordered_at": [datetime(2024, 1, 1)] * 3,
        "amount": [1.0, 2.0, 3.0],
    }
    pq.write_table(pa.table(table), path)
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(path, warehouse) == 0
    assert _query(warehouse, "select order_id, customer_id from raw.orders order by 1") == [("o1", "17850")]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (2, "missing customer_id"),
        (3, "missing customer_id"),
    ]


def test_a_list_column_fails_the_file_with_the_type_sentence(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "orders.parquet"
    table = {"order_id": ["o1"], "customer_id": ["c1"], "amount": [1.0]}
    pq.write_table(pa.table({**table, "ordered_at": pa.array([[datetime(2024, 1, 1)]])}), path)
    message = r"column 'ordered_at' is TIMESTAMP\[\], which cannot become ordered_at"
    with pytest.raises(SystemExit, match=message):
        _import_orders(path, tmp_path / "w.duckdb")


def test_numbers_with_digit_separators_are_not_numbers(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,1_000\no2,c1,2024-01-01,1000\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    assert _query(warehouse, "select order_id, amount from raw.orders") == [("o2", 1000.0)]
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [(1, "non-numeric amount")]


def test_a_parquet_column_of_only_nulls_is_missing_not_a_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pd.DataFrame(  # pandas writes an object column of only None with Parquet's null type
        {
            "order_id": ["o1", "o2"],
            "customer_id": ["c1", "c2"],
            "ordered_at": pd.to_datetime(["2024-01-01"] * 2),
            "amount": [1.0, 2.0],
            "discount_amount": [None, None],
            "sales_channel": [None, None],
        }
    ).to_parquet(path)
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(path, warehouse, "--default", "sales_channel=web") == 0
    query = "select order_id, discount_amount, sales_channel from raw.orders order by 1"
    assert _query(warehouse, query) == [
        ("o1", None, "web"),
        ("o2", None, "web"),
    ]
    required = tmp_path / "orders_without_customers.parquet"
    pd.DataFrame(
        {"order_id": ["o3"], "customer_id": [None], "ordered_at": ["2024-01-01"], "amount": [1.0]}
    ).to_parquet(required)
    message = "column 'customer_id' is empty in every row, and raw.orders.customer_id is required"
    with pytest.raises(SystemExit, match=message):
        _import_orders(required, warehouse)


def test_a_parquet_date_beyond_the_timestamp_range_is_an_unparsable_row_not_a_crash(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "orders.parquet"
    days = pa.array([19_723, 200_000_000], type=pa.date32())  # 2024-01-01, and a day in the year 549,551
    table = {"order_id": ["o1", "o2"], "customer_id": ["c1", "c1"], "amount": [1.0, 2.0]}
    pq.write_table(pa.table({**table, "ordered_at": days}), path)
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(path, warehouse) == 0
    assert _query(warehouse, "select order_id, ordered_at from raw.orders") == [("o1", datetime(2024, 1, 1))]
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [
        (2, "unparsable date in ordered_at")
    ]


def test_infinite_timestamps_are_unparsable_not_loaded(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"  # PostgreSQL's COPY writes its unbounded timestamps so
    export.write_text(
        "order_id,customer_id,ordered_at,amount\no1,c1,-infinity,1\no2,c1,infinity,1\no3,c1,2024-01-01,1\n"
        "o4,c1,epoch,1\n"  # DuckDB's word for 1970-01-01, an order no shop placed
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    assert _query(warehouse, "select order_id, ordered_at from raw.orders") == [("o3", datetime(2024, 1, 1))]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (1, "unparsable date in ordered_at"),
        (2, "unparsable date in ordered_at"),
        (4, "unparsable date in ordered_at"),
    ]


def test_a_two_digit_year_does_not_parse_as_percent_capital_y_but_does_with_a_later_y_format(
    tmp_path: Path,
) -> None:
    # DuckDB's %Y reads 24 as the year 24: one such order put every monthly cutoff in the years 25-125
    export = tmp_path / "orders.csv"
    export.write_text(
        "OrderNo,Client,Date,Total\n"
        "A1,c1,01/03/2024 10:00,1\nA2,c1,02/03/24 10:00,1\nA3,c1,03/03/0024 10:00,1\n"
    )
    warehouse = tmp_path / "w.duckdb"
    mapped = ["--map", "order_id=OrderNo", "--map", "customer_id=Client", "--map", "ordered_at=Date"]
    mapped += ["--map", "amount=Total"]
    assert _import_orders(export, warehouse, *mapped, "--date-format", "%d/%m/%Y %H:%M") == 0
    assert _query(warehouse, "select order_id, ordered_at from raw.orders") == [
        ("A1", datetime(2024, 3, 1, 10))
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (2, "unparsable date in ordered_at"),
        (3, "unparsable date in ordered_at"),
    ]
    mapping = tmp_path / "orders.yaml"
    mapping.write_text(
        "table: orders\ncolumns: {order_id: OrderNo, customer_id: Client, ordered_at: Date, amount: Total}\n"
        "date_format: ['%d/%m/%Y %H:%M', '%d/%m/%y %H:%M']\n"
    )
    assert (
        import_main(["--mapping", str(mapping), "--reload", str(export), "--warehouse", str(warehouse)]) == 0
    )
    assert _query(warehouse, "select order_id, ordered_at from raw.orders order by 1") == [
        ("A1", datetime(2024, 3, 1, 10)),
        ("A2", datetime(2024, 3, 2, 10)),
    ]


def test_a_parquet_uuid_key_is_its_text(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    con = duckdb.connect()
    con.execute(
        "copy (select '0f8fad5b-d9cb-469f-a165-70867728950e'::uuid as order_id, uuid() as customer_id, "
        "date '2024-01-01' as ordered_at, 1.0 as amount) to ? (format parquet)",
        [str(path)],
    )
    con.close()
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(path, warehouse) == 0  # it failed: "column 'order_id' is UUID, which cannot become"
    assert _query(warehouse, "select order_id, length(customer_id) from raw.orders") == [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", 36)
    ]


def test_a_whole_float_id_of_sixteen_digits_is_its_digits(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    ids = [1_234_567_890_123_456.0, 9_007_199_254_740_992.0, 12_345_678_901_234_567_890.0]
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ids,  # doubles hold whole numbers exactly up to 2**53 = 9,007,199,254,740,992
            "ordered_at": pd.to_datetime(["2024-01-01"] * 3),
            "amount": [1.0, 2.0, 3.0],
        }
    ).to_parquet(path)
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(path, warehouse) == 0
    assert _query(warehouse, "select customer_id from raw.orders order by order_id") == [
        ("1234567890123456",),  # was '1234567890123456.0': another customer than the CSV's 1234567890123456
        ("9007199254740992",),
        ("1.2345678901234567e+19",),  # beyond 2**53 the double lost the id's last digits: not made up
    ]


def test_reload_gives_the_rows_rejected_before_another_chance_and_rejects_the_loaded_ones(
    tmp_path: Path, capsys
) -> None:
    # order lines delivered before their order were stuck: the same file was skipped by its hash for good
    warehouse = tmp_path / "w.duckdb"
    (tmp_path / "orders_1.csv").write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,5\n")
    (tmp_path / "orders_2.csv").write_text("order_id,customer_id,ordered_at,amount\no3,c1,2024-01-03,7\n")
    lines = tmp_path / "order_items.csv"
    lines.write_text("order_id,line_number,product_id,quantity,unit_price\no1,1,p1,1,5\no3,1,p2,1,7\n")

    def load_lines(*extra: str) -> str:
        import_main(["--table", "order_items", str(lines), "--warehouse", str(warehouse), *extra])
        return capsys.readouterr().out

    _import_orders(tmp_path / "orders_1.csv", warehouse)
    load_lines()
    _import_orders(tmp_path / "orders_2.csv", warehouse)  # o3 arrives a day late
    assert "skipped (already loaded; cvw import --reload loads it again)" in load_lines()
    assert "2 read = 1 rows loaded + 1 rejected" in load_lines("--reload")
    assert _query(warehouse, "select order_id from raw.order_items order by 1") == [("o1",), ("o3",)]
    assert _query(
        warehouse,
        "select row_number, reason from raw._rejects where table_name = 'order_items' order by rejected_at",
    ) == [(2, "order line of an unknown order"), (1, "duplicate of a row already loaded")]
    assert _query(
        warehouse,
        "select rows_read, rows_loaded, rows_rejected from raw._file_loads where table_name = 'order_items' "
        "order by loaded_at",
    ) == [(2, 1, 1), (2, 1, 1)]


def test_text_dates_without_a_four_digit_year_are_unparsable_and_iso_follows_the_formats(
    tmp_path: Path,
) -> None:
    # DuckDB's ISO cast read '2/3/24' as the year 2 and '24-03-02' as the year 24: loaded without a word
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        "o1,c1,2/3/24,1\no2,c1,24-03-02,1\no3,c1,2024-03-02 10:00,1\no4,c1,02/03/2024,1\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    assert _query(warehouse, "select order_id, ordered_at from raw.orders") == [
        ("o3", datetime(2024, 3, 2, 10)),
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (1, "unparsable date in ordered_at"),
        (2, "unparsable date in ordered_at"),
        (4, "unparsable date in ordered_at"),
    ]
    # with a format, an ISO value still reads as ISO: the format first, then ISO 8601
    again = tmp_path / "w2.duckdb"
    assert _import_orders(export, again, "--date-format", "%d/%m/%Y") == 0
    assert _query(again, "select order_id, ordered_at from raw.orders order by 1") == [
        ("o3", datetime(2024, 3, 2, 10)),
        ("o4", datetime(2024, 3, 2)),
    ]


def test_a_file_with_glob_characters_in_its_name_is_that_file(tmp_path: Path) -> None:
    # it was taken for a pattern: "No file matches '.../orders[2024].csv': check the pattern."
    for name in ("orders[2024].csv", "orders2.csv"):
        (tmp_path / name).write_text("order_id\n")
    assert expand([str(tmp_path / "orders[2024].csv")]) == [tmp_path / "orders[2024].csv"]
    assert expand([str(tmp_path / "orders[0-9].csv")]) == [tmp_path / "orders2.csv"]


def test_a_folder_given_as_a_file_says_so_and_changes_nothing(tmp_path: Path) -> None:
    # it said "The file ... does not exist: check the path." of a folder that exists
    (tmp_path / "exports").mkdir()
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(SystemExit) as stop:
        _import_orders(tmp_path / "exports", warehouse)
    assert str(stop.value) == (
        f"{tmp_path}/exports is a folder, not a file: give the files in it (e.g. {tmp_path}/exports/*.csv)."
    )
    # the warehouse this first load created is removed with the load: an empty one left behind let the
    # next verbs start on it without a word
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exports"]


def test_numbers_with_a_decimal_comma_load_with_the_decimal_separator_and_a_point_is_then_no_number(
    tmp_path: Path,
) -> None:
    # a German shop's spreadsheet export: 12,50 is twelve and a half; 1.234,00 has a thousands separator,
    # which the contract has none of, and 12.50 in such a file is no number of its locale
    export = tmp_path / "bestellungen.csv"
    export.write_text(
        "order_id;customer_id;ordered_at;amount\n"
        "o1;c1;2024-01-01;12,50\no2;c1;2024-01-02;7\no3;c2;2024-01-03;1.234,00\no4;c2;2024-01-04;12.50\n"
        "o5;c2;2024-01-05;0,05\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse, "--decimal-separator", ",") == 0
    assert _query(warehouse, "select order_id, amount from raw.orders order by 1") == [
        ("o1", 12.5),
        ("o2", 7.0),
        ("o5", 0.05),
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (3, "non-numeric amount"),
        (4, "non-numeric amount"),
    ]


def test_a_yaml_decimal_separator_reads_whole_numbers_and_prices_of_order_lines(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,10\n")
    lines = tmp_path / "lines.csv"
    lines.write_text(
        "order_id;line_number;product_id;quantity;unit_price\no1;1;p1;2;3,99\no1;2;p2;3,0;1\no1;3;p3;2,5;1\n"
    )
    mapping = tmp_path / "lines.yaml"
    mapping.write_text("table: order_items\ndecimal_separator: ','\n")
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(orders, warehouse) == 0
    assert import_main(["--mapping", str(mapping), str(lines), "--warehouse", str(warehouse)]) == 0
    query = "select line_number, quantity, unit_price from raw.order_items order by 1"
    assert _query(warehouse, query) == [(1, 2, 3.99), (2, 3, 1.0)]
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [
        (3, "quantity is not a whole number")
    ]


def test_a_file_of_decimal_comma_amounts_without_the_separator_fails_whole_saying_how_to_load_it(
    tmp_path: Path,
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id;customer_id;ordered_at;amount\no1;c1;2024-01-01;12,50\no2;c1;2024-01-02;0,99\n"
    )
    warehouse = tmp_path / "w.duckdb"
    with pytest.raises(SystemExit) as failed:
        _import_orders(export, warehouse)
    assert str(failed.value).endswith(
        "(e.g. '0,99'): fix the column or the mapping (2 of its 2 values read as numbers with "
        "--decimal-separator ',')."
    )
    assert not warehouse.exists()


def test_a_file_that_fails_whole_is_told_the_options_that_read_all_its_numbers_not_one_of_them(
    tmp_path: Path,
) -> None:
    # its first value alone, 0,38, suggested the decimal comma; loaded so, the file then rejected every amount
    # grouped by points, and a second round of advice named the thousands separator
    export = tmp_path / "bestellungen.csv"
    export.write_text(
        "order_id;customer_id;ordered_at;amount\no1;c1;2024-01-01;0,38\no2;c1;2024-01-02;1.234,50\n"
        "o3;c2;2024-01-03;abc\n"
    )
    with pytest.raises(SystemExit) as failed:
        _import_orders(export, tmp_path / "w.duckdb")
    assert str(failed.value).endswith(
        "(e.g. '0,38'): fix the column or the mapping (2 of its 3 values read as numbers with "
        "--decimal-separator ',' --thousands-separator '.')."
    )


def test_a_decimal_separator_other_than_a_point_or_a_comma_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as error:
        build_mapping("orders", decimal_separator=";")
    assert (
        str(error.value)
        == "The decimal separator ';' is neither '.' (12.50) nor ',' (12,50): give one of them."
    )
    assert build_mapping("orders").decimal_separator == "."
    assert build_mapping("orders", base={"decimal_separator": ","}).decimal_separator == ","


def test_rows_rejected_for_a_decimal_comma_say_which_options_load_them_and_reload_does(
    tmp_path: Path, capsys
) -> None:
    # a comma locale's file read with a point: its whole numbers load, the rest were rejected as non-numeric
    # with nothing saying why. A decimal comma with points grouping the thousands reads three of them (1,234
    # as 1.234, as that locale writes it); 1.23,4 is no number of any way of writing them
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id;customer_id;ordered_at;amount\n"
        "o1;c1;2024-01-01;12,50\no2;c1;2024-01-02;7\no3;c2;2024-01-03;1.234,00\no4;c2;2024-01-04;1,234\n"
        "o5;c3;2024-01-05;1.23,4\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    printed = capsys.readouterr().out
    assert "5 read = 1 rows loaded + 4 rejected" in printed
    assert (
        "3 of the non-numeric rows hold numbers written like '1.234,00', which load with --decimal-separator "
        "',' --thousands-separator '.' (cvw import --reload gives them another chance)"
    ) in printed
    reload = ["--reload", "--decimal-separator", ",", "--thousands-separator", "."]
    assert _import_orders(export, warehouse, *reload) == 0
    printed = capsys.readouterr().out
    assert "5 read = 3 rows loaded + 2 rejected" in printed and "which load with" not in printed
    query = "select order_id, amount from raw.orders order by 1"
    assert _query(warehouse, query) == [("o1", 12.5), ("o2", 7.0), ("o3", 1234.0), ("o4", 1.234)]


def test_a_point_file_with_comma_thousands_is_told_the_thousands_separator(tmp_path: Path, capsys) -> None:
    # 1,234 reads as 1.234 with a decimal comma too; advice prefers the English reading, as the file's
    # 12.50 writes a decimal point
    export = tmp_path / "orders.csv"
    export.write_text(
        'order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,12.50\no2,c1,2024-01-02,"1,234"\n'
    )
    assert _import_orders(export, tmp_path / "w.duckdb") == 0
    printed = capsys.readouterr().out
    assert "1 rejected: non-numeric amount" in printed
    assert (
        "1 of the non-numeric rows hold numbers written like '1,234', which load with "
        "--thousands-separator ','"
    ) in printed


def test_numbers_with_thousands_separators_load_when_their_digits_are_grouped_by_three(
    tmp_path: Path,
) -> None:
    # an English export: commas group the thousands, and a group of any other length is no number of it
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        'o1,c1,2024-01-01,"1,234.50"\no2,c1,2024-01-02,"12,345,678"\no3,c2,2024-01-03,999.5\n'
        'o4,c2,2024-01-04,"-1,000"\no5,c2,2024-01-05,"1,23"\no6,c3,2024-01-06,"12,3456"\n'
        'o7,c3,2024-01-07,",123"\no8,c3,2024-01-08,"1234,567"\no9,c3,2024-01-09,"1,234,5"\n'
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse, "--thousands-separator", ",") == 0
    assert _query(warehouse, "select order_id, amount from raw.orders order by 1") == [
        ("o1", 1234.5),
        ("o2", 12345678.0),
        ("o3", 999.5),
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (4, "negative amount"),
        (5, "non-numeric amount"),
        (6, "non-numeric amount"),
        (7, "non-numeric amount"),
        (8, "non-numeric amount"),
        (9, "non-numeric amount"),
    ]


def test_a_yaml_number_format_of_spaces_and_a_decimal_comma_reads_prices_and_quantities(
    tmp_path: Path,
) -> None:
    # a French export: 1 234,50 with a narrow no-break space, as spreadsheets of that locale write it
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,10\n")
    lines = tmp_path / "lignes.csv"
    lines.write_text(
        "order_id;line_number;product_id;quantity;unit_price\n"
        "o1;1;p1;2;1\u202f234,50\no1;2;p2;1\u202f000;0,99\no1;3;p3;1;1 234,50\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "lignes.yaml"
    mapping.write_text('table: order_items\ndecimal_separator: ","\nthousands_separator: "\\u202f"\n')
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(orders, warehouse) == 0
    assert import_main(["--mapping", str(mapping), str(lines), "--warehouse", str(warehouse)]) == 0
    query = "select line_number, quantity, unit_price from raw.order_items order by 1"
    assert _query(warehouse, query) == [(1, 2, 1234.5), (2, 1000, 0.99)]
    # a plain space is another separator than the narrow no-break one
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [(3, "non-numeric unit_price")]


def test_a_thousands_separator_that_is_the_decimal_one_or_unknown_is_one_sentence() -> None:
    with pytest.raises(ValueError) as error:
        build_mapping("orders", decimal_separator=",", thousands_separator=",")
    assert str(error.value) == (
        "',' cannot be both the decimal and the thousands separator: a file writes 1,234.50 or 1.234,50 "
        "(--decimal-separator ',' --thousands-separator '.')."
    )
    with pytest.raises(ValueError) as error:
        build_mapping("orders", base={"thousands_separator": "x"})
    assert str(error.value) == (
        "The thousands separator 'x' is none of ',', '.', ' ', '\\xa0', '\\u202f', \"'\": "
        "give one of them, or none."
    )
    assert build_mapping("orders").thousands_separator is None
    assert build_mapping("orders", base={"thousands_separator": "'"}).number_format == NumberFormat(".", "'")


def test_amounts_with_a_currency_symbol_load_with_it_and_another_symbol_is_no_number(tmp_path: Path) -> None:
    # a spreadsheet whose cells are formatted as currency writes the symbol into its CSV export
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        'o1,c1,2024-01-01,"$1,234.50"\no2,c1,2024-01-02,$7.5\no3,c2,2024-01-03,12.5\no4,c2,2024-01-04,$ 9\n'
        "o5,c2,2024-01-05,9 $\no6,c3,2024-01-06,€3\no7,c3,2024-01-07,$$9\no8,c3,2024-01-08,-$5\n"
        "o9,c3,2024-01-09,$\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse, "--currency-symbol", "$", "--thousands-separator", ",") == 0
    assert _query(warehouse, "select order_id, amount from raw.orders order by 1") == [
        ("o1", 1234.5),
        ("o2", 7.5),
        ("o3", 12.5),
        ("o4", 9.0),
        ("o5", 9.0),
    ]
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (6, "non-numeric amount"),
        (7, "non-numeric amount"),
        (8, "negative amount"),  # -$5 is the number -5
        (9, "non-numeric amount"),
    ]


def test_a_yaml_currency_after_a_decimal_comma_and_the_advice_that_names_it(tmp_path: Path, capsys) -> None:
    # 1 234,50 € as a French spreadsheet writes it: narrow no-break spaces in the number and before the euro
    export = tmp_path / "commandes.csv"
    export.write_text(
        "order_id;customer_id;ordered_at;amount\n"
        "o1;c1;2024-01-01;1\u202f234,50\u00a0€\no2;c1;2024-01-02;7,5 €\no3;c2;2024-01-03;3\n"
        "o4;c2;2024-01-04;EUR 2\n",
        encoding="utf-8",
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    assert (
        "2 of the non-numeric rows hold numbers written like '1\\u202f234,50\\xa0€', which load with "
        "--decimal-separator ',' --thousands-separator $'\\u202f' --currency-symbol '€' (cvw import --reload "
        "gives them another chance)"
    ) in capsys.readouterr().out
    mapping = tmp_path / "commandes.yaml"
    mapping.write_text(
        'table: orders\ndecimal_separator: ","\nthousands_separator: "\\u202f"\ncurrency_symbol: "€"\n',
        encoding="utf-8",
    )
    assert (
        import_main(["--mapping", str(mapping), "--reload", str(export), "--warehouse", str(warehouse)]) == 0
    )
    assert _query(warehouse, "select order_id, amount from raw.orders order by 1") == [
        ("o1", 1234.5),
        ("o2", 7.5),
        ("o3", 3.0),
    ]


def test_a_currency_symbol_with_digits_signs_or_spaces_is_one_sentence() -> None:
    for symbol in ("1", "-", "$ ", "EURUSD"):
        with pytest.raises(ValueError) as error:
            build_mapping("orders", currency_symbol=symbol)
        assert str(error.value) == (
            f"The currency symbol {symbol!r} is not one to five characters without digits, signs or spaces: "
            "give it as the file writes it, e.g. '$', '€', 'EUR' or 'CHF'."
        )
    assert build_mapping("orders", base={"currency_symbol": "CHF"}).number_format == NumberFormat(
        currency="CHF"
    )


def test_a_failed_load_keeps_a_warehouse_it_did_not_create_as_it_was(tmp_path: Path) -> None:
    export = tmp_path / "orders.csv"
    export.write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,10\n")
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,customer_id,ordered_at,amount\no2,c1,2024-01-02,abc\n")
    with pytest.raises(SystemExit):
        _import_orders(bad, warehouse)
    assert _query(warehouse, "select order_id, amount from raw.orders") == [("o1", 10.0)]


def test_a_dry_run_shows_the_rows_as_they_would_load_and_leaves_no_warehouse(tmp_path: Path, capsys) -> None:
    # a day-first export read month-first: the count alone says most rows fail, the rows say why the others
    # loaded on the wrong day (2 December, not 12 February)
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id;customer_id;ordered_at;amount;note\n"
        "o1;c1;12.02.2024 10:00;1.234,50;a\no2;c1;13.02.2024 11:00;7;b\no3;c2;01.03.2024 09:30;0,5;c\n"
    )
    warehouse = tmp_path / "data" / "w.duckdb"
    options = ["--date-format", "%m.%d.%Y %H:%M", "--decimal-separator", ",", "--thousands-separator", "."]
    assert _import_orders(export, warehouse, *options, "--dry-run") == 0
    assert capsys.readouterr().out == (
        f"{'orders.csv':<40} -> {'orders':<24} 3 read = 2 rows loaded + 1 rejected\n"
        f"{'':<44}           1 rejected: unparsable date in ordered_at\n"
        f"{'':<44}1 of the rows with an unparsable date read as dates with --date-format '%d.%m.%Y %H:%M', "
        "which reads day and month the other way round from '%m.%d.%Y %H:%M': the rows this load took with "
        "it are likely on wrong dates (see them with --dry-run; cvw import --reload --allow-updates with the "
        "right format replaces them)\n"
        f"{'':<44}the first rows as they would load:\n"
        f"{'':<44}order_id customer_id          ordered_at  amount\n"
        f"{'':<44}      o1          c1 2024-12-02 10:00:00  1234.5\n"
        f"{'':<44}      o3          c2 2024-01-03 09:30:00     0.5\n"
        f"dry run: rolled back, nothing was loaded into {warehouse}\n"
    )
    assert not warehouse.exists()


def test_a_dry_run_on_a_warehouse_changes_nothing_and_a_load_after_it_is_not_skipped(
    tmp_path: Path, capsys
) -> None:
    first = tmp_path / "orders.csv"
    first.write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,10\n")
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(first, warehouse) == 0
    counts = (
        "select (select count(*) from raw.orders), (select count(*) from raw._rejects), "
        "(select count(*) from raw._file_loads)"
    )
    before = _query(warehouse, counts)
    second = tmp_path / "more.csv"
    second.write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,10\no2,c2,2024-01-02,5\n")
    capsys.readouterr()
    assert _import_orders(second, warehouse, "--dry-run") == 0
    printed = capsys.readouterr().out
    # checked against what the warehouse holds: o1 is a duplicate, as a load would find
    assert "2 read = 1 rows loaded + 1 rejected" in printed and "rejected: duplicate" in printed
    assert _query(warehouse, counts) == before
    assert _import_orders(second, warehouse) == 0
    assert "2 read = 1 rows loaded + 1 rejected" in capsys.readouterr().out
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [("o1",), ("o2",)]


def test_dates_no_given_format_reads_are_told_the_common_format_that_reads_the_most(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "w.duckdb"
    german = tmp_path / "bestellungen.csv"
    german.write_text("order_id,customer_id,ordered_at,amount\no1,c1,13.02.2024 10:00:05,5\no2,c1,x,6\n")
    with pytest.raises(SystemExit) as failed:
        _import_orders(german, warehouse)
    assert str(failed.value).endswith(
        "(1 of its 2 values read as dates with --date-format '%d.%m.%Y %H:%M:%S')."
    )
    american = tmp_path / "orders.csv"
    american.write_text(
        "order_id,customer_id,ordered_at,amount\no1,c1,1/2/24 3:04 PM,5\no2,c1,2/13/24 3:04 PM,6\n"
    )
    with pytest.raises(SystemExit) as failed:
        _import_orders(american, warehouse)
    assert str(failed.value).endswith(
        "(2 of its 2 values read as dates with --date-format '%m/%d/%y %I:%M %p')."
    )
    assert not warehouse.exists()


def test_a_format_with_day_and_month_swapped_is_named_and_its_rows_replaced_by_a_reload(
    tmp_path: Path, capsys
) -> None:
    # read month-first, a day-first export loads its days up to the 12th on wrong dates and rejects the rest
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        "o1,c1,01/02/2024 10:00,5\no2,c1,25/04/2024 11:00,6\no3,c2,03/12/2024 09:00,7\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse, "--date-format", "%m/%d/%Y %H:%M") == 0
    assert (
        "1 of the rows with an unparsable date read as dates with --date-format '%d/%m/%Y %H:%M', which "
        "reads day and month the other way round from '%m/%d/%Y %H:%M': the rows this load took with it are "
        "likely on wrong dates (see them with --dry-run; cvw import --reload --allow-updates with the right "
        "format replaces them)"
    ) in capsys.readouterr().out
    fixed = ["--date-format", "%d/%m/%Y %H:%M", "--reload", "--allow-updates"]
    assert _import_orders(export, warehouse, *fixed) == 0
    assert "unparsable" not in capsys.readouterr().out
    current = "select order_id, ordered_at from raw.orders where _replaced_at is null order by 1"
    assert _query(warehouse, current) == [
        ("o1", datetime(2024, 2, 1, 10)),
        ("o2", datetime(2024, 4, 25, 11)),
        ("o3", datetime(2024, 12, 3, 9)),
    ]


def test_guest_checkouts_are_rejected_and_counted_and_their_lines_are_lines_of_a_rejected_order(
    tmp_path: Path,
) -> None:
    # Online Retail II's second file writes CustomerID 0.0 for a guest checkout; another shop writes GUEST
    orders = tmp_path / "orders.parquet"
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4"],
            "customer_id": [17850.0, 0.0, 0.0, 13047.0],
            "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
            "amount": [10.0, 20.0, 30.0, 40.0],
        }
    ).to_parquet(orders)
    more = tmp_path / "orders.csv"
    more.write_text(
        "order_id,customer_id,ordered_at,amount\no5, GUEST ,2024-01-05,5\no6,guest,2024-01-06,6\n"
    )
    warehouse = tmp_path / "w.duckdb"
    guests = ["--guest-customer", "0", "--guest-customer", "GUEST"]
    assert (
        import_main(["--table", "orders", str(orders), str(more), "--warehouse", str(warehouse), *guests])
        == 0
    )
    lines = tmp_path / "order_items.csv"
    lines.write_text("order_id,line_number,product_id,quantity,unit_price\no1,1,p1,1,10\no2,1,p1,2,10\n")
    assert import_main(["--table", "order_items", str(lines), "--warehouse", str(warehouse)]) == 0
    assert _query(warehouse, "select order_id, customer_id from raw.orders order by 1") == [
        ("o1", "17850"),
        ("o4", "13047"),
        ("o6", "guest"),  # ids compare as written: `guest` is another customer than `GUEST`
    ]
    assert _query(warehouse, "select file_name, row_number, reason from raw._rejects order by 1, 2") == [
        ("order_items.csv", 2, "order line of a rejected order"),  # o2, a guest checkout
        ("orders.csv", 1, "guest checkout: customer_id 'GUEST' (--guest-customer)"),
        ("orders.parquet", 2, "guest checkout: customer_id '0' (--guest-customer)"),
        ("orders.parquet", 3, "guest checkout: customer_id '0' (--guest-customer)"),
    ]
    query = "select file_name, rows_read, rows_loaded, rows_rejected from raw._file_loads order by 1"
    assert _query(warehouse, query) == [
        ("order_items.csv", 2, 1, 1),
        ("orders.csv", 2, 1, 1),
        ("orders.parquet", 4, 2, 2),
    ]


def test_a_customer_id_that_reads_as_a_guest_is_told_the_option_that_keeps_it_out(
    tmp_path: Path, capsys
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(
        "order_id,customer_id,ordered_at,amount\n"
        "o1,0,2024-01-01,1\no2,c1,2024-01-02,2\no3,0,2024-01-03,3\no4,N/A,2024-01-04,4\no5,10,2024-01-05,5\n"
    )
    warehouse = tmp_path / "w.duckdb"
    assert _import_orders(export, warehouse, "--dry-run") == 0
    said = capsys.readouterr().out.splitlines()
    assert [line.strip() for line in said[1:3]] == [
        "customer_id '0' has 2 orders: it reads as no customer (a guest checkout); if it is one, "
        "--guest-customer '0' keeps such rows out of the customer marts (rejected as guest checkouts, "
        "counted; rows loaded stay loaded: try it with --dry-run first)",
        "customer_id 'N/A' has 1 order: it reads as no customer (a guest checkout); if it is one, "
        "--guest-customer 'N/A' keeps such rows out of the customer marts (rejected as guest checkouts, "
        "counted; rows loaded stay loaded: try it with --dry-run first)",
    ]
    assert _import_orders(export, warehouse, "--guest-customer", "0", "--guest-customer", "N/A") == 0
    said = capsys.readouterr().out
    assert "reads as no customer" not in said
    assert "5 read = 2 rows loaded + 3 rejected" in said


def test_a_guests_events_load_as_an_anonymous_visitors_from_a_yaml_list(tmp_path: Path, capsys) -> None:
    export = tmp_path / "events.csv"
    export.write_text(
        "event_id,visitor,session_id,event_type,event_at\n"
        "e1,0,s1,page_view,2024-01-01 10:00\ne2,-1,s1,page_view,2024-01-01 10:01\n"
        "e3,17850,s2,page_view,2024-01-02 10:00\n"
    )
    mapping = tmp_path / "events.yaml"
    mapping.write_text("table: events\ncolumns: {customer_id: visitor}\nguest_customer: [0, '-1']\n")
    warehouse = tmp_path / "w.duckdb"
    assert import_main(["--mapping", str(mapping), str(export), "--warehouse", str(warehouse)]) == 0
    assert "2 events of a guest customer_id loaded as an anonymous visitor's" in capsys.readouterr().out
    assert _query(warehouse, "select event_id, customer_id from raw.events order by 1") == [
        ("e1", None),
        ("e2", None),
        ("e3", "17850"),
    ]


def test_a_guest_customer_for_a_table_without_customers_or_without_a_value_is_one_sentence() -> None:
    with pytest.raises(ValueError) as error:
        build_mapping("products", guest_customers=["0"])
    assert str(error.value) == (
        "raw.products has no customer_id, so a guest customer id means nothing to it: give it when importing "
        "customers, orders, events."
    )
    for given in (None, "", [True], {"id": 0}):
        with pytest.raises(ValueError, match="^guest_customer must be a customer id, or a list of them"):
            build_mapping(
                "orders", base={"guest_customer": [given] if not isinstance(given, list) else given}
            )
    assert build_mapping("customers", base={"guest_customer": 0.0}).guest_customers == ("0",)

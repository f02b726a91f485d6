"""Raw loads: exact counts, idempotent re-runs, incremental appends and all-or-nothing failures."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.importer import main as import_main
from include.ingest import load_landing, main, table_of
from include.raw_schema import (
    FILE_LOAD_COLUMNS,
    KEYS,
    LINEAGE_COLUMNS,
    RAW_TABLES,
    REJECT_COLUMNS,
    column_names,
)
from include.settings import REPO_ROOT
from include.synthetic import write_shop
from include.warehouse import connect, has_table, transaction


@pytest.fixture()
def landing(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Return a landing directory holding a 200-customer shop, and its rows per table."""
    directory = tmp_path / "landing"
    return directory, write_shop(directory, customers=200, seed=11)


def _counts(warehouse: Path) -> dict[str, int]:
    """Return the rows of every raw table and of the ground truth."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in RAW_TABLES}
        counts["ground_truth"] = con.execute("select count(*) from synthetic.ground_truth").fetchone()[0]
        return counts
    finally:
        con.close()


def test_first_load_brings_every_row_with_lineage(landing, tmp_path: Path) -> None:
    directory, written = landing
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    loads = load_landing(directory, warehouse)
    assert [(load.file, load.table, load.skipped) for load in loads] == [
        ("customers.parquet", "customers", False),
        ("products.parquet", "products", False),
        ("orders.parquet", "orders", False),
        ("order_items.parquet", "order_items", False),
        ("events.parquet", "events", False),
        ("ground_truth.parquet", "synthetic.ground_truth", False),
    ]
    assert {load.file.removesuffix(".parquet"): load.rows_loaded for load in loads} == written
    assert _counts(warehouse) == written
    con = duckdb.connect(str(warehouse), read_only=True)
    columns = [row[0] for row in con.execute("describe raw.orders").fetchall()]
    sources = con.execute("select distinct _source_file from raw.orders").fetchall()
    logged = con.execute("select file_name, rows_loaded from raw._file_loads order by file_name").fetchall()
    con.close()
    assert columns == [*column_names("orders"), "_source_file", "_loaded_at", "_replaced_at"]
    assert sources == [("orders.parquet",)]
    assert dict(logged) == {f"{table}.parquet": rows for table, rows in written.items()}


def test_loading_again_skips_everything(landing, tmp_path: Path) -> None:
    directory, written = landing
    warehouse = tmp_path / "warehouse.duckdb"
    first = load_landing(directory, warehouse)
    second = load_landing(directory, warehouse)
    assert all(load.skipped and load.rows_loaded == 0 for load in second)
    assert [load.sha256 for load in second] == [load.sha256 for load in first]
    assert _counts(warehouse) == written


def test_a_new_file_appends_only_its_rows(landing, tmp_path: Path) -> None:
    directory, written = landing
    warehouse = tmp_path / "warehouse.duckdb"
    load_landing(directory, warehouse)
    extra = pd.read_parquet(directory / "orders.parquet").head(7)
    extra["order_id"] = [f"X{i:09d}" for i in range(7)]
    extra.to_parquet(directory / "orders_2.parquet", index=False)
    loads = load_landing(directory, warehouse)
    assert [(load.file, load.rows_loaded) for load in loads if not load.skipped] == [("orders_2.parquet", 7)]
    assert _counts(warehouse) == {**written, "orders": written["orders"] + 7}
    con = duckdb.connect(str(warehouse), read_only=True)
    query = "select count(*) from raw.orders where _source_file = ?"
    added = con.execute(query, ["orders_2.parquet"]).fetchone()[0]
    con.close()
    assert added == 7


def test_a_file_missing_a_required_column_changes_nothing(landing, tmp_path: Path) -> None:
    directory, written = landing
    warehouse = tmp_path / "warehouse.duckdb"
    load_landing(directory, warehouse)
    # a valid new customers file is loaded before the bad orders file, and must be rolled back with it
    new_customers = pd.read_parquet(directory / "customers.parquet").head(3)
    new_customers.assign(customer_id=["N1", "N2", "N3"]).to_parquet(directory / "customers_2.parquet")
    no_amount = pd.read_parquet(directory / "orders.parquet").drop(columns="amount")
    no_amount.to_parquet(directory / "orders_bad.parquet")
    with pytest.raises(ValueError, match="orders_bad.parquet lacks the required column amount"):
        load_landing(directory, warehouse)
    assert _counts(warehouse) == written
    (directory / "orders_bad.parquet").unlink()
    assert [load.rows_loaded for load in load_landing(directory, warehouse) if not load.skipped] == [3]


def test_optional_columns_may_be_missing_and_csv_keeps_text_ids(tmp_path: Path) -> None:
    directory = tmp_path / "landing"
    directory.mkdir()
    csv = "customer_id,country,signed_up_at\n007,GB,2024-02-03 10:00:00\n"
    (directory / "customers_crm.csv").write_text(csv)
    (directory / "notes.txt").write_text("not a landing file")
    warehouse = tmp_path / "warehouse.duckdb"
    assert [(load.file, load.rows_loaded) for load in load_landing(directory, warehouse)] == [
        ("customers_crm.csv", 1)
    ]
    con = duckdb.connect(str(warehouse), read_only=True)
    query = "select customer_id, signed_up_at, country, region, age_band from raw.customers"
    row = con.execute(query).fetchone()
    con.close()
    assert row == ("007", pd.Timestamp("2024-02-03 10:00:00").to_pydatetime(), "GB", None, None)


def test_ground_truth_is_replaced_by_new_content(landing, tmp_path: Path) -> None:
    directory, _ = landing
    warehouse = tmp_path / "warehouse.duckdb"
    load_landing(directory, warehouse)
    truth = pd.read_parquet(directory / "ground_truth.parquet")
    truth.head(5).to_parquet(directory / "ground_truth.parquet", index=False)
    loads = {load.file: load for load in load_landing(directory, warehouse)}
    assert loads["ground_truth.parquet"].rows_loaded == 5
    assert _counts(warehouse)["ground_truth"] == 5


def test_files_map_to_the_longest_matching_table() -> None:
    assert table_of("orders_2024-06.parquet") == "orders"
    assert table_of("order_items.parquet") == "order_items"
    assert table_of("order_items_2.csv") == "order_items"
    assert table_of("ground_truth.parquet") == "synthetic.ground_truth"
    assert table_of("orders.json") is None
    assert table_of(".orders.parquet.partial") is None
    assert table_of("orders_2024-06.CSV") == "orders"  # a suffix in capitals, as Windows tools write it
    # the whole name in capitals, as docs/data-contract.md's ORDERS.CSV: it was ignored without a word
    assert table_of("ORDERS.CSV") == "orders"
    assert table_of("Order_Items_2024.csv.GZ") == "order_items"
    assert table_of("GROUND_TRUTH.parquet") == "synthetic.ground_truth"
    assert table_of("ORDERS.JSON") is None


def test_cli_reports_each_file_and_a_missing_landing_directory(landing, tmp_path: Path, capsys) -> None:
    directory, written = landing
    assert main(["--landing", str(directory), "--warehouse", str(tmp_path / "w.duckdb")]) == 0
    assert f"{written['events']:,} rows loaded" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="landing directory .* does not exist"):
        main(["--landing", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb")])


def test_cli_names_the_command_that_reloads_a_skipped_file(tmp_path: Path, capsys) -> None:
    # it said "--reload loads it again", a flag `cvw ingest` does not have
    directory, warehouse = _orders_csv(
        tmp_path, ["order_id,customer_id,ordered_at,amount", "o1,c1,2024-01-02,5"]
    )
    main(["--landing", str(directory), "--warehouse", str(warehouse)])
    capsys.readouterr()
    assert main(["--landing", str(directory), "--warehouse", str(warehouse)]) == 0
    skipped = "skipped (already loaded; cvw import --reload loads it again)"
    assert capsys.readouterr().out == f"{'orders.csv':<40} -> {'orders':<24} {skipped}\n"
    with pytest.raises(SystemExit):  # the flag is cvw import's
        main(["--reload", "--landing", str(directory), "--warehouse", str(warehouse)])


def test_a_ground_truth_file_loaded_before_is_skipped_without_advising_a_reload(
    tmp_path: Path, capsys
) -> None:
    # it said "cvw import --reload loads it again" of synthetic.ground_truth, a table cvw import refuses
    directory = tmp_path / "landing"
    directory.mkdir()
    pd.DataFrame({"customer_id": ["c1"], "is_alive": [True]}).to_parquet(directory / "ground_truth.parquet")
    warehouse = tmp_path / "w.duckdb"
    main(["--landing", str(directory), "--warehouse", str(warehouse)])
    capsys.readouterr()
    assert main(["--landing", str(directory), "--warehouse", str(warehouse)]) == 0
    skipped = "skipped (already loaded: a file of new content replaces the table)"
    assert (
        capsys.readouterr().out
        == f"{'ground_truth.parquet':<40} -> {'synthetic.ground_truth':<24} {skipped}\n"
    )


@pytest.mark.parametrize("read_only", [True, False])
def test_a_connection_to_a_missing_warehouse_says_what_to_do_and_creates_none(
    tmp_path: Path, read_only: bool
) -> None:
    with pytest.raises(SystemExit, match="does not exist: load it first"):
        connect(tmp_path / "data" / "missing.duckdb", read_only=read_only)
    assert not (tmp_path / "data").exists()  # only a load (create=True) makes the warehouse and its folder


def test_a_new_warehouse_under_a_file_stops_with_a_sentence_naming_the_file(tmp_path: Path) -> None:
    # `cvw import --warehouse notes.txt/warehouse.duckdb`: the load made the folder and met a FileExistsError
    in_the_way = tmp_path / "notes.txt"
    in_the_way.write_text("kept")
    warehouse = in_the_way / "shop" / "warehouse.duckdb"
    with pytest.raises(SystemExit) as refused:
        connect(warehouse, create=True)
    assert str(refused.value) == (
        f"Cannot create the warehouse {warehouse}: {in_the_way} is a file, not a folder. Give --warehouse "
        "(or CVW_WAREHOUSE) a path in a folder you can write."
    )
    assert in_the_way.read_text() == "kept"


@pytest.mark.parametrize("read_only", [True, False])
def test_a_warehouse_path_that_is_a_data_file_or_a_folder_stops_and_changes_nothing(
    tmp_path: Path, read_only: bool
) -> None:
    # DuckDB opened orders.csv as an in-memory database viewing it: a load "succeeded" and kept nothing
    data = tmp_path / "orders.csv"
    data.write_text("order_id,customer_id\n1,c1\n")
    empty = tmp_path / "empty.duckdb"
    empty.touch()
    for path in (data, empty):
        with pytest.raises(SystemExit) as stopped:
            connect(path, read_only=read_only, create=True)
        assert str(stopped.value) == (
            f"The warehouse {path} is not a DuckDB database file (a data file? DuckDB would read it as an "
            "in-memory database and lose every write): set CVW_WAREHOUSE to the warehouse's .duckdb file."
        )
    assert data.read_text() == "order_id,customer_id\n1,c1\n" and empty.stat().st_size == 0
    with pytest.raises(SystemExit) as stopped:
        connect(tmp_path, read_only=read_only)
    assert str(stopped.value) == (
        f"The warehouse {tmp_path} is a folder: set CVW_WAREHOUSE to a DuckDB file, such as "
        f"{tmp_path / 'warehouse.duckdb'}."
    )
    assert sorted(item.name for item in tmp_path.iterdir()) == ["empty.duckdb", "orders.csv"]


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    con = connect(tmp_path / "sub" / "w.duckdb", create=True)
    con.execute("create table t (x integer)")
    with pytest.raises(RuntimeError), transaction(con):
        con.execute("insert into t values (1)")
        raise RuntimeError("boom")
    with transaction(con):
        con.execute("insert into t values (2)")
    assert con.execute("select x from t").fetchall() == [(2,)]
    con.close()


def test_has_table_finds_tables_and_views_as_asked_and_nothing_missing(tmp_path: Path) -> None:
    con = connect(tmp_path / "w.duckdb", create=True)
    con.execute("create schema scores")
    con.execute("create table scores.customer_scores (x integer)")
    con.execute("create view scores.latest as select * from scores.customer_scores")
    assert has_table(con, "scores", "customer_scores")
    assert has_table(con, "scores", "latest")  # monitoring and the benchmarks count views
    assert not has_table(con, "scores", "latest", views=False)  # publish and scoring count tables only
    assert not has_table(con, "scores", "missing")
    assert not has_table(con, "marts", "customer_scores")
    assert not has_table(con, "scores", "Customer_Scores")  # names match exactly
    con.close()
    reader = duckdb.connect()
    reader.execute("attach ? as warehouse (read_only)", [str(tmp_path / "w.duckdb")])
    assert has_table(reader, "scores", "customer_scores", database="warehouse", views=False)
    assert not has_table(reader, "scores", "customer_scores", database="scratch")
    reader.close()


def test_landing_files_are_validated_like_imports(tmp_path: Path) -> None:
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount\nO1,C1,2024-01-01,5\nO2,C1,2024-13-01,5\nO1,C1,2024-01-02,6\n"
    )
    (load,) = load_landing(directory, tmp_path / "w.duckdb")
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 1, 2)
    assert load.rejects == {"duplicate key within the file": 1, "unparsable date in ordered_at": 1}


def test_a_warehouse_of_the_older_loader_gains_the_new_log_columns(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema raw")
    con.execute(
        "create table raw._file_loads (file_name varchar, table_name varchar, sha256 varchar, "
        "rows_loaded bigint, loaded_at timestamp)"
    )
    con.execute("insert into raw._file_loads values ('old.parquet', 'orders', 'abc', 3, '2024-01-01')")
    con.close()
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_text("order_id,customer_id,ordered_at,amount\nO1,C1,2024-01-01,5\n")
    load_landing(directory, warehouse)
    rows = _query(
        warehouse,
        "select file_name, rows_loaded, rows_read, rows_rejected from raw._file_loads order by loaded_at",
    )
    assert rows == [("old.parquet", 3, None, None), ("orders.csv", 1, 1, 0)]


def _doc_tables(text: str) -> dict[str, tuple[str, list[tuple[str, str, bool, str]]]]:
    """Return {heading: (its Key line, [(column, type, required, meaning)])} of the doc's column tables."""
    tables: dict[str, tuple[str, list[tuple[str, str, bool, str]]]] = {}
    heading = None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = None
        elif line.startswith("### "):
            heading, tables[line[4:]] = line[4:], ("", [])
        elif heading and line.startswith("Key: "):
            tables[heading] = (line, tables[heading][1])
        elif heading and line.startswith("| `"):
            name, sql_type, required, meaning = (cell.strip() for cell in line.strip("|").split(" | "))
            tables[heading][1].append((name.strip("`"), sql_type, required == "yes", meaning))
    return tables


def _query(warehouse: Path, sql: str) -> list[tuple]:
    """Return the rows of a read-only query on the warehouse."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _orders_csv(tmp_path: Path, lines: list[str]) -> tuple[Path, Path]:
    """Write the lines as landing/orders.csv; return (the landing folder, the warehouse path to load into)."""
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_text("\n".join(lines) + "\n")
    return directory, tmp_path / "warehouse.duckdb"


def _refusal(directory: Path, warehouse: Path) -> str:
    """Return the sentence a landing load of the directory fails whole with, having changed nothing: the
    warehouse its one transaction created is removed with it."""
    with pytest.raises(ValueError) as failure:
        load_landing(directory, warehouse)
    assert not warehouse.exists()
    return str(failure.value)


def test_the_data_contract_doc_matches_the_code() -> None:
    tables = _doc_tables((REPO_ROOT / "docs" / "data-contract.md").read_text())
    expected = {f"`raw.{name}`": columns for name, columns in RAW_TABLES.items()}
    expected |= {
        "Lineage columns (added to every table above)": LINEAGE_COLUMNS,
        "`raw._rejects`": REJECT_COLUMNS,
        "`raw._file_loads`": FILE_LOAD_COLUMNS,
    }
    for heading, columns in expected.items():
        assert tables[heading][1] == [(c.name, c.sql_type, c.required, c.meaning) for c in columns], heading
    for name, keys in KEYS.items():
        required = "**Required table.**" if name == "orders" else "Optional table."
        assert tables[f"`raw.{name}`"][0] == f"Key: {', '.join(f'`{key}`' for key in keys)}. {required}"


def test_every_fixed_reject_reason_is_documented() -> None:
    from include.presets.online_retail_lines import LATER_RULES, RULES
    from include.validation import REFERENCE_RULES, VALUE_RULES

    doc = (REPO_ROOT / "docs" / "data-contract.md").read_text()
    reasons = [
        reason
        for rules in (*VALUE_RULES.values(), *REFERENCE_RULES.values(), RULES, LATER_RULES)
        for _, reason in rules
    ]
    reasons += [
        "duplicate key within the file",
        "duplicate of a row already loaded",
        "key already loaded with different values",
    ]
    assert [reason for reason in reasons if f"`{reason}`" not in doc] == []


@pytest.mark.parametrize("blank_lines", [False, True])
def test_malformed_csv_lines_are_quarantined_with_their_line(tmp_path: Path, blank_lines: bool) -> None:
    # DuckDB numbers a rejected line among all lines, blank ones included; data rows do not count them
    blank = [""] if blank_lines else []
    lines = [
        "order_id,customer_id,ordered_at,amount",
        *blank,
        'o1,"c1\n\nc1",2024-01-01,10' if blank_lines else "o1,c1,2024-01-01,10",  # a blank line in a value
        *blank,
        *blank,
        "o2,c2,2024-01-02,20,surplus",  # data row 2: one field too many
        "o3,c3,2024-01-03,abc",  # data row 3: parsed, then rejected by validation
        *blank,
        "o4,c4",  # data row 4: fields missing
        "o5,c5,2024-01-05,50",
        ",c6,2024-01-06,60",  # data row 6: parsed, then rejected by validation
    ]
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (6, 2, 4)
    assert load.rejects == {
        "malformed CSV line (missing columns)": 1,
        "malformed CSV line (too many columns)": 1,
        "missing order_id": 1,
        "non-numeric amount": 1,
    }
    rejects = _query(warehouse, "select row_number, reason, raw_values from raw._rejects order by row_number")
    assert [(number, reason, values[:16]) for number, reason, values in rejects] == [
        (2, "malformed CSV line (too many columns)", '{"line":"o2,c2,2'),
        (3, "non-numeric amount", '{"order_id":"o3"'),
        (4, "malformed CSV line (missing columns)", '{"line":"o4,c4"}'),  # without the blank line above it
        (6, "missing order_id", '{"order_id":null'),
    ]
    assert rejects[0][2] == '{"line":"o2,c2,2024-01-02,20,surplus"}'
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [("o1",), ("o5",)]
    logged = "select rows_read, rows_loaded, rows_rejected from raw._file_loads"
    assert _query(warehouse, logged) == [(6, 2, 4)]


@pytest.mark.parametrize("name", ["orders.csv", "orders.csv.gz"])
def test_a_csv_file_whose_lines_end_in_a_carriage_return_alone_numbers_its_rejects_right(
    tmp_path: Path, name: str
) -> None:
    # classic Mac line breaks (Excel's "CSV (Macintosh)"): the rows below a blank line were numbered as if
    # the file were one line, and the Latin-1 line lost its bytes
    lines = [
        "order_id,customer_id,ordered_at,amount",
        "o1,c1,2024-01-01,10",
        "",
        "",
        "o2,c2,2024-01-02,20,surplus",  # data row 2
        "o3,c3,2024-01-03,abc",  # data row 3
        "o4,Ren\xe9,2024-01-04,40",  # data row 4, not UTF-8
        "o5,c5,2024-01-05,50",
    ]
    content = ("\r".join(lines) + "\r").encode("latin-1")
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / name).write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (5, 2, 3)
    assert _query(warehouse, "select row_number, raw_values, reason from raw._rejects order by 1") == [
        (2, '{"line":"o2,c2,2024-01-02,20,surplus"}', "malformed CSV line (too many columns)"),
        (
            3,
            '{"order_id":"o3","customer_id":"c3","ordered_at":"2024-01-03","amount":"abc"}',
            "non-numeric amount",
        ),
        (4, '{"line":"o4,Ren\\\\xe9,2024-01-04,40"}', "malformed CSV line (invalid encoding)"),
    ]
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [("o1",), ("o5",)]


def test_a_csv_file_over_the_maximum_line_size_whose_lines_end_in_a_carriage_return_alone_loads(
    tmp_path: Path,
) -> None:
    # it failed whole, "its first line is longer than 2,000,000 bytes": the file was read as one line
    lines = ["order_id,customer_id,ordered_at,amount"] + [f"o{i},c{i},2024-01-02,{i}" for i in range(100_000)]
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_bytes(("\r".join(lines) + "\r").encode())
    assert (directory / "orders.csv").stat().st_size > 2_000_000
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (100_000, 100_000, 0)
    assert _query(warehouse, "select count(*), sum(amount) from raw.orders") == [(100_000, 4_999_950_000.0)]


@pytest.mark.parametrize(
    ("rows", "long_row"),
    [
        (10, 1),  # among the lines DuckDB samples for the dialect: its sniffer failed the whole file
        (10, 5),
        (30_000, 25_000),  # beyond them: rejected by the reader
    ],
)
def test_a_line_over_the_maximum_size_is_rejected_with_its_size_and_the_rest_loads(
    tmp_path: Path, rows: int, long_row: int
) -> None:
    lines = ["order_id,customer_id,ordered_at,amount"]
    lines += [f"o{i},c{i},2024-01-02,20" for i in range(1, rows + 1)]
    lines[long_row] = f"o{long_row},{'c' * 2_500_000},2024-01-02,20"
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    size = len(lines[long_row])  # 2,500,017 bytes, or 2,500,021 for o25000
    reason = f"malformed CSV line (line size over maximum: {size:,} bytes, more than 2,000,000)"
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (rows, rows - 1, 1)
    assert load.rejects == {reason: 1}
    # the line's first 10,000 characters: DuckDB's reader keeps no more of it
    rejects = "select row_number, reason, raw_values::json ->> 'line' from raw._rejects"
    assert _query(warehouse, rejects) == [(long_row, reason, lines[long_row][:10_000])]
    assert _query(warehouse, "select count(*) from raw.orders") == [(rows - 1,)]


@pytest.mark.parametrize(
    ("rows", "long_row"),
    [
        (10, 3),  # among the lines DuckDB samples for the dialect: the file failed, for a quote that closes
        (30_000, 25_000),  # beyond them: rejected by the reader, but the rows below it were misnumbered
    ],
)
def test_a_quoted_value_over_the_maximum_size_in_short_lines_is_one_line_rejected_and_the_rest_loads(
    tmp_path: Path, rows: int, long_row: int
) -> None:
    # a quoted value's line breaks are inside its line, for DuckDB's reader as for RFC 4180: the line is the
    # record, too long though each of its lines is short
    lines = ["order_id,customer_id,ordered_at,amount"]
    lines += [f"o{i},c{i},2024-01-02,20" for i in range(1, rows + 1)]
    # 25,001 lines in quotes, the first one blank
    lines[long_row] = f'o{long_row},"\n' + ("c" * 99 + "\n") * 25_000 + '",2024-01-02,20'
    lines[long_row + 2] = f"o{long_row + 2},c"  # fields missing, below a blank line, which is no data row
    lines.insert(long_row + 1, "")
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    size = len(lines[long_row])  # 2,500,020 bytes, or 2,500,024 for o25000
    reason = f"malformed CSV line (line size over maximum: {size:,} bytes, more than 2,000,000)"
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (rows, rows - 2, 2)
    assert load.rejects == {reason: 1, "malformed CSV line (missing columns)": 1}
    rejects = "select row_number, reason, raw_values::json ->> 'line' from raw._rejects order by row_number"
    assert _query(warehouse, rejects) == [
        (long_row, reason, lines[long_row][:10_000]),
        (long_row + 2, "malformed CSV line (missing columns)", f"o{long_row + 2},c"),
    ]
    assert _query(warehouse, "select count(*) from raw.orders") == [(rows - 2,)]


@pytest.mark.parametrize(
    "long_line",
    [
        # a double quote inside an unquoted value, first in the reader's second part of the line: no value
        # opens there, so the lines below stay lines of their own
        "o2," + "c" * (2_000_002 - len("o2,")) + '"' + "c" * 500_000 + ",2024-01-02,20",
        # a doubled double quote inside a quoted value, cut between its two halves by the reader: the value
        # stays open over its line breaks
        'o2,"' + "c" * (2_000_001 - len('o2,"')) + '""' + "c" * 10 + "\nmore\n" + 'c",2024-01-02,20',
    ],
    ids=["a quote in an unquoted value", "a doubled quote in a quoted value"],
)
def test_a_line_over_the_maximum_size_read_in_parts_leaves_the_numbering_below_it_right(
    tmp_path: Path, long_line: str
) -> None:
    # a line over MAX_LINE_SIZE is read in parts of MAX_LINE_SIZE + 2 bytes; where a part starts or ends
    # must not change which double quotes open or close a value, or the rows below it are misnumbered
    lines = ["order_id,customer_id,ordered_at,amount", "o1,c1,2024-01-02,20", long_line]
    lines += ["o3,c3,2024-01-02,20", "", "o4,c", "o5,c5,2024-01-02,20"]
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (5, 3, 2)
    rejects = "select row_number, reason from raw._rejects order by row_number"
    size = len(long_line)
    assert _query(warehouse, rejects) == [
        (2, f"malformed CSV line (line size over maximum: {size:,} bytes, more than 2,000,000)"),
        (4, "malformed CSV line (missing columns)"),  # the blank line above it is no data row
    ]


@pytest.mark.parametrize(
    ("header", "rows", "cause"),
    [
        ("order_id,customer_id,ordered_at,amount," + "x" * 2_500_000, 1, ""),
        # its double quote never closes: the lines below, 2.9 MB, are in it
        ('order_id,customer_id,ordered_at,amount,"note', 100_000, ", a double quote in it holding the lines"),
    ],
    ids=["one long line", "an unclosed quote"],
)
def test_a_csv_file_whose_header_line_is_over_the_maximum_size_fails_whole(
    tmp_path: Path, header: str, rows: int, cause: str
) -> None:
    lines = [header] + [f"o{i},c{i},2024-01-01,10," for i in range(1, rows + 1)]
    assert _refusal(*_orders_csv(tmp_path, lines)) == (
        f"orders.csv cannot be read: its first line is longer than 2,000,000 bytes{cause}, the most a CSV "
        "line may have. Check that it is a valid CSV file, with a header line and values quoted, if at all, "
        "in double quotes that close."
    )


def test_warehouse_connections_take_duckdbs_memory_limit_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", "300MB")
    with connect(tmp_path / "w.duckdb", create=True) as con:
        limited = con.execute("select current_setting('memory_limit')").fetchone()[0]
    monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", "1GB")
    with connect(tmp_path / "other.duckdb", create=True) as con:
        larger = con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert (limited, larger) == ("286.1 MiB", "953.6 MiB")  # DuckDB reports bytes in binary units


def test_csv_values_are_quoted_with_double_quotes_only(tmp_path: Path) -> None:
    # a guessed quote character would read 'Name 1' as a quoted value and the apostrophes of O'Brien and
    # it's as the quotes of one value spanning the lines between them
    directory = tmp_path / "landing"
    directory.mkdir()
    rows = [f"p{i},'Name {i}',home" for i in range(1, 30_001)]  # beyond the sample a sniffer reads
    rows += ["q1,O'Brien's mug,home", "q2,plain,home", "q3,it's,home", 'q4,"Mug, large",home']
    (directory / "products.csv").write_text("product_id,product_name,category\n" + "\n".join(rows) + "\n")
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (30_004, 30_004, 0)
    names = (
        "select product_id, product_name from raw.products where product_id in ('p1', 'q1', 'q2', 'q3', 'q4')"
    )
    assert sorted(_query(warehouse, names)) == [
        ("p1", "'Name 1'"),
        ("q1", "O'Brien's mug"),
        ("q2", "plain"),
        ("q3", "it's"),
        ("q4", "Mug, large"),
    ]


def test_a_csv_file_with_an_unclosed_double_quote_fails_whole_and_changes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount,status\n"
        '"o1","c1",2024-01-01,10,completed\n'
        '"o2","c2",2024-01-02,20,completed\n'
        'o3,c3,2024-01-03,30,"cancelled\n'
    )
    warehouse = tmp_path / "warehouse.duckdb"
    # (DuckDB's sniffer fails on it: "orders.csv cannot be read (... Error when sniffing file ...)")
    refusal = _refusal(directory, warehouse)
    assert re.search("orders.csv has a double quote that does not close on line 4", refusal)
    assert refusal.endswith(
        "Check that it is a valid CSV file, with a header line and values quoted, if at all, in double "
        "quotes that close."
    )


@pytest.mark.parametrize(
    ("rows", "unclosed_row", "cause"),
    [
        # among the lines DuckDB samples for the dialect: it read each line whole, as one column, and the file
        # failed as one that "does not split into columns"; read in its header's dialect, the line is named
        (3_000, 2_000, "has a double quote that does not close on line 2001"),
        # beyond them: the line's reject held the rest of the file, cut at 10,000 characters, and the 4,645
        # rows after that were neither loaded nor rejected
        (30_001, 25_000, "has a double quote that does not close on line 25001"),
    ],
)
def test_an_unclosed_double_quote_anywhere_fails_the_file_whole(
    tmp_path: Path, rows: int, unclosed_row: int, cause: str
) -> None:
    lines = ["order_id,customer_id,ordered_at,amount"]
    lines += [f"o{i},c{i},2024-01-02,20" for i in range(1, rows + 1)]
    lines[unclosed_row] = 'ox,"cx,2024-01-02,20'
    refusal = _refusal(*_orders_csv(tmp_path, lines))
    assert re.search(cause, refusal)
    assert refusal.startswith("orders.csv ")
    assert refusal.endswith("values quoted, if at all, in double quotes that close.")


@pytest.mark.parametrize(
    ("rows", "row", "value"),
    [
        (25_001, 25_001, '"c3"x'),
        (25_001, 25_001, '"Mug, large"(blue)'),
        (100, 3, '"c3"x'),
        (100, 3, '"He said \\"hi\\""'),
    ],
    ids=["beyond-the-sample", "beyond-the-sample-delimiter-inside", "sampled", "sampled-escaped-quotes"],
)
def test_a_quoted_value_followed_by_more_text_is_a_malformed_line(
    tmp_path: Path, rows: int, row: int, value: str
) -> None:
    # DuckDB's reader says "Value with unterminated quote found." of it too: beyond the lines it samples,
    # the file failed whole, "has a double quote that does not close on line 25002", of a quote that closes;
    # among them, the sniffer could not split the line and read every line whole, and the file failed as one
    # that "does not split into columns"
    lines = ["order_id,customer_id,ordered_at,amount"] + [
        f"o{i},c{i},2024-01-02,1" for i in range(1, rows + 1)
    ]
    lines[row] = f"o{row},{value},2024-01-02,1"
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (rows, rows - 1, 1)
    assert _query(warehouse, "select row_number, raw_values, reason from raw._rejects") == [
        (row, json.dumps({"line": lines[row]}, separators=(",", ":")), "malformed CSV line (unquoted value)")
    ]
    kept = f"select count(*), sum(amount) from raw.orders where order_id <> 'o{row}'"
    assert _query(warehouse, kept) == [(rows - 1, float(rows - 1))]


def test_a_quoted_value_followed_by_more_text_that_fails_the_sniffer_is_a_malformed_line(
    tmp_path: Path,
) -> None:
    # with another line's quoted values around, DuckDB's sniffer failed, and so did the file: "cannot be read
    # (Invalid Input Error: Error when sniffing file ...)"
    lines = [
        "order_id,customer_id,ordered_at,amount,note",
        'o1,"c1"x,2024-01-02,1,n',
        '"o2","c2",2024-01-02,2,"has,delim"',
        "o3,c3,2024-01-03,3,n",
    ]
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 2, 1)
    assert _query(warehouse, "select row_number, raw_values, reason from raw._rejects") == [
        (1, '{"line":"o1,\\"c1\\"x,2024-01-02,1,n"}', "malformed CSV line (unquoted value)")
    ]
    assert _query(warehouse, "select order_id, amount from raw.orders order by 1") == [
        ("o2", 2.0),
        ("o3", 3.0),
    ]


def test_a_malformed_line_among_the_sampled_ones_of_a_file_with_a_byte_order_mark_is_rejected(
    tmp_path: Path,
) -> None:
    # DuckDB read the lines whole, as one column, but the header line the loader compared with that column
    # kept the BOM, which DuckDB drops: the file "lacked the required column order_id"
    lines = ["order_id,customer_id,ordered_at,amount,note", 'o1,"c1"x,2024-01-02,1,n', "o2,c2,2024-01-02,2,n"]
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (2, 1, 1)
    assert _query(warehouse, "select row_number, raw_values, reason from raw._rejects") == [
        (1, '{"line":"o1,\\"c1\\"x,2024-01-02,1,n"}', "malformed CSV line (unquoted value)")
    ]
    assert _query(warehouse, "select order_id, amount from raw.orders") == [("o2", 2.0)]


def test_a_one_column_csv_with_a_quoted_comma_in_its_header_is_no_unclosed_quote(tmp_path: Path) -> None:
    # its one column is named 'product_id,name': a file DuckDB split as RFC 4180 says, not a line read whole
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "products.csv").write_text('"product_id,name"\np1\np2\n')
    # the file fails for what it lacks, the contract's product_id, not for a quote it does not have
    with pytest.raises(ValueError, match=r"^products.csv lacks the required column product_id"):
        load_landing(directory, tmp_path / "warehouse.duckdb")


def test_whitespace_only_values_are_missing_and_invalid_utf8_is_an_encoding_reject(tmp_path: Path) -> None:
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_bytes(
        b"order_id,customer_id,ordered_at,amount\n"
        b"o1,c\xff\xfe,2024-01-01,10\n"  # not UTF-8
        b"o2,\t,2024-01-01,10\n"  # a tab is no customer
        b"o3,\tc3 ,2024-01-01,10\n"
    )
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert load.rejects == {"malformed CSV line (invalid encoding)": 1, "missing customer_id": 1}
    assert _query(warehouse, "select order_id, customer_id from raw.orders") == [("o3", "c3")]
    # the line as delivered: DuckDB's text was 'o1,c??,2024-01-01,10' (a Latin-1 'René,' lost its comma too)
    [(raw,)] = _query(warehouse, "select raw_values from raw._rejects where row_number = 1")
    assert json.loads(raw) == {"line": "o1,c\\xff\\xfe,2024-01-01,10"}
    doc = (REPO_ROOT / "docs" / "data-contract.md").read_text()
    assert "`invalid encoding`" in doc


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (
            lambda gzipped: gzipped[: len(gzipped) // 2],
            "Compressed file ended before the end-of-stream marker",
        ),
        (lambda gzipped: gzip.decompress(gzipped), "Not a gzipped file"),
    ],
    ids=["cut-short", "not-gzip"],
)
def test_a_csv_gz_cut_short_or_not_gzip_fails_whole_in_one_sentence(
    tmp_path: Path, content, cause: str
) -> None:
    lines = ["order_id,customer_id,ordered_at,amount"] + [f"o{i},c{i},2024-01-02,{i}" for i in range(5_000)]
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv.gz").write_bytes(content(gzip.compress(("\n".join(lines) + "\n").encode())))
    warehouse = tmp_path / "warehouse.duckdb"
    refusal = _refusal(directory, warehouse)
    assert re.search(f"^orders.csv.gz cannot be read \\({cause}", refusal)
    assert refusal.endswith(
        "check that it is a complete gzip-compressed CSV file (a transfer cut short leaves it incomplete: "
        "deliver it again)."
    )


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (["\n", "\r\n"], "its lines end in LF, but line 2 ends in CR LF"),  # in the lines DuckDB samples
        (["\r\n"] * 25_000 + ["\n"], "its lines end in CR LF, but line 25001 ends in LF alone"),  # beyond
    ],
    ids=["sampled", "beyond-the-sample"],
)
def test_a_csv_file_mixing_line_breaks_fails_whole_naming_the_line(
    tmp_path: Path, breaks: list[str], message: str
) -> None:
    # DuckDB reads one kind of line break per file; the file failed with "Error when sniffing file" or "The
    # CSV Parser state machine reached an invalid state", and advice about double quotes
    lines = ["order_id,customer_id,ordered_at,amount"] + [f"o{i},c{i},2024-01-02,{i}" for i in range(30_000)]
    breaks = breaks + [breaks[0]] * (len(lines) - len(breaks))
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_bytes("".join(map(str.__add__, lines, breaks)).encode())
    warehouse = tmp_path / "warehouse.duckdb"
    assert _refusal(directory, warehouse) == (
        f"orders.csv cannot be read: {message}, and a file takes one kind of line break; convert it to one "
        "(e.g. with dos2unix) and load it again."
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            lambda text: gzip.compress(text.encode()),
            "is gzip-compressed, not a UTF-8 CSV file: give it a name ending in .csv.gz, then load it again.",
        ),
        (
            lambda text: text.encode("utf-16"),  # Excel's "Unicode Text": UTF-16 with a byte order mark
            'is UTF-16 text (Excel\'s "Unicode Text"), not a UTF-8 CSV file: save it as CSV UTF-8, then load '
            "it again.",
        ),
        (
            lambda text: b"PK\x03\x04" + text.encode(),
            "is a ZIP archive (an Excel .xlsx workbook is one), not a UTF-8 CSV file: export the sheet as "
            "CSV UTF-8, or unzip it, then load it again.",
        ),
    ],
    ids=["gzip", "utf-16", "zip"],
)
def test_a_file_named_csv_that_holds_something_else_fails_whole_saying_what_it_is(
    tmp_path: Path, content, message: str
) -> None:
    # a gzip or ZIP file "lacked the required column order_id"; UTF-16 failed with "Error when sniffing file"
    text = "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-02,10\n"
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_bytes(content(text))
    warehouse = tmp_path / "warehouse.duckdb"
    assert _refusal(directory, warehouse) == f"orders.csv {message}"


def test_a_csv_gz_file_compressed_twice_says_so(tmp_path: Path) -> None:
    # it was told to take a name ending in .csv.gz, the name it had
    directory = tmp_path / "landing"
    directory.mkdir()
    text = b"order_id,customer_id,ordered_at,amount\no1,c1,2024-01-02,10\n"
    (directory / "orders.csv.gz").write_bytes(gzip.compress(gzip.compress(text)))
    warehouse = tmp_path / "warehouse.duckdb"
    assert _refusal(directory, warehouse) == (
        "orders.csv.gz is gzip-compressed twice: decompress it once, then load it again."
    )


@pytest.mark.parametrize("row", [3, 25_000], ids=["sampled", "beyond-the-sample"])
def test_a_carriage_return_alone_inside_a_line_fails_the_file_naming_the_line(
    tmp_path: Path, row: int
) -> None:
    # DuckDB's reader takes it for a line break of another kind: "Error when sniffing file" or "The CSV
    # Parser state machine reached an invalid state", with advice about double quotes
    lines = ["order_id,customer_id,ordered_at,amount"] + [f"o{i},c{i},2024-01-02,{i}" for i in range(30_000)]
    lines[1] = 'o0,"c\r0",2024-01-02,0'  # inside double quotes it is part of the value
    lines[row] = f"o{row},c\r{row},2024-01-02,1"
    assert _refusal(*_orders_csv(tmp_path, lines)) == (
        f"orders.csv cannot be read: its lines end in LF, but line {row + 1} holds a CR alone, outside "
        "double quotes, and a file takes one kind of line break; remove it, or quote its value, and load it "
        "again."
    )


def test_files_with_their_suffix_in_capitals_load(tmp_path: Path) -> None:
    lines = "order_id,customer_id,ordered_at,amount\n{}1,c1,2024-01-02,5\n"
    (tmp_path / "ORDERS.CSV").write_text(lines.format("a"))
    (tmp_path / "ORDERS_2.CSV.GZ").write_bytes(gzip.compress(lines.format("b").encode()))
    frame = {"order_id": ["c1"], "customer_id": ["c1"], "ordered_at": ["2024-01-02"], "amount": [5.0]}
    pd.DataFrame(frame).to_parquet(tmp_path / "ORDERS_3.PARQUET")
    warehouse = tmp_path / "warehouse.duckdb"
    files = [str(tmp_path / name) for name in ("ORDERS.CSV", "ORDERS_2.CSV.GZ", "ORDERS_3.PARQUET")]
    assert import_main(["--table", "orders", *files, "--warehouse", str(warehouse)]) == 0
    assert _query(warehouse, "select order_id, _source_file from raw.orders order by 1") == [
        ("a1", "ORDERS.CSV"),
        ("b1", "ORDERS_2.CSV.GZ"),
        ("c1", "ORDERS_3.PARQUET"),
    ]


@pytest.mark.parametrize(
    "content", [b"", b"\n\n", gzip.compress(b"")], ids=["nothing", "blank-lines", "gzip"]
)
def test_an_empty_csv_file_fails_whole_saying_it_is_empty(tmp_path: Path, content: bytes) -> None:
    name = "orders.csv.gz" if content.startswith(b"\x1f\x8b") else "orders.csv"
    (tmp_path / name).write_bytes(content)
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(SystemExit) as stop:  # it said the file lacked order_id, and offered a 'column0'
        import_main(
            [
                "--table",
                "orders",
                str(tmp_path / name),
                "--map",
                "order_id=OrderNo",
                "--warehouse",
                str(warehouse),
            ]
        )
    assert str(stop.value) == (
        f"{name} is empty, without even the header line a CSV file starts with: deliver it with its header "
        "(a file of no rows is its header line alone), or leave it out."
    )
    assert not warehouse.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_column_named_twice_fails_the_file_when_a_contract_column_reads_it(
    tmp_path: Path, suffix: str
) -> None:
    # DuckDB reads the second 'date' as 'date_1': ordered_at would have been the first, without a word
    header, row = ["order_id", "customer_id", "Date", "amount", "date", "note", "NOTE"], ["o1", "c1"]
    frame = pd.DataFrame([row + ["2024-01-01", "5", "2024-02-02", "a", "b"]], columns=header)
    path = tmp_path / f"orders{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(
            pa.Table.from_arrays([pa.array(frame.iloc[:, i]) for i in range(7)], names=header), path
        )
    warehouse = tmp_path / "warehouse.duckdb"
    for mapped in ("date", "Date"):
        with pytest.raises(SystemExit) as stop:
            import_main(
                [
                    "--table",
                    "orders",
                    str(path),
                    "--map",
                    f"ordered_at={mapped}",
                    "--warehouse",
                    str(warehouse),
                ]
            )
        assert str(stop.value) == (
            f"{path.name} has more than one column named 'Date' (names that differ only in case count as the "
            "same): rename or drop all but one, so it is clear which is ordered_at."
        )
    assert not warehouse.exists()  # nothing changed: the warehouse the load created went with it
    # a repeated name no contract column reads ('note') is left alone: the file loads
    frame.columns = ["order_id", "customer_id", "ordered_at", "amount", "date", "note", "NOTE"]
    frame.to_csv(tmp_path / "orders_2.csv", index=False)
    import_main(["--table", "orders", str(tmp_path / "orders_2.csv"), "--warehouse", str(warehouse)])
    assert _query(warehouse, "select order_id, ordered_at from raw.orders") == [
        ("o1", pd.Timestamp("2024-01-01").to_pydatetime())
    ]


@pytest.mark.parametrize("end", ["", ","], ids=["header", "header-ending-with-the-delimiter"])
def test_a_column_named_twice_below_blank_lines_fails_the_file(tmp_path: Path, end: str) -> None:
    # DuckDB skips the blank lines above a header; the check for repeated names read the first, blank, line
    # as the header and found none: amount was silently the first of the two
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_text(
        f"\n\norder_id,customer_id,ordered_at,amount,Amount{end}\no1,c1,2024-01-02,10,99\n"
    )
    warehouse = tmp_path / "warehouse.duckdb"
    assert _refusal(directory, warehouse) == (
        "orders.csv has more than one column named 'amount' (names that differ only in case count as the "
        "same): rename or drop all but one, so it is clear which is amount."
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "o2,c2,2024-01-02,2," + "y" * 2_100_000,
            "malformed CSV line (line size over maximum: 2,100,019 bytes, more than 2,000,000)",
        ),
        ('o2,"c2"x,2024-01-02,2,y', "malformed CSV line (unquoted value)"),
    ],
    ids=["line-too-long", "text-after-a-quote"],
)
def test_blank_lines_above_the_header_are_no_data_rows_when_the_reader_is_given_the_dialect(
    tmp_path: Path, line: str, reason: str
) -> None:
    # a line DuckDB's sniffer cannot sample makes the loader give its reader the dialect, and the reader then
    # took the first, blank, line for the header: the header line was a data row, rejected as an unparsable
    # date, and every row after it numbered one too high
    lines = [
        "",
        "",
        "order_id,customer_id,ordered_at,amount,note",
        "o1,c1,2024-01-01,1,x",
        line,
        "o3,c3,2024-01-03,abc,z",
    ]
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 1, 2)
    assert _query(warehouse, "select row_number, reason from raw._rejects order by 1") == [
        (2, reason),
        (3, "non-numeric amount"),
    ]
    assert _query(warehouse, "select order_id from raw.orders") == [("o1",)]


@pytest.mark.parametrize(
    ("start", "newline", "line", "reason"),
    [
        # the sniffer read the lines whole, as one column it named column0
        ("", "\r\n", 'o2,"c2"x,2024-01-02,2', "malformed CSV line (unquoted value)"),
        # DuckDB's reader, storing rejects, read one column named column0, and no row
        ("\ufeff", "\n", "o2,c2,2024-01-02,2,surplus", "malformed CSV line (too many columns)"),
    ],
    ids=["blank-line", "bom-then-blank-line"],
)
def test_a_csv_file_whose_first_line_is_blank_is_read_from_its_header_below(
    tmp_path: Path, start: str, newline: str, line: str, reason: str
) -> None:
    # the file "lacked the required column order_id"
    lines = [
        start,
        "order_id,customer_id,ordered_at,amount",
        "o1,c1,2024-01-01,1",
        line,
        "o3,c3,2024-01-03,abc",
    ]
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "orders.csv").write_bytes((newline.join(lines) + newline).encode())
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 1, 2)
    assert _query(warehouse, "select row_number, raw_values, reason from raw._rejects order by 1") == [
        (2, json.dumps({"line": line}, separators=(",", ":")), reason),
        (
            3,
            '{"order_id":"o3","customer_id":"c3","ordered_at":"2024-01-03","amount":"abc"}',
            "non-numeric amount",
        ),
    ]
    assert _query(warehouse, "select order_id from raw.orders") == [("o1",)]


@pytest.mark.parametrize("start", ["", "\ufeff"], ids=["utf-8", "utf-8-with-bom"])
def test_excels_sep_line_above_the_header_is_no_header_nor_data_row(tmp_path: Path, start: str) -> None:
    # exports meant for Excel start with `sep=;`, naming the delimiter: it was read as the header, and the
    # file "lacked the required column order_id"
    lines = [
        f"{start}sep=;",
        "order_id;customer_id;ordered_at;amount",
        "o1;c1;2024-01-01;1,5",  # data row 1: a decimal comma, not a number
        "",
        "o2;c2;2024-01-02;2;surplus",  # data row 2
        "o3;c3;2024-01-03;3",
    ]
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 1, 2)
    assert _query(warehouse, "select row_number, raw_values, reason from raw._rejects order by 1") == [
        (
            1,
            '{"order_id":"o1","customer_id":"c1","ordered_at":"2024-01-01","amount":"1,5"}',
            "non-numeric amount",
        ),
        (2, '{"line":"o2;c2;2024-01-02;2;surplus"}', "malformed CSV line (too many columns)"),
    ]
    assert _query(warehouse, "select order_id, amount from raw.orders") == [("o3", 3.0)]


def test_excels_sep_line_is_skipped_when_a_long_line_makes_the_loader_give_the_dialect(
    tmp_path: Path,
) -> None:
    # the lines DuckDB's sniffer samples, a line too long left out, began with `sep=;`: a header of one column
    lines = [
        "sep=;",
        "order_id;customer_id;ordered_at;amount;note",
        "o1;c1;2024-01-01;1;x",
        "o2;c2;2024-01-02;2;" + "y" * 2_100_000,  # data row 2: too long
        "o3;c3;2024-01-03;3;z",
    ]
    directory, warehouse = _orders_csv(tmp_path, lines)
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 2, 1)
    assert _query(warehouse, "select row_number, reason from raw._rejects") == [
        (2, "malformed CSV line (line size over maximum: 2,100,019 bytes, more than 2,000,000)")
    ]


# A header line ending with the delimiter: rows (data rows 1 and 2) and what loads, what is rejected
UNNAMED_LAST_COLUMN = {
    "rows without it": (["o1,c1,2024-01-01,1", "o2,c2,2024-01-02,2"], [], ["o1", "o2"]),
    "rows ending with the delimiter too": (["o1,c1,2024-01-01,1,", "o2,c2,2024-01-02,2,"], [], ["o1", "o2"]),
    "rows with a value in it": (["o1,c1,2024-01-01,1,web", "o2,c2,2024-01-02,2,"], [], ["o1", "o2"]),
    "a row with a value in it beside one without": (
        ["o1,c1,2024-01-01,1", "o2,c2,2024-01-02,2,web"],
        [(1, "malformed CSV line (missing columns)")],
        ["o2"],
    ),
}


@pytest.mark.parametrize("case", list(UNNAMED_LAST_COLUMN))
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_header_ending_with_the_delimiter_names_no_column_its_rows_lack(
    tmp_path: Path, case: str, delimiter: str
) -> None:
    # exports that end every header name with the delimiter: the unnamed last column the header line seemed
    # to have was missing from every row, and each was rejected ("malformed CSV line (missing columns)")
    rows, rejected, loaded = UNNAMED_LAST_COLUMN[case]
    lines = ["order_id,customer_id,ordered_at,amount,", *rows]
    directory, warehouse = _orders_csv(tmp_path, [line.replace(",", delimiter) for line in lines])
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (2, len(loaded), len(rejected))
    assert _query(warehouse, "select row_number, reason from raw._rejects") == rejected
    assert _query(warehouse, "select order_id from raw.orders order by 1") == [(key,) for key in loaded]


@pytest.mark.parametrize(
    ("lines", "failure"),
    [
        (
            ["order_id,customer_id,ordered_at,total", "o1,c1,2024-01-01,1"],
            "orders.csv lacks the required column amount of raw.orders: add it, or map one of its columns to "
            "it (--map amount=YOUR_COLUMN; its columns: order_id, customer_id, ordered_at, total).",
        ),
        (
            ["order_id,customer_id,ordered_at,amount", "o1,c1,01/02/2024 11:00,1"],
            "orders.csv: no value of column 'ordered_at' parses as a timestamp for raw.orders.ordered_at "
            "(e.g. '01/02/2024 11:00'): fix the column or the mapping (1 of its 1 values read as dates with "
            "--date-format '%d/%m/%Y %H:%M', and as many with '%m/%d/%Y %H:%M': no day in them is above the "
            "12th, so only the shop knows which is right; see the rows each gives with --dry-run).",
        ),
    ],
    ids=["a-column-by-another-name", "dates-in-another-format"],
)
def test_a_landing_file_failing_for_a_mapping_says_cvw_import_gives_one(
    tmp_path: Path, lines: list[str], failure: str
) -> None:
    # cvw ingest and the ingest DAG take no --map nor --date-format, which the failure advised alone
    directory, warehouse = _orders_csv(tmp_path, lines)
    with pytest.raises(ValueError) as failed:
        load_landing(directory, warehouse)
    assert str(failed.value) == (
        f"{failure} Landing files are read by the contract's column names and ISO 8601 timestamps: give the "
        "file those, or load it with cvw import, whose --map and --date-format read others "
        "(docs/data-contract.md)."
    )


def test_a_landing_file_named_in_capitals_loads(tmp_path: Path) -> None:
    # docs/data-contract.md names ORDERS.CSV a deliverable file; the landing folder used to skip it silently
    directory = tmp_path / "landing"
    directory.mkdir()
    (directory / "ORDERS.CSV").write_text("order_id,customer_id,ordered_at,amount\no1,c1,2024-01-02,5\n")
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.file, load.table, load.rows_loaded) == ("ORDERS.CSV", "orders", 1)
    assert _query(warehouse, "select order_id, _source_file from raw.orders") == [("o1", "ORDERS.CSV")]


def test_a_rejected_parquet_row_with_a_nan_or_infinite_number_keeps_strict_json_raw_values(
    tmp_path: Path,
) -> None:
    # DuckDB's to_json wrote NaN and Infinity, which are no JSON: PostgreSQL's json type and JavaScript's
    # JSON.parse refuse the whole reject row
    directory = tmp_path / "landing"
    directory.mkdir()
    orders = pa.table(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", None, None],
            "ordered_at": pa.array([datetime(2024, 1, day) for day in (1, 2, 3)], pa.timestamp("us")),
            "amount": pa.array([10.5, float("nan"), float("inf")]),  # a NaN, not pandas' null
        }
    )
    pq.write_table(orders, directory / "orders.parquet")
    warehouse = tmp_path / "warehouse.duckdb"
    (load,) = load_landing(directory, warehouse)
    assert (load.rows_read, load.rows_loaded, load.rows_rejected) == (3, 1, 2)

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    rows = _query(warehouse, "select row_number, raw_values from raw._rejects order by 1")
    assert [(row, json.loads(raw, parse_constant=refuse)) for row, raw in rows] == [
        (2, {"order_id": "o2", "customer_id": None, "ordered_at": "2024-01-02 00:00:00", "amount": "nan"}),
        (3, {"order_id": "o3", "customer_id": None, "ordered_at": "2024-01-03 00:00:00", "amount": "inf"}),
    ]

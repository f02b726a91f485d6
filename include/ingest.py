"""Idempotent, incremental loads of landing files into the warehouse's `raw` schema.

A landing file belongs to the raw table its name starts with (`orders.parquet`, `orders_2024-06.csv`).
Each file's content is hashed: content already loaded into that table is skipped, new content is
appended with lineage columns, and every load is logged in `raw._file_loads`. One call is one
transaction, so a bad file leaves the warehouse exactly as it was. A simulation's
`ground_truth.parquet`, when present, replaces the side table `synthetic.ground_truth`.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from include.raw_schema import LINEAGE_COLUMNS, RAW_TABLES, Column
from include.settings import get_settings
from include.warehouse import connect, transaction

GROUND_TRUTH_FILE = "ground_truth.parquet"
GROUND_TRUTH_TABLE = "synthetic.ground_truth"
LOG_DDL = (
    "create table if not exists raw._file_loads ("
    "file_name varchar, table_name varchar, sha256 varchar, rows_loaded bigint, loaded_at timestamp)"
)


@dataclass(frozen=True)
class FileLoad:
    """What one load did with one landing file."""

    file: str
    table: str
    sha256: str
    rows_loaded: int
    skipped: bool


def _quote(identifier: str) -> str:
    """Return an identifier quoted for DuckDB (identifiers come from the contract, never from users)."""
    return '"' + identifier.replace('"', '""') + '"'


def _sha256(path: Path) -> str:
    """Return the hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_of(file_name: str) -> str | None:
    """Return the table a landing file belongs to: the longest raw table name it starts with, or None."""
    if file_name == GROUND_TRUTH_FILE:
        return GROUND_TRUTH_TABLE
    if not file_name.endswith((".parquet", ".csv")):
        return None
    return max((table for table in RAW_TABLES if file_name.startswith(table)), key=len, default=None)


def landing_files(directory: Path) -> list[tuple[Path, str]]:
    """Return (file, table) for every loadable file in the directory, in contract order, then by name."""
    if not directory.is_dir():
        raise ValueError(
            f"The landing directory {directory} does not exist: "
            "generate data with `python -m include.synthetic` or set CVW_LANDING_DIR."
        )
    order = [*RAW_TABLES, GROUND_TRUTH_TABLE]
    found = [(path, table_of(path.name)) for path in directory.iterdir() if path.is_file()]
    found = [(path, table) for path, table in found if table]
    return sorted(found, key=lambda item: (order.index(item[1]), item[0].name))


def _reader(path: Path) -> str:
    """Return the table function that reads the file, with the path as its one bound parameter."""
    if path.suffix == ".csv":
        return "read_csv(?, all_varchar = true, header = true)"  # text in, contract casts decide the types
    return "read_parquet(?)"


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, its contract tables and the load log when they are missing."""
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists synthetic")
    for table, columns in RAW_TABLES.items():
        definitions = ", ".join(f"{_quote(c.name)} {c.sql_type}" for c in (*columns, *LINEAGE_COLUMNS))
        con.execute(f"create table if not exists raw.{_quote(table)} ({definitions})")
    con.execute(LOG_DDL)


def _already_loaded(con: duckdb.DuckDBPyConnection, table: str, sha256: str) -> bool:
    """Return whether this content is in the table already: appended before, or the current ground truth."""
    if table == GROUND_TRUTH_TABLE:
        query = "select sha256 from raw._file_loads where table_name = ? order by loaded_at desc limit 1"
        latest = con.execute(query, [table]).fetchone()
        return latest is not None and latest[0] == sha256
    query = "select count(*) from raw._file_loads where table_name = ? and sha256 = ?"
    return con.execute(query, [table, sha256]).fetchone()[0] > 0


def _select_list(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> str:
    """Return the file's columns cast to the contract; raise ValueError when a required one is missing."""
    described = con.execute(f"describe select * from {_reader(path)}", [str(path)]).fetchall()
    present = {row[0].lower() for row in described}
    columns: tuple[Column, ...] = RAW_TABLES[table]
    for column in columns:
        if column.required and column.name not in present:
            raise ValueError(
                f"{path.name} lacks the required column {column.name} of raw.{table}: add it and load again."
            )
    return ", ".join(
        f"cast({_quote(c.name) if c.name in present else 'null'} as {c.sql_type})" for c in columns
    )


def _append(con: duckdb.DuckDBPyConnection, path: Path, table: str, loaded_at: datetime) -> int:
    """Append the file's rows to the raw table with lineage; return the number of rows."""
    columns = ", ".join(_quote(c.name) for c in (*RAW_TABLES[table], *LINEAGE_COLUMNS))
    sql = (
        f"insert into raw.{_quote(table)} ({columns}) "
        f"select {_select_list(con, path, table)}, ?, ? from {_reader(path)}"
    )
    try:
        return con.execute(sql, [path.name, loaded_at, str(path)]).fetchone()[0]
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"{path.name} could not be loaded into raw.{table} ({reason}): fix it.") from None


def _replace_ground_truth(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Replace the simulation's ground-truth side table with the file; return its number of rows."""
    con.execute(f"create or replace table {GROUND_TRUTH_TABLE} as select * from read_parquet(?)", [str(path)])
    return con.execute(f"select count(*) from {GROUND_TRUTH_TABLE}").fetchone()[0]


def load_landing(directory: Path, warehouse_path: Path | None = None) -> list[FileLoad]:
    """Load every new landing file of the directory in one transaction; return what happened to each file."""
    files = landing_files(Path(directory))
    loaded_at = datetime.now(UTC).replace(tzinfo=None)  # one time for the whole load, in UTC
    loads: list[FileLoad] = []
    con = connect(warehouse_path)
    try:
        with transaction(con):
            _create_tables(con)
            for path, table in files:
                sha256 = _sha256(path)
                if _already_loaded(con, table, sha256):
                    loads.append(FileLoad(path.name, table, sha256, 0, True))
                    continue
                if table == GROUND_TRUTH_TABLE:
                    rows = _replace_ground_truth(con, path)
                else:
                    rows = _append(con, path, table, loaded_at)
                log = [path.name, table, sha256, rows, loaded_at]
                con.execute("insert into raw._file_loads values (?, ?, ?, ?, ?)", log)
                loads.append(FileLoad(path.name, table, sha256, rows, False))
    finally:
        con.close()
    return loads


def main(argv: list[str] | None = None) -> int:
    """Load the landing directory into the warehouse from the command line; return the exit code."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, default=settings.landing_dir)
    parser.add_argument("--warehouse", type=Path, default=settings.warehouse_path)
    args = parser.parse_args(argv)
    try:
        loads = load_landing(args.landing, args.warehouse)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if not loads:
        print(f"No landing files in {args.landing}.")
    for load in loads:
        outcome = "skipped (already loaded)" if load.skipped else f"{load.rows_loaded:,} rows loaded"
        print(f"{load.file:<32} -> {load.table:<24} {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Idempotent, validated, incremental loads of files into the warehouse's `raw` schema.

Every data row of a file is either appended to its raw table (with lineage columns) or written to
`raw._rejects` with the reason, so rows read = rows loaded + rows rejected for each file. Each file's
content is hashed: content already loaded into a table is skipped, and every load is logged in
`raw._file_loads`. One call is one transaction: a file that cannot be loaded at all (a required column
missing, a column of the wrong type) stops the load with one sentence and leaves the warehouse as it was.

A landing file belongs to the raw table its name starts with (`orders.parquet`, `orders_2024-06.csv`) and
holds the contract's column names; files with other names and formats go through `cvw import`
(include/importer.py). A simulation's `ground_truth.parquet`, when present, replaces `synthetic.ground_truth`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb

from include.file_staging import loadable, repeated_columns, stage_file
from include.mapping import Mapping, MappingAdvice, quote, resolve
from include.raw_rejects import write_rejects
from include.raw_schema import RAW_TABLES
from include.raw_tables import create_tables, mark_replaced
from include.settings import get_settings
from include.validation import (
    check_columns,
    check_date_format,
    check_rows,
    date_format_rejects,
    guest_like_loads,
    number_format_rejects,
    stage_typed,
)
from include.warehouse import connect, transaction
from include.warehouse_file import remove_database_file

LOG = logging.getLogger(__name__)  # Airflow task logs show each file's counts
GROUND_TRUTH_FILE = "ground_truth.parquet"
GROUND_TRUTH_TABLE = "synthetic.ground_truth"
STAGED = ("_cvw_file", "_cvw_typed", "_cvw_checked", "_cvw_malformed")


@dataclass(frozen=True)
class FileLoad:
    """What one load did with one file: rows read = rows loaded + rows rejected, unless skipped."""

    file: str
    table: str
    sha256: str
    rows_loaded: int
    skipped: bool
    rows_read: int = 0
    rows_rejected: int = 0
    rejects: dict[str, int] = field(default_factory=dict)  # reason: rows
    derived: dict[str, int] = field(default_factory=dict)  # presets: rows added to other raw tables
    advice: str | None = None  # a line each: how rejected rows might load, rows that load doubtfully
    preview: str | None = None  # cvw import --dry-run: the first rows as they would load


Loader = Callable[[duckdb.DuckDBPyConnection, Path, datetime], FileLoad]


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file's content, or raise ValueError when there is no such file."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a file: give the files in it (e.g. {path / '*.csv'}).")
    if not path.is_file():
        raise ValueError(f"The file {path} does not exist: check the path.")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_of(file_name: str) -> str | None:
    """Return the table a landing file belongs to: the longest raw table name it starts with, or None.

    Names compare in any case, as Windows tools and mainframe exports write them (ORDERS.CSV).
    """
    name = file_name.lower()
    if name == GROUND_TRUTH_FILE:
        return GROUND_TRUTH_TABLE
    if not loadable(name):
        return None
    return max((table for table in RAW_TABLES if name.startswith(table)), key=len, default=None)


def landing_files(directory: Path) -> list[tuple[Path, str]]:
    """Return (file, table) for every loadable file in the directory, in contract order, then by name."""
    if not directory.is_dir():
        raise ValueError(
            f"The landing directory {directory} does not exist: "
            "deliver files there, generate a shop with `cvw generate`, or set CVW_LANDING_DIR."
        )
    order = [*RAW_TABLES, GROUND_TRUTH_TABLE]
    found = [(path, table_of(path.name)) for path in directory.iterdir() if path.is_file()]
    found = [(path, table) for path, table in found if table]
    return sorted(found, key=lambda item: (order.index(item[1]), item[0].name))


def already_loaded(con: duckdb.DuckDBPyConnection, table: str, sha256: str) -> bool:
    """Return whether this content is in the table already: appended before, or the current ground truth."""
    if table == GROUND_TRUTH_TABLE:
        query = "select sha256 from raw._file_loads where table_name = ? order by loaded_at desc limit 1"
        latest = con.execute(query, [table]).fetchone()
        return latest is not None and latest[0] == sha256
    query = "select count(*) from raw._file_loads where table_name = ? and sha256 = ?"
    return con.execute(query, [table, sha256]).fetchone()[0] > 0


def rows_read(con: duckdb.DuckDBPyConnection) -> int:
    """Return the data rows of the staged file: the rows parsed plus the malformed CSV lines."""
    query = "select (select count(*) from _cvw_file) + (select count(*) from _cvw_malformed)"
    return con.execute(query).fetchone()[0]


def log_load(con: duckdb.DuckDBPyConnection, load: FileLoad, loaded_at: datetime) -> FileLoad:
    """Check rows read = loaded + rejected, record the load in raw._file_loads and return it."""
    if load.rows_read != load.rows_loaded + load.rows_rejected:  # never loses a row silently
        raise RuntimeError(
            f"{load.file}: {load.rows_read} rows read but {load.rows_loaded} loaded + {load.rows_rejected} "
            "rejected: the load is rolled back; report this as a bug."
        )
    sql = (
        "insert into raw._file_loads (file_name, table_name, sha256, rows_loaded, loaded_at, rows_read, "
        "rows_rejected) values (?, ?, ?, ?, ?, ?, ?)"
    )
    con.execute(
        sql,
        [load.file, load.table, load.sha256, load.rows_loaded, loaded_at, load.rows_read, load.rows_rejected],
    )
    LOG.info("%s", describe(load))
    return load


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp tables a file load staged."""
    for name in STAGED:
        con.execute(f"drop table if exists {name}")


def load_table_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    loaded_at: datetime,
    mapping: Mapping,
    allow_updates: bool = False,
    reload: bool = False,
) -> FileLoad:
    """Validate one file against its raw table and append its valid rows; reject the others with a reason.

    allow_updates: load a row whose key is loaded already with other values as its newer version.
    reload: validate a file whose content was loaded before again, instead of skipping it: its rows loaded
    then are rejected as duplicates (rule 16), and its rows rejected then get another chance (order lines
    whose orders have arrived since).
    """
    sha256 = sha256_of(path)
    table = mapping.table
    if not reload and already_loaded(con, table, sha256):
        return FileLoad(path.name, table, sha256, 0, True)
    check_date_format(con, mapping.date_format)
    sources = resolve(mapping, stage_file(con, path), path.name, repeated_columns(con, path))
    stage_typed(con, sources, mapping)
    date_formats = mapping.date_formats
    check_columns(con, sources, table, path.name, mapping.number_format, date_formats)
    advice = []
    if table == "events" and mapping.guest_customers:  # a guest's visits are an anonymous visitor's
        sql = "update _cvw_typed set customer_id = null where list_contains($guests, customer_id)"
        anonymous = con.execute(sql, {"guests": list(mapping.guest_customers)}).fetchone()[0]
        if anonymous:
            events = "events" if anonymous > 1 else "event"
            advice.append(f"{anonymous:,} {events} of a guest customer_id loaded as an anonymous visitor's")
    check_rows(con, table, loaded_at, allow_updates, mapping.guest_customers)
    values = ", ".join(quote(c.name) for c in RAW_TABLES[table])
    sql = (
        f"insert into raw.{quote(table)} ({values}, _source_file, _loaded_at) select {values}, ?, ? "
        "from _cvw_checked where _reason is null order by _row_number"
    )
    loaded = con.execute(sql, [path.name, loaded_at]).fetchone()[0]
    if allow_updates:  # without, rules 16-17 reject every known key: no row can replace another
        mark_replaced(con, table, loaded_at)
    order_column = "order_id" if any(column.name == "order_id" for column in RAW_TABLES[table]) else None
    rejects = write_rejects(con, "_cvw_checked", table, path, sha256, loaded_at, order_column)
    advice.append(guest_like_loads(con, table))
    if any(reason.startswith("non-numeric") for reason in rejects):
        advice.append(number_format_rejects(con, table, mapping.number_format))
    if any(reason.startswith("unparsable date") for reason in rejects):
        advice.append(date_format_rejects(con, table, date_formats))
    read = rows_read(con)
    drop_staged(con)
    load = FileLoad(
        path.name,
        table,
        sha256,
        loaded,
        False,
        read,
        sum(rejects.values()),
        rejects,
        advice="\n".join(filter(None, advice)) or None,
    )
    return log_load(con, load, loaded_at)


def _load_ground_truth(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> FileLoad:
    """Replace the simulation's ground-truth side table with the file, unless it holds that content."""
    sha256 = sha256_of(path)
    if already_loaded(con, GROUND_TRUTH_TABLE, sha256):
        return FileLoad(path.name, GROUND_TRUTH_TABLE, sha256, 0, True)
    con.execute(f"create or replace table {GROUND_TRUTH_TABLE} as select * from read_parquet(?)", [str(path)])
    rows = con.execute(f"select count(*) from {GROUND_TRUTH_TABLE}").fetchone()[0]
    return log_load(con, FileLoad(path.name, GROUND_TRUTH_TABLE, sha256, rows, False, rows), loaded_at)


class _DryRun(Exception):
    """Raised inside a dry run's transaction to roll it back, carrying what the loads did (not an error)."""

    def __init__(self, loads: list[FileLoad]) -> None:
        super().__init__("dry run")
        self.loads = loads


def load_files(
    jobs: list[tuple[Path, Loader]], warehouse_path: Path | None = None, dry_run: bool = False
) -> list[FileLoad]:
    """Run each file's loader in one transaction (all files or none); return what happened to each file.

    A load that fails on a warehouse it created removes it: it changed nothing, and an empty warehouse left
    behind would let the next verbs start on it without a word (include.warehouse.connect). A dry run
    validates and loads as a load does, then rolls back (and removes a warehouse it created): nothing of it
    stays.
    """
    warehouse = Path(warehouse_path) if warehouse_path is not None else get_settings().warehouse_path
    created = not warehouse.exists()
    loaded_at = datetime.now(UTC).replace(tzinfo=None)  # one time for the whole load, in UTC
    con = connect(warehouse, create=True)
    try:
        with transaction(con):
            create_tables(con)
            loads = [loader(con, Path(path), loaded_at) for path, loader in jobs]
            if dry_run:
                raise _DryRun(loads)
            return loads
    except BaseException as error:
        if created:  # while this connection holds the file's lock, so no other process has opened it
            remove_database_file(warehouse)
        if isinstance(error, _DryRun):
            return error.loads
        raise
    finally:
        con.close()


# A landing file's failure whose advice is a mapping (cvw import's --map, --date-format) gets this: cvw ingest
# and the ingest DAG read the contract's column names and ISO 8601 timestamps only, and take no such option.
LANDING_HAS_NO_MAPPING = (
    "Landing files are read by the contract's column names and ISO 8601 timestamps: give the file those, or "
    "load it with cvw import, whose --map and --date-format read others (docs/data-contract.md)."
)


def _load_landing_file(
    con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime, table: str
) -> FileLoad:
    """Load a landing file by the contract's names; a failure that names a mapping says where one is given."""
    try:
        return load_table_file(con, path, loaded_at, mapping=Mapping(table))
    except MappingAdvice as error:
        raise MappingAdvice(f"{error} {LANDING_HAS_NO_MAPPING}") from None


def load_landing(directory: Path, warehouse_path: Path | None = None) -> list[FileLoad]:
    """Load every new landing file of the directory in one transaction; return what happened to each file."""
    jobs: list[tuple[Path, Loader]] = []
    for path, table in landing_files(Path(directory)):
        loader = _load_ground_truth
        if table in RAW_TABLES:
            loader = partial(_load_landing_file, table=table)
        jobs.append((path, loader))
    return load_files(jobs, warehouse_path)


def describe(load: FileLoad, preset: bool = False) -> str:
    """Return one line (and one per reject reason) saying what a load did with a file (of a `preset`)."""
    if load.skipped:
        # the way to load it again, where there is one: cvw import's --reload (cvw ingest has none) takes a
        # raw table's file, not a preset's (refused) nor the ground truth (no raw table)
        skipped = "skipped (already loaded; cvw import --reload loads it again)"
        if preset:
            skipped = "skipped (already loaded: a preset loads a file once)"
        elif load.table not in RAW_TABLES:
            skipped = "skipped (already loaded: a file of new content replaces the table)"
        return f"{load.file:<40} -> {load.table:<24} {skipped}"
    counts = f"{load.rows_read:,} read = {load.rows_loaded:,} rows loaded + {load.rows_rejected:,} rejected"
    lines = [f"{load.file:<40} -> {load.table:<24} {counts}"]
    lines += [f"{'':<44}{rows:>12,} rejected: {reason}" for reason, rows in load.rejects.items()]
    lines += [f"{'':<44}{rows:>12,} rows added to raw.{table}" for table, rows in load.derived.items()]
    if load.advice:
        lines += [f"{'':<44}{line}" for line in load.advice.splitlines()]
    if load.preview:
        lines.append(f"{'':<44}the first rows as they would load:")
        lines += [f"{'':<44}{line}" for line in load.preview.splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Load the landing directory into the warehouse from the command line; return the exit code."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="cvw ingest", description=__doc__.splitlines()[0])
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
        print(describe(load))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Connections to the DuckDB warehouse file, one-transaction blocks on them, whether a table exists, and
the date the marts were built for. Light on imports: the dbt build's task reads that date (no pandas)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import duckdb

from include.folders import why_not_made
from include.settings import get_settings
from include.warehouse_file import descriptor_of, foreign_wal, require_database_file

LOG = logging.getLogger(__name__)
T = TypeVar("T")
# How long a writer waits for another process to let go of the warehouse before it gives up.
LOCK_WAIT_SECONDS = 600


def connect(
    path: Path | None = None, read_only: bool = False, create: bool = False
) -> duckdb.DuckDBPyConnection:
    """Return a connection to the warehouse file at `path` (the settings' warehouse by default).

    Only a load creates the warehouse (`create`, with its folder): any other verb on a missing one (a
    mistyped CVW_WAREHOUSE, a fresh checkout) stops in one sentence, leaving no empty warehouse behind that
    later verbs would find without a word. The connection's memory_limit is CVW_DUCKDB_MEMORY_LIMIT, as
    dbt's: beyond it DuckDB spills to disk (e.g. the rows scoring keeps between its passes) instead of
    growing.
    """
    settings = get_settings()
    path = Path(path) if path is not None else settings.warehouse_path
    if not path.exists() and not create:
        raise SystemExit(
            f"The warehouse {path} does not exist: load it first with `cvw ingest`, `cvw import` or the demo."
        )
    if path.exists() and descriptor_of(path) is None:  # else checked when this process first opened it
        require_database_file(path)
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a folder it cannot make: a path through a file, no permission
            raise SystemExit(
                f"Cannot create the warehouse {path}: {why_not_made(path.parent, error)}. Give --warehouse "
                "(or CVW_WAREHOUSE) a path in a folder you can write."
            ) from None
    with _in_use_is_one_sentence(path), _held_otherwise_is_one_sentence(path, read_only):
        con = duckdb.connect(str(path), read_only=read_only)
    # set, not passed as config: other connections to the same file in this process share one instance
    settle(con, settings.duckdb_memory_limit)
    return con


def settle(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    """Set the memory limit and time zone of a connection that reads the warehouse (its own or attached)."""
    con.execute("set memory_limit = ?", [memory_limit])
    # timestamps are UTC in the warehouse: a zoned value (a CSV's +02:00, a Parquet TIMESTAMPTZ) becomes UTC
    # whatever the machine's zone (include.value_casts.typed)
    con.execute("set TimeZone = 'UTC'")


class WarehouseInUse(SystemExit):
    """Another process holds the warehouse file: unlike the other refusals, a later try may find it free."""

    def __init__(self, message: str, lock_error: str = "") -> None:
        super().__init__(message)
        self.lock_error = lock_error  # DuckDB's first line, naming the process that holds the file


def in_use(path: Path, lock_error: str) -> WarehouseInUse:
    """Return the one-sentence refusal of a warehouse another process holds, with DuckDB's lock error."""
    # one writer or many readers: another process holds the file (an Airflow task retries this)
    return WarehouseInUse(
        f"The warehouse {path} is in use by another process ({lock_error}): wait for it to finish, or "
        "close it, then run again.",
        lock_error,
    )


@contextmanager
def _in_use_is_one_sentence(path: Path) -> Iterator[None]:
    """Turn DuckDB's lock error, and its error on a write-ahead log of another copy of the file, on opening
    the warehouse into one sentence each; other errors pass on."""
    try:
        yield
    except duckdb.IOException as error:
        if "replaying WAL" in str(error) and "does not match" in str(error):
            raise foreign_wal(path, str(error).splitlines()[0]) from None
        if "lock" not in str(error).lower():
            raise
        raise in_use(path, str(error).splitlines()[0]) from None


@contextmanager
def _held_otherwise_is_one_sentence(path: Path, read_only: bool) -> Iterator[None]:
    """Turn DuckDB's refusal of a second connection of this process to the warehouse in another mode (a
    notebook holds it read-only, and a verb asks for it read-write, or the reverse), and of a connection to
    a file this process attached itself (a notebook's ATTACH, either mode), into one sentence each."""
    try:
        yield
    except duckdb.ResourceInUseException as error:
        attached = re.search(r'already attached by database "([^"]*)"', str(error))
        if "Unique file handle conflict" not in str(error) or not attached:
            raise
        raise SystemExit(
            f"The warehouse {path} is attached in this process already, as database {attached[1]} (an ATTACH "
            "of your own, as a notebook's), and DuckDB opens a file once per process: DETACH "
            f"{attached[1]} (or close the connection that attached it), then run again."
        ) from None
    except duckdb.ConnectionException as error:
        if "different configuration" not in str(error):
            raise
        asked, held = ("read-only", "read-write") if read_only else ("read-write", "read-only")
        raise SystemExit(
            f"The warehouse {path} is open {held} in this process already (a connection still open, as a "
            f"notebook's), and DuckDB opens a file one way per process, so it cannot be opened {asked} "
            "beside it: close that connection (con.close()), then run again."
        ) from None


def roll_back_if_open(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the connection's open transaction, if one is open.

    None is open after a COMMIT that failed (DuckDB has rolled it back) or that went through as an exception
    arrived (Ctrl-C, Airflow's execution_timeout: both interrupt wherever the code is): a ROLLBACK then
    raises an error of its own, which would hide the exception being handled.
    """
    try:
        con.execute("rollback")
    except duckdb.TransactionException as error:
        if "no transaction is active" not in str(error):
            raise


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield the connection inside one transaction: commit when the block ends, roll back when it raises.

    A commit that fails, or that an interrupt reaches as it returns, raises its own error, never the
    rollback's "no transaction is active" (roll_back_if_open).
    """
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        roll_back_if_open(con)
        raise


def has_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    *,
    database: str | None = None,
    views: bool = True,
) -> bool:
    """Return whether `schema.table` exists, its names matched exactly as the catalog stores them.

    `database` limits the search to one attached database (by default any, temporary tables included);
    `views=False` counts tables only.
    """
    query = (
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ? "
        "and table_catalog = coalesce(?, table_catalog) and (? or table_type <> 'VIEW')"
    )
    return con.execute(query, [schema, table, database, views]).fetchall()[0][0] > 0


def ensure_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, ddl: str, added_columns: dict[str, str]
) -> None:
    """Create the schema and the table (`ddl`, a `create table if not exists`) when they do not exist, and
    add the columns a table made before them lacks: `added_columns`, {name: type} from the caller's
    allow-list (they are formatted into the statement), empty on its existing rows."""
    con.execute(f"create schema if not exists {schema}")
    con.execute(ddl)
    for column, column_type in added_columns.items():
        con.execute(f"alter table {schema}.{table} add column if not exists {column} {column_type}")


def require_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, step: str) -> None:
    """Stop with one sentence naming the step that makes `schema.table` when the warehouse lacks it."""
    if not has_table(con, schema, table):
        raise SystemExit(f"The warehouse has no {schema}.{table} yet: {step} first.")


def first_order_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Return the time of the first order in raw.orders (current versions, as staging reads them), or None.

    A date on or before it has no customer: the marts built for it are empty, so a build, a scoring and a
    monitoring of it refuse it or say so.
    """
    if not has_table(con, "raw", "orders", views=False):
        return None
    versions = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'orders' and column_name = '_replaced_at'"
    ).fetchone()[0]
    current = " where _replaced_at is null" if versions else ""  # a fixed clause, no value in it
    return con.execute(f"select min(ordered_at) from raw.orders{current}").fetchone()[0]


def marts_scoring_date(con: duckdb.DuckDBPyConnection) -> date:
    """Return the scoring cutoff of the feature mart (the as-of date the marts were built for).

    Not the date a score run scores (the score DAG's task `scoring_date`, include.scoring.run_as_of_date):
    a backfill or an `as_of_date` scores another date, from marts built for it in a scratch copy.
    """
    require_table(con, "marts", "customer_features", "run the dbt build (cvw build)")
    row = con.execute("select max(cutoff_date) from marts.customer_features where is_scoring_date").fetchone()
    if row is None or row[0] is None:
        raise SystemExit("marts.customer_features has no scoring date: run the dbt build first (make demo).")
    return row[0]


def wait_until_writable(path: Path | None = None, timeout_seconds: float = LOCK_WAIT_SECONDS) -> float:
    """Wait until the warehouse file can be opened read-write; return the seconds waited.

    DuckDB lets one process write a file, or several read it: a connection held open elsewhere (`cvw sql`,
    a notebook) makes a writer fail on the lock at once. For a step that cannot retry (the dbt build: Cosmos
    never runs a second build in one run), waiting here, with the wait doubling from 1 s up to 30 s, turns
    that into a pause. Stops with one sentence when the lock outlasts the timeout; other errors pass on.
    """
    path = Path(path) if path is not None else get_settings().warehouse_path
    if not path.exists():  # nobody holds it, and connecting would create it
        return 0.0
    started = time.monotonic()
    connect_when_free(path, timeout_seconds).close()
    return time.monotonic() - started


def connect_when_free(
    path: Path | None = None, timeout_seconds: float | None = None, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Return a connection to the warehouse (read-write by default), waiting while another process holds it.

    As wait_until_writable, but the connection is the one that found the file free, so no other process
    can take it in between: for a write whose work is lost when it fails on the lock (a training's
    registration comes after minutes of fitting). Stops with one sentence when the lock outlasts the
    timeout, as connect does on a missing warehouse; other errors pass on.
    """
    path = Path(path) if path is not None else get_settings().warehouse_path
    return when_free(path, lambda: connect(path, read_only=read_only), timeout_seconds)


def attach_when_free(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, timeout_seconds: float | None = None
) -> None:
    """Attach the warehouse read-only to the connection's instance as `alias` (an allow-listed name),
    waiting while another process writes it, as connect_when_free; return None."""

    def attach() -> None:
        with _in_use_is_one_sentence(path):
            con.execute(f"attach ? as {alias} (read_only)", [str(path)])

    when_free(path, attach, timeout_seconds)


def when_free(path: Path, opening: Callable[[], T], timeout_seconds: float | None = None) -> T:
    """Return what `opening` returns, calling it again while it meets another process's lock on the file.

    `opening` raises WarehouseInUse on the lock; the wait doubles from 1 s up to 30 s. Stops with one
    sentence when the lock outlasts the timeout (default LOCK_WAIT_SECONDS); other errors pass on.
    """
    timeout_seconds = LOCK_WAIT_SECONDS if timeout_seconds is None else timeout_seconds
    started, delay = time.monotonic(), 1.0
    while True:
        try:
            return opening()
        except WarehouseInUse as error:
            waited = time.monotonic() - started
            if waited + delay > timeout_seconds:
                raise SystemExit(
                    f"The warehouse {path} stayed locked by another process for {waited:.0f} s "
                    f"({error.lock_error}): close the connection that holds it (BI tools read the "
                    "serving copy instead), then run again."
                ) from None
            LOG.warning("The warehouse %s is locked by another process; trying again in %.0f s", path, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

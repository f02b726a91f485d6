"""`cvw sql`: one read-only query on the warehouse, in a DuckDB instance of its own that cannot write any
file (in a read-only transaction of the process's own instance when the process holds the warehouse
already, as a notebook does), and stopped by Ctrl-C wherever DuckDB runs it."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from include.mapping import quote
from include.settings import get_settings
from include.warehouse import _in_use_is_one_sentence, connect, roll_back_if_open, settle
from include.warehouse_file import descriptor_of

READ_STATEMENTS = ("SELECT", "EXPLAIN")  # what `cvw sql` runs: queries (describe, show, summarize included)


def _kind(statement: duckdb.Statement) -> str:
    """Return a statement's type name; a PIVOT, which DuckDB reports as MULTI (it first reads the values to
    pivot on), is a SELECT."""
    if statement.type.name == "MULTI" and statement.query.lstrip().lower().startswith("pivot"):
        return "SELECT"
    return statement.type.name


@contextmanager
def interrupted_by_ctrl_c(con: duckdb.DuckDBPyConnection) -> Iterator[threading.Event]:
    """Let Ctrl-C stop the connection's query where DuckDB does not look for it; yield the event it sets.

    DuckDB answers Ctrl-C while it executes a statement, but not while it renders a relation (`str` of
    `con.sql(...)`, as `cvw sql` prints one): the query ran to its end, since Python runs its handler only
    between bytecodes of the main thread. Python also writes each signal's number to a wakeup file
    descriptor, from whichever thread the signal reached (DuckDB's own threads too): a watcher thread reads
    it, sets the event and interrupts the connection until the block ends, so a query that only starts
    after the key press is stopped too. The caller turns the query's end into KeyboardInterrupt when the
    event is set. Outside the main thread Ctrl-C keeps Python's own handling.
    """
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    done = threading.Event()
    readable, writable = os.pipe()
    os.set_blocking(writable, False)

    def watch() -> None:
        while not done.is_set():
            received = os.read(readable, 64)
            if signal.SIGINT in received and not done.is_set():
                pressed.set()
                while not done.wait(0.1):
                    con.interrupt()

    watcher = threading.Thread(target=watch, name="ctrl-c", daemon=True)
    watcher.start()
    wakeup, handler = None, None
    try:
        # the watcher reads before any signal is written; a Ctrl-C before this line is Python's own
        wakeup = signal.set_wakeup_fd(writable, warn_on_full_buffer=False)
        handler = signal.signal(signal.SIGINT, lambda *_: pressed.set())
        yield pressed
    finally:
        done.set()
        with suppress(BlockingIOError):  # a full pipe wakes the watcher as well
            os.write(writable, b"\0")  # wakes the watcher
        watcher.join()
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        if wakeup is not None:
            signal.set_wakeup_fd(wakeup)
        os.close(readable)
        os.close(writable)


def _held_connection(path: Path) -> duckdb.DuckDBPyConnection:
    """Return a new connection to the DuckDB instance through which this process holds the warehouse open.

    Attaching the file to a fresh instance opened a second descriptor of it, and closing that drops the
    lock of every connection of the process (include.warehouse_file.descriptor_of). DuckDB hands out the
    instance of a file it has open to the same configuration (read-write, or read-only) and refuses another
    one without opening the file; a file attached to an instance of its own it refuses read-write alone,
    and would open again read-only, so that one is not tried. Stops with one sentence when none is shared.
    """
    for read_only in (False, True):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.ConnectionException:  # held with another configuration: read-only is the next
            continue
        except duckdb.Error:  # attached to an instance of its own ("Unique file handle conflict")
            break
    raise SystemExit(
        f"cvw sql: the warehouse {path} is open in this process through a connection it cannot share "
        "(another configuration, or attached to a database of its own): run the query on that connection, "
        "or close it, then run again."
    )


def _printed(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """Return the printed result of the query on the connection; a DuckDB error becomes one sentence."""
    with interrupted_by_ctrl_c(con) as pressed:
        try:
            printed = str(con.sql(query))
        except duckdb.Error as error:
            if pressed.is_set():
                raise KeyboardInterrupt from None
            raise SystemExit(f"cvw sql: {str(error).splitlines()[0]}") from None
    if pressed.is_set():  # the query ended before the interrupt reached it
        raise KeyboardInterrupt
    return printed


def read_only_query(query: str, path: Path | None = None) -> str:
    """Return the printed result of read-only SQL on the warehouse; stop with one sentence otherwise.

    A read-only connection still lets DuckDB write other files (COPY ... TO, which can overwrite the
    warehouse file itself, or ATTACH another file read-write): only queries run, with access to any file
    but the warehouse switched off and locked, so the query cannot switch it back on. Those switches hold
    for a whole DuckDB instance, so the query gets one of its own (in memory, the warehouse attached
    read-only): the process's other connections to the warehouse keep theirs. In a process that holds the
    warehouse already (a notebook), the query runs in a read-only transaction of that process's instance
    instead (_held_connection), where it may read other files too: only queries run there as well.
    """
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as error:
        raise SystemExit(f"cvw sql: {str(error).splitlines()[0]}") from None
    kinds = [_kind(statement) for statement in statements]
    refused = sorted({kind for kind in kinds if kind not in READ_STATEMENTS})
    if not kinds or refused:
        raise SystemExit(
            "cvw sql runs queries only (select, describe, show, summarize, pivot, explain), not "
            f"{', '.join(refused) or 'nothing'}: the warehouse changes through the pipeline's steps."
        )
    settings = get_settings()
    path = Path(path) if path is not None else settings.warehouse_path
    if not path.exists():
        connect(path, read_only=True)  # stops with its sentence
    if descriptor_of(path) is not None:
        with _held_connection(path) as con:
            con.execute("begin transaction read only")
            con.execute("set session TimeZone = 'UTC'")
            try:
                return _printed(con, query)
            finally:
                roll_back_if_open(con)
    with duckdb.connect(":memory:") as con:
        settle(con, settings.duckdb_memory_limit)
        alias = path.stem if path.stem not in ("memory", "main", "system", "temp") else "warehouse"
        with _in_use_is_one_sentence(path):
            con.execute(f"attach ? as {quote(alias)} (read_only)", [str(path)])
        con.execute(f"use {quote(alias)}")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        return _printed(con, query)

"""A writer that cannot retry waits for another process to let go of the warehouse, within a bound."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from include.warehouse import connect, wait_until_writable


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    return path


def test_a_writer_waits_until_the_reader_lets_go(warehouse: Path, hold_warehouse) -> None:
    holder = hold_warehouse(warehouse, read_only=True, seconds=2)
    with pytest.raises(duckdb.IOException, match="lock"):
        duckdb.connect(str(warehouse))  # what the build would have met
    waited = wait_until_writable(warehouse, timeout_seconds=60)
    assert holder.wait(timeout=10) == 0  # it returned only once the reader was gone
    assert waited > 0
    duckdb.connect(str(warehouse)).close()


def test_a_lock_held_past_the_timeout_stops_with_a_sentence(warehouse: Path, hold_warehouse) -> None:
    hold_warehouse(warehouse, read_only=True)  # until the test ends
    with pytest.raises(SystemExit, match=r"stayed locked by another process for \d+ s .*: close the"):
        wait_until_writable(warehouse, timeout_seconds=2)


def test_a_connection_taken_when_free_waits_for_the_reader_and_keeps_the_file(
    warehouse: Path, hold_warehouse
) -> None:
    # a training's registration: failing on a prune's or a notebook's lock lost minutes of fitting
    from include.warehouse import connect_when_free

    holder = hold_warehouse(warehouse, read_only=True, seconds=2)
    with connect_when_free(warehouse, timeout_seconds=60) as con:
        assert holder.wait(timeout=10) == 0  # it connected only once the reader was gone
        con.execute("create table written as select 1 as x")
        reader = [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True)"]
        refused = subprocess.run([*reader, str(warehouse)], capture_output=True, text=True)
        assert refused.returncode == 1 and "lock" in refused.stderr  # it holds the file while it writes
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select x from written").fetchall() == [(1,)]


def test_a_connection_waited_for_past_the_timeout_stops_with_a_sentence(
    warehouse: Path, hold_warehouse
) -> None:
    from include.warehouse import connect_when_free

    hold_warehouse(warehouse, read_only=True)  # until the test ends
    stopped = r"stayed locked by another process for \d+ s \(IO Error: .*: close"
    with pytest.raises(SystemExit, match=stopped):
        connect_when_free(warehouse, timeout_seconds=2)


def test_a_second_connection_of_a_process_keeps_the_file_locked_against_other_processes(
    tmp_path: Path,
) -> None:
    # DuckDB locks the file with POSIX record locks, which a process loses on closing any descriptor of the
    # file: the checks of the second connect opened and closed it, and another process then wrote the
    # warehouse beside this one's connection (its table was lost at this one's next checkpoint)
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    writer = [
        sys.executable,
        "-c",
        "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table other as select 1')",
        str(warehouse),
    ]
    first = connect(warehouse)
    second = connect(warehouse)
    second.close()
    refused = subprocess.run(writer, capture_output=True, text=True)
    assert refused.returncode == 1 and "Could not set lock on file" in refused.stderr
    first.close()
    assert subprocess.run(writer, capture_output=True, text=True).returncode == 0  # once this one let go


@pytest.mark.parametrize(
    ("held_read_only", "held", "asked"),
    [(True, "read-only", "read-write"), (False, "read-write", "read-only")],
)
def test_a_connection_in_another_mode_than_the_process_holds_is_one_sentence(
    tmp_path: Path, held_read_only: bool, held: str, asked: str
) -> None:
    # a notebook holding the warehouse, then a verb of the same process asking the other mode: DuckDB's
    # ConnectionException ("different configuration than existing connections") as a traceback
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table kept as select 7 as x")
    notebook = connect(warehouse, read_only=held_read_only)
    with pytest.raises(SystemExit) as refused:
        connect(warehouse, read_only=not held_read_only)
    assert str(refused.value) == (
        f"The warehouse {warehouse} is open {held} in this process already (a connection still open, as a "
        f"notebook's), and DuckDB opens a file one way per process, so it cannot be opened {asked} beside "
        "it: close that connection (con.close()), then run again."
    )
    # the held connection is untouched, and still keeps other processes from writing the file
    assert notebook.execute("select x from kept").fetchall() == [(7,)]
    writer = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table other as select 1')"
    other = subprocess.run([sys.executable, "-c", writer, str(warehouse)], capture_output=True, text=True)
    assert other.returncode == 1 and "Could not set lock on file" in other.stderr
    notebook.close()
    with connect(warehouse, read_only=not held_read_only) as con:  # once it is closed, the other mode opens
        assert con.execute("select x from kept").fetchall() == [(7,)]


@pytest.mark.parametrize("read_only", [False, True])
def test_a_connection_to_a_warehouse_the_process_attached_itself_is_one_sentence(
    tmp_path: Path, read_only: bool
) -> None:
    # a notebook that ATTACHes the warehouse to a connection of its own, then a verb of the same process:
    # DuckDB's ResourceInUseException ("Unique file handle conflict") as a traceback, in either mode
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table kept as select 7 as x")
    notebook = duckdb.connect()
    notebook.execute(f"attach '{warehouse}' as shop")
    with pytest.raises(SystemExit) as refused:
        connect(warehouse, read_only=read_only)
    assert str(refused.value) == (
        f"The warehouse {warehouse} is attached in this process already, as database shop (an ATTACH of your "
        "own, as a notebook's), and DuckDB opens a file once per process: DETACH shop (or close the "
        "connection that attached it), then run again."
    )
    assert notebook.execute("select x from shop.kept").fetchall() == [(7,)]  # the notebook's is untouched
    notebook.execute("detach shop")
    with connect(warehouse, read_only=read_only) as con:  # as the sentence says
        assert con.execute("select x from kept").fetchall() == [(7,)]
    notebook.close()

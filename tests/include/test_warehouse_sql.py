"""`cvw sql` in a process that holds the warehouse already (a notebook) answers, and keeps the file locked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from include.warehouse import connect
from include.warehouse_sql import read_only_query

# a writer in another process: adds a table to the warehouse, or fails on the lock
WRITER = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table other as select 1')"


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select 42 as answer")
        con.execute("create sequence ids")
    return path


def _refused_to_another_process(warehouse: Path) -> bool:
    """Return whether another process is refused the warehouse for writing (and so wrote nothing)."""
    writer = subprocess.run([sys.executable, "-c", WRITER, str(warehouse)], capture_output=True, text=True)
    return writer.returncode == 1 and "Could not set lock on file" in writer.stderr


@pytest.mark.parametrize("read_only", [False, True], ids=["read_write", "read_only"])
def test_a_query_beside_a_connection_of_the_process_answers_and_keeps_the_file_locked(
    warehouse: Path, read_only: bool
) -> None:
    # the query attached the file to an instance of its own: beside a read-write connection DuckDB refused
    # that with a traceback ("Unique file handle conflict"); beside a read-only one it opened a second
    # descriptor of the file, whose closing dropped the process's lock, and another process then wrote it
    with connect(warehouse, read_only=read_only) as notebook:
        printed = read_only_query("select answer from t", warehouse)
        assert "answer" in printed and "42" in printed
        with pytest.raises(SystemExit, match="^cvw sql: .*read-only"):
            read_only_query("select nextval('ids')", warehouse)  # a query that writes
        assert _refused_to_another_process(warehouse)
        assert notebook.execute("select answer from t").fetchall() == [(42,)]
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("select count(*) from duckdb_tables()").fetchall() == [(1,)]
        assert con.execute("select nextval('ids')").fetchall() == [(1,)]  # never drawn by the query


def test_a_connection_the_query_cannot_share_is_one_sentence_and_keeps_its_lock(warehouse: Path) -> None:
    # a notebook's own configuration: DuckDB hands the file's instance to that configuration alone
    with duckdb.connect(str(warehouse), config={"threads": 1}) as notebook:
        with pytest.raises(SystemExit) as refused:
            read_only_query("select answer from t", warehouse)
        assert str(refused.value) == (
            f"cvw sql: the warehouse {warehouse} is open in this process through a connection it cannot "
            "share (another configuration, or attached to a database of its own): run the query on that "
            "connection, or close it, then run again."
        )
        assert _refused_to_another_process(warehouse)
        assert notebook.execute("select answer from t").fetchall() == [(42,)]

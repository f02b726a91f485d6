"""A warehouse restored from a backup beside the replaced file's write-ahead log stops with one sentence."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from include.warehouse import connect
from include.warehouse_sql import read_only_query

# writes to the warehouse after its backup, checkpoints, commits once more and dies before the next
# checkpoint (as a killed task does): the file moves on, and its last commit stays in its .wal
WRITER_KILLED = """
import duckdb, os, sys
con = duckdb.connect(sys.argv[1])
con.execute("insert into orders values ('o2')")
con.execute("checkpoint")
con.execute("set checkpoint_threshold = '1TB'")
con.execute("insert into orders values ('o3')")
os._exit(0)
"""


# DuckDB's reason when the log was written for the file at a later checkpoint, and for another file
LATER_CHECKPOINT = (
    "This WAL was created for this database file, but the WAL checkpoint iteration does not match the "
    "database file"
)
OTHER_FILE = "WAL does not match database file"


@pytest.fixture(params=[LATER_CHECKPOINT, OTHER_FILE], ids=["moved_on", "rebuilt"])
def restored(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """Return a warehouse restored from its backup by copying the backup over it, the .wal of the file it
    replaced left beside it (that file went on from the backup, or was rebuilt from scratch since), and
    DuckDB's reason for refusing that log."""
    warehouse, backup = tmp_path / "warehouse.duckdb", tmp_path / "backup" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table orders as select 'o1' as order_id")
    backup.parent.mkdir()
    shutil.copy(warehouse, backup)
    if request.param == OTHER_FILE:
        warehouse.unlink()
        duckdb.connect(str(warehouse)).execute("create table orders (order_id varchar)").close()
    subprocess.run([sys.executable, "-c", WRITER_KILLED, str(warehouse)], check=True)
    assert warehouse.with_name("warehouse.duckdb.wal").exists()
    shutil.copy(backup, warehouse)
    return warehouse, request.param


def _refusal(warehouse: Path, reason: str) -> str:
    """Return the sentence that names the stale write-ahead log of `warehouse` and its fix."""
    wal = warehouse.with_name("warehouse.duckdb.wal")
    return (
        f"The warehouse {warehouse} cannot be opened: its write-ahead log {wal} belongs to another copy of "
        f"the file ({reason}), as when a backup is copied over the warehouse and the replaced file's log "
        f"stays beside it: move {wal} out of the folder (a restore removes it: docs/operations.md, "
        '"Backup and restore"), then run again.'
    )


@pytest.mark.parametrize("read_only", [False, True])
def test_a_restored_warehouse_beside_the_replaced_files_wal_stops_with_one_sentence(
    restored: tuple[Path, str], read_only: bool
) -> None:
    warehouse, reason = restored
    with pytest.raises(SystemExit) as refused:
        connect(warehouse, read_only=read_only)
    assert str(refused.value) == _refusal(warehouse, reason)
    with pytest.raises(SystemExit) as refused:
        read_only_query("select count(*) from orders", warehouse)
    assert str(refused.value) == _refusal(warehouse, reason)


def test_the_restored_warehouse_opens_with_the_backups_rows_once_the_wal_is_moved(
    restored: tuple[Path, str],
) -> None:
    warehouse, _ = restored
    warehouse.with_name("warehouse.duckdb.wal").rename(warehouse.with_name("stale.wal"))
    con = connect(warehouse)
    assert con.execute("select order_id from orders order by 1").fetchall() == [("o1",)]
    con.close()

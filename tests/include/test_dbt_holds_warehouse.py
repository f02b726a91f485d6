"""A dbt run holds the warehouse from its first node to its end, and lets go of it when it ends."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from include.dbt import dbt_environment, release_warehouse, run_dbt

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
# another process, as `cvw sql` or a notebook: opens the warehouse read-only and lets go at once
PROBE = "import duckdb, sys\nduckdb.connect(sys.argv[1], read_only=True).close()\n"


def _opens(warehouse: Path) -> bool:
    """Return whether another process can open the warehouse now (False: it met dbt's lock)."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(warehouse)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0 or "Could not set lock" in probe.stderr, probe.stderr
    return probe.returncode == 0


def _two_models(folder: Path, connect_attempts: int | None = None) -> None:
    """Write a dbt project (the repo's profile, with `connect_attempts` when given) of two tables, the second
    read from the first."""
    (folder / "models").mkdir(parents=True, exist_ok=True)
    profile = (PROJECT / "profiles.yml").read_text()
    if connect_attempts is not None:
        attempts = f"connect_attempts: {connect_attempts}"
        profile, replaced = re.subn(r"connect_attempts: \d+", attempts, profile)
        assert replaced == 1
    (folder / "profiles.yml").write_text(profile)
    (folder / "dbt_project.yml").write_text(
        "name: two\nversion: '1.0.0'\nconfig-version: 2\nprofile: customer_value\n"
        "models:\n  two:\n    +materialized: table\n"
    )
    (folder / "models" / "first.sql").write_text("select 1 as n\n")
    (folder / "models" / "second.sql").write_text("select n + 1 as n from {{ ref('first') }}\n")


def _run_dbt_on_two_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, connect_attempts: int | None = None
) -> tuple[Path, Path]:
    """Return (project, warehouse): the two-model project written in tmp_path, which run_dbt then runs."""
    project, warehouse = tmp_path / "project", tmp_path / "w.duckdb"
    _two_models(project, connect_attempts)
    monkeypatch.setenv("CVW_DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    return project, warehouse


def test_no_other_process_opens_the_warehouse_between_two_nodes_of_a_run(monkeypatch, tmp_path) -> None:
    # with the file closed after each node, a `cvw sql` that opened it in between failed the next node on
    # the lock, and the build stopped half done
    from dbt.cli.main import dbtRunner

    project, warehouse = tmp_path / "project", tmp_path / "w.duckdb"
    _two_models(project)
    for name, value in dbt_environment(warehouse).items():
        monkeypatch.setenv(name, value)
    opened_between: list[bool] = []

    def probe(event) -> None:  # dbt's event, in its thread: the second node starts, the first is done
        if event.info.name == "NodeStart" and event.data.node_info.node_name == "second":
            opened_between.append(_opens(warehouse))

    arguments = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    arguments += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    try:
        result = dbtRunner(callbacks=[probe]).invoke(arguments)
    finally:
        release_warehouse()
    assert result.success
    assert opened_between == [False]
    assert _opens(warehouse)  # released once the run is over


def test_run_dbt_lets_go_of_the_warehouse_when_the_run_ends(monkeypatch, tmp_path) -> None:
    project, warehouse = _run_dbt_on_two_models(monkeypatch, tmp_path)
    run_dbt(["run"], warehouse_path=warehouse)
    assert _opens(warehouse)
    # and this process opens it with settings of its own (the instance dbt opened is gone)
    with duckdb.connect(str(warehouse), config={"threads": 1}) as con:
        assert con.execute("select n from main.second").fetchall() == [(2,)]


def test_a_run_that_finds_the_warehouse_held_is_in_use_not_a_dbt_failure(
    monkeypatch, tmp_path, hold_warehouse
) -> None:
    # both were DbtFailed, which the score and publish tasks now fail at once: only the lock is retried
    from include.dbt import DbtFailed
    from include.warehouse import WarehouseInUse

    # the lock outlasts every attempt of dbt's to open the file
    project, warehouse = _run_dbt_on_two_models(monkeypatch, tmp_path, connect_attempts=1)
    duckdb.connect(str(warehouse)).close()
    holder = hold_warehouse(warehouse)  # a notebook that opened it read-write
    with pytest.raises(WarehouseInUse) as held:
        run_dbt(["run"], warehouse_path=warehouse)
    holder.stdin.close()  # the notebook lets go
    assert holder.wait(timeout=30) == 0
    assert not isinstance(held.value, DbtFailed)
    assert held.value.lock_error.startswith(
        f'IO Error: Could not set lock on file "{warehouse}": Conflicting lock'
    )
    assert str(held.value) == (
        f"The warehouse {warehouse} is in use by another process ({held.value.lock_error}): wait for it to "
        "finish, or close it, then run again."
    )
    # free again, a mistake in a model's SQL is a dbt failure: a retry would fail the same
    (project / "models" / "second.sql").write_text("select m + 1 as n from {{ ref('first') }}\n")
    with pytest.raises(
        DbtFailed, match=r"^`dbt run` failed on 1 node\(s\): model\.two\.second \(Binder Error"
    ):
        run_dbt(["run"], warehouse_path=warehouse)


def test_a_run_that_finds_the_warehouse_held_for_a_moment_waits_for_it(
    monkeypatch, tmp_path, hold_warehouse
) -> None:
    # dbt opened the file once, on its first node, seconds (about 11 s here) after cvw build and transform
    # had waited for it to be free: a process that opened it in between failed the build on the lock, and
    # transform's build, which never retries, with it
    project, warehouse = _run_dbt_on_two_models(monkeypatch, tmp_path)
    duckdb.connect(str(warehouse)).close()
    # read-write for a few seconds, as a `cvw sql` or a notebook that opened it in the seconds between the
    # wait for the warehouse (wait_until_writable) and dbt's first node
    holder = hold_warehouse(warehouse, seconds=3)
    run_dbt(["run"], warehouse_path=warehouse)
    assert holder.wait(timeout=30) == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select n from main.second").fetchall() == [(2,)]


def test_a_run_in_a_process_that_holds_the_warehouse_read_only_is_one_sentence(monkeypatch, tmp_path) -> None:
    # a notebook that read the warehouse, then built or published from the same process: dbt failed before
    # its first node on DuckDB's "different configuration" error, its traceback in the log
    from include.warehouse import connect

    _, warehouse = _run_dbt_on_two_models(monkeypatch, tmp_path)
    duckdb.connect(str(warehouse)).close()
    notebook = connect(warehouse, read_only=True)
    with pytest.raises(SystemExit) as refused:
        run_dbt(["run"], warehouse_path=warehouse)
    assert str(refused.value) == (
        f"`dbt run` opens the warehouse {warehouse} read-write, but this process holds it read-only already "
        "(a connection still open, as a notebook's), and DuckDB opens a file one way per process: close that "
        "connection (con.close()), then run again."
    )
    assert notebook.execute("select count(*) from information_schema.tables").fetchall() == [(0,)]
    notebook.close()
    run_dbt(["run"], warehouse_path=warehouse)  # once it is closed, the run goes through
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select n from main.second").fetchall() == [(2,)]


def test_a_run_in_a_process_that_holds_the_warehouse_read_write_shares_its_connection(
    monkeypatch, tmp_path
) -> None:
    # DuckDB lets the process's read-write connections share one instance: dbt writes through it, and the
    # notebook's connection sees the run's tables at once, still holding the file when the run has ended
    from include.warehouse import connect

    _, warehouse = _run_dbt_on_two_models(monkeypatch, tmp_path)
    duckdb.connect(str(warehouse)).close()
    with connect(warehouse) as notebook:
        run_dbt(["run"], warehouse_path=warehouse)
        assert notebook.execute("select n from main.second").fetchall() == [(2,)]
        assert not _opens(warehouse)

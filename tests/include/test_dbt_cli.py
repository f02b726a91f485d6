"""dbt as the project runs it (include/dbt_cli.py): dbt's command line with the cyclic collector off."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from include.airflow_setup import dbt_executable
from include.dbt_cli import collector_paused, main

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _collector_back_on():
    yield
    gc.enable()


def test_cvw_dbt_runs_dbt_s_command_line_with_the_collector_off_and_exits_with_its_code(monkeypatch) -> None:
    import dbt.cli.main

    seen = []

    def cli(prog_name: str) -> int:
        seen.append((gc.isenabled(), prog_name))
        return 1

    monkeypatch.setattr(dbt.cli.main, "cli", cli)
    with pytest.raises(SystemExit) as ended:
        main()
    assert (seen, ended.value.code) == ([(False, "dbt")], 1)


def test_the_collector_is_paused_for_the_block_and_left_as_it_was() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed dbt run")
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # a caller that had it off keeps it off


def test_airflow_runs_cvw_dbt_which_answers_as_dbt_does() -> None:
    assert dbt_executable() == str(BIN / "cvw-dbt")
    for arguments, code in ((["--help"], 0), (["no-such-command"], 2)):
        ours = subprocess.run([BIN / "cvw-dbt", *arguments], capture_output=True, text=True)
        dbts = subprocess.run([BIN / "dbt", *arguments], capture_output=True, text=True)
        assert (ours.returncode, dbts.returncode) == (code, code)
        assert ours.stdout == dbts.stdout


def test_cvw_build_runs_dbt_in_process_with_the_collector_off_then_back_on(monkeypatch, tmp_path) -> None:
    import dbt.cli.main

    from include.dbt import run_dbt

    seen = []

    class Runner:
        def invoke(self, args: list[str]) -> object:
            seen.append((gc.isenabled(), args[0]))
            return type("Outcome", (), {"success": True})()

    monkeypatch.setattr(dbt.cli.main, "dbtRunner", Runner)
    gc.enable()
    run_dbt(["parse"], tmp_path / "warehouse.duckdb")
    assert (seen, gc.isenabled()) == ([(False, "parse")], True)

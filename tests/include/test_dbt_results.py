"""A failed dbt build in one line, from dbt's JSON log lines as the transform DAG's producer reads them."""

import json

from include.dbt_results import build_failure, node_failure


def _line(name: str, level: str, text: str, unique_id: str | None = None, **data) -> str:
    """Return one JSON log line of dbt (`--log-format json`), as dbt 1.11 writes it, with `data` fields."""
    node_info = {"unique_id": unique_id, "node_status": "None"} if unique_id else None
    info = {"name": name, "level": level, "msg": text}
    return json.dumps({"data": {**data, "node_info": node_info}, "info": info})


FAILED_BUILD = [
    _line("MainReportVersion", "info", "Running with dbt=1.11.16"),
    "not a JSON line: a warning a library printed",
    _line("LogModelResult", "error", "1 of 3 ERROR creating sql view model main.m", "model.p.m"),
    _line("RunResultFailure", "error", "\x1b[31mFailure in model m (models/m.sql)\x1b[0m", "model.p.m"),
    _line(
        "RunResultError",
        "error",
        "  Runtime Error in model m",
        "model.p.m",
        msg='Runtime Error in model m (m.sql)\n  Binder Error: Referenced column "x" not found\n  LINE 1',
    ),
    _line("RunResultFailure", "error", "Failure in test t (tests/t.sql)", "test.p.t"),
    _line(
        "RunResultError",
        "error",
        "Got 2 results",
        "test.p.t",
        msg="Got 2 results, configured to fail if != 0",
    ),
    _line("RunResultErrorNoMessage", "error", "Status: error", "model.p.n", status="error"),
    _line("StatsLine", "info", "Done. PASS=0 WARN=0 ERROR=3 SKIP=0 NO-OP=0 TOTAL=3"),
]


def test_a_build_that_failed_nodes_names_each_with_dbt_s_reason() -> None:
    assert build_failure(FAILED_BUILD, 1) == (
        '`dbt build` failed on 3 node(s): model.p.m (Binder Error: Referenced column "x" not found); '
        "test.p.t (Got 2 results, configured to fail if != 0); model.p.n (status error)."
    )


def test_a_build_that_stopped_before_its_nodes_gives_dbt_s_error_without_its_traceback() -> None:
    # CVW_DUCKDB_MEMORY_LIMIT=lots, as dbt 1.11 reports it
    lines = [
        _line(
            "MainEncounteredError", "error", "Encountered an error:\nParser Error: Memory must have a number"
        ),
        _line("MainStackTrace", "error", 'Traceback (most recent call last):\n  File "connections.py"'),
    ]
    assert (
        build_failure(lines, 2)
        == "`dbt build` failed before running its nodes: Parser Error: Memory must have a number"
    )
    assert build_failure(["Killed"], 137) == (
        "`dbt build` failed with exit code 137 and no error message; its output is in this log."
    )


def test_a_node_without_a_message_of_its_own_says_what_the_build_did_to_it() -> None:
    def nothing(key: str) -> None:
        return None

    assert node_failure("model.p.m", "failed", nothing) == (
        "model.p.m was skipped by this run's dbt build: a node upstream of it failed."
    )
    assert node_failure("model.p.m", "error", nothing, producer="dbt.dbt_producer_watcher") == (
        "model.p.m ended with status 'error' in this run's build; dbt's output is in the log of "
        "dbt.dbt_producer_watcher."
    )

"""What the transform DAG's dbt build said about a failure, in one line, for its tasks' errors and alerts.

The producer runs `dbt build` as a child process and turns its JSON log lines into XComs: each node's
status and, for a node that failed, dbt's message (`<node>_dbt_event`, from dbt's run summary at the end of
the build). Cosmos failed the node's task with "Review the producer task logs" and the build's task with
"dbt command failed ... exit code 1", after logging dbt's whole JSON output (over 200 kB) at error level,
so dbt's reason (a Binder Error naming a column) reached no alert. Here the failed node's task and the
build's task each fail with it, in one line (the alert line is the error's first line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from cosmos.operators._watcher.state import (
    get_dbt_event_xcom_key,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
)

from include.dbt_messages import node_reason

FAILED_BY_COSMOS = "failed"  # Cosmos' status of a node dbt skipped after a failure (dbt says "skipped")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def node_name(unique_id: str) -> str:
    """Return a node's name from its unique id: customer_rfm, not_null_customer_rfm_r_score, a unit test's."""
    parts = unique_id.split(".")
    return parts[3] if parts[0] == "unit_test" and len(parts) > 3 else parts[min(2, len(parts) - 1)]


def _reason(event: Any) -> str:
    """Return the one-line reason of a node's dbt event, "" when it holds none (no failure, no message)."""
    if not isinstance(event, dict):
        return ""
    status = event.get("status")
    if is_dbt_node_status_success(status) or is_dbt_node_status_skipped(status):
        return ""
    message = _ANSI.sub("", str(event.get("msg") or "")).strip()
    if not message or message.startswith("Failure in "):  # dbt's header before the message, not the message
        return ""
    return node_reason(message)


def node_failure(
    unique_id: str,
    status: str,
    read: Callable[[str], Any],
    *,
    tests: Iterable[str] = (),
    unit_tests: Iterable[str] = (),
    producer: str = "dbt_producer_watcher",
) -> str:
    """Return one line saying why this run's build failed a node task: dbt's message for the node, for its
    unit test (dbt then skips the model), or for each failed test of a model's tests task.

    `read` returns one of the producer's XComs by key; `tests` are the tests of a model's tests task.
    """
    tests = list(tests)
    if tests:
        failed = [f"{node_name(test)} ({reason})" for test in tests if (reason := _reason(read(_key(test))))]
        if failed:
            return f"tests of {unique_id} failed in this run's dbt build: {'; '.join(failed)}"
    elif reason := _reason(read(_key(unique_id))):
        return f"{unique_id} failed in this run's dbt build: {reason}"
    else:
        for unit_test in unit_tests:
            if reason := _reason(read(_key(unit_test))):
                return (
                    f"{unique_id} was not built: its unit test {node_name(unit_test)} failed in this run's "
                    f"dbt build: {reason}"
                )
        if status == FAILED_BY_COSMOS:
            return f"{unique_id} was skipped by this run's dbt build: a node upstream of it failed."
    return (
        f"{unique_id} ended with status {status!r} in this run's build; dbt's output is in the log of "
        f"{producer}."
    )


def _key(unique_id: str) -> str:
    """Return the XCom key of a node's dbt event (its message, for a node that failed)."""
    return get_dbt_event_xcom_key(unique_id)


def build_failure(output: Iterable[str], exit_code: int) -> str:
    """Return one line saying why a `dbt build` failed, from its JSON log lines: each failed node with dbt's
    reason (its run summary), or dbt's own error when it stopped before running its nodes."""
    failed: dict[str, str] = {}
    errors: list[str] = []
    for line in output:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        data, info = event.get("data") or {}, event.get("info") or {}
        unique_id = (data.get("node_info") or {}).get("unique_id")
        if info.get("name") == "RunResultError" and unique_id:
            failed[unique_id] = node_reason(str(data.get("msg") or "")).rstrip(".")
        elif info.get("name") == "RunResultErrorNoMessage" and unique_id:
            failed.setdefault(unique_id, f"status {data.get('status')}")
        elif info.get("name") == "MainEncounteredError":  # dbt stopped: its error, after its own header
            errors.append(_ANSI.sub("", str(info.get("msg") or "")))
    if failed:
        nodes = "; ".join(f"{node} ({reason})" if reason else node for node, reason in failed.items())
        return f"`dbt build` failed on {len(failed)} node(s): {nodes}."
    lines = [line.strip() for error in errors for line in error.splitlines() if line.strip()]
    lines = [line for line in lines if line != "Encountered an error:"]
    if lines:
        return f"`dbt build` failed before running its nodes: {' '.join(lines)}"
    return f"`dbt build` failed with exit code {exit_code} and no error message; its output is in this log."

"""dbt's message about a failed node, as one line: the reason an error, an alert or a refusal gives.

dbt precedes a node's error with a header, colours it, and words the two failures a changed incremental
model meets (new columns, a contract) in its own advice; cvw build, the transform DAG's tasks and their
alerts give the reason alone, and the project's fix.
"""

from __future__ import annotations

import re

# The line dbt puts before a node's error ("Compilation Error in model x (models/x.sql)"): it says nothing
# the node's id does not, so the reason is the line after it.
_ERROR_HEADER = re.compile(r"^[\w ]*Error in \w+ \S+ \(.*\)$")
_UNIT_TEST_ERROR = "An error occurred during execution of unit test"
_SCHEMA_CHANGE = "schemas on this incremental model are out of sync"
_CONTRACT = "has an enforced contract that failed"
_UNIT_TEST_DIFF = "actual differs from expected"  # a unit test that ran: dbt's diff of the rows follows
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # dbt colours its messages, the unit test's diff included


def _column_names(message: str, label: str) -> list[str]:
    """Return the column names dbt lists after `label` (e.g. "Source columns not in target:") in a message."""
    line = next((line for line in message.splitlines() if label in line), "")
    return re.findall(r"column='([^']+)'", line)


def _contract_mismatch(row: list[str]) -> str:
    """Return one row of dbt's contract table as "column reason", with both types when both are known."""
    name, model_type, contract_type, reason = (cell.strip() for cell in row[:4])
    if model_type and contract_type:
        return f"{name} {reason}: {model_type} in the model, {contract_type} in the YAML"
    return f"{name} {reason}"


def node_reason(message: str) -> str:
    """Return a failed node's reason in one line: dbt's first line after its header (for a unit test that
    could not run, the database's error after dbt's advice), or, for the two failures a changed model
    meets, which columns changed and the project's fix (dbt's own advice, a config change or
    full_refresh: True, is not how this project rebuilds)."""
    message = _ANSI.sub("", message)
    if message.lstrip().startswith(_UNIT_TEST_DIFF):
        rows = "the model's rows are not the unit test's expected rows (dbt's log shows both)"
        return f"{_UNIT_TEST_DIFF}: {rows}"
    if _SCHEMA_CHANGE in message:
        added = _column_names(message, "Source columns not in target:")
        dropped = _column_names(message, "Target columns not in source:")
        changed = [f"new {', '.join(added)}"] if added else []
        changed += [f"no more {', '.join(dropped)}"] if dropped else []
        return (
            f"its columns changed ({'; '.join(changed) or 'types'}) and an incremental model keeps its "
            "table's columns: rebuild with cvw build --full-refresh (transform's param full_refresh)"
        )
    if _CONTRACT in message:
        rows = [line.strip("| ").split("|") for line in message.splitlines() if line.strip().startswith("|")]
        mismatches = [_contract_mismatch(row) for row in rows[2:] if len(row) >= 4]
        return (
            f"its columns differ from its YAML contract ({'; '.join(mismatches)}): declare every column "
            "with its data_type and a description in the model's YAML"
        )
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    # a compilation error's line is the project's own sentence (raise_compiler_error), kept whole: cut at 200
    # characters, the margin-rate refusal lost its fix ("Rebuild with cvw build --full-refresh (the).")
    refusal = len(lines) > 1 and lines[0].startswith("Compilation Error")
    if len(lines) > 1 and _ERROR_HEADER.match(lines[0]):
        lines = lines[1:]
    if len(lines) > 1 and lines[0].startswith(_UNIT_TEST_ERROR):
        # a unit test that could not run: dbt's advice on its definition, then the database's own error (a
        # typo in the model's SQL), which says what is wrong
        lines = [line for line in lines[1:] if not re.fullmatch(r"[\w ]*Error", line)] or lines
    if not lines:
        return ""
    return lines[0] if refusal else lines[0][:200]

"""Run the dbt project in-process against a DuckDB warehouse file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from include.dbt_cli import collector_paused
from include.dbt_messages import node_reason
from include.dbt_parse_state import keep_parse_state, option_value, parse_state_copy, written_at
from include.settings import TELEMETRY_OFF, get_settings
from include.warehouse_file import refuse_held_read_only


def project_label_horizons() -> list[int]:
    """Return the label horizons of dbt_project.yml (var label_horizons), as the analyst set them there."""
    import yaml

    project_file = get_settings().dbt_project_dir / "dbt_project.yml"
    horizons = (yaml.safe_load(project_file.read_text()).get("vars") or {}).get("label_horizons")
    if not isinstance(horizons, list) or not horizons:
        raise SystemExit(
            f"{project_file}: var label_horizons must be a list of days, e.g. [90, 365], not {horizons!r}."
        )
    # int() would take 400.5 for 400, and a horizon of 0 or fewer days labels every customer churned
    if not all(isinstance(days, int) and not isinstance(days, bool) and days >= 1 for days in horizons):
        raise SystemExit(
            f"{project_file}: var label_horizons must be a list of whole days of at least 1, e.g. [90, 365], "
            f"not {horizons!r}."
        )
    return sorted(set(horizons))


def label_horizons() -> list[int]:
    """Return the label horizons the marts are built with: dbt_project.yml's plus the configured horizon.

    The transform DAG passes them to every build, and cvw build when CVW_HORIZON_DAYS is not among the
    project's: a build with fewer deletes the labels of the others (customer_labels' post-hook), so they are
    read from the project, never repeated in code.
    """
    return sorted({*project_label_horizons(), get_settings().horizon_days})


def dbt_environment(warehouse: Path) -> dict[str, str]:
    """Return the environment every dbt run of the project gets: the settings dbt reads, and no telemetry.

    dbt reads the warehouse, the gross-margin rate and DuckDB's memory limit from CVW_* variables
    (profiles.yml, dbt_project.yml); they are passed as include.settings resolved them, so dbt's margins
    and the CLV's use one rate, and an empty variable means the default in both.
    """
    settings = get_settings()
    return {
        "CVW_WAREHOUSE": str(warehouse),
        "CVW_GROSS_MARGIN_RATE": repr(settings.gross_margin_rate),
        "CVW_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        **TELEMETRY_OFF,
    }


# Node statuses that make a dbt command fail (warnings and skips follow from these or are harmless).
_FAILED_STATUSES = {"error", "fail", "runtime error"}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous values."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_LOCKED = "Could not set lock on file"  # DuckDB: another process holds the warehouse


def _lock_error(outcome: object) -> str:
    """Return DuckDB's lock error a failed dbt run met (another process holds the warehouse), else ""."""
    results = getattr(getattr(outcome, "result", None), "results", None) or []
    texts = [str(getattr(outcome, "exception", None) or "")]
    texts += [str(getattr(node_result, "message", None) or "") for node_result in results]
    for line in (line.strip() for text in texts for line in text.splitlines()):
        if _LOCKED in line:
            return line[line.find("IO Error") :] if "IO Error" in line else line
    return ""


def _failed_nodes(result: object) -> list[str]:
    """Return 'unique_id (reason)' for every node of a dbt result that failed."""
    failed = []
    for node_result in getattr(result, "results", None) or []:
        if str(getattr(node_result.status, "value", node_result.status)).lower() in _FAILED_STATUSES:
            # the reason goes in parentheses inside a sentence: its own closing period would double up
            reason = node_reason(node_result.message or "").rstrip(".")
            failed.append(f"{node_result.node.unique_id}{f' ({reason})' if reason else ''}")
    return failed


class DbtFailed(RuntimeError):
    """A dbt command failed: the message names the nodes that failed, or why dbt stopped before them.

    A retry would fail the same (a SQL error, a failed test, a refusal of the project's macros): a run that
    failed because another process held the warehouse raises include.warehouse.WarehouseInUse instead.
    """


def release_warehouse() -> None:
    """Close the warehouse file a dbt run in this process left open (the profile's keep_open holds it).

    dbt-duckdb keeps one DuckDB instance per process between runs: left open, it would keep the warehouse
    locked after the run, and this process could not open the file with other settings.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV  # the next run in the process opens it again
    if environment is not None:
        environment.close()


def run_dbt(
    args: list[str],
    warehouse_path: Path | None = None,
    dbt_vars: dict[str, object] | None = None,
) -> None:
    """Run one dbt command (e.g. ["build"]) on the warehouse; return None or raise DbtFailed on failure
    (WarehouseInUse when another process held the warehouse: a later try may find it free)."""
    settings = get_settings()
    warehouse = Path(warehouse_path or settings.warehouse_path).expanduser().resolve()
    # dbt opens the file read-write in this process: beside a read-only connection of it, DuckDB refuses
    refuse_held_read_only(warehouse, "dbt " + " ".join(args))
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    project_dir = str(settings.dbt_project_dir)
    cli_args = [*args, "--project-dir", project_dir, "--profiles-dir", project_dir]
    if dbt_vars:
        cli_args += ["--vars", json.dumps(dbt_vars, default=str)]
    command = "dbt " + " ".join(args)
    named = option_value(args, "--target-path")
    target = settings.dbt_project_dir / named if named else settings.dbt_target_dir
    copy = parse_state_copy(target, [dbt_vars, str(warehouse), option_value(args, "--target")])
    if copy.exists():
        cli_args += ["--partial-parse-file-path", str(copy)]
    written = target / "partial_parse.msgpack"
    before = written_at(written)

    # the collector off as cvw-dbt runs dbt (include/dbt_cli.py), its import included
    with _environment(dbt_environment(warehouse)), collector_paused():
        from dbt.cli.main import dbtRunner  # heavy import: only when dbt actually runs

        try:
            outcome = dbtRunner().invoke(cli_args)
        finally:
            release_warehouse()
            keep_parse_state(written, before, copy)

    if outcome.success:
        return
    if isinstance(outcome.exception, KeyboardInterrupt):
        # dbt catches Ctrl-C, cancels its query and returns it as a failure: it is the user's interrupt
        # (cvw ends with its sentence and exit code 130), not a build that "failed before running its nodes"
        raise KeyboardInterrupt
    lock_error = _lock_error(outcome)
    if lock_error:
        from include.warehouse import in_use

        raise in_use(warehouse, lock_error)
    failed = _failed_nodes(outcome.result)
    if failed:
        raise DbtFailed(f"`{command}` failed on {len(failed)} node(s): {'; '.join(failed)}.")
    reason = " ".join(line.strip() for line in str(outcome.exception or "see the dbt log").splitlines())
    raise DbtFailed(f"`{command}` failed before running its nodes: {reason.strip()}")


def refuse_a_build_without_data(warehouse: Path, as_of_date: date | None, *, wait: bool = False) -> None:
    """Stop with one sentence before a build whose marts could only be empty or made up (and replace good
    ones).

    Without orders, dbt would create the warehouse file and fail on every staging model; with an as-of
    date on or before the first order, it would pass and leave every mart empty; with one after the latest
    date data can reach (include.scoring.latest_scoring_date, a mistyped year), it would pass and label
    every customer churned at every cutoff after the data ends, which training learnt from (a first model
    is promoted whatever its metrics) and scoring then refused. `wait`: wait while another process writes
    the warehouse (include.warehouse.connect_when_free), for transform's build, which cannot retry.
    """
    from include.scoring import refuse_a_future_date
    from include.warehouse import connect, connect_when_free, first_order_at

    refuse_a_future_date(
        as_of_date,
        f"The as-of date {as_of_date}",
        lambda latest: (
            "the marts would hold cutoffs after the data, whose customers all look churned, and "
            f"scoring refuses them. Choose a date up to {latest} (check CVW_AS_OF_DATE, or the as_of_date "
            "given)."
        ),
    )

    # stops with a sentence when the file does not exist
    with connect_when_free(warehouse, read_only=True) if wait else connect(warehouse, read_only=True) as con:
        first = first_order_at(con)
    if first is None:
        raise SystemExit(
            f"The warehouse {warehouse} holds no orders yet: load them first (cvw ingest, or cvw import "
            "--table orders FILE...)."
        )
    if as_of_date is not None and as_of_date <= first.date():
        raise SystemExit(
            f"The as-of date {as_of_date} is not after the first order ({first.date()}): the marts would "
            "hold no customer. Choose a later date."
        )


def dbt_build(
    warehouse_path: Path | None = None,
    as_of_date: date | None = None,
    *,
    full_refresh: bool = False,
    test_every_row: bool = False,
) -> None:
    """Seed, run and test the dbt project, bi marts aside, as of a date (default: settings, else data's end).

    The large intermediate models and fct_sessions are incremental: a build processes the loads that came
    since the last one. `full_refresh` rebuilds them from all raw data (after a change of their SQL or of
    var gross_margin_rate). A build tests what it wrote; `test_every_row` tests every row, as `dbt test`
    does (dbt_project/macros/test_scope.sql).
    """
    settings = get_settings()
    as_of_date = as_of_date or settings.as_of_date
    refuse_a_build_without_data(Path(warehouse_path or settings.warehouse_path), as_of_date)
    dbt_vars: dict[str, object] = {}
    if as_of_date is not None:
        dbt_vars["as_of_date"] = as_of_date.isoformat()
    if settings.horizon_days not in project_label_horizons():  # else dbt_project.yml's own holds
        dbt_vars["label_horizons"] = label_horizons()
    if test_every_row:
        dbt_vars["test_every_row"] = True
    command = ["build", "--full-refresh"] if full_refresh else ["build"]
    # as the transform DAG: the bi marts are publish's, built for the date it serves (include/publish.py);
    # built here for the marts' date, they would stop matching the serving copy of an older published date
    command += ["--exclude", "tag:bi"]
    run_dbt(command, warehouse_path=warehouse_path, dbt_vars=dbt_vars or None)

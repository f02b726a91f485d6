"""The model registry (ml.model_registry) and the champion gate.

Every trained model version gets one registry row per task ("clv", "churn") with status "champion",
"challenger-rejected" or "retired". promote_or_reject runs the champion gate (ml.gate.decide_promotion,
re-exported here: each gate metric holds the champion within a tolerance and beats every baseline), records
the version, and moves the champion pointer only when it is promoted; a rejected challenger is recorded and
scoring keeps the champion. promote_by_hand makes a registered version champion without the gate: the
operator's rollback, `cvw models promote`. A version's evaluation against the baselines is the ml.evaluations
rows of its model_version (ml.train stores them): that one column joins the two tables both ways, so the
registry holds no evaluation id. `pruned_at` is when `cvw models prune` removed the version's artifact
folder (ml.retention; empty for a version whose folder is kept): its rows stay, as history that BI,
`cvw models` and the score history read.

The table's columns, its statuses and the metadata dict a version's rows are built from are
ml.registry_table's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ml.artifacts import champion_version, promote_champion, restore_champion, version_dir
from ml.gate import (  # noqa: F401  (re-exported: the registry is where callers look for the gate)
    DEFAULT_TOLERANCE,
    GATE_METRICS,
    decide_promotion,
    metrics_from_evaluation,
    split_by_task,
    task_metrics,
)
from ml.registry_table import CHAMPION, REJECTED, RETIRED, ensure_registry, registry_rows


def _retire_champion(
    con: duckdb.DuckDBPyConnection, successor: str, reason: str, updated_at: datetime
) -> None:
    """Retire the champion's rows unless they are the successor's (the caller holds the transaction)."""
    con.execute(
        "update ml.model_registry set status = ?, reason = ?, updated_at = ? "
        "where status = ? and model_version <> ?",
        [RETIRED, reason, updated_at, CHAMPION, successor],
    )


def _write_rows(con: duckdb.DuckDBPyConnection, metadata: dict[str, Any], status: str, reason: str) -> int:
    """Replace a version's rows (the caller holds the transaction); retire the old champion for a new one."""
    rows = registry_rows(metadata, status, reason)
    if status == CHAMPION:
        version = metadata["version"]
        _retire_champion(con, version, f"replaced by {version}", rows[0]["updated_at"])
    con.execute("delete from ml.model_registry where model_version = ?", [metadata["version"]])
    columns = list(rows[0])  # the keys of registry_rows: a fixed allow-list of column names
    con.executemany(
        f"insert into ml.model_registry ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [[row[column] for column in columns] for row in rows],
    )
    return len(rows)


def register_model(con: duckdb.DuckDBPyConnection, metadata: dict[str, Any], status: str, reason: str) -> int:
    """Record a model version with a status and reason in one transaction; return the rows written."""
    ensure_registry(con)
    from include.warehouse import transaction

    with transaction(con):
        return _write_rows(con, metadata, status, reason)


def mark_pruned(con: duckdb.DuckDBPyConnection, versions: list[str]) -> None:
    """Record in one transaction that the versions' artifacts are removed: pruned_at, where still empty."""
    ensure_registry(con)
    from include.warehouse import transaction

    now = datetime.now(UTC).replace(tzinfo=None)
    with transaction(con):
        con.executemany(
            "update ml.model_registry set pruned_at = ? where model_version = ? and pruned_at is null",
            [[now, version] for version in versions],
        )


def current_champion(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, dict[str, float]]] | None:
    """Return (version, metrics by task) of the registry's champion, or None when there is none."""
    ensure_registry(con)
    rows = con.execute(
        "select model_version, task, metrics from ml.model_registry "
        "where status = ? order by trained_at desc",
        [CHAMPION],
    ).fetchall()
    if not rows:
        return None
    version = rows[0][0]
    return version, {task: json.loads(metrics) for v, task, metrics in rows if v == version}


def registered_champion(warehouse_path: Path | None = None) -> str | None:
    """Return the version ml.model_registry names champion, read only; None without one or when unreadable.

    What a missing champion pointer is checked against (ml.artifacts.require_champion): a warehouse that
    does not exist, has no registry yet or is held by another process has nothing to say, and gives None.
    """
    from include.warehouse import connect, has_table

    try:
        with connect(warehouse_path, read_only=True) as con:
            if not has_table(con, "ml", "model_registry"):
                return None
            row = con.execute(
                "select model_version from ml.model_registry where status = ? "
                "order by trained_at desc limit 1",
                [CHAMPION],
            ).fetchone()
    except (SystemExit, duckdb.Error):
        return None
    return None if row is None else row[0]


def _artifact_champion(artifacts_dir: Path) -> tuple[str, dict[str, dict[str, float]]] | None:
    """Return (version, metrics by task) of the champion pointer on disk, or None."""
    version = champion_version(artifacts_dir)
    if version is None:
        return None
    metadata_path = version_dir(artifacts_dir, version) / "metadata.json"
    return version, task_metrics(json.loads(metadata_path.read_text())) if metadata_path.exists() else {}


def _horizon_of(con: duckdb.DuckDBPyConnection, artifacts_dir: Path, version: str) -> int | None:
    """Return the horizon a registered or saved model version predicts, or None when nothing says."""
    row = con.execute(
        "select max(horizon_days) from ml.model_registry where model_version = ?", [version]
    ).fetchone()
    if row[0] is not None:
        return int(row[0])
    metadata_path = version_dir(artifacts_dir, version) / "metadata.json"
    if metadata_path.exists():
        horizon = json.loads(metadata_path.read_text()).get("horizon_days")
        return int(horizon) if horizon is not None else None
    return None


def promote_or_reject(
    con: duckdb.DuckDBPyConnection,
    artifacts_dir: Path,
    metadata: dict[str, Any],
    tolerance: float = DEFAULT_TOLERANCE,
    champion_metrics: dict[str, dict[str, float]] | None = None,
    write_with: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
    champion_scored_by: str | None = None,
    champion_unfit: str | None = None,
    configured_horizon_days: int | None = None,
) -> tuple[bool, str]:
    """Gate a saved model version on the champion and baselines, record it, move the pointer if promoted.

    `write_with(con)` writes what belongs to the version (train: its rows of ml.evaluations) in the
    transaction of its registry rows, so neither is kept without the other.

    Without a champion the version is promoted even when it fails the gate (there is no model to keep
    scoring with); its registry reason then starts "promoted as the first model" and names the failures.
    So is it when the champion cannot score the mart the version learnt from: `champion_unfit` says how
    that mart differs from the champion's features (feature_differences, "has new x"). Kept, the champion
    would leave scoring stopped until someone promoted a version by hand (a feature added, an upgrade
    that added mart columns); the reason then starts "promoted as champion ... cannot score".

    Pass `champion_metrics` when the champion was re-scored on the candidate's holdout (the fair
    comparison; `champion_scored_by` says which of its boosters, for the reason); without them the
    champion's stored metrics, from its own holdout, are used. A champion
    for another horizon (CVW_HORIZON_DAYS changed) answers another question: the version is then judged
    against its baselines only, and the reason says so. That switches the horizon of every score after it,
    so it happens only when the version's horizon is `configured_horizon_days` (CVW_HORIZON_DAYS, which
    train passes): a model trained for another horizon as a trial (`cvw train --horizon-days 365`) stays
    a challenger, even when the champion cannot score the mart, as `cvw models promote` refuses such a
    version without --horizon-change.
    """
    ensure_registry(con)
    champion = current_champion(con) or _artifact_champion(artifacts_dir)
    stored = champion[1] if champion else None
    horizon = int(metadata["horizon_days"])
    champion_horizon = _horizon_of(con, artifacts_dir, champion[0]) if champion else None
    comparable = champion_horizon in (None, horizon)
    promote, reason = decide_promotion(
        task_metrics(metadata),
        (champion_metrics if champion_metrics is not None else stored) if comparable else None,
        metadata.get("baseline_metrics", {}),
        tolerance,
    )
    trial = bool(champion) and not comparable and configured_horizon_days not in (None, horizon)
    if trial:
        switch = f"CVW_HORIZON_DAYS={horizon}"
        by_hand = f"cvw models promote {metadata['version']} --horizon-change"
        promote, reason = (
            False,
            (
                f"rejected: champion {champion[0]} predicts {champion_horizon} days and this model "
                f"{horizon}, which is not CVW_HORIZON_DAYS ({configured_horizon_days}): scores would switch "
                f"horizons; set {switch} and train again to switch on purpose, or promote it by hand "
                f"({by_hand}); the gate said: {reason}"
            ),
        )
    elif champion and not comparable:
        # another horizon's metrics measure another question: the baselines of this one judge it alone
        reason += (
            f" (champion {champion[0]} predicts {champion_horizon} days, this model {horizon}: not "
            "comparable, judged against the baselines only)"
        )
    elif champion:
        source = "stored metrics of its own holdout"
        if champion_metrics is not None:
            source = "on this holdout" + (f", by {champion_scored_by}" if champion_scored_by else "")
        reason += f" (against champion {champion[0]}, {source})"
    elif not promote:
        # Nothing to keep scoring: the first model is promoted anyway, and the registry says what it fails.
        promote, reason = True, f"promoted as the first model (no champion to keep), although {reason}"
    if champion and champion_unfit and not promote and not trial:
        # nor is there when the champion cannot score the mart as it is now: scoring refuses it (a trial
        # for another horizon still waits for its switch on purpose: it would change every score's horizon)
        promote = True
        reason = (
            f"promoted as champion {champion[0]} cannot score marts.customer_features as it is now "
            f"(the mart {champion_unfit}), although {reason}"
        )

    def write(con: duckdb.DuckDBPyConnection) -> None:
        if write_with is not None:
            write_with(con)
        _write_rows(con, metadata, CHAMPION if promote else REJECTED, reason)

    _commit_moving_pointer(con, artifacts_dir, write, metadata["version"] if promote else None)
    return promote, reason


def _commit_moving_pointer(
    con: duckdb.DuckDBPyConnection,
    artifacts_dir: Path,
    write: Callable[[duckdb.DuckDBPyConnection], object],
    champion: str | None,
) -> None:
    """Run `write(con)` in one transaction that also points the champion at `champion` (None: leaves it)."""
    # the pointer moves inside the registry's transaction and back when that transaction fails (a failed
    # commit, a task terminated meanwhile), so a failed promotion leaves the registry and the pointer as they
    # were (only a process killed between the two can still part them: nothing spans a file and a database).
    # An interrupt that lands as the commit returns (Ctrl-C, Airflow's execution_timeout) finds the promotion
    # committed: the registry, read again, says so, and the pointer stays with it.
    from include.warehouse import roll_back_if_open

    pointed = champion_version(artifacts_dir)
    con.execute("begin transaction")
    try:
        write(con)
        if champion is not None:
            promote_champion(artifacts_dir, champion)
        con.execute("commit")
    except BaseException:
        try:
            roll_back_if_open(con)
        finally:
            if champion is not None and not _is_registered_champion(con, champion):
                restore_champion(artifacts_dir, pointed)
        raise


def _is_registered_champion(con: duckdb.DuckDBPyConnection, version: str) -> bool:
    """Return whether the registry's committed rows make a version champion (False when it cannot be read)."""
    try:
        query = "select count(*) from ml.model_registry where model_version = ? and status = ?"
        return con.execute(query, [version, CHAMPION]).fetchall()[0][0] > 0
    except duckdb.Error:  # a connection a failed commit left unusable: the promotion is not known to stand
        return False


def promote_by_hand(con: duckdb.DuckDBPyConnection, artifacts_dir: Path, version: str, reason: str) -> None:
    """Make a registered version champion without the gate, retiring the champion, and move the pointer to it.

    The caller checks the version (ml.models.promote): its rows keep their metrics, params and provenance;
    only their status, reason and updated_at change, in the transaction that retires the champion.
    """
    now = datetime.now(UTC).replace(tzinfo=None)

    def write(con: duckdb.DuckDBPyConnection) -> None:
        _retire_champion(con, version, f"replaced by {version} by hand: {reason}", now)
        con.execute(
            "update ml.model_registry set status = ?, reason = ?, updated_at = ? where model_version = ?",
            [CHAMPION, f"promoted by hand: {reason}", now, version],
        )

    _commit_moving_pointer(con, artifacts_dir, write, version)

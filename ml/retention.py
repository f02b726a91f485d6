"""`cvw models prune`: remove the artifact folders of old model versions, keeping those a reader needs.

Every training adds a folder under artifacts/models and nothing else removes one. Pruning keeps the folders
of the champion (the registry's and the one the pointer names), of the `--keep-champions` most recently
retired champions (the rollback targets of `cvw models promote`), of the versions that made the latest
scores (publish reads their metadata.json) and of the `--keep` newest registered versions. It never touches
a folder that is in no registry row: a training still at work, or registering its version. It removes, as
`cvw train` does, the folder of a training whose process died before registering it.

A pruned version keeps its rows in ml.model_registry and ml.evaluations (bi.model_performance, `cvw models`
and the score history name it); its registry rows get `pruned_at`. The registry is marked first, in one
transaction, then each folder is renamed to a hidden `.pruned-<version>` and deleted: a run interrupted
halfway leaves folders that the registry already calls pruned, and the next run removes them.
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from include.warehouse import connect, has_table, require_table
from ml.artifacts import (
    abandoned_versions,
    champion_version,
    in_training,
    models_dir,
    remove_abandoned_versions,
    version_dir,
)
from ml.models import aligned_lines, registered_versions
from ml.registry import mark_pruned
from ml.registry_table import CHAMPION, RETIRED, ensure_registry

PRUNED_PREFIX = ".pruned-"  # a folder being deleted: its version's registry rows already say pruned


def folder_bytes(folder: Path) -> int:
    """Return the bytes of the files under a folder (0 when it is gone)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with suppress(OSError):  # a file removed meanwhile
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def size_text(size: int) -> str:
    """Return a number of bytes as kB, MB or GB (decimal units, as `du --si` prints them)."""
    # a unit is used once the smaller one would print 1000 or more: 999,999 bytes is 1.0 MB, not 1000 kB
    if round(size / 1e6, 1) >= 1000:
        return f"{size / 1e9:.1f} GB"
    if round(size / 1e3) >= 1000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e3:.0f} kB"


def _hidden(artifacts_dir: Path, version: str) -> Path:
    """Return the hidden name a version's folder is renamed to before it is deleted."""
    return models_dir(artifacts_dir) / f"{PRUNED_PREFIX}{version}"


def _retired_newest_first(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the retired champions, the most recently retired first (a retirement sets updated_at)."""
    rows = con.execute(
        "select model_version from ml.model_registry where status = ? group by model_version "
        "order by max(updated_at) desc, max(trained_at) desc, model_version desc",
        [RETIRED],
    ).fetchall()
    return [version for (version,) in rows]


def _latest_scores(con: duckdb.DuckDBPyConnection) -> tuple[date | None, list[str]]:
    """Return the latest scored date of scores.customer_scores and the versions that scored it."""
    if not has_table(con, "scores", "customer_scores"):
        return None, []
    rows = con.execute(
        "select as_of_date, model_version from scores.customer_scores "
        "where as_of_date = (select max(as_of_date) from scores.customer_scores) group by all order by 2"
    ).fetchall()
    return (rows[0][0] if rows else None), [version for _, version in rows]


def plan_prune(
    con: duckdb.DuckDBPyConnection, artifacts_dir: Path, keep: int, keep_champions: int
) -> dict[str, Any]:
    """Return what pruning removes and keeps, changing nothing.

    `remove`: the registered versions (newest first, as `cvw models` lists them) whose folders go;
    `leftovers`: versions the registry already calls pruned whose folder, or hidden folder, is still there;
    `abandoned`: folders of trainings that died before registering; `kept`: {version: why} of the
    registered versions whose folders stay; `training`: folders of trainings at work, left alone.
    """
    versions = registered_versions(con, artifacts_dir)
    pointed = champion_version(artifacts_dir)
    champions = [entry["version"] for entry in versions if CHAMPION in entry["status"].split("/")]
    champions += [pointed] if pointed and pointed not in champions else []
    rollbacks = [version for version in _retired_newest_first(con) if version not in champions]
    scored_date, scored = _latest_scores(con)
    why: dict[str, list[str]] = {}
    for version in champions:
        why.setdefault(version, []).append("the champion")
    for version in rollbacks[:keep_champions]:
        why.setdefault(version, []).append(
            f"a retired champion, kept for a rollback (--keep-champions {keep_champions})"
        )
    for entry in versions[:keep]:
        newest = "the newest" if keep == 1 else f"one of the {keep} newest"
        why.setdefault(entry["version"], []).append(f"{newest} (--keep {keep})")
    for version in scored:
        why.setdefault(version, []).append(f"made the latest scores, of {scored_date} (publish reads them)")
    training = in_training(artifacts_dir)
    marked = {folder.name for folder in training}
    remove, leftovers, kept = [], [], {}
    for entry in versions:
        version = entry["version"]
        present = version_dir(artifacts_dir, version).is_dir()
        if entry.get("pruned_at"):
            if version not in champions and (present or _hidden(artifacts_dir, version).is_dir()):
                leftovers.append(version)
        elif version in why and present:
            kept[version] = "; ".join(why[version])
        elif present and version not in why and version not in marked:
            remove.append(entry)
    hidden = sorted(models_dir(artifacts_dir).glob(f"{PRUNED_PREFIX}*"))
    leftovers += [
        folder.name[len(PRUNED_PREFIX) :]
        for folder in hidden
        if folder.is_dir() and folder.name[len(PRUNED_PREFIX) :] not in leftovers
    ]
    return {
        "remove": remove,
        "leftovers": leftovers,
        "abandoned": abandoned_versions(artifacts_dir),
        "kept": kept,
        "training": training,
    }


def _unless_gone(function: Any, path: str, error: tuple) -> None:
    """Let rmtree go on past a file or folder already gone (another prune deletes it too); raise the rest."""
    if not isinstance(error[1], FileNotFoundError):
        raise error[1]


def _remove_folder(artifacts_dir: Path, version: str) -> int:
    """Rename a pruned version's folder to its hidden name, then delete it; return the bytes freed.

    Either step may be interrupted: the hidden folder, or the folder itself, is there for the next run. A
    prune run meanwhile takes both for leftovers and deletes them too: what it removed first is skipped.
    """
    folder, hidden = version_dir(artifacts_dir, version), _hidden(artifacts_dir, version)
    size = folder_bytes(folder) + folder_bytes(hidden)
    if folder.is_dir():
        if hidden.exists():  # a hidden folder of an earlier run: removed before the rename takes its name
            shutil.rmtree(hidden, onerror=_unless_gone)
        with suppress(FileNotFoundError):  # another prune renamed it first
            os.replace(folder, hidden)
    if hidden.exists():
        shutil.rmtree(hidden, onerror=_unless_gone)
    return size


def _lines(plan: dict[str, Any], artifacts_dir: Path, sizes: dict[str, int], dry_run: bool) -> list[str]:
    """Return the report of a prune: what goes (or went), what stays and why, and the space."""
    folder = models_dir(artifacts_dir)
    total = size_text(sum(sizes.values()))
    lines = []
    if plan["remove"]:
        count = f"{len(plan['remove'])} model version{'s' if len(plan['remove']) != 1 else ''}"
        if dry_run:
            lines.append(
                f"would remove the artifacts of {count} from {folder}; their rows in ml.model_registry "
                "and ml.evaluations would stay, marked pruned:"
            )
        else:
            lines.append(
                f"removed the artifacts of {count} from {folder}; their rows in ml.model_registry and "
                "ml.evaluations stay, marked pruned:"
            )
        rows = [
            [entry["version"], entry["status"], entry["trained_at"][:16], size_text(sizes[entry["version"]])]
            for entry in plan["remove"]
        ]
        lines += ["  " + line for line in aligned_lines(rows, right={3})]
    verb = "would finish" if dry_run else "finished"
    for version in plan["leftovers"]:
        lines.append(
            f"{verb} removing {version}, which an interrupted prune left ({size_text(sizes[version])})"
        )
    verb = "would remove" if dry_run else "removed"
    for path in plan["abandoned"]:
        lines.append(
            f"{verb} {path.name}, the folder of a training whose process died before registering it "
            f"({size_text(sizes.get(path.name, 0))})"
        )
    if not lines:
        lines.append(f"nothing to prune in {folder}.")
    elif dry_run:
        lines.append(f"{total} would be freed; nothing was removed (--dry-run).")
    else:
        lines.append(f"{total} freed.")
    if plan["kept"]:
        count = f"{len(plan['kept'])} model version{'s' if len(plan['kept']) != 1 else ''}"
        lines.append(f"{'would keep' if dry_run else 'kept'} the artifacts of {count}:")
        width = max(len(version) for version in plan["kept"])
        lines += [f"  {version.ljust(width)}  {why}" for version, why in plan["kept"].items()]
    for path in plan["training"]:
        lines.append(
            f"left {path.name} alone: a training is at work in it (its .training- mark names a process "
            "that runs, or another host)."
        )
    return lines


def prune(
    warehouse_path: Path, artifacts_dir: Path, keep: int, keep_champions: int, dry_run: bool = False
) -> str:
    """Remove the artifact folders plan_prune gives up, or only list them (`dry_run`); return the report."""
    with connect(warehouse_path, read_only=dry_run) as con:
        require_table(con, "ml", "model_registry", "train a model (cvw train)")
        if not dry_run:
            ensure_registry(con)  # a registry made before pruned_at gains it
        plan = plan_prune(con, artifacts_dir, keep, keep_champions)
        if not dry_run and plan["remove"]:
            # the registry first: from its commit on, every folder of these versions is a leftover to delete
            mark_pruned(con, [entry["version"] for entry in plan["remove"]])
    sizes = {path.name: folder_bytes(path) for path in plan["abandoned"]}
    names = [entry["version"] for entry in plan["remove"]] + plan["leftovers"]
    if dry_run:
        for version in names:
            sizes[version] = folder_bytes(version_dir(artifacts_dir, version))
            sizes[version] += folder_bytes(_hidden(artifacts_dir, version))
        return "\n".join(_lines(plan, artifacts_dir, sizes, dry_run=True))
    plan["abandoned"] = remove_abandoned_versions(artifacts_dir)
    for version in names:
        sizes[version] = _remove_folder(artifacts_dir, version)
    return "\n".join(_lines(plan, artifacts_dir, sizes, dry_run=False))

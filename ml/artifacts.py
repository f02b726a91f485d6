"""Model artifacts on disk: one folder per model version and a champion pointer swapped atomically."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb

from include.processes import host_hash, process_alive
from ml.files import write_atomically

CHAMPION_POINTER = "champion.json"
# a new version's folder holds a file .training-<host hash>_<pid> until the training registers the version
TRAINING_MARK = ".training-"
# the sub-folder of a version that holds the boosters tested out of time (before the refit on every cutoff)
EVALUATED = "evaluated"
# the hidden name an abandoned version's folder takes before it is deleted (remove_abandoned_versions)
ABANDONED = ".abandoned-"


def models_dir(artifacts_dir: Path) -> Path:
    """Return the folder that holds one sub-folder per model version."""
    return artifacts_dir / "models"


def version_dir(artifacts_dir: Path, version: str) -> Path:
    """Return the folder of one model version: its boosters, metadata, report and compiled code."""
    return models_dir(artifacts_dir) / version


def booster_file(folder: Path, name: str) -> Path:
    """Return the file a booster of a version's folder is saved in (LightGBM's text format)."""
    return folder / f"{name}.txt"


def new_version(artifacts_dir: Path, feature_hash: str) -> tuple[str, datetime]:
    """Return a new model version and its training time, with its folder created: a version is never reused.

    A version names the training time to the second and the features (`<YYYYmmddTHHMMSSZ>-<feature hash>`).
    Two trainings of the same features in one second (small data, a retry) would share it, and the second
    would overwrite the first's boosters and metadata: the second waits for the next second instead.
    """
    while True:
        trained_at = datetime.now(UTC)
        version = f"{trained_at:%Y%m%dT%H%M%SZ}-{feature_hash}"
        try:
            version_dir(artifacts_dir, version).mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            time.sleep(1.0 - trained_at.microsecond / 1_000_000)
            continue
        (version_dir(artifacts_dir, version) / f"{_host_mark()}{os.getpid()}").touch()
        return version, trained_at


def _host_mark() -> str:
    """Return the start of this host's training marks: TRAINING_MARK, the host's hash, "_"."""
    return f"{TRAINING_MARK}{host_hash()}_"


def registering(artifacts_dir: Path, version: str) -> None:
    """Take a new version's training mark away, just before the registry's transaction records it.

    From then on the folder is the registry's (or, should that transaction fail, removed_unless_registered
    removes it): remove_abandoned_versions never judges it again.
    """
    for mark in version_dir(artifacts_dir, version).glob(f"{TRAINING_MARK}*"):
        mark.unlink(missing_ok=True)


def abandoned_versions(artifacts_dir: Path) -> list[Path]:
    """Return the folders of new versions whose training process died before registering them.

    A training killed outright (out of memory, a killed worker) runs no clean-up and leaves its version's
    folder, in no registry row, so nothing lists, promotes or removes it. Only this host's marks are judged
    (a process id means nothing on another host), and only when their process no longer runs: a training
    still running elsewhere on the host keeps its folder. The hidden ABANDONED folders of a removal killed
    halfway come first: their marks may be gone already.
    """
    host = _host_mark()
    abandoned = sorted(models_dir(artifacts_dir).glob(f"{ABANDONED}*"))
    for mark in sorted(models_dir(artifacts_dir).glob(f"[!.]*/{host}*")):
        pid = mark.name[len(host) :]
        if pid.isdigit() and not process_alive(int(pid)):
            abandoned.append(mark.parent)
    return abandoned


def remove_abandoned_versions(artifacts_dir: Path) -> list[Path]:
    """Remove the folders abandoned_versions finds; return them.

    Each is renamed to its hidden ABANDONED name, then deleted: a removal killed halfway, after the mark went
    and before the folder did, leaves that name for the next removal, not an unmarked folder in no registry
    row, which nothing would ever judge or remove.
    """
    removed = abandoned_versions(artifacts_dir)
    for folder in removed:
        _remove_hidden_first(folder)
    return removed


def _remove_hidden_first(folder: Path) -> None:
    """Rename a version folder to its hidden ABANDONED name, then delete it (remove_abandoned_versions)."""
    hidden = folder.with_name(f"{ABANDONED}{folder.name.removeprefix(ABANDONED)}")
    with suppress(OSError):  # another process renamed it first, or it is gone
        os.replace(folder, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def in_training(artifacts_dir: Path) -> list[Path]:
    """Return the folders that hold a training mark of a process still running, or of another host."""
    marked = sorted({mark.parent for mark in models_dir(artifacts_dir).glob(f"*/{TRAINING_MARK}*")})
    abandoned = set(abandoned_versions(artifacts_dir))
    return [folder for folder in marked if folder not in abandoned]


@contextmanager
def removed_unless_registered(artifacts_dir: Path, version: str) -> Iterator[None]:
    """Remove a new version's folder when the block that saves and registers it raises.

    The block ends with the registry's commit: a version that failed before it (the warehouse held by
    another process, a killed task) is in no registry row, so nothing lists, promotes or reuses its folder,
    and every retry of the training would leave one more such orphan in the artifacts folder.
    """
    try:
        yield
    except BaseException:
        # renamed first: killed while deleting, the folder (its training mark maybe gone already, as
        # registering takes it) is left under the hidden name the next removal finishes
        _remove_hidden_first(version_dir(artifacts_dir, version))
        raise


def save_model_version(
    artifacts_dir: Path,
    version: str,
    boosters: dict[str, lgb.Booster],
    metadata: dict[str, Any],
    evaluated_boosters: dict[str, lgb.Booster] | None = None,
) -> Path:
    """Save the boosters and metadata of one model version; return its folder.

    `evaluated_boosters`, the boosters that were tested out of time (fitted before the test cutoff), go
    to the sub-folder EVALUATED: the gate re-scores them on a later holdout whose labels the refitted
    boosters have learnt (ml.champion.champion_on_holdout).
    """
    folder = version_dir(artifacts_dir, version)
    folder.mkdir(parents=True, exist_ok=True)
    for name, booster in boosters.items():
        write_atomically(booster_file(folder, name), booster.model_to_string())
    for name, booster in (evaluated_boosters or {}).items():
        write_atomically(booster_file(folder / EVALUATED, name), booster.model_to_string())
    write_atomically(folder / "metadata.json", json.dumps(metadata, indent=2, sort_keys=True, default=str))
    return folder


def load_boosters(folder: Path, names: list[str]) -> dict[str, lgb.Booster]:
    """Return the boosters saved in a folder, by name."""
    return {name: lgb.Booster(model_file=str(booster_file(folder, name))) for name in names}


def promote_champion(artifacts_dir: Path, version: str) -> None:
    """Point the champion at a saved model version."""
    pointer = {"version": version}
    write_atomically(models_dir(artifacts_dir) / CHAMPION_POINTER, json.dumps(pointer) + "\n")


def restore_champion(artifacts_dir: Path, version: str | None) -> None:
    """Point the champion back at a version, or remove the pointer when there was none (undo a promotion)."""
    if version is None:
        (models_dir(artifacts_dir) / CHAMPION_POINTER).unlink(missing_ok=True)
    else:
        promote_champion(artifacts_dir, version)


def champion_version(artifacts_dir: Path) -> str | None:
    """Return the version the champion pointer names, or None when no model has been promoted yet."""
    pointer_path = models_dir(artifacts_dir) / CHAMPION_POINTER
    if not pointer_path.exists():
        return None
    return json.loads(pointer_path.read_text())["version"]


def missing_artifacts(artifacts_dir: Path, version: str) -> list[str]:
    """Return the files a version's folder lacks to score (metadata.json, a booster), [] when complete."""
    folder = version_dir(artifacts_dir, version)
    if not (folder / "metadata.json").exists():
        return ["metadata.json"]
    boosters = json.loads((folder / "metadata.json").read_text()).get("models", [])
    return [booster_file(folder, name).name for name in boosters if not booster_file(folder, name).exists()]


def load_champion(
    artifacts_dir: Path, warehouse_path: Path | None = None
) -> tuple[str, dict[str, lgb.Booster], dict[str, Any]]:
    """Return the champion's version, boosters by name and metadata (warehouse_path: require_champion)."""
    version = require_champion(artifacts_dir, warehouse_path)
    folder = version_dir(artifacts_dir, version)
    metadata = json.loads((folder / "metadata.json").read_text())
    return version, load_boosters(folder, metadata["models"]), metadata


def require_champion(artifacts_dir: Path, warehouse_path: Path | None = None) -> str:
    """Return the champion's version; stop with one sentence when there is none or its folder lacks a file.

    Without a pointer, the registry of the warehouse (the settings' by default) says whether a champion was
    promoted all the same: the pointer was then deleted by hand, and training again is not the fix.
    """
    version = champion_version(artifacts_dir)
    if version is None:
        from ml.registry import registered_champion  # ml.registry imports this module

        registered = registered_champion(warehouse_path)
        if registered is not None:
            raise SystemExit(
                f"ml.model_registry names model version {registered} champion, but its pointer "
                f"{models_dir(artifacts_dir) / CHAMPION_POINTER} is missing: restore it with "
                f"cvw models promote {registered} --reason TEXT."
            )
        raise SystemExit(
            f"No champion model in {models_dir(artifacts_dir)}: train one first (make demo or cvw train)."
        )
    folder = version_dir(artifacts_dir, version)
    missing = missing_artifacts(artifacts_dir, version)
    if missing:  # the folder deleted or copied in part by hand (cvw models prune never removes the champion)
        raise SystemExit(
            f"The champion pointer names model version {version}, but {folder} lacks {', '.join(missing)}: "
            "restore the folder, or promote a complete version by hand (cvw models promote VERSION --reason "
            "TEXT; cvw models lists them)."
        )
    return version


def find_champion(artifacts_dir: Path) -> tuple[str, dict[str, lgb.Booster], dict[str, Any]] | None:
    """Return the champion as load_champion does, or None when none has been promoted yet."""
    if champion_version(artifacts_dir) is None:
        return None
    return load_champion(artifacts_dir)

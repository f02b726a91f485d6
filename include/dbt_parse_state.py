"""Keep dbt's partial-parse state for each kind of run of the project, so each parses only what changed.

dbt keeps one partial_parse.msgpack in its target folder, and parses the whole project again when the vars,
warehouse or target of a run differ from the run that wrote it: `cvw build` after publish's build of the bi
marts (var bi_as_of_date) did so every day. include.dbt.run_dbt keeps a copy per vars, warehouse and
target, the latest few, and points dbt at the run's own; dbt still checks each for what changed since.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

COPIES = 4


def option_value(args: list[str], name: str) -> str | None:
    """Return the value given to dbt's option `name` in `args`, None when it is not given."""
    return args[args.index(name) + 1] if name in args[:-1] else None


def parse_state_copy(target: Path, run: list[object]) -> Path:
    """Return the copy of dbt's parse state for runs like `run` (vars, warehouse, target) in `target`."""
    key = json.dumps(run, sort_keys=True, default=str)
    return target / "partial_parse" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"


def written_at(path: Path) -> int | None:
    """Return the file's modification time in nanoseconds, None when it does not exist."""
    return path.stat().st_mtime_ns if path.exists() else None


def keep_parse_state(written: Path, before: int | None, copy: Path) -> None:
    """Copy the parse state dbt wrote in this run, if it wrote one (not when nothing changed), to `copy`."""
    if written_at(written) in (None, before):
        return
    copy.parent.mkdir(parents=True, exist_ok=True)
    partial = copy.with_suffix(".tmp")
    shutil.copyfile(written, partial)
    partial.replace(copy)
    copies = sorted(copy.parent.glob("*.msgpack"), key=lambda kept: written_at(kept) or 0, reverse=True)
    for old in copies[COPIES:]:
        old.unlink(missing_ok=True)

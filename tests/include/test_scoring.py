"""A scoring killed outright leaves its scratch copy of the warehouse; the next removes it, and only it."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from include.scoring import SCRATCH_PREFIX, _scratch_prefix, remove_abandoned_scratch


def _folder(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    (path / "warehouse.duckdb").write_bytes(b"a copy")
    return path


def test_only_the_scratch_copies_of_dead_processes_of_this_host_are_removed(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)  # fmt: skip
    dead = int(finished.stdout)  # a process id of this host that has ended
    host = socket.gethostname()
    abandoned = _folder(tmp_path, f"{SCRATCH_PREFIX}{host}_{dead}_k3j2")
    ours = _folder(tmp_path, f"{_scratch_prefix()}x8f1")  # a scoring of this process, building
    # another host (a container sharing the volume), named like this one and more: its ids mean nothing here
    other_host = _folder(tmp_path, f"{SCRATCH_PREFIX}{host}-2_{dead}_q1")
    unrelated = _folder(tmp_path, "scratch-notes")
    assert _scratch_prefix() == f"{SCRATCH_PREFIX}{host}_{os.getpid()}_"
    assert remove_abandoned_scratch(tmp_path) == [abandoned]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in (ours, other_host, unrelated)
    )

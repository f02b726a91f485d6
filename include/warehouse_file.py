"""What the warehouse file must be for a connection to open it: a DuckDB database file, without the
write-ahead log of another copy of it beside it (a restore from a backup meets that: docs/operations.md,
"Backup and restore"); how to tell that this process holds it open already, and copy it meanwhile. Each
check ends in one sentence naming the file and the fix."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

# A DuckDB database file's header: an 8-byte checksum, then these bytes
DATABASE_MAGIC = b"DUCK"
RESTORE = 'docs/operations.md, "Backup and restore"'


def require_database_file(path: Path) -> None:
    """Return None when an existing warehouse path is a DuckDB database file; else stop in one sentence.

    DuckDB opens a CSV or Parquet file given as a database as an in-memory database that views it: every
    write to such a "warehouse" would be lost without an error. A folder or another file is refused too.
    """
    if path.is_dir():
        raise SystemExit(
            f"The warehouse {path} is a folder: set CVW_WAREHOUSE to a DuckDB file, such as "
            f"{path / 'warehouse.duckdb'}."
        )
    with path.open("rb") as file:
        header = file.read(8 + len(DATABASE_MAGIC))
    if header[8:] != DATABASE_MAGIC:
        raise SystemExit(
            f"The warehouse {path} is not a DuckDB database file (a data file? DuckDB would read it as an "
            "in-memory database and lose every write): set CVW_WAREHOUSE to the warehouse's .duckdb file."
        )


def descriptor_of(path: Path) -> int | None:
    """Return a descriptor this process holds open on the file (DuckDB's, once it opened it); None when it
    holds none, or the system does not list them (/dev/fd).

    DuckDB locks the file with POSIX record locks, which a process loses on closing ANY descriptor of the
    file: a check that opened and closed the file while a connection of this process held it let another
    process write it too. So the file is read through DuckDB's own descriptor, never opened again then.
    """
    try:
        target, names = path.stat(), os.listdir("/dev/fd")
    except OSError:
        return None
    for name in names:
        try:
            held = os.fstat(int(name))
        except (ValueError, OSError):  # the listing's own descriptor, closed since
            continue
        if (held.st_dev, held.st_ino) == (target.st_dev, target.st_ino):
            return int(name)
    return None


def refuse_held_read_only(path: Path, command: str) -> None:
    """Stop with one sentence when this process holds the file open read-only (a notebook's connection) and
    `command` (a dbt run) would open it read-write in this process, which DuckDB refuses beside it.

    Left to dbt, it failed before its first node with DuckDB's "different configuration" error and its
    traceback in the log. A connection opened read-only holds the file through a descriptor opened for
    reading only.
    """
    held = descriptor_of(path) if path.exists() else None
    if held is not None and fcntl.fcntl(held, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        raise SystemExit(
            f"`{command}` opens the warehouse {path} read-write, but this process holds it read-only "
            "already (a connection still open, as a notebook's), and DuckDB opens a file one way per "
            "process: close that connection (con.close()), then run again."
        )


def copy_held(path: Path, target: Path, chunk_bytes: int = 8 << 20) -> None:
    """Copy the file this process holds open to `target` through the holder's own descriptor; return None.

    Called while a connection holds the file, so no other process writes it mid-copy; reading it through
    a descriptor of its own would drop that lock on closing it (descriptor_of). Where the system does not
    list its descriptors (no /dev/fd, nor POSIX record locks to lose) the file is copied by its path.
    """
    held = descriptor_of(path)
    if held is None:
        shutil.copyfile(path, target)
        return
    with target.open("wb") as copy:
        offset = 0
        while chunk := os.pread(held, chunk_bytes, offset):
            copy.write(chunk)
            offset += len(chunk)


def foreign_wal(path: Path, error: str) -> SystemExit:
    """Return the one-sentence refusal of a warehouse whose write-ahead log DuckDB cannot replay on it.

    DuckDB keeps a file's latest commits in `<file>.wal` until it checkpoints them into the file: a warehouse
    copied back from a backup keeps the log of the file it replaced, which belongs to another version of it.
    """
    wal = path.with_name(path.name + ".wal")
    reason = error.split(": ", 2)[-1].split(". ")[0].rstrip(".")  # DuckDB's first sentence on it
    return SystemExit(
        f"The warehouse {path} cannot be opened: its write-ahead log {wal} belongs to another copy of the "
        f"file ({reason}), as when a backup is copied over the warehouse and the replaced file's log stays "
        f"beside it: move {wal} out of the folder (a restore removes it: {RESTORE}), then run again."
    )


def remove_database_file(path: Path) -> None:
    """Remove a DuckDB file and its write-ahead log, if any."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)

"""What the warehouse file must be for a connection to open it: a DuckDB database file, whole, without the
write-ahead log of another copy of it beside it (a restore from a backup can meet the last two:
docs/operations.md, "Backup and restore"); and how to tell that this process holds it open already. Each
check ends in one sentence naming the file and the fix."""

from __future__ import annotations

import os
import struct
from pathlib import Path

# A DuckDB database file's header: an 8-byte checksum, then these bytes
DATABASE_MAGIC = b"DUCK"
# The file starts with three header blocks (the main header, then two database headers, the one of the
# latest checkpoint holding the higher iteration); its data blocks follow, each block_alloc_size bytes
HEADER_BLOCK = 4096
# A database header after its checksum: iteration, meta block, free list, block count, block size, vector size
DATABASE_HEADER = struct.Struct("<QqqQQQ")
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


def expected_size(head: bytes) -> int | None:
    """Return the bytes a DuckDB file's latest database header says the file holds, from the file's first
    bytes; None when its headers are not ones this reads (another storage format: nothing is checked)."""
    if len(head) < 3 * HEADER_BLOCK:
        return 3 * HEADER_BLOCK  # even an empty database has its three header blocks
    headers = [DATABASE_HEADER.unpack_from(head, offset + 8) for offset in (HEADER_BLOCK, 2 * HEADER_BLOCK)]
    _, _, _, blocks, block_size, vector_size = max(headers)  # the latest checkpoint's: the higher iteration
    sizes_known = all(size > 0 and size & (size - 1) == 0 for size in (block_size, vector_size))
    if not sizes_known or not 4096 <= block_size <= 1 << 30 or blocks > 1 << 40:
        return None
    return 3 * HEADER_BLOCK + blocks * block_size


def incomplete(path: Path, opened: bool = True) -> SystemExit | None:
    """Return the one-sentence refusal of a warehouse file shorter than its header says; None when whole,
    or when it cannot be read without opening it again while this process holds it (descriptor_of).
    `opened`: whether DuckDB opened the file (else it failed to, and holds no lock to lose).

    A copy cut short (a disk that filled up, an interrupted transfer of a backup) opens, or not, as its
    missing blocks fall, and fails each query that reads one of them, in whatever step reads it first.
    """
    descriptor = descriptor_of(path)
    if descriptor is not None:
        head, size = os.pread(descriptor, 3 * HEADER_BLOCK, 0), os.fstat(descriptor).st_size
    elif opened:  # held, through a descriptor this system does not list
        return None
    else:
        with path.open("rb") as file:
            head, size = file.read(3 * HEADER_BLOCK), os.fstat(file.fileno()).st_size
    expected = expected_size(head)
    if expected is None or size >= expected:
        return None
    return SystemExit(
        f"The warehouse {path} is incomplete: it holds {size:,} bytes of the {expected:,} its header says it "
        f"has, as a copy cut short (a full disk, an interrupted transfer) leaves it: copy it again from a "
        f"complete backup ({RESTORE}), then run again."
    )


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

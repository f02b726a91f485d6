"""Why a folder cannot be made where a verb would write (a path through a file, no permission), in the words
each verb's one-sentence refusal uses."""

from __future__ import annotations

from pathlib import Path


def file_in_the_way(folder: Path) -> Path | None:
    """Return the file that stands where `folder` or one of its parents would be, or None if none does."""
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def why_not_made(folder: Path, error: OSError) -> str:
    """Return why `folder` could not be made or written: the file in the way, else the system's reason."""
    file = file_in_the_way(folder)
    return f"{file} is a file, not a folder" if file else f"{error.strerror} ({error.filename})"

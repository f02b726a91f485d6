"""Files written whole or not at all: a reader (or a kill halfway) sees the old file or the new one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write text to path through a temporary file beside it and a rename: a reader sees one file whole.

    The file gets the umask's mode, as one written in place would (a report others open, a model's files).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

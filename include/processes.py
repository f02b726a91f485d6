"""Who owns a folder a process leaves behind: this host's hash and whether a process id still runs.

Scoring's scratch copies and training's new model versions name their process, so the next run on the same
host can remove what a killed one left, and leaves alone what a running one is still writing.
"""

from __future__ import annotations

import hashlib
import os
import socket


def host_hash() -> str:
    """Return a short hash of this host's name (a process id means nothing on another host)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]


def process_alive(pid: int) -> bool:
    """Return whether a process of this host has the id (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

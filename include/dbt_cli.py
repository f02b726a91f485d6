"""dbt as the project runs it: `cvw-dbt` is dbt's command line (same arguments, output and exit codes) with
Python's cyclic garbage collector off, and `collector_paused` does the same for dbt run in-process.

A dbt command is a short process whose memory is DuckDB's (which the collector does not manage), yet with the
collector on it spent about 0.9 s of a one-day run at 1,000,000 customers (10-20 s) collecting: most of it
while importing dbt and loading the manifest, each collection walking the same growing set of objects again
(docs/benchmarks.md, "Twenty-seventh measurement"). Without it, the cycles a run leaves (321,000 blocks; 30-50
MB more resident memory in those runs) wait for the end of the process, or for the collector's return after
an in-process run. Reference counting frees everything else as before.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Turn the cyclic garbage collector off for the block, then back to what it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def main() -> None:
    """Run dbt's command line with the collector off (it exits with dbt's code)."""
    # before the import (importing dbt collects too), and left off: at exit Python collects only if it is on
    gc.disable()
    from dbt.cli.main import cli

    sys.exit(cli(prog_name="dbt"))  # its usage and messages name dbt, as dbt's own do


if __name__ == "__main__":
    main()

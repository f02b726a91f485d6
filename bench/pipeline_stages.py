"""Time each pipeline stage on a synthetic shop of a given size and append the table to docs/benchmarks.md.

    .venv/bin/python bench/pipeline_stages.py --customers 5000 20000

Each size runs in its own temporary data folder (generate, ingest, dbt build, train, score, in-process,
without Airflow's per-DAG overhead). Timings are wall-clock seconds of one run: a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = (
    ("generate", ["ml.cli", "generate"]),
    ("ingest", ["ml.cli", "ingest"]),
    ("dbt build", ["ml.cli", "build"]),
    ("train", ["ml.cli", "train"]),
    ("score", ["ml.cli", "score"]),
)


def time_stages(customers: int) -> dict[str, float]:
    """Return the wall seconds of every stage for one shop size."""
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as root:
        env = {
            **os.environ,
            "CVW_DATA_DIR": root,
            "CVW_ARTIFACTS_DIR": f"{root}/artifacts",
            "CVW_SYNTHETIC_CUSTOMERS": str(customers),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }
        for name, args in STAGES:
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL
            )
            timings[name] = time.monotonic() - started
    return timings


def machine() -> str:
    """Return a one-line description of this machine."""
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.machine()}, Python {python}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for every requested size and append a Markdown table to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[5000])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    header = "| customers | " + " | ".join(name for name, _ in STAGES) + " | total |"
    lines = [
        f"\n### Pipeline stages, {datetime.now(UTC):%Y-%m-%d}, commit {commit}",
        f"Machine: {machine()}. Seconds of wall time, one run each (`bench/pipeline_stages.py`).\n",
        header,
        "|" + "---|" * (len(STAGES) + 2),
    ]
    for customers in args.customers:
        timings = time_stages(customers)
        cells = " | ".join(f"{timings[name]:.1f}" for name, _ in STAGES)
        lines.append(f"| {customers:,} | {cells} | {sum(timings.values()):.1f} |")
        print(lines[-1], flush=True)
    with args.output.open("a") as output:
        output.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

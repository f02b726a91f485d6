"""Time `cvw train` on a synthetic shop with a given number of monthly cutoffs; append the table to the docs.

    .venv/bin/python bench/train_speed.py --customers 200000 --spine-months 15

Generates a shop, ingests it, builds the marts with `spine_months` monthly cutoffs (the 90-day horizon
labels all but the last three: 15 monthly cutoffs give 12 labelled ones), then runs `cvw train` in a
subprocess and records its wall time and the peak resident memory of its process. Training samples at most
CVW_TRAIN_MAX_CUSTOMERS customers (default 200,000; the same hash sample at every cutoff), so a shop of that
size is the workload training sees at any larger size; the sampling query over a larger mart is not part of
this measurement. Wall-clock seconds of one run, on a machine others may share: a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(env: dict[str, str], args: list[str]) -> tuple[float, float]:
    """Run a Python command; return (wall seconds, peak resident GB of the process and its children)."""
    started = time.monotonic()
    process = psutil.Popen([sys.executable, *args], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.5)
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed with exit code {process.returncode}")
    return time.monotonic() - started, peak / 1024**3


def measure(customers: int, spine_months: int) -> dict[str, object]:
    """Return the build and training measurements of one shop."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        env = {
            **os.environ,
            "CVW_DATA_DIR": str(root),
            "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
            "CVW_SYNTHETIC_CUSTOMERS": str(customers),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }
        for verb in ("generate", "ingest"):
            _run(env, ["-m", "ml.cli", verb])
        build = (  # unit tests pin the default vars (the spine's among them): left out of this build
            "from include.dbt import run_dbt; "
            f"run_dbt(['build', '--exclude', 'test_type:unit'], dbt_vars={{'spine_months': {spine_months}}})"
        )
        build_seconds, _ = _run(env, ["-c", build])
        train_seconds, train_peak = _run(env, ["-m", "ml.cli", "train"])
        with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
            customers_with_orders = con.execute(
                "select count(distinct customer_id) from marts.customer_features"
            ).fetchone()[0]
        pointer = json.loads((root / "artifacts" / "models" / "champion.json").read_text())
        metadata = json.loads((root / "artifacts" / "models" / pointer["version"] / "metadata.json").read_text())
        return {
            "customers": customers,
            "customers_with_orders": customers_with_orders,
            "labelled_cutoffs": len(metadata["refit_cutoffs"]),
            "training_rows": metadata["training_rows"],
            "sample_share": metadata.get("training_sample_share", 1.0),
            "build_seconds": build_seconds,
            "train_seconds": train_seconds,
            "train_peak_gb": train_peak,
        }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and append its table to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--spine-months", type=int, default=15)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    row = measure(args.customers, args.spine_months)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    memory_gb = psutil.virtual_memory().total / 1024**3
    text = "\n".join(
        [
            "",
            f"### Training speed, {datetime.now(UTC):%Y-%m-%d}, commit {commit}",
            f"Machine: {os.cpu_count()} cores, {memory_gb:.0f} GB; load average {load_before:.1f} before the run, "
            f"{os.getloadavg()[0]:.1f} after. Command: `.venv/bin/python bench/train_speed.py --customers "
            f"{args.customers} --spine-months {args.spine_months}`.",
            "",
            "| customers (with orders) | labelled cutoffs | training rows | customers sampled | dbt build | "
            "`cvw train` | peak RSS of training |",
            "|---|---|---|---|---|---|---|",
            f"| {row['customers']:,} ({row['customers_with_orders']:,}) | {row['labelled_cutoffs']} | "
            f"{row['training_rows']:,} | {row['sample_share']:.0%} | {row['build_seconds']:.0f} s | "
            f"{row['train_seconds']:.0f} s | {row['train_peak_gb']:.1f} GB |",
            "",
        ]
    )
    print(text)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

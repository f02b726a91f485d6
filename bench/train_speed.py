"""Time `cvw train` on a synthetic shop with a given number of monthly cutoffs; append the table to the docs.

    .venv/bin/python bench/train_speed.py --customers 200000 --spine-months 15
    .venv/bin/python bench/train_speed.py --customers 1000000 --spine-months 15

Generates a shop, ingests it, builds the marts with `spine_months` monthly cutoffs (the 90-day horizon
labels all but the last three: 15 monthly cutoffs give 12 labelled ones), then runs `cvw train` in a
subprocess and records its wall time and the peak resident memory (ru_maxrss) of its process. Since
a4022eb one dbt run of 24 cutoffs at 1M customers fits in DuckDB's memory (docs/benchmarks.md);
`--step-months` still builds the cutoffs in several runs (the first a full refresh; each later one adds the
older months the mart lacks), for a smaller machine. Training samples at most CVW_TRAIN_MAX_CUSTOMERS
customers (default 200,000; the same hash sample at every cutoff): above that size, training fits the same
number of rows and the sampling query over the larger mart is part of the measured time. `--work-dir` keeps
the shop; a kept ingested shop is not generated again. Wall-clock seconds of one run, on a machine others
may share: a benchmark, never a test.
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
sys.path.insert(0, str(REPO_ROOT))

from bench.figures import cut  # noqa: E402
from include.warehouse import has_table  # noqa: E402


def _run(env: dict[str, str], args: list[str]) -> tuple[float, float]:
    """Run a Python command; return (wall seconds, peak resident GB of the process and its children).

    The peak is ru_maxrss from wait4: the high-water mark of the process (or of its largest waited-for
    child), however briefly it was reached.
    """
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed with exit code {process.returncode}")
    return time.monotonic() - started, usage.ru_maxrss / 1024**2  # kilobytes on Linux


def _has_raw(warehouse: Path) -> bool:
    """Return whether the warehouse holds an ingested shop (raw.orders), kept by an earlier run."""
    if not warehouse.exists():
        return False
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return has_table(con, "raw", "orders")


def build_steps(spine_months: int, step_months: int | None) -> list[tuple[list[str], int]]:
    """Return the dbt runs that build `spine_months` cutoffs, `step_months` older months per run at most."""
    if not step_months or step_months >= spine_months:
        return [(["build", "--full-refresh"], spine_months)]
    months = list(range(step_months, spine_months, step_months)) + [spine_months]
    return [(["build", "--full-refresh"] if i == 0 else ["build"], m) for i, m in enumerate(months)]


def measure(customers: int, spine_months: int, step_months: int | None, work_dir: Path | None) -> dict:
    """Return the build and training measurements of one shop."""
    with tempfile.TemporaryDirectory() as folder:
        root = work_dir or Path(folder)
        env = {
            **os.environ,
            "CVW_DATA_DIR": str(root),
            "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
            "CVW_SYNTHETIC_CUSTOMERS": str(customers),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }
        if not _has_raw(root / "warehouse.duckdb"):
            for verb in ("generate", "ingest"):
                _run(env, ["-m", "ml.cli", verb])
        build_seconds, build_peak = 0.0, 0.0
        for args, months in build_steps(spine_months, step_months):
            # unit tests pin the default vars (the spine's among them): left out of this build
            build = (
                "from include.dbt import run_dbt; "
                f"run_dbt({[*args, '--exclude', 'test_type:unit']!r}, dbt_vars={{'spine_months': {months}}})"
            )
            seconds, peak = _run(env, ["-c", build])
            build_seconds, build_peak = build_seconds + seconds, max(build_peak, peak)
        load_before = os.getloadavg()[0]
        train_seconds, train_peak = _run(env, ["-m", "ml.cli", "train"])
        load_after = os.getloadavg()[0]
        with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
            customers_with_orders = con.execute(
                "select count(distinct customer_id) from marts.customer_features"
            ).fetchone()[0]
        models = root / "artifacts" / "models"
        pointer = json.loads((models / "champion.json").read_text())
        metadata = json.loads((models / pointer["version"] / "metadata.json").read_text())
        return {
            "customers": customers,
            "customers_with_orders": customers_with_orders,
            "labelled_cutoffs": len(metadata["refit_cutoffs"]),
            "training_rows": metadata["training_rows"],
            "sample_share": metadata.get("training_sample_share", 1.0),
            "build_seconds": build_seconds,
            "build_peak_gb": build_peak,
            "build_runs": len(build_steps(spine_months, step_months)),
            "train_seconds": train_seconds,
            "train_peak_gb": train_peak,
            "train_load": (load_before, load_after),
        }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and append its table to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--spine-months", type=int, default=15)
    parser.add_argument(
        "--step-months", type=int, default=None, help="build the cutoffs in dbt runs of this many months"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the shop here (default: temp)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    # before the measurement, and never fatal: an export of a commit (no .git) lost a 17-minute run here
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "unknown (not a git checkout)"
    )
    row = measure(args.customers, args.spine_months, args.step_months, args.work_dir)
    memory_gb = psutil.virtual_memory().total / 1024**3
    steps = f" --step-months {args.step_months}" if args.step_months else ""
    text = "\n".join(
        [
            "",
            f"### Training speed, {started:%Y-%m-%d %H:%M} UTC, commit {commit}",
            f"Machine: {os.cpu_count()} cores, {memory_gb:.0f} GB; 1-minute load average "
            f"{row['train_load'][0]:.2f} when `cvw train` started, {row['train_load'][1]:.2f} when it ended. "
            f"Command: `.venv/bin/python bench/train_speed.py --customers {args.customers} --spine-months "
            f"{args.spine_months}{steps}`. Peak memory is ru_maxrss (wait4) of the process and its children.",
            "",
            "| customers (with orders) | labelled cutoffs | training rows | customers sampled | dbt build "
            "(runs, peak memory) | `cvw train` | peak memory of training |",
            "|---|---|---|---|---|---|---|",
            f"| {row['customers']:,} ({row['customers_with_orders']:,}) | {row['labelled_cutoffs']} | "
            f"{row['training_rows']:,} | {cut(100 * row['sample_share'])}% | {cut(row['build_seconds'])} s "
            f"({row['build_runs']}, {cut(row['build_peak_gb'])} GB) | {cut(row['train_seconds'])} s | "
            f"{cut(row['train_peak_gb'], 2)} GB |",
            "",
        ]
    )
    print(text)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

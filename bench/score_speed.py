"""Time scoring on a large synthetic shop, with and without the SHAP reasons; append the table to the docs.

    .venv/bin/python bench/score_speed.py --customers 200000

A champion is trained on a 5,000-customer shop (the demo's size); a second shop of `--customers` customers
is generated, ingested and built for its scoring date only (dbt var spine_months = 0); then `ml.score`
scores every customer of that date with the champion, once without reasons and once with them, writing
scores.customer_scores each time (the replace-by-date transaction included). Peak memory is the resident
set of this process. Wall-clock seconds of one run each, on a machine others may share: a benchmark,
never a test.
"""

from __future__ import annotations

import argparse
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
TRAINING_CUSTOMERS = 5_000


def _cvw(env: dict[str, str], *args: str) -> None:
    """Run one `cvw` verb in a subprocess with the given environment."""
    subprocess.run(
        [sys.executable, "-m", "ml.cli", *args], cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def _environment(root: Path, customers: int) -> dict[str, str]:
    """Return the environment of a shop in its own data folder."""
    return {
        **os.environ,
        "CVW_DATA_DIR": str(root),
        "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
        "CVW_SYNTHETIC_CUSTOMERS": str(customers),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def _build_scoring_date_only(env: dict[str, str]) -> None:
    """Build the marts for the scoring date alone (no monthly cutoffs: scoring reads only that date)."""
    # unit tests pin the default vars (the spine's among them), so they are left out of this build
    code = (
        "from include.dbt import run_dbt; "
        "run_dbt(['build', '--exclude', 'test_type:unit'], dbt_vars={'spine_months': 0})"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def measure(customers: int, chunk_size: int) -> list[dict[str, object]]:
    """Return one row per scoring run (without, then with reasons)."""
    from ml.score import score_customers

    with tempfile.TemporaryDirectory() as folder:
        train_root, score_root = Path(folder) / "train", Path(folder) / "score"
        train_env = _environment(train_root, TRAINING_CUSTOMERS)
        for verb in ("generate", "ingest", "build", "train"):
            _cvw(train_env, verb)
        score_env = _environment(score_root, customers)
        for verb in ("generate", "ingest"):
            _cvw(score_env, verb)
        _build_scoring_date_only(score_env)
        os.environ["CVW_ARTIFACTS_DIR"] = train_env["CVW_ARTIFACTS_DIR"]
        warehouse = score_root / "warehouse.duckdb"
        rows = []
        for with_reasons in (False, True):
            process = psutil.Process()
            started = time.monotonic()
            written = score_customers(warehouse_path=warehouse, chunk_size=chunk_size, with_reasons=with_reasons)
            seconds = time.monotonic() - started
            with duckdb.connect(str(warehouse), read_only=True) as con:
                stored = con.execute("select count(*) from scores.customer_scores").fetchone()[0]
            rows.append(
                {
                    "customers": written,
                    "stored": stored,
                    "reasons": with_reasons,
                    "seconds": seconds,
                    "per_second": written / seconds,
                    "peak_rss_gb": process.memory_info().rss / 1024**3,
                }
            )
        return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and append its table to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = measure(args.customers, args.chunk_size)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    memory_gb = psutil.virtual_memory().total / 1024**3
    lines = [
        "",
        f"### Scoring speed, {datetime.now(UTC):%Y-%m-%d}, commit {commit}",
        f"Machine: {os.cpu_count()} cores, {memory_gb:.0f} GB; load average before the run "
        f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}. Command: `.venv/bin/python bench/score_speed.py "
        f"--customers {args.customers} --chunk-size {args.chunk_size}` (champion trained on "
        f"{TRAINING_CUSTOMERS:,} customers; chunks of {args.chunk_size:,}).",
        "",
        "| customers scored | SHAP reasons | wall time | customers per second | peak RSS of the process |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        assert row["stored"] == row["customers"], row
        lines.append(
            f"| {row['customers']:,} | {'yes' if row['reasons'] else 'no'} | {row['seconds']:.1f} s | "
            f"{row['per_second']:,.0f} | {row['peak_rss_gb']:.2f} GB |"
        )
    without, with_reasons = rows
    lines.append(
        f"\nThe reasons cost {with_reasons['seconds'] - without['seconds']:.1f} s more "
        f"({with_reasons['seconds'] / without['seconds']:.1f}x the time without them)."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time the dbt models on synthetic shops and append the table to docs/benchmarks.md.

    .venv/bin/python bench/dbt_marts.py --customers 100000 1000000

For each size: generate a shop (include.synthetic.write_shop), load all of it but its last day into the raw
schema, then time `dbt run` (every model; seeds loaded first, untimed) with the peak memory of its process
tree:

1. a full build of the marts for one cutoff, the scoring date (var spine_months = 0);
2. a full build for 24 monthly cutoffs and the scoring date (spine_months = 24);
3. the last day loaded, then an incremental run of the same 24-cutoff project.

Timings are wall-clock seconds of one run, on a machine others may share: a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from include.raw_schema import LINEAGE_COLUMNS, RAW_TABLES  # noqa: E402

DBT = Path(sys.executable).parent / "dbt"
PROJECT = REPO_ROOT / "dbt_project"
# DuckDB's memory cap for the timed runs (it spills beyond it): the machine is shared, and the default 80%
# plus the other processes can exhaust it at 1M customers.
MEMORY_LIMIT = "70%"
# Which rows of each landing file are "the last day": a condition on the file's own columns, with `?` the day.
LAST_DAY_ROWS = {
    "orders": "ordered_at >= ?",
    "order_items": "order_id in (select order_id from read_parquet(?) where ordered_at >= ?)",
    "events": "event_at >= ?",
}


@dataclass(frozen=True)
class Measurement:
    """One timed dbt command."""

    seconds: float
    peak_rss_gb: float
    model_seconds: dict[str, float]


def load_raw(warehouse: Path, landing: Path, last_day: datetime, *, last_day_only: bool) -> int:
    """Append the shop's rows before the last day (or of the last day only) to raw; return the rows loaded."""
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = 0
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists raw")
        for table, columns in RAW_TABLES.items():
            ddl = ", ".join(f"{column.name} {column.sql_type}" for column in (*columns, *LINEAGE_COLUMNS))
            con.execute(f"create table if not exists raw.{table} ({ddl})")
            if last_day_only and table not in LAST_DAY_ROWS:
                continue  # customers and products come with the first load only
            condition = LAST_DAY_ROWS.get(table, "true")
            parameters: list[object] = [f"{table}.parquet", loaded_at, str(landing / f"{table}.parquet")]
            if table == "order_items":
                parameters += [str(landing / "orders.parquet"), last_day]
            else:
                parameters += [last_day] * condition.count("?")
            names = ", ".join(column.name for column in RAW_TABLES[table])
            keep = condition if last_day_only else f"not ({condition})"
            rows += con.execute(
                f"insert into raw.{table} select {names}, ?, ? from read_parquet(?) where {keep}", parameters
            ).fetchone()[0]
    return rows


def run_dbt_measured(args: list[str], warehouse: Path, dbt_vars: dict[str, object], log: Path) -> Measurement:
    """Run one dbt command in a subprocess; return its wall time, peak memory and per-model times."""
    with tempfile.TemporaryDirectory() as target:
        command = [str(DBT), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
        command += ["--target-path", target, "--vars", json.dumps(dbt_vars)]
        environment = {
            **os.environ, "CVW_WAREHOUSE": str(warehouse), "CVW_DUCKDB_MEMORY_LIMIT": MEMORY_LIMIT,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
        }
        started, peak = time.monotonic(), 0
        with log.open("a") as output:
            process = psutil.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
        while process.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(member.memory_info().rss for member in tree))
            except psutil.Error:
                pass  # a child ended between listing and reading it
            time.sleep(0.2)
        seconds = time.monotonic() - started
        if process.returncode != 0:
            raise SystemExit(f"`dbt {' '.join(args)}` failed on {warehouse}: see its output in {log}.")
        results = json.loads((Path(target) / "run_results.json").read_text())["results"]
    model_seconds = {result["unique_id"].split(".")[-1]: result["execution_time"] for result in results}
    return Measurement(seconds, peak / 1024**3, model_seconds)


def bench_size(customers: int, work_dir: Path) -> list[tuple[str, Measurement, int]]:
    """Return (scenario, measurement, feature rows) for the three scenarios on one shop size."""
    landing, warehouse = work_dir / f"landing_{customers}", work_dir / f"warehouse_{customers}.duckdb"
    warehouse.unlink(missing_ok=True)
    # in a subprocess, so that this process does not keep the generator's memory during the timed runs
    generate = [sys.executable, "-m", "include.synthetic", "--customers", str(customers), "--seed", "42"]
    subprocess.run([*generate, "--out", str(landing)], cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"{customers:,} customers generated", flush=True)
    with duckdb.connect() as con:
        last_order_at = con.execute(
            "select max(ordered_at) from read_parquet(?)", [str(landing / "orders.parquet")]
        ).fetchone()[0]
    last_day = datetime.combine(last_order_at.date(), datetime.min.time())
    load_raw(warehouse, landing, last_day, last_day_only=False)
    log = work_dir.parent / f"dbt_marts_{customers}.log"  # dbt's output, kept after the temporary folder
    run_dbt_measured(["seed"], warehouse, {}, log)
    scenarios = [
        ("full run, 1 cutoff (scoring date)", ["run", "--full-refresh"], {"spine_months": 0}),
        ("full run, 24 monthly cutoffs + scoring date", ["run", "--full-refresh"], {"spine_months": 24}),
        ("incremental run after one new day, 24 cutoffs", ["run"], {"spine_months": 24}),
    ]
    rows = []
    for name, args, dbt_vars in scenarios:
        if args == ["run"]:
            new_rows = load_raw(warehouse, landing, last_day, last_day_only=True)
            print(f"  loaded {new_rows:,} rows of the last day")
        measurement = run_dbt_measured(args, warehouse, dbt_vars, log)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            features = con.execute("select count(*) from marts.customer_features").fetchone()[0]
        rows.append((name, measurement, features))
        slowest = sorted(measurement.model_seconds.items(), key=lambda item: -item[1])[:6]
        print(f"  {name}: {measurement.seconds:.1f} s, peak {measurement.peak_rss_gb:.1f} GB", flush=True)
        print("    slowest: " + ", ".join(f"{model} {seconds:.1f}" for model, seconds in slowest), flush=True)
    warehouse.unlink(missing_ok=True)
    return rows


def machine() -> str:
    """Return a one-line description of this machine."""
    memory_gb = psutil.virtual_memory().total / 1024**3
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.machine()}, Python {python}"


def main(argv: list[str] | None = None) -> int:
    """Benchmark every requested size and append a Markdown table to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--work-dir", type=Path, default=None, help="where shops and warehouses go (temp)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        f"\n### dbt marts, {datetime.now(UTC):%Y-%m-%d}, commit {commit}",
        f"Machine: {machine()}. `bench/dbt_marts.py`: wall seconds of one `dbt run` (all models) and",
        "the peak resident memory of its process tree; `customer_features` is that model's own time (its",
        f"intermediate views run inside it). DuckDB memory_limit {MEMORY_LIMIT}.\n",
        "| customers | scenario | dbt run (s) | customer_features (s) | peak memory (GB) | feature rows |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        for customers in args.customers:
            for name, measurement, features in bench_size(customers, Path(work_dir)):
                feature_seconds = measurement.model_seconds.get("customer_features", float("nan"))
                lines.append(
                    f"| {customers:,} | {name} | {measurement.seconds:.1f} | {feature_seconds:.1f} "
                    f"| {measurement.peak_rss_gb:.1f} | {features:,} |"
                )
    with args.output.open("a") as output:
        output.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

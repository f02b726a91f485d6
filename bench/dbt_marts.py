"""Time the dbt models on synthetic shops and print a Markdown table for docs/benchmarks.md.

    .venv/bin/python bench/dbt_marts.py --customers 100000 1000000

For each size: generate a shop (include.synthetic.write_shop), load all of it but its last day (its last
1 + N with `next-day --later-days N`) into the raw schema, then time `dbt run` (every model; seeds loaded
first, untimed) with the CPU seconds and peak memory of its process tree:

1. a full build of the marts for one cutoff, the scoring date (var spine_months = 0);
2. a full build for 24 monthly cutoffs and the scoring date (spine_months = 24);
3. or (`--scenarios 24-cutoffs-in-steps`) the same 24 cutoffs in four runs: 6 months, then 12, 18 and 24,
   each adding the 6 older months the mart lacks (bounds the memory of one run);
4. a held-back day loaded, then an incremental run of the same 24-cutoff project (`incremental-day`: the
   first after the full build, which pays for deleting a scoring date whose rows the build spread over the
   tables; `next-day`: the day after it, as every later day is, and with `--later-days N` the N days after
   it one by one). Each day's row names its scoring date: on the first of a month the new scoring date is a
   new monthly cutoff too, which completes a month of labels and moves the oldest month off the spine.

With `--build`, each run is a `dbt build` instead, models and tests in one process as the transform DAG runs
them: a day's build tests the cutoffs it rebuilt and the raw events and lines it loaded
(dbt_project/macros/test_scope.sql), the full build every row; the table adds the tests' seconds (dbt's time
of each test node, summed over its threads). With `--with-tests`, a `dbt test` (every data and unit test,
over every row) after each run, timed apart: what a check of every row costs.

Timings are wall-clock seconds of one run, on a machine others may share (the highest 1-minute load
average seen during each run is reported with it, and the CPU seconds, which other work beside the run
does not inflate as much): a benchmark, never a test. Numbers are cut, never
rounded up. A run that fails (e.g. out of memory) is reported as such and the others go on.

    .venv/bin/python bench/dbt_marts.py --customers 1000000 --preserve-insertion-order false --threads 1

DuckDB settings for the runs (--memory-limit, --preserve-insertion-order, --threads) go into a copy of the
project's profile in a temporary folder; the project's own profile is not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psutil
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.figures import cut  # noqa: E402
from include.airflow_setup import dbt_executable  # noqa: E402
from include.raw_schema import RAW_TABLES  # noqa: E402
from include.raw_tables import create_tables  # noqa: E402

DBT = Path(dbt_executable())  # dbt as Airflow runs it (cvw-dbt, include/dbt_cli.py)
PROJECT = REPO_ROOT / "dbt_project"
# DuckDB's memory cap for the timed runs (it spills beyond it): the machine is shared, and the default 80%
# plus the other processes can exhaust it at 1M customers.
MEMORY_LIMIT = "70%"
# Which rows of each landing file fall on the held-back days: a condition on the file's own columns, with
# `?` the first held-back day (every row on or after it is held back).
HELD_BACK_ROWS = {
    "orders": "ordered_at >= ?",
    "order_items": "order_id in (select order_id from read_parquet(?) where ordered_at >= ?)",
    "events": "event_at >= ?",
}


# The models that build customer_features from the valued orders, lines and sessions: their times add up to
# the feature mart's.
FEATURE_MODELS = (
    "int_orders_running_totals",
    "int_orders_aggregated_to_cutoffs",
    "int_order_items_aggregated_to_cutoffs",
    "int_sessions_aggregated_to_cutoffs",
    "customer_features",
)

# (name, dbt arguments, vars); the incremental run follows the 24-cutoff build and needs it
SCENARIOS = {
    "one-cutoff": ("full run, 1 cutoff (scoring date)", [(["run", "--full-refresh"], {"spine_months": 0})]),
    "24-cutoffs": (
        "full run, 24 monthly cutoffs + scoring date",
        [(["run", "--full-refresh"], {"spine_months": 24})],
    ),
    # the same mart built in four runs: the mart adds only the cutoffs it lacks, 6 older months per run
    "24-cutoffs-in-steps": (
        "full run, 24 monthly cutoffs + scoring date, in 4 runs of 6 months",
        [(["run", "--full-refresh"], {"spine_months": 6})]
        + [(["run"], {"spine_months": months}) for months in (12, 18, 24)],
    ),
    "incremental-day": ("incremental run after one new day, 24 cutoffs", [(["run"], {"spine_months": 24})]),
    # the day after: a later day deletes the scoring date that one insert appended the day before, where the
    # first day after a full build deletes rows spread over every row group of the tables over the spine
    "next-day": ("incremental run of the next day, 24 cutoffs", [(["run"], {"spine_months": 24})]),
}
# the scenarios that load a held-back day before they run, in the order of the days they load
DAY_SCENARIOS = ("incremental-day", "next-day")


@dataclass(frozen=True)
class Measurement:
    """One timed dbt command."""

    seconds: float
    peak_rss_gb: float
    model_seconds: dict[str, float]
    max_load: float
    failure: str | None = None
    # user + system CPU seconds of dbt and its children: what the run costs whatever else runs beside it
    cpu_seconds: float = 0.0
    # dbt's time of the data and unit test nodes it ran, summed (a `dbt build`'s tests)
    test_seconds: float = 0.0


@dataclass(frozen=True)
class Row:
    """One scenario's line of the table: its dbt run, and the `dbt test` after it (--with-tests)."""

    key: str  # the scenario's key in SCENARIOS
    name: str
    measurement: Measurement
    features: int  # rows of marts.customer_features after it
    tests: Measurement | None = None


def load_raw(warehouse: Path, landing: Path, day: datetime, *, day_only: bool = False) -> int:
    """Append to raw the shop's rows before `day` (or of that day only); return the rows loaded."""
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = 0
    with duckdb.connect(str(warehouse)) as con:
        create_tables(con)
        for table in RAW_TABLES:
            if day_only and table not in HELD_BACK_ROWS:
                continue  # customers and products come with the first load only
            condition = HELD_BACK_ROWS.get(table, "true")
            names = ", ".join(column.name for column in RAW_TABLES[table])
            if not day_only:
                keep, days = f"not ({condition})", [day]
            else:  # on or after the day, and not on or after the next
                keep, days = f"({condition}) and not ({condition})", [day, day + timedelta(days=1)]
            parameters: list[object] = [f"{table}.parquet", loaded_at, str(landing / f"{table}.parquet")]
            for first in days:
                if table == "order_items":
                    parameters += [str(landing / "orders.parquet"), first]
                else:
                    parameters += [first] * condition.count("?")
            insert = f"insert into raw.{table} ({names}, _source_file, _loaded_at) select {names}, ?, ?"
            rows += con.execute(f"{insert} from read_parquet(?) where {keep}", parameters).fetchone()[0]
    return rows


def write_profile(folder: Path, settings: dict[str, str], dbt_threads: int | None = None) -> Path:
    """Return a folder holding the project's profile with `settings` added to the DuckDB target's settings
    (and its dbt threads set to `dbt_threads` when given)."""
    profile = yaml.safe_load((PROJECT / "profiles.yml").read_text())
    target = profile["customer_value"]["outputs"]["dev"]
    target["settings"] = {**target.get("settings", {}), **settings}
    if dbt_threads is not None:
        target["threads"] = dbt_threads
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def node_name(unique_id: str) -> str:
    """Return a dbt node's name as dbt prints it: a model's or test's (whose id ends in a hash after it,
    test.customer_value.<name>.<hash>), or <model>::<name> for a unit test."""
    kind, _, name, *rest = unique_id.split(".")
    return f"{name}::{rest[0]}" if kind == "unit_test" else name


def run_dbt_measured(
    args: list[str], warehouse: Path, dbt_vars: dict[str, object], log: Path, project: Path, profiles: Path
) -> Measurement:
    """Run one dbt command in a subprocess; return its wall time, peak memory, per-model times and failure.

    The target folder is kept per warehouse, as a scheduled daily run keeps its own: dbt parses only what
    changed since the last command (a run with other vars than the one before parses everything).
    """
    target = warehouse.with_suffix(".target")
    (target / "run_results.json").unlink(missing_ok=True)  # a crashed run must not report the one before
    command = [str(DBT), *args, "--project-dir", str(project), "--profiles-dir", str(profiles)]
    command += ["--target-path", str(target), "--vars", json.dumps(dbt_vars)]
    environment = {
        **os.environ,
        "CVW_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    started, peak, max_load = time.monotonic(), 0, os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("a") as output:
        output.write(f"\n===== dbt {' '.join(args)} --vars {json.dumps(dbt_vars)}\n")
        output.flush()
        process = psutil.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(member.memory_info().rss for member in tree))
        except psutil.Error:
            pass  # a child ended between listing and reading it
        max_load = max(max_load, os.getloadavg()[0])
        time.sleep(0.2)
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # dbt's, reaped by poll()
    cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    results_path = target / "run_results.json"
    results = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    model_seconds = {node_name(result["unique_id"]): result["execution_time"] for result in results}
    tests = [result for result in results if result["unique_id"].startswith(("test.", "unit_test."))]
    test_seconds = sum(result["execution_time"] for result in tests)
    failed = [result for result in results if result["status"] in ("error", "fail", "runtime error")]
    failure = None
    if process.returncode != 0:
        message = (failed[0].get("message") or "") if failed else f"exit code {process.returncode}"
        where = node_name(failed[0]["unique_id"]) if failed else "dbt"
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        # the database's own error (e.g. "Out of Memory Error: ..."), not dbt's "Runtime Error in model" line
        lines = (
            [line for line in lines if "Error" in line and " in model " not in line] or lines or ["failed"]
        )
        failure = f"{where}: {lines[0][:160]}"
    return Measurement(seconds, peak / 1024**3, model_seconds, max_load, failure, cpu_seconds, test_seconds)


def bench_size(
    customers: int,
    work_dir: Path,
    shops: Path,
    project: Path,
    profiles: Path,
    scenarios: list[str],
    later_days: int = 1,
    with_tests: bool = False,
    build: bool = False,
) -> list[Row]:
    """Return a row for each scenario asked for, on one shop size; `next-day` runs `later_days` days one after
    the other, `build` runs `dbt build` where a scenario says `dbt run`, and `with_tests` times a `dbt test`
    after each run (not counted in the run's time)."""
    landing, warehouse = shops / f"landing_{customers}", work_dir / f"warehouse_{customers}.duckdb"
    warehouse.unlink(missing_ok=True)
    if not (landing / "orders.parquet").exists():  # else generated by an earlier run with the same --work-dir
        # in a subprocess, so that this process does not keep the generator's memory during the timed runs
        generate = [sys.executable, "-m", "include.synthetic", "--customers", str(customers), "--seed", "42"]
        generate += ["--out", str(landing)]
        subprocess.run(generate, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"{customers:,} customers generated", flush=True)
    with duckdb.connect() as con:
        last_order_at = con.execute(
            "select max(ordered_at) from read_parquet(?)", [str(landing / "orders.parquet")]
        ).fetchone()[0]
    # the last day is held back for the incremental run, and the `later_days` before it too when later days
    # are timed (`next-day`), the first day after the full build being the earliest of them
    last_day = datetime.combine(last_order_at.date(), datetime.min.time())
    held_back = later_days + 1 if "next-day" in scenarios else 1
    days = [last_day - timedelta(days=back) for back in range(held_back - 1, -1, -1)]
    load_raw(warehouse, landing, days[0])
    log = shops / f"dbt_marts_{customers}.log"  # dbt's output
    run_dbt_measured(["seed"], warehouse, {}, log, project, profiles)
    rows: list[Row] = []
    runs_asked = [key for key in SCENARIOS if key in scenarios]
    if "next-day" in runs_asked:  # one run of each later day
        runs_asked += ["next-day"] * (later_days - 1)
    for key in runs_asked:
        name, steps = SCENARIOS[key]
        if key in DAY_SCENARIOS:
            if not rows or rows[-1].measurement.failure:
                print(f"  {name}: not run, the run before it failed", flush=True)
                break
            day = days.pop(0)
            new_rows = load_raw(warehouse, landing, day, day_only=True)
            print(f"  loaded {new_rows:,} rows of {day:%Y-%m-%d}")
            # the scoring date is the day after the loaded one: on the first of a month it is a new monthly
            # cutoff of the spine too, and the oldest month leaves it
            name += f", scoring date {day + timedelta(days=1):%Y-%m-%d}"
        runs: list[Measurement] = []
        for args, dbt_vars in steps:
            args = ["build", *args[1:]] if build else args
            runs.append(run_dbt_measured(args, warehouse, dbt_vars, log, project, profiles))
            if runs[-1].failure:
                break
        measurement = combined(runs)
        features = 0
        if not measurement.failure:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                features = con.execute("select count(*) from marts.customer_features").fetchone()[0]
        memory = f", peak {cut(measurement.peak_rss_gb)} GB, max load {cut(measurement.max_load)}"
        print(progress(f"  {name}", measurement, 8, memory), flush=True)
        tests = None
        if with_tests and not measurement.failure:  # every row, as `dbt test` or var test_every_row does
            tests = run_dbt_measured(["test"], warehouse, steps[-1][1], log, project, profiles)
            print(progress("    dbt test", tests, 4), flush=True)
        rows.append(Row(key, name, measurement, features, tests))
    warehouse.unlink(missing_ok=True)
    shutil.rmtree(warehouse.with_suffix(".target"), ignore_errors=True)
    return rows


def progress(label: str, measurement: Measurement, slowest: int, details: str = "") -> str:
    """Return the two lines printed after a timed dbt command: its outcome and seconds (then `details`), and
    its `slowest` slowest nodes."""
    outcome = f"FAILED ({measurement.failure})" if measurement.failure else "ok"
    took = f"{cut(measurement.seconds)} s ({cut(measurement.cpu_seconds)} s of CPU)"
    nodes = sorted(measurement.model_seconds.items(), key=lambda item: -item[1])[:slowest]
    return f"{label}: {outcome}, {took}{details}\n    slowest: " + ", ".join(
        f"{node} {cut(seconds)}" for node, seconds in nodes
    )


def share_of_full_build(results: list[Row]) -> list[str]:
    """Return, per row of one shop size, a day's wall and CPU seconds as shares of the 24-cutoff full build
    it follows (the target: a day under 10% of it); '-' for a row that is no day, or without that build."""
    full = next((row.measurement for row in results if row.key == "24-cutoffs"), None)
    shares = []
    for row in results:
        measurement = row.measurement
        if row.key not in DAY_SCENARIOS or full is None or full.failure or measurement.failure:
            shares.append("-")
            continue
        wall, cpu = 100 * measurement.seconds / full.seconds, 100 * measurement.cpu_seconds / full.cpu_seconds
        shares.append(f"{cut(wall, 2)}% ({cut(cpu, 2)}% of CPU)")  # 10.01%, never 10.0% for 10.018%
    return shares


def checks_cell(row: Row, build: bool) -> str:
    """Return the table's cell for a row's tests: with `build`, the seconds of the build's own test nodes;
    then the `dbt test` after the run, its wall and CPU seconds or why it failed (a failing test fails it);
    '-' for neither."""
    measurement = row.measurement
    parts = [f"in the build {cut(measurement.test_seconds)}"] if build and not measurement.failure else []
    tests = row.tests
    if tests is not None and tests.failure:
        parts.append(f"dbt test after it failed after {cut(tests.seconds)}: {tests.failure}")
    elif tests is not None:
        parts.append(f"dbt test after it {cut(tests.seconds)} ({cut(tests.cpu_seconds)} of CPU)")
    return "; ".join(parts) or "-"


def combined(steps: list[Measurement]) -> Measurement:
    """Return the measurement of runs one after the other: summed times, the highest peak and load."""
    model_seconds: dict[str, float] = {}
    for step in steps:
        for model, seconds in step.model_seconds.items():
            model_seconds[model] = model_seconds.get(model, 0.0) + seconds
    failure = next((step.failure for step in steps if step.failure), None)
    return Measurement(
        sum(step.seconds for step in steps),
        max(step.peak_rss_gb for step in steps),
        model_seconds,
        max(step.max_load for step in steps),
        failure,
        sum(step.cpu_seconds for step in steps),
        sum(step.test_seconds for step in steps),
    )


def machine() -> str:
    """Return a one-line description of this machine."""
    memory_gb = psutil.virtual_memory().total / 1024**3
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.machine()}, Python {python}"


def main(argv: list[str] | None = None) -> int:
    """Benchmark every requested size; print a Markdown table (and append it to --output when given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--work-dir", type=Path, default=None, help="where shops are kept (default: temp)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT, help="the dbt project to time")
    parser.add_argument("--memory-limit", default=MEMORY_LIMIT, help="DuckDB memory_limit, e.g. 70%% or 12GB")
    parser.add_argument("--preserve-insertion-order", choices=["true", "false"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: the cores)")
    parser.add_argument("--dbt-threads", type=int, default=None, help="dbt threads (default: the profile's)")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(SCENARIOS),
        default=["one-cutoff", "24-cutoffs", "incremental-day"],
    )
    parser.add_argument(
        "--later-days",
        type=int,
        default=1,
        help="with next-day: how many days to run one after the other after the first (default 1)",
    )
    parser.add_argument(
        "--with-tests",
        action="store_true",
        help="after each run, time `dbt test` (every data and unit test over every row)",
    )
    parser.add_argument(
        "--build",
        action="store_true",
        help="run `dbt build` (models and their tests, as the transform DAG does) in place of `dbt run`",
    )
    parser.add_argument("--output", type=Path, default=None, help="a Markdown file to append the table to")
    args = parser.parse_args(argv)
    if args.later_days < 1:
        parser.error("--later-days is a number of days, 1 or more")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    settings = {"memory_limit": args.memory_limit}
    if args.preserve_insertion_order is not None:
        settings["preserve_insertion_order"] = args.preserve_insertion_order
    if args.threads is not None:
        settings["threads"] = str(args.threads)
    described = ", ".join(f"{key}={value}" for key, value in settings.items())
    if args.dbt_threads is not None:
        described += f"; dbt threads={args.dbt_threads}"
    command = "build" if args.build else "run"
    lines = [
        f"\n### dbt marts, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}",
        f"Machine: {machine()}. `bench/dbt_marts.py`: wall seconds of one `dbt {command}` (all models"
        + (" and tests" if args.build else "")
        + "), its",
        "user + system CPU seconds and the peak resident memory of its process tree; `feature models` is the",
        f"time of the models that build the feature mart: {', '.join(FEATURE_MODELS)}; a day's share is of",
        "the 24-cutoff full build's wall (and CPU) seconds, the target under 10%. DuckDB settings:",
        f"{described}.\n",
        f"| customers | scenario | dbt {command} (s) | CPU (s) | of the 24-cutoff full build "
        "| feature models (s) | peak memory (GB) | feature rows | max load | tests (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(dir=args.work_dir) as scratch:
        profiles = write_profile(Path(scratch) / "profile", settings, args.dbt_threads)
        for customers in args.customers:
            shops = args.work_dir or Path(scratch)
            results = bench_size(
                customers,
                Path(scratch),
                shops,
                args.project_dir,
                profiles,
                args.scenarios,
                args.later_days,
                args.with_tests,
                args.build,
            )
            shares = share_of_full_build(results)
            for row, share in zip(results, shares, strict=True):
                measurement = row.measurement
                feature_times = [measurement.model_seconds.get(model) for model in FEATURE_MODELS]
                feature_seconds = None if None in feature_times else sum(feature_times)
                run = cut(measurement.seconds)
                if measurement.failure:
                    run = f"failed after {run}: {measurement.failure}"
                lines.append(
                    f"| {customers:,} | {row.name} | {run} | {cut(measurement.cpu_seconds)} | {share} "
                    f"| {cut(feature_seconds) if feature_seconds is not None else '-'} "
                    f"| {cut(measurement.peak_rss_gb)} | {row.features:,} | {cut(measurement.max_load)} "
                    f"| {checks_cell(row, args.build)} |"
                )
    if args.output:
        with args.output.open("a") as output:
            output.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What Airflow costs on top of dbt, and how long each DAG file takes to parse; appends to docs/benchmarks.md.

    .venv/bin/python bench/airflow_dbt_overhead.py --customers 5000 [--live]

On one generated shop, in a temporary data folder, it times:
* `dbt build` run plainly (the venv's dbt, same project, vars and warehouse), cold and again warm;
* the transform DAG (Cosmos: one `dbt build` producer + one task per node) under dag.test, as `make demo`
  runs it, cold and again warm;
* with --live, the same DAG under a real scheduler (LocalExecutor on SQLite, include/airflow_local.py),
  from the REST trigger to the run's end as Airflow records it (task processes, the one-slot pool,
  scheduling latency included; also to when a client polling every 2 s saw it end), cold (a new Airflow
  home: Cosmos has no partial-parse file yet, so dbt parses in full) and again warm;
* the import time of every DAG file as the DAG processor parses it (bench/dag_parse_time.py).
Timings are wall-clock seconds of one run each on a machine other processes share, cut to a tenth (never
rounded up): a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.dag_parse_time import DAG_FILES, dag_import_seconds  # noqa: E402
from bench.figures import cut  # noqa: E402
from include.airflow_local import (  # noqa: E402
    AirflowApi,
    admin_password,
    local_environment,
    set_up,
    start_components,
    stop_components,
    wait_until_healthy,
)


def _environment(root: Path) -> dict[str, str]:
    """Return the environment of one benchmark: data, Airflow home and dbt output under root."""
    return {
        **os.environ,
        "CVW_DATA_DIR": str(root / "data"),
        "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
        "CVW_DBT_MANIFEST": str(root / "dbt" / "manifest.json"),
        "DBT_TARGET_PATH": str(root / "dbt" / "target"),
        "DBT_LOG_PATH": str(root / "dbt" / "logs"),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(root / "airflow" / "cosmos"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command in the repo; stop with its output when it fails."""
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def plain_dbt_build(env: dict[str, str]) -> float:
    """Return the wall seconds of `dbt build` with the vars the transform DAG passes."""
    from include.airflow_setup import dbt_executable
    from include.cosmos_config import BI_TAG
    from include.dbt import label_horizons

    project = str(REPO_ROOT / "dbt_project")
    dbt_vars = json.dumps({"as_of_date": "", "label_horizons": label_horizons()})
    dbt = dbt_executable()  # the command Cosmos runs
    started = time.monotonic()
    # the same nodes as transform's build: the BI marts (tag bi) are built by publish, after scoring
    _run(
        [
            dbt,
            "build",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--vars",
            dbt_vars,
            "--exclude",
            f"tag:{BI_TAG}",
        ],
        {**env, "CVW_WAREHOUSE": str(Path(env["CVW_DATA_DIR"]) / "warehouse.duckdb")},
    )
    return time.monotonic() - started


def dag_test_transform(env: dict[str, str]) -> float:
    """Return the wall seconds of the transform DAG under dag.test (set-up excluded), from run_dags."""
    result = _run([sys.executable, "-m", "include.run_dags", "transform"], env)
    match = re.search(r"transform ([0-9.]+)s", result.stderr)
    return float(match.group(1))


def live_transform(env: dict[str, str], root: Path, runs: int = 2) -> list[tuple[float, float]]:
    """Return, for each of `runs` transform runs one after the other under a real scheduler, the seconds
    from its REST trigger to the end of its run as Airflow recorded it, and to when a client polling every
    2 s saw it end (this bench's figure before b377c11: up to 2 s later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = root / "live-airflow"
    live_env = local_environment(home, port, {**env, "AIRFLOW_HOME": str(home)})
    password = admin_password(home)
    set_up(live_env)
    processes = start_components(live_env, root / "live-logs")
    try:
        wait_until_healthy(port, processes, timeout_seconds=180)
        api = AirflowApi(port, password)
        api.wait_for_dags({"transform"}, timeout_seconds=180)
        api.call("PATCH", "/dags/transform", {"is_paused": False})
        seconds = []
        for _ in range(runs):
            started = time.time()  # the same clock as the run's end_date: Airflow runs on this machine
            run_id = api.call("POST", "/dags/transform/dagRuns", {"logical_date": None})["dag_run_id"]
            state = api.wait_for_run("transform", run_id, timeout_seconds=900)
            seen = time.time() - started
            if state != "success":
                raise SystemExit(f"the live transform run ended {state}: see {root / 'live-logs'}")
            ended = datetime.fromisoformat(api.call("GET", f"/dags/transform/dagRuns/{run_id}")["end_date"])
            seconds.append((ended.timestamp() - started, seen))
        return seconds
    finally:
        stop_components(processes)


def parse_times() -> dict[str, list[float]]:
    """Return three import times per DAG file as the DAG processor parses it (bench/dag_parse_time.py)."""
    from include.airflow_setup import ensure_manifest

    ensure_manifest()  # transform.py renders from it; without it the import fails (and times as inf)
    return dag_import_seconds(DAG_FILES)


def machine() -> str:
    """Return a one-line description of this machine and its load."""
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.machine()}, Python "
        f"{platform.python_version()}, load average {load:.1f} at the start"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and append its tables to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--live", action="store_true", help="also time transform under a real scheduler")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--work-dir", type=Path, help="keep data, logs and Airflow home here (default: temp)")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    header = machine()
    with tempfile.TemporaryDirectory(prefix="cvw-bench-") as folder:
        root = args.work_dir or Path(folder)
        env = _environment(root)
        _run([sys.executable, "-m", "ml.cli", "generate", "--customers", str(args.customers)], env)
        _run([sys.executable, "-m", "ml.cli", "ingest"], env)
        _run([sys.executable, "-m", "include.airflow_setup"], env)
        timings = {
            "dbt build, cold": plain_dbt_build(env),
            "dbt build, warm": plain_dbt_build(env),
            "transform DAG under dag.test, cold": dag_test_transform(env),
            "transform DAG under dag.test, warm": dag_test_transform(env),
        }
        if args.live:
            for name, (ended, seen) in zip(("cold", "warm"), live_transform(env, root), strict=True):
                timings[f"transform DAG under a live scheduler, {name}"] = ended
                timings[f"transform DAG under a live scheduler, {name}, as a 2 s poll saw it end"] = seen
    parses = parse_times()
    base = timings["dbt build, warm"]
    lines = [
        f"\n### Airflow and dbt, {datetime.now(UTC):%Y-%m-%d}, commit {commit}, {args.customers:,} customers",
        f"Machine: {header}. `bench/airflow_dbt_overhead.py{' --live' if args.live else ''}`.\n",
        "| run | wall seconds | × warm `dbt build` |",
        "|---|---|---|",
        *[f"| {name} | {cut(seconds, 1)} | {cut(seconds / base, 2)} |" for name, seconds in timings.items()],
        "\nDAG file import time as the DAG processor parses it (best and worst of 3, seconds):\n",
        "| DAG file | best | worst |",
        "|---|---|---|",
        *[
            f"| {Path(path).name} | {cut(min(times), 3)} | {cut(max(times), 3)} |"
            for path, times in parses.items()
        ],
    ]
    print("\n".join(lines))
    with args.output.open("a") as output:
        output.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How long each DAG file takes to import as Airflow's DAG processor parses it: a benchmark, not a test.

One interpreter loads what the processor has loaded before it parses a file (airflow.dag_processing and
the Task SDK), then forks a child per import of one DAG file, so each time is that file's own cost. The best
of several imports is the one to read, because other processes share the CPU. bench/airflow_dbt_overhead.py
writes the times to docs/benchmarks.md; tests/dags/test_dag_file_imports.py checks, without a clock, what
keeps them short: no heavy module is imported at parse time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
DAG_FILES = sorted(DAGS_FOLDER.glob("*.py"))
REPEATS = 3
# what the DAG processor has loaded before it imports any DAG file, run first by every child interpreter
PROCESSOR_PRELUDE = """
import importlib.util, json, os, sys, time
import airflow.dag_processing.processor  # noqa: F401
from airflow.sdk import dag, task  # noqa: F401
"""
MEASURE = (
    PROCESSOR_PRELUDE
    + """
def import_once(path):
    read, write = os.pipe()
    if os.fork() == 0:  # the child imports the file, like the processor's per-file fork
        started = time.perf_counter()
        spec = importlib.util.spec_from_file_location("dag_file_under_test", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        os.write(write, str(time.perf_counter() - started).encode())
        os._exit(0)
    os.close(write)
    os.wait()
    with os.fdopen(read) as pipe:
        return float(pipe.read() or "inf")

times = {path: [import_once(path) for _ in range(int(sys.argv[1]))] for path in sys.argv[2:]}
print("PARSE_SECONDS=" + json.dumps(times))
"""
)


def dag_import_seconds(paths: list[Path], repeats: int = REPEATS) -> dict[str, list[float]]:
    """Return, per DAG file, the seconds of `repeats` imports as the DAG processor would parse it."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(repeats), *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=DAGS_FOLDER.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing the DAG files failed: {result.stderr[-2000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("PARSE_SECONDS="))
    return json.loads(line.split("=", 1)[1])

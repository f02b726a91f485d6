"""Run the project's DAGs through Airflow in-process (dag.test), one after another, as the demo does.

Airflow reads AIRFLOW_HOME and its own AIRFLOW__* variables; the Makefile sets them to the repo's ignored
`.airflow/` folder with a SQLite metadata database, and so does this module where they are unset. Before
parsing the DAGs it runs the project's Airflow set-up (include/airflow_setup.py: metadata DB, the
`warehouse_writer` pool, the dbt manifest Cosmos renders transform from). Assets do not trigger DAGs under
dag.test, so the chain ingest → transform → train → score → monitor → publish is walked here in an order the
assets allow. Under a scheduler publish runs on the scores and again on monitor's update
(`model_monitoring`); one after another, one publish after monitor serves both, backtests included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from include.settings import REPO_ROOT, TELEMETRY_OFF

PIPELINE = ("ingest", "transform", "train", "score", "monitor", "publish")
# The DAGs that take an `as_of_date` param; --as-of-date is passed to each of them.
DATED_DAGS = frozenset({"transform", "score", "publish", "monitor"})


def load_dags(dags_folder: Path) -> dict:
    """Return the DAGs of the folder by id, or exit naming every file that failed to import."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        errors = "; ".join(
            f"{path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items()
        )
        raise SystemExit(f"DAG files failed to import: {errors}")
    return bag.dags


def run_dag(dags: dict, dag_id: str, run_conf: dict | None = None) -> float:
    """Run one DAG to completion with dag.test; return its wall time in seconds, or exit on failure."""
    dag = dags.get(dag_id)
    if dag is None:
        raise SystemExit(f"No DAG named {dag_id!r}; the DAGs are {', '.join(sorted(dags))}.")
    from include.cosmos_config import run_producer_first

    run_producer_first(dag)  # dag.test runs one task at a time: the dbt build first, then its node tasks
    started = time.monotonic()
    environment = dict(os.environ)
    try:
        run = dag.test(run_conf=run_conf)
    finally:
        # Each task runs in a process of its own under a scheduler; here they share this one. Cosmos puts its
        # dbt env vars into os.environ (for OpenLineage) and leaves them: DBT_TARGET_PATH=target would send
        # the next DAG's dbt run into the project's own target/ folder instead of the configured one.
        os.environ.clear()
        os.environ.update(environment)
    state = str(getattr(run, "state", "unknown"))
    if not state.endswith("success"):
        failed = failed_tasks(run)
        if not failed:
            raise SystemExit(
                f"DAG {dag_id} ended in state {state}: see the task log above for the failing task."
            )
        # a retried task's log runs to hundreds of lines of waiting: name the line that says why it failed
        raise SystemExit(
            f"DAG {dag_id} ended in state {state}: {', '.join(failed)} failed; the line "
            f"'Task {dag_id}.{failed[0]} failed ...' above says why."
        )
    return time.monotonic() - started


def failed_tasks(run: object) -> list[str]:
    """Return the ids of a DAG run's tasks that failed themselves (not those whose upstream failed)."""
    instances = run.get_task_instances() if hasattr(run, "get_task_instances") else []
    return sorted(ti.task_id for ti in instances if str(getattr(ti.state, "value", ti.state)) == "failed")


def in_process_environment() -> None:
    """Give Airflow the Makefile's settings where the environment has none (`cvw pipeline` in a shell).

    Without them Airflow would keep its metadata in ~/airflow, shared by every checkout of the user, and
    Airflow, dbt and Cosmos would send usage telemetry. Must run before Airflow is imported.
    """
    for name, value in {
        "AIRFLOW_HOME": str(REPO_ROOT / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        **TELEMETRY_OFF,
    }.items():
        os.environ.setdefault(name, value)


def _iso_date(value: str) -> str:
    """Return a date as YYYY-MM-DD for argparse, refused before any DAG runs when it is not one.

    Written as the other verbs' --as-of-date reads it (Python's ISO forms, 20250101 too), as the DAGs' param
    takes only YYYY-MM-DD: passed on as typed, 20250101 failed the first dated DAG with a traceback.
    """
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    """Run the named DAGs (default: the whole pipeline) in order and print their wall times."""
    parser = argparse.ArgumentParser(prog="cvw pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("dag_ids", nargs="*", default=list(PIPELINE), help="DAGs to run, in order")
    parser.add_argument("--dags-folder", type=Path, default=REPO_ROOT / "dags")
    parser.add_argument(
        "--as-of-date", type=_iso_date, default=None, help="date YYYY-MM-DD passed as the as_of_date param"
    )
    args = parser.parse_args(argv)
    in_process_environment()
    from include.airflow_setup import set_up

    started = time.monotonic()
    for line in set_up():
        print(line, file=sys.stderr)
    timings = {"set-up": time.monotonic() - started}
    dags = load_dags(args.dags_folder)
    unknown = [dag_id for dag_id in args.dag_ids if dag_id not in dags]
    if unknown:  # else the DAGs named before a mistyped one ran first (a dbt build, a training)
        raise SystemExit(
            f"No DAG named {', '.join(map(repr, unknown))}, so none was run; the DAGs are "
            f"{', '.join(sorted(dags))}."
        )
    for dag_id in args.dag_ids:
        conf = {"as_of_date": args.as_of_date} if args.as_of_date and dag_id in DATED_DAGS else None
        timings[dag_id] = run_dag(dags, dag_id, conf)
    print(
        "\nAirflow runs (dag.test):", ", ".join(f"{d} {s:.1f}s" for d, s in timings.items()), file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

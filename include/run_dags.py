"""Run the project's DAGs through Airflow in-process (dag.test), one after another, as the demo does.

Airflow reads AIRFLOW_HOME and its own AIRFLOW__* variables; the Makefile sets them to the repo's ignored
`.airflow/` folder with a SQLite metadata database. Assets do not trigger DAGs under dag.test, so the chain
ingest → transform → train → score is walked here in the order the assets would start them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from include.settings import REPO_ROOT

PIPELINE = ("ingest", "transform", "train", "score")


def migrate_metadata_db() -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    from airflow.utils.db import initdb

    initdb()


def run_dag(dag_id: str, dags_folder: Path, run_conf: dict | None = None) -> float:
    """Run one DAG to completion with dag.test; return its wall time in seconds, or exit on failure."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        errors = "; ".join(
            f"{path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items()
        )
        raise SystemExit(f"DAG files failed to import: {errors}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise SystemExit(f"No DAG named {dag_id!r} in {dags_folder}.")
    started = time.monotonic()
    run = dag.test(run_conf=run_conf)
    state = str(getattr(run, "state", "unknown"))
    if not state.endswith("success"):
        raise SystemExit(f"DAG {dag_id} ended in state {state}: see the task log above for the failing task.")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Run the named DAGs (default: the whole pipeline) in order and print their wall times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_ids", nargs="*", default=list(PIPELINE), help="DAGs to run, in order")
    parser.add_argument("--dags-folder", type=Path, default=REPO_ROOT / "dags")
    parser.add_argument("--as-of-date", default="", help="scoring date YYYY-MM-DD passed as a DAG param")
    args = parser.parse_args(argv)
    migrate_metadata_db()
    timings = {}
    for dag_id in args.dag_ids:
        conf = {"as_of_date": args.as_of_date} if dag_id in {"transform", "score"} else None
        timings[dag_id] = run_dag(dag_id, args.dags_folder, conf)
    print(
        "\nAirflow runs (dag.test):", ", ".join(f"{d} {s:.1f}s" for d, s in timings.items()), file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

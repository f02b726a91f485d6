"""DAG tests parse the real DAG files: the transform DAG needs the dbt manifest, written once per session."""

from collections.abc import Callable
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """Write the dbt manifest Cosmos renders transform from, as `make demo` and `make airflow` do first."""
    from include.airflow_setup import ensure_manifest

    ensure_manifest()


@pytest.fixture(scope="session")
def dag_task() -> Callable:
    """Return a function giving one task of one DAG, parsed from its own file: dag_task("score", "...")."""
    from airflow.dag_processing.dagbag import DagBag

    def task(dag_id: str, task_id: str):
        return DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py")).dags[dag_id].get_task(task_id)

    return task

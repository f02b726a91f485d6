"""Every DAG file imports cleanly and the pipeline's DAGs are chained by assets."""

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
EXPECTED_DAGS = {"ingest", "transform", "train", "score"}


@pytest.fixture(scope="module")
def dag_bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_every_dag_file_imports_without_errors(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}


def test_the_pipeline_dags_exist_with_docs_and_one_run_at_a_time(dag_bag: DagBag) -> None:
    assert set(dag_bag.dag_ids) == EXPECTED_DAGS
    for dag_id in EXPECTED_DAGS:
        dag = dag_bag.dags[dag_id]
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.max_active_runs == 1, f"{dag_id} may run twice at once against one DuckDB file"


def test_dags_are_chained_by_the_assets_each_one_produces(dag_bag: DagBag) -> None:
    outlets = {
        dag_id: {asset.name for task in dag_bag.dags[dag_id].tasks for asset in task.outlets}
        for dag_id in EXPECTED_DAGS
    }
    assert outlets == {
        "ingest": {"warehouse_raw"},
        "transform": {"warehouse_marts"},
        "train": {"champion_model"},
        "score": {"customer_scores"},
    }
    triggers = {
        dag_id: {asset.name for asset in dag_bag.dags[dag_id].timetable.asset_condition.objects}
        for dag_id in ("transform", "train", "score")
    }
    assert triggers == {
        "transform": {"warehouse_raw"},
        "train": {"warehouse_marts"},
        "score": {"champion_model"},
    }

"""What the DAGs' asset events say: every event carries the date it is about, and a retry never loses one."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


class _OutletEvents(dict):
    """What a task's `outlet_events` is to it: an accessor per asset, whose `extra` the task sets."""

    def __missing__(self, asset: object) -> SimpleNamespace:
        self[asset] = SimpleNamespace(extra={})
        return self[asset]


def _task(dag_id: str, task_id: str):
    """Return one task of one DAG, parsed from its own file."""
    return DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py")).dags[dag_id].get_task(task_id)


def test_publish_dates_both_assets_it_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    import include.publish
    from include.assets import BI_MARTS, SERVING_COPY

    snapshot = {"as_of_date": date(2025, 3, 1), "customers": 7, "path": "serving.duckdb"}
    monkeypatch.setattr(include.publish, "publish_serving", lambda as_of_date: snapshot)
    events = _OutletEvents()
    _task("publish", "publish_serving_copy").python_callable(params={"as_of_date": ""}, outlet_events=events)
    # the warehouse's bi marts are built for the published date too (dbt var bi_as_of_date)
    assert events[SERVING_COPY].extra == {"as_of_date": "2025-03-01"}
    assert events[BI_MARTS].extra == {"as_of_date": "2025-03-01"}


def test_an_ingest_retry_announces_what_its_failed_try_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A try that committed the load and then died (worker killed, result not reported) is retried; the
    retry finds nothing new, and without the event transform would never build the loaded rows."""
    import pendulum
    from airflow.sdk.exceptions import AirflowSkipException

    from include.ingest import load_landing
    from include.synthetic import write_shop

    folder, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    written = write_shop(folder, customers=50, seed=3)
    monkeypatch.setenv("CVW_LANDING_DIR", str(folder))
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    task = _task("ingest", "load_landing_files")
    run = SimpleNamespace(start_date=pendulum.now("UTC").subtract(seconds=1))
    load_landing(folder, warehouse)  # the first try's transaction, committed before the try failed
    loaded = task.python_callable(ti=SimpleNamespace(try_number=2), dag_run=run)
    expected = {name: rows for name, rows in written.items() if name != "ground_truth"}
    assert loaded == {**expected, "synthetic.ground_truth": written["ground_truth"]}
    # a later run, or a first try, with nothing new is still skipped and announces nothing
    later = SimpleNamespace(start_date=pendulum.now("UTC").add(seconds=1))
    with pytest.raises(AirflowSkipException, match="nothing to load"):
        task.python_callable(ti=SimpleNamespace(try_number=2), dag_run=later)
    with pytest.raises(AirflowSkipException, match="nothing to load"):
        task.python_callable(ti=SimpleNamespace(try_number=1), dag_run=run)

"""What the DAGs' asset events say: every event carries what it is about (a date, the champion's version), a
retry never loses one, and train announces a champion only when it changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"

# Two train runs under real Airflow (dag.test, a metadata DB of their own), training stubbed by a verdict:
# the first model (no champion yet: promoted), then a retrain the gate rejects. Prints each run's state,
# task states and the asset events it sent.
TRAIN_RUNS = """
import json
from datetime import date

import include.scoring
import ml.train
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
from include.airflow_setup import ensure_pool, migrate_metadata_db
from sqlalchemy import select

migrate_metadata_db()
ensure_pool()
dag = DagBag(dag_folder="dags/train.py").dags["train"]
include.scoring.marts_as_of_date = lambda: date(2025, 3, 1)
ml.train.format_metrics = lambda metadata: "metrics"
runs = {}
for name, has_champion, promoted in (("first", False, True), ("rejected", True, False)):
    include.scoring.champion_exists = lambda has_champion=has_champion: has_champion
    metadata = {"version": f"v-{name}", "promoted": promoted, "out_of_time_metrics": {"spearman": 0.5}}
    ml.train.train_models = lambda horizon_days, metadata=metadata: metadata
    run = dag.test()
    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).all()
        runs[name] = {
            "state": str(run.state),
            "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)},
            "events": [[event.asset.name, event.extra] for event in events],
        }
print("RUNS " + json.dumps(runs))
"""


class _OutletEvents(dict):
    """What a task's `outlet_events` is to it: an accessor per asset, whose `extra` the task sets."""

    def __missing__(self, asset: object) -> SimpleNamespace:
        self[asset] = SimpleNamespace(extra={})
        return self[asset]


def test_publish_dates_both_assets_it_updates(monkeypatch: pytest.MonkeyPatch, dag_task) -> None:
    import include.publish
    from include.assets import BI_MARTS, SERVING_COPY

    snapshot = {"as_of_date": date(2025, 3, 1), "customers": 7, "path": "serving.duckdb"}
    monkeypatch.setattr(include.publish, "publish_serving", lambda as_of_date: snapshot)
    events = _OutletEvents()
    dag_task("publish", "publish_serving_copy").python_callable(
        params={"as_of_date": ""}, outlet_events=events
    )
    # the warehouse's bi marts are built for the published date too (dbt var bi_as_of_date)
    assert events[SERVING_COPY].extra == {"as_of_date": "2025-03-01"}
    assert events[BI_MARTS].extra == {"as_of_date": "2025-03-01"}


def test_an_ingest_retry_announces_what_its_failed_try_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_task
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
    task = dag_task("ingest", "load_landing_files")
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


def test_an_ingest_of_files_loaded_before_says_so_and_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_task, capsys
) -> None:
    """A delivery sent again, here under a new name, loads nothing. The task said "No new files" with a new
    file in the folder, and its log named no file, so nothing told the operator why it was not loaded."""
    import shutil

    import pendulum
    from airflow.sdk.exceptions import AirflowSkipException

    from include.ingest import load_landing
    from include.synthetic import write_shop

    folder, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_shop(folder, customers=50, seed=3)
    monkeypatch.setenv("CVW_LANDING_DIR", str(folder))
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    load_landing(folder, warehouse)
    shutil.copy(folder / "orders.parquet", folder / "orders_again.parquet")
    files = len(list(folder.iterdir()))
    task = dag_task("ingest", "load_landing_files")
    run = SimpleNamespace(start_date=pendulum.now("UTC"))
    with pytest.raises(AirflowSkipException) as skipped:
        task.python_callable(ti=SimpleNamespace(try_number=1), dag_run=run)
    assert str(skipped.value) == (
        f"Nothing new in {folder}: its {files} files hold content loaded before, so nothing to load, raw is "
        "unchanged."
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "skipped (already loaded" in line]
    assert len(lines) == files
    assert lines[3].startswith(f"{'orders_again.parquet':<40} -> {'orders':<24} skipped (already loaded")


def test_a_cleared_ingest_task_announces_what_a_failed_try_of_its_run_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_task
) -> None:
    """The run's last try committed its load and died, so the run failed; the operator clears the task.
    Clearing restarts the run's start_date, after that load: the new try must still announce it."""
    import pendulum

    from include.ingest import load_landing
    from include.synthetic import write_shop

    folder, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    written = write_shop(folder, customers=50, seed=3)
    monkeypatch.setenv("CVW_LANDING_DIR", str(folder))
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    task = dag_task("ingest", "load_landing_files")
    due = pendulum.now("UTC").subtract(seconds=1)
    load_landing(folder, warehouse)  # the last try's transaction, committed before it died
    cleared = SimpleNamespace(run_after=due, start_date=pendulum.now("UTC").add(seconds=1))
    loaded = task.python_callable(ti=SimpleNamespace(try_number=4), dag_run=cleared)
    expected = {name: rows for name, rows in written.items() if name != "ground_truth"}
    assert loaded == {**expected, "synthetic.ground_truth": written["ground_truth"]}


def test_a_train_retry_reports_the_model_its_failed_try_registered_instead_of_training_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_task
) -> None:
    """A try registered and promoted its model, then died before reporting it. Its retry trained another,
    gated against the one just promoted: a rejection left that promotion unannounced (score never
    re-scored with the new champion), and the run trained twice."""
    import pendulum

    import ml.train
    from include.warehouse import connect
    from ml.registry import register_model
    from ml.registry_table import CHAMPION

    monkeypatch.setenv("CVW_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    due = pendulum.now("UTC").subtract(seconds=5)
    version = "20250301T000000Z-abc"
    metadata = {
        "version": version,
        "horizon_days": 90,
        "trained_at": pendulum.now("UTC").isoformat(),
        "features": ["orders_90d"],
        "params": {},
        "out_of_time_metrics": {"revenue_spearman": 0.6, "churn_roc_auc": 0.8},
    }
    folder = tmp_path / "artifacts" / "models" / version
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with connect(tmp_path / "warehouse.duckdb", create=True) as con:
        register_model(con, metadata, CHAMPION, "promoted as the first model")  # the failed try's commit

    trained = []
    verdict = {"version": "v-new", "promoted": False, "out_of_time_metrics": {"revenue_spearman": 0.5}}
    monkeypatch.setattr(ml.train, "train_models", lambda horizon_days: trained.append(1) or verdict)
    monkeypatch.setattr(ml.train, "format_metrics", lambda metadata: "metrics")
    task = dag_task("train", "train_models")
    retry = task.python_callable(
        params={"horizon_days": 90}, ti=SimpleNamespace(try_number=2), dag_run=SimpleNamespace(run_after=due)
    )
    assert trained == []
    assert retry == {
        "revenue_spearman": 0.6,
        "churn_roc_auc": 0.8,
        "model_version": version,
        "promoted": True,
    }
    # a first try, or a retry of a later run, trains
    later = SimpleNamespace(run_after=pendulum.now("UTC").add(seconds=1))
    for ti, run in ((SimpleNamespace(try_number=1), later), (SimpleNamespace(try_number=2), later)):
        result = task.python_callable(params={"horizon_days": 90}, ti=ti, dag_run=run)
        assert result["model_version"] == "v-new" and result["promoted"] is False
    assert trained == [1, 1]


def test_train_announces_the_champion_only_when_it_changed(tmp_path: Path) -> None:
    """A rejected model leaves the champion as it was: an event would start score to re-score with it."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", TRAIN_RUNS], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    line = next(line for line in result.stdout.splitlines() if line.startswith("RUNS "))
    runs = json.loads(line.removeprefix("RUNS "))
    # a rejected retrain is a successful run that announces nothing
    assert runs["rejected"]["events"] == []
    assert runs["rejected"]["state"] == "success"
    assert runs["rejected"]["tasks"] == {
        "should_train": "success",
        "train_models": "success",
        "announce_champion": "skipped",
    }
    # the first model is promoted (there is no champion to keep): score starts, told which version
    assert runs["first"]["events"] == [["champion_model", {"model_version": "v-first"}]]
    assert runs["first"]["state"] == "success"

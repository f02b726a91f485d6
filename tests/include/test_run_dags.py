"""`cvw pipeline` outside make: Airflow gets the repo's home and no telemetry; a bad date stops it first."""

from __future__ import annotations

import os
import re

import pytest

import include.airflow_setup
from include import run_dags
from include.settings import REPO_ROOT, TELEMETRY_OFF


def test_unset_airflow_settings_get_the_makefiles_values_and_set_ones_stay(monkeypatch) -> None:
    names = ["AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES", *TELEMETRY_OFF]
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")  # the user's own choice is kept
    run_dags.in_process_environment()
    # before, Airflow used ~/airflow (every checkout's metadata in one database) and telemetry stayed on
    assert os.environ["AIRFLOW_HOME"] == str(REPO_ROOT / ".airflow")
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO_ROOT / "dags")
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True"
    assert {name: os.environ[name] for name in TELEMETRY_OFF} == {
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def test_a_malformed_date_stops_the_pipeline_before_any_dag_runs(monkeypatch, capsys) -> None:
    # it used to be checked by the first dated DAG's params, after ingest had loaded the landing files
    def set_up(*args, **kwargs):
        raise AssertionError("the Airflow set-up ran")

    monkeypatch.setattr(include.airflow_setup, "set_up", set_up)
    with pytest.raises(SystemExit):
        run_dags.main(["ingest", "transform", "--as-of-date", "2025/01/01"])
    assert "'2025/01/01' is not a date; use YYYY-MM-DD" in capsys.readouterr().err


def test_without_a_date_the_dags_get_no_date(monkeypatch) -> None:
    # argparse converts a string default with its type: a default of "" failed every plain `cvw pipeline`
    ran = []
    monkeypatch.setattr(run_dags, "in_process_environment", lambda: None)  # tested above
    monkeypatch.setattr(include.airflow_setup, "set_up", lambda *args, **kwargs: [])
    monkeypatch.setattr(run_dags, "load_dags", lambda folder: dict.fromkeys(run_dags.PIPELINE))
    monkeypatch.setattr(run_dags, "run_dag", lambda dags, dag_id, conf: ran.append((dag_id, conf)) or 0.0)
    assert run_dags.main(["ingest", "transform"]) == 0
    assert run_dags.main(["transform", "--as-of-date", "2025-01-01"]) == 0
    assert ran == [("ingest", None), ("transform", None), ("transform", {"as_of_date": "2025-01-01"})]


def test_a_date_in_another_iso_form_reaches_the_dags_as_yyyy_mm_dd(monkeypatch) -> None:
    # `cvw score --as-of-date 20250101` scores that day; `cvw pipeline` passed "20250101" on as typed and the
    # transform DAG's param refused it with a traceback, after ingest had already run
    ran = []
    monkeypatch.setattr(run_dags, "in_process_environment", lambda: None)
    monkeypatch.setattr(include.airflow_setup, "set_up", lambda *args, **kwargs: [])
    monkeypatch.setattr(run_dags, "load_dags", lambda folder: dict.fromkeys(run_dags.PIPELINE))
    monkeypatch.setattr(run_dags, "run_dag", lambda dags, dag_id, conf: ran.append((dag_id, conf)) or 0.0)
    assert run_dags.main(["ingest", "transform", "--as-of-date", "20250101"]) == 0
    assert ran == [("ingest", None), ("transform", {"as_of_date": "2025-01-01"})]


def test_a_failed_dag_names_its_failed_task_in_the_last_line(monkeypatch) -> None:
    # the last line said "see the task log above for the failing task", under a retried task's hundreds of
    # lines of "No tasks to run" while dag.test waited out its retry delays
    from types import SimpleNamespace

    import include.cosmos_config

    instances = [
        SimpleNamespace(task_id="dbt.dbt_producer_watcher_done", state="upstream_failed"),
        SimpleNamespace(task_id="publish_serving_copy", state="failed"),
        SimpleNamespace(task_id="other", state="success"),
    ]
    run = SimpleNamespace(state="failed", get_task_instances=lambda: instances)
    monkeypatch.setattr(include.cosmos_config, "run_producer_first", lambda dag: None)
    dag = SimpleNamespace(test=lambda run_conf: run)
    with pytest.raises(SystemExit) as stop:
        run_dags.run_dag({"publish": dag}, "publish")
    assert str(stop.value) == (
        "DAG publish ended in state failed: publish_serving_copy failed; the line "
        "'Task publish.publish_serving_copy failed ...' above says why."
    )


def test_the_readme_walks_the_dags_in_the_order_the_demo_runs_them() -> None:
    # The walk runs monitor before publish, so the demo's serving copy holds the backtests; the README still
    # said it published once, before monitor, and listed publish before monitor.
    readme = (REPO_ROOT / "README.md").read_text()
    steps = readme.split("2. runs the six DAGs with Airflow's `dag.test()`", 1)[1].split("\n3. ", 1)[0]
    assert re.findall(r"\*\*(\w+)\*\*", steps) == list(run_dags.PIPELINE)
    walk = readme.split("`make demo` walks the same chain in-process", 1)[1].split(".\n", 1)[0]
    assert " ".join(walk.split()).startswith(", publishing once, after monitor,")


def test_a_mistyped_dag_name_stops_the_pipeline_before_any_dag_runs(tmp_path, monkeypatch) -> None:
    # `cvw pipeline ingest trian` loaded the landing files (or ran a transform's dbt build, a training)
    # before it found no DAG named trian
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount\no1,c1,2024-01-01,9\n"
    )
    monkeypatch.setenv("CVW_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CVW_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    with pytest.raises(SystemExit) as refused:
        run_dags.main(["ingest", "trian", "scor"])
    assert str(refused.value) == (
        "No DAG named 'trian', 'scor', so none was run; the DAGs are ingest, monitor, publish, score, train, "
        "transform."
    )
    assert not (tmp_path / "warehouse.duckdb").exists()  # ingest did not run

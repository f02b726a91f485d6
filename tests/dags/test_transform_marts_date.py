"""Transform's build task: before dbt, it refuses a date that would empty the marts; once dbt has ended, it
reads the marts' date, waiting for a process that opened the warehouse in between, not failing the build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from include.assets import MARTS
from include.scoring import latest_scoring_date

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_marts_date_waits_for_a_writer_that_opened_the_warehouse_after_dbt(
    dag_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold_warehouse
) -> None:
    # it connected once, with no wait: a writer that opened the file after dbt ended failed the producer,
    # and with it the transform whose build had passed (Cosmos never runs a second build in one run)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.customer_features as select * from (values "
            "(date '2025-05-01', false), (date '2025-06-01', true)) t(cutoff_date, is_scoring_date)"
        )
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    producer = dag_task("transform", "dbt.dbt_producer_watcher")
    context = {"outlet_events": {MARTS: SimpleNamespace(extra={})}}
    holder = hold_warehouse(warehouse, seconds=2)  # a notebook, a `cvw score`
    producer._post_execute_hook(context)
    assert holder.wait(timeout=10) == 0  # it read the date only once the writer was gone
    assert context["outlet_events"][MARTS].extra == {"as_of_date": "2025-06-01"}


def test_the_build_refuses_a_date_that_would_empty_the_marts_as_cvw_build_does(
    dag_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the param reached dbt unchecked: a date on or before the first order passed the build, replaced every
    # mart by an empty one, and failed only after, in record_marts_date, with a RuntimeError's traceback
    from airflow.sdk.exceptions import AirflowFailException

    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    producer = dag_task("transform", "dbt.dbt_producer_watcher")
    with pytest.raises(AirflowFailException) as refused:  # triggered before the first ingest
        producer._pre_execute_hook({"params": {"as_of_date": ""}})
    assert str(refused.value) == (
        f"The warehouse {warehouse} does not exist: load it first with `cvw ingest`, `cvw import` or the "
        "demo."
    )
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.orders as select * from (values "
            "(timestamp '2025-03-01 09:30:00', null::timestamp), (timestamp '2025-02-01 08:00:00', "
            "timestamp '2025-03-02 00:00:00')) t(ordered_at, _replaced_at)"
        )
    with pytest.raises(AirflowFailException) as refused:
        producer._pre_execute_hook({"params": {"as_of_date": "2025-03-01"}})
    assert str(refused.value) == (
        "The as-of date 2025-03-01 is not after the first order (2025-03-01): the marts would hold no "
        "customer. Choose a later date."
    )
    # a mistyped year passed too, labelling every customer churned at each cutoff after the data: a first
    # model trained on them was promoted, and scoring refused the marts
    with pytest.raises(AirflowFailException) as refused:
        producer._pre_execute_hook({"params": {"as_of_date": "2062-03-01"}})
    assert str(refused.value) == (
        "The as-of date 2062-03-01 is in the future: the marts would hold cutoffs after the data, whose "
        f"customers all look churned, and scoring refuses them. Choose a date up to {latest_scoring_date()} "
        "(check CVW_AS_OF_DATE, or the as_of_date given)."
    )
    producer._pre_execute_hook({"params": {"as_of_date": "2025-03-02"}})  # the day after: built
    producer._pre_execute_hook({"params": {"as_of_date": ""}})  # dbt's default, the day after the last order


def test_a_build_refused_before_dbt_fails_its_own_task_alone(tmp_path: Path) -> None:
    # every node task failed with it, "Watcher producer task ... failed before reporting results", and sent
    # an alert: 43 alerts under a scheduler for one refused date. What dbt never reported ends skipped.
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw")
        con.execute("create table raw.orders as select timestamp '2025-03-01 09:30:00' as ordered_at")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "CVW_WAREHOUSE": str(warehouse),
        "AIRFLOW__COSMOS__CACHE_DIR": str(tmp_path / "cosmos"),
    }
    command = [sys.executable, "-m", "include.run_dags", "transform", "--as-of-date", "2025-01-01"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "DAG transform ended in state failed: dbt.dbt_producer_watcher failed; the line "
        "'Task transform.dbt.dbt_producer_watcher failed ...' above says why."
    )
    assert "AirflowFailException: The as-of date 2025-01-01 is not after the first order" in result.stdout
    assert "was not built: this run's dbt build task dbt.dbt_producer_watcher failed before" in result.stdout

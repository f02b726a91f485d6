"""A task the project refuses to run (its one-sentence SystemExit) fails at once; a busy warehouse retries.

Airflow retries a SystemExit like any error: a refusal (too little data, a date in the future, a file that
fails whole) then gave the same sentence two retries and minutes later, and held back its alert.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_defaults import refusals_fail_at_once
from include.warehouse import WarehouseInUse

REFUSAL = "Too little data to train: 120 customers with orders, at least 500 are needed."


def test_a_refusal_fails_without_retries_and_a_busy_warehouse_is_retried() -> None:
    with pytest.raises(AirflowFailException) as failed, refusals_fail_at_once():
        raise SystemExit(REFUSAL)
    assert str(failed.value) == REFUSAL
    with pytest.raises(WarehouseInUse), refusals_fail_at_once():  # a later try may find it free
        raise WarehouseInUse("The warehouse w.duckdb is in use by another process")
    with pytest.raises(ValueError), refusals_fail_at_once():  # another error is retried, as before
        raise ValueError("orders.csv lacks the required column order_id")
    with pytest.raises(AirflowFailException), refusals_fail_at_once(ValueError):  # unless a task names it
        raise ValueError("orders.csv lacks the required column order_id")


def _refuse(*args, **kwargs):
    raise SystemExit(REFUSAL)


@pytest.mark.parametrize(
    ("dag_id", "task_id", "module", "function", "kwargs"),
    [
        ("train", "train_models", "ml.train", "train_models", {"params": {"horizon_days": 90}}),
        (
            "score",
            "score_customers",
            "include.scoring",
            "score_as_of",
            {"as_of_date": "2062-01-01", "outlet_events": {}},
        ),
        (
            "publish",
            "publish_serving_copy",
            "include.publish",
            "publish_serving",
            {"params": {"as_of_date": ""}, "outlet_events": {}},
        ),
        (
            "monitor",
            "monitor_champion",
            "ml.monitor_champion",
            "monitor",
            {"params": {"as_of_date": "", "recompute_backtests": False}, "outlet_events": {}},
        ),
    ],
)
def test_each_task_that_writes_fails_at_once_on_a_refusal(
    dag_task, monkeypatch: pytest.MonkeyPatch, dag_id: str, task_id: str, module: str, function: str, kwargs
) -> None:
    import importlib

    import include.scoring

    monkeypatch.setattr(importlib.import_module(module), function, _refuse)
    monkeypatch.setattr(include.scoring, "champion_exists", lambda: True)
    with pytest.raises(AirflowFailException, match=f"^{REFUSAL}$"):
        dag_task(dag_id, task_id).python_callable(**kwargs)


def test_an_ingest_file_that_fails_whole_fails_at_once(
    dag_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "orders.csv").write_text("order_id,customer_id,ordered_at\no1,c1,2024-01-01\n")
    monkeypatch.setenv("CVW_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CVW_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    task = dag_task("ingest", "load_landing_files")
    with pytest.raises(AirflowFailException, match="^orders.csv lacks the required column amount"):
        task.python_callable(ti=SimpleNamespace(try_number=1), dag_run=None)


DBT_FAILURE = (
    "`dbt build --select tag:bi` failed on 1 node(s): test.customer_value.unique_customer_value_customer_id "
    "(Got 2 results, configured to fail if != 0)."
)


@pytest.mark.parametrize(
    ("dag_id", "task_id", "module", "function", "kwargs"),
    [
        (
            "score",  # a date other than the marts': scored from marts dbt builds in a scratch copy
            "score_customers",
            "include.scoring",
            "score_as_of",
            {"as_of_date": "2025-01-01", "outlet_events": {}},
        ),
        (
            "publish",  # the warehouse's bi marts, built by dbt
            "publish_serving_copy",
            "include.publish",
            "publish_serving",
            {"params": {"as_of_date": ""}, "outlet_events": {}},
        ),
    ],
)
def test_a_dbt_failure_fails_at_once_and_a_warehouse_held_by_dbt_s_run_is_retried(
    dag_task, monkeypatch: pytest.MonkeyPatch, dag_id: str, task_id: str, module: str, function: str, kwargs
) -> None:
    # a failed test or a SQL error was retried twice, minutes apart, failing the same, holding back the alert
    import importlib

    from include.dbt import DbtFailed
    from include.warehouse import in_use

    def fail(error: BaseException):
        def run(*args, **kwargs):
            raise error

        return run

    import include.scoring

    task = dag_task(dag_id, task_id)
    monkeypatch.setattr(include.scoring, "champion_exists", lambda: True)  # score skips without one
    monkeypatch.setattr(importlib.import_module(module), function, fail(DbtFailed(DBT_FAILURE)))
    with pytest.raises(AirflowFailException) as failed:
        task.python_callable(**kwargs)
    assert str(failed.value) == DBT_FAILURE
    lock = 'IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held in python (PID 7)'
    monkeypatch.setattr(importlib.import_module(module), function, fail(in_use(Path("w.duckdb"), lock)))
    with pytest.raises(WarehouseInUse, match=r"^The warehouse w\.duckdb is in use by another process"):
        task.python_callable(**kwargs)  # raised as it is: Airflow retries it

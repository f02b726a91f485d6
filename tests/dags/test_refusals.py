"""A task the project refuses to run (its one-sentence SystemExit) fails at once; a busy warehouse retries.

Airflow retries a SystemExit like any error: a refusal (too little data, a date in the future, a file that
fails whole) then gave the same sentence two retries and minutes later, and held back its alert.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _too_little_data(tmp_path: Path) -> dict:
    """Marts of three customers, as a build of a tiny shop leaves them: training refuses them."""
    import duckdb

    from tests.ml.test_enough_data import _marts

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        _marts(con)
    return {"params": {"horizon_days": 30}}


def _a_future_date(params: bool) -> Callable[[Path], dict]:
    """A champion promoted, and a run given a date in the future: scoring and monitoring refuse it."""

    def given(tmp_path: Path) -> dict:
        from ml.artifacts import promote_champion

        promote_champion(tmp_path / "artifacts", "v1")  # else the task skips: no champion, nothing to do
        if params:
            return {"params": {"as_of_date": "2062-01-01", "recompute_backtests": False}, "outlet_events": {}}
        return {"as_of_date": "2062-01-01", "outlet_events": {}}

    return given


def _no_warehouse(tmp_path: Path) -> dict:
    """No warehouse file yet: publish refuses to copy one."""
    return {"params": {"as_of_date": ""}, "outlet_events": {}}


@pytest.mark.parametrize(
    ("dag_id", "task_id", "given", "refusal"),
    [
        (
            "train",
            "train_models",
            _too_little_data,
            "Too little data to train: only 3 customers with a completed order (at least 500), fewer "
            "than three cutoffs with a complete 30-day label window, each 30 days or more after the one "
            "before (to fit, validate and test on); load the orders of more customers and a longer order "
            "history or use a shorter horizon (CVW_HORIZON_DAYS).",
        ),
        (
            "score",
            "score_customers",
            _a_future_date(params=False),
            "2062-01-01 is in the future: scores as of a date read the data strictly before it, which "
            "does not exist yet. Score a date up to {latest}.",
        ),
        (
            "publish",
            "publish_serving_copy",
            _no_warehouse,
            "The warehouse {warehouse} does not exist: run the pipeline before publish.",
        ),
        (
            "monitor",
            "monitor_champion",
            _a_future_date(params=True),
            "2062-01-01 is in the future: no date after {latest} can be scored, so there is nothing to "
            "monitor there. Give a scored date, or none for the latest.",
        ),
    ],
)
def test_each_task_that_writes_fails_at_once_on_a_refusal(
    dag_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_id: str, task_id: str, given, refusal: str
) -> None:
    # real refusals from real inputs: a warehouse with too little data, a date in the future, no warehouse
    from include.scoring import latest_scoring_date

    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CVW_SERVING", str(tmp_path / "serving.duckdb"))
    kwargs = given(tmp_path)
    with pytest.raises(AirflowFailException) as failed:
        dag_task(dag_id, task_id).python_callable(**kwargs)
    assert str(failed.value) == refusal.format(warehouse=warehouse, latest=latest_scoring_date())


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


WRITERS_BUILDING_WITH_DBT = [
    ("score", "score_customers", {"as_of_date": "2025-01-01", "outlet_events": {}}),  # a scratch copy's build
    ("publish", "publish_serving_copy", {"params": {"as_of_date": ""}, "outlet_events": {}}),  # the bi marts
]


@pytest.mark.parametrize(("dag_id", "task_id", "kwargs"), WRITERS_BUILDING_WITH_DBT)
def test_a_dbt_failure_fails_at_once(
    dag_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_id: str, task_id: str, kwargs
) -> None:
    # a failed test or a SQL error was retried twice, minutes apart, failing the same, holding back the alert.
    # A stub: a real failing build of either takes tens of seconds (a scored warehouse, then dbt)
    import importlib

    from include.dbt import DbtFailed
    from ml.artifacts import promote_champion

    def fail(*args, **kwargs):
        raise DbtFailed(DBT_FAILURE)

    module, function = {
        "score": ("include.scoring", "score_as_of"),
        "publish": ("include.publish", "publish_serving"),
    }[dag_id]
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    promote_champion(tmp_path / "artifacts", "v1")  # else score skips: no champion, nothing to do
    monkeypatch.setattr(importlib.import_module(module), function, fail)
    with pytest.raises(AirflowFailException) as failed:
        dag_task(dag_id, task_id).python_callable(**kwargs)
    assert str(failed.value) == DBT_FAILURE


@pytest.mark.parametrize(("dag_id", "task_id", "kwargs"), WRITERS_BUILDING_WITH_DBT)
def test_a_warehouse_another_process_holds_is_retried(
    dag_task,
    hold_warehouse,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dag_id: str,
    task_id: str,
    kwargs,
) -> None:
    # a real holder (a notebook, dbt's run, `cvw sql`): a later try may find the warehouse free
    import duckdb

    from ml.artifacts import promote_champion

    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CVW_SERVING", str(tmp_path / "serving.duckdb"))
    promote_champion(tmp_path / "artifacts", "v1")  # else score skips: no champion, nothing to do
    hold_warehouse(warehouse)
    with pytest.raises(WarehouseInUse) as held:
        dag_task(dag_id, task_id).python_callable(**kwargs)  # raised as it is: Airflow retries it
    assert str(held.value).startswith(f"The warehouse {warehouse} is in use by another process (IO Error: ")

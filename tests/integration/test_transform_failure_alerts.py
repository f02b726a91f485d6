"""A transform run whose dbt build fails: each failed node's task, and its alert, say what dbt said.

Through real Airflow (dag.test, as `cvw pipeline` runs it), real Cosmos and dbt, on a copy of the dbt project
with three mistakes an analyst makes: a typo in a model's SQL, the same in a model with a unit test (dbt
runs the unit test first, fails it and skips the model), and a data test that finds rows. The alerts go to
a webhook served by the test (tests/conftest.py), as a Slack hook would receive them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _break(project: Path) -> None:
    """Put a typo in fct_sessions and in customer_rfm (tested by a unit test); add a test that finds rows."""
    for model, right, wrong in [
        ("core/fct_sessions.sql", "max(page_views) as page_views", "max(page_view) as page_views"),
        ("ml/customer_rfm.sql", "orders_lifetime as frequency", "orders_lifetme as frequency"),
    ]:
        path = project / "models" / "marts" / model
        assert right in path.read_text()
        path.write_text(path.read_text().replace(right, wrong))
    (project / "tests" / "assert_fct_orders_is_empty.sql").write_text(
        "select order_id from {{ ref('fct_orders') }} limit 3\n"
    )


@pytest.fixture()
def failed_transform(tmp_path: Path, project_copy: Path, alert_webhook: dict) -> dict:
    """Run transform on a small shop with the broken project; return its output and the alerts posted."""
    from include.ingest import load_landing
    from include.synthetic import write_shop

    _break(project_copy)
    warehouse = tmp_path / "warehouse.duckdb"
    write_shop(tmp_path / "landing", customers=60, seed=3)
    load_landing(tmp_path / "landing", warehouse)
    alert_webhook["posted"].clear()
    env = {
        **os.environ,  # CVW_DBT_PROJECT_DIR: the broken copy
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(tmp_path / "cosmos"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
        "CVW_WAREHOUSE": str(warehouse),
        "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
        **alert_webhook["env"],
    }
    run = subprocess.run(
        [sys.executable, "-m", "include.run_dags", "transform"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-5000:]
    return {"output": output, "alerts": list(alert_webhook["posted"])}


FCT_SESSIONS = (
    "model.customer_value.fct_sessions failed in this run's dbt build: "
    'Binder Error: Referenced column "page_view" not found in FROM clause!'
)
CUSTOMER_RFM = (
    "model.customer_value.customer_rfm was not built: its unit test "
    "customer_rfm_scores_quintiles_with_ties_and_maps_segments failed in this run's dbt build: "
    'Binder Error: Referenced column "orders_lifetme" not found in FROM clause!'
)
FCT_ORDERS_TESTS = (
    "tests of model.customer_value.fct_orders failed in this run's dbt build: "
    "assert_fct_orders_is_empty (Got 3 results, configured to fail if != 0)"
)
BUILD = (
    "`dbt build` failed on 3 node(s): "
    "model.customer_value.fct_sessions "
    '(Binder Error: Referenced column "page_view" not found in FROM clause!); '
    "test.customer_value.assert_fct_orders_is_empty (Got 3 results, configured to fail if != 0); "
    "unit_test.customer_value.customer_rfm.customer_rfm_scores_quintiles_with_ties_and_maps_segments "
    '(Binder Error: Referenced column "orders_lifetme" not found in FROM clause!).'
)


def test_each_failed_node_s_task_and_alert_carry_dbt_s_message(failed_transform: dict) -> None:
    # the node tasks said "Model '...' finished with status 'error'" (dag.test) or "Review the producer
    # task logs" (a scheduler), and the build's task "dbt command failed ... exit code 1": dbt's reason was
    # only in a log
    output = failed_transform["output"]
    run_id = re.search(r"run_id=(manual__\S+?),", output).group(1)

    def alert(task: str, try_number: int, error: str) -> str:
        return f"Task transform.dbt.{task} failed (try {try_number}, run {run_id}): AirflowException: {error}"

    assert sorted(failed_transform["alerts"]) == sorted(
        [
            alert("fct_sessions.run", 2, FCT_SESSIONS),
            alert("customer_rfm.run", 2, CUSTOMER_RFM),
            alert("fct_orders.test", 2, FCT_ORDERS_TESTS),
            alert("dbt_producer_watcher", 1, BUILD[:300]),  # an alert keeps the error's first 300 characters
        ]
    )
    # each node task failed with it on its first try and on its retry, which read the build's result again
    raised = re.findall(r"^airflow\.sdk\.exceptions\.AirflowException: (.*)$", output, re.MULTILINE)
    assert sorted(raised) == sorted([BUILD] + [FCT_SESSIONS, CUSTOMER_RFM, FCT_ORDERS_TESTS] * 2)
    # and the build's task no longer logs dbt's whole JSON output at error level (over 200 kB here)
    assert [line for line in output.splitlines() if '{"data": ' in line] == []
    assert 'Binder Error: Referenced column "page_view" not found in FROM clause!' in output  # dbt's own line

"""The DAGs under a real Airflow: api-server, scheduler, dag-processor and triggerer on loopback.

A tiny shop is delivered to the landing folder and the chain is started through Airflow's REST API (a
JWT from the simple auth manager's /auth/token): ingest → transform → train → score → publish and monitor
follow by assets alone. Then two past dates are backfilled through the REST API. Processes are always torn
down. LocalExecutor on the SQLite metadata database, as `make airflow` runs it (include/airflow_local.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from include.airflow_local import (
    AirflowApi as Api,
)
from include.airflow_local import (
    admin_password,
    local_environment,
    set_up,
    start_components,
    stop_components,
    wait_until_healthy,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = ("ingest", "transform", "train", "score", "publish", "monitor")
CUSTOMERS = 600
CHAIN_TIMEOUT_SECONDS = 10 * 60  # 198 s measured on a moderately loaded machine; generous bound
BACKFILL_DATES = (date(2025, 11, 12), date(2025, 11, 13))  # mid-month: not a cutoff of the monthly spine
ACTIVE_STATES = {"queued", "running"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition, what: str, timeout_seconds: float, poll_seconds: float = 3.0):
    """Return the first truthy value of condition(), polling; fail naming `what` when time runs out."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_seconds)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


def _settled(api: Api, dag_id: str, minimum_runs: int = 1) -> list[dict] | None:
    """Return the DAG's runs once it has at least `minimum_runs` and none of them is queued or running."""
    runs = [run for run in api.runs() if run["dag_id"] == dag_id]
    if len(runs) >= minimum_runs and not any(run["state"] in ACTIVE_STATES for run in runs):
        return runs
    return None


def _published_after_monitor(api: Api) -> bool:
    """Return whether a publish run was started by monitor's latest event (publish runs on model_monitoring
    too): until then the scheduler may still start one, which would write the warehouse the tests read."""
    events = api.call("GET", "/assets/events?source_dag_id=monitor")["asset_events"]
    if not events:
        return False
    latest = max(event["id"] for event in events)
    for run in (run for run in api.runs() if run["dag_id"] == "publish"):
        upstream = api.call("GET", f"/dags/publish/dagRuns/{quote(run['dag_run_id'])}/upstreamAssetEvents")
        if latest in {event["id"] for event in upstream["asset_events"]}:
            return True
    return False


def _quiet(api: Api) -> bool:
    """Return whether no run of any DAG is queued or running."""
    return not any(run["state"] in ACTIVE_STATES for run in api.runs())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, alert_webhook: dict) -> dict:
    """Start Airflow on a free loopback port with its own home and data; yield the API; always tear down.

    Failure alerts go to a webhook the test serves (tests/conftest.py)."""
    root = tmp_path_factory.mktemp("airflow_live")
    port = _free_port()
    base = {
        **os.environ,
        "CVW_DATA_DIR": str(root / "data"),
        "CVW_WAREHOUSE": str(root / "data" / "warehouse.duckdb"),
        "CVW_LANDING_DIR": str(root / "data" / "landing"),
        "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
        "CVW_SERVING": str(root / "data" / "serving.duckdb"),
        "CVW_DBT_MANIFEST": str(root / "dbt" / "manifest.json"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "DBT_TARGET_PATH": str(root / "dbt" / "target"),  # dbt runs outside Cosmos leave the repo alone
        "DBT_LOG_PATH": str(root / "dbt" / "logs"),
        **alert_webhook["env"],
    }
    home = root / "airflow"
    env = local_environment(home, port, base)
    (root / "data" / "landing").mkdir(parents=True)
    password = admin_password(home)
    set_up(env)
    processes = start_components(env, root / "logs")
    started = time.monotonic()
    try:
        wait_until_healthy(port, processes, timeout_seconds=180)
        yield {
            "api": Api(port, password),
            "env": env,
            "root": root,
            "started": started,
            "alerts": alert_webhook["posted"],
        }
    finally:
        stop_components(processes)
        # every process we started is gone: the group leaders have been reaped
        assert all(process.poll() is not None for process in processes.values())


@pytest.fixture(scope="module")
def chain(live: dict) -> dict:
    """Unpause the DAGs, let their first scheduled runs find nothing to do, deliver a shop and trigger."""
    api: Api = live["api"]
    api.wait_for_dags(set(DAG_IDS), timeout_seconds=180)
    assert api.call("GET", "/importErrors")["total_entries"] == 0
    for dag_id in DAG_IDS:
        api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    # Unpausing starts each time schedule's latest interval: with an empty landing folder, no marts and no
    # champion, ingest, train and score all end without doing anything (and without failing).
    first = _wait_for(lambda: _settled(api, "ingest"), "the scheduled ingest run", 180)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ml.cli",
            "generate",
            "--customers",
            str(CUSTOMERS),
            "--seed",
            "3",
            "--out",
            live["env"]["CVW_LANDING_DIR"],
        ],
        cwd=REPO_ROOT,
        env=live["env"],
        check=True,
        capture_output=True,
    )
    triggered_at = time.monotonic()
    run_id = api.call("POST", "/dags/ingest/dagRuns", {"logical_date": None})["dag_run_id"]

    def chain_done() -> bool:
        settled = _settled(api, "publish") and _settled(api, "monitor") and _quiet(api)
        return bool(settled and _published_after_monitor(api))

    _wait_for(chain_done, "the chain to publish and monitor", CHAIN_TIMEOUT_SECONDS)
    seconds = time.monotonic() - triggered_at
    return {**live, "first_ingest": first[0], "ingest_run_id": run_id, "chain_seconds": seconds}


def _eligible(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """Count customers with a completed order before the date, straight from the raw tables."""
    return con.execute(
        "select count(distinct customer_id) from raw.orders "
        "where coalesce(status, 'completed') <> 'cancelled' and ordered_at < ?",
        [as_of],
    ).fetchall()[0][0]


def _marts_date(con: duckdb.DuckDBPyConnection) -> date:
    """Return the scoring date the warehouse's marts were built for, read straight from the feature mart."""
    query = "select max(cutoff_date) from marts.customer_features where is_scoring_date"
    return con.execute(query).fetchall()[0][0]


def test_nothing_to_load_skips_ingest_instead_of_failing(chain: dict) -> None:
    api: Api = chain["api"]
    first = chain["first_ingest"]
    assert first["run_type"] == "scheduled" and first["state"] == "success"
    assert api.task_states("ingest", first["dag_run_id"]) == {"load_landing_files": "skipped"}
    assert api.task_states("ingest", chain["ingest_run_id"]) == {"load_landing_files": "success"}
    # the task's log reads through the API although no component runs a log server (include/airflow_local.py)
    run_id = quote(chain["ingest_run_id"])
    log = api.call("GET", f"/dags/ingest/dagRuns/{run_id}/taskInstances/load_landing_files/logs/1")
    assert "rows loaded" in json.dumps(log)


def test_one_rest_trigger_runs_the_whole_chain_through_assets(chain: dict) -> None:
    api: Api = chain["api"]
    runs = api.runs()
    failed = [(run["dag_id"], run["dag_run_id"]) for run in runs if run["state"] != "success"]
    assert failed == []
    by_type = {(run["dag_id"], run["run_type"]) for run in runs}
    for dag_id in ("transform", "train", "score", "publish", "monitor"):
        assert (dag_id, "asset_triggered") in by_type, f"{dag_id} was not started by an asset"
    trained = [run for run in runs if run["dag_id"] == "train" and run["run_type"] == "asset_triggered"]
    assert any(api.task_states("train", run["dag_run_id"])["train_models"] == "success" for run in trained)
    # the build's own task announced the marts, with the date it built them for, once per transform run
    events = api.call("GET", "/assets/events?source_dag_id=transform")["asset_events"]
    transforms = [run["dag_run_id"] for run in runs if run["dag_id"] == "transform"]
    assert sorted(event["source_run_id"] for event in events) == sorted(transforms)
    with duckdb.connect(chain["env"]["CVW_WAREHOUSE"], read_only=True) as con:
        built_for = _marts_date(con).isoformat()
    assert {(event["source_task_id"], event["extra"]["as_of_date"]) for event in events} == {
        ("dbt.dbt_producer_watcher", built_for)
    }
    print(f"\nlive chain: {chain['chain_seconds']:.0f} s from the REST trigger to the published serving copy")


def test_scores_and_the_serving_copy_cover_every_eligible_customer(chain: dict) -> None:
    data = Path(chain["env"]["CVW_DATA_DIR"])
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        as_of, rows = con.execute(
            "select max(as_of_date), count(*) from scores.customer_scores "
            "where as_of_date = (select max(as_of_date) from scores.customer_scores)"
        ).fetchall()[0]
        eligible = _eligible(con, as_of)
        query = "select count(*), count(distinct model_version) from ml.feature_drift where as_of_date = ?"
        drift = con.execute(query, [as_of]).fetchall()[0]
    with duckdb.connect(str(data / "serving.duckdb"), read_only=True) as con:
        query = "select count(*), min(as_of_date), max(as_of_date) from bi.customer_value"
        served = con.execute(query).fetchall()[0]
        snapshot = con.execute("select as_of_date, customers from bi.snapshot").fetchall()
    assert 0 < rows == eligible <= CUSTOMERS
    assert served == (rows, as_of, as_of)
    assert snapshot == [(as_of, rows)]
    assert drift[0] > 0 and drift[1] == 1  # monitor measured the drift of the scored date for its champion


def _scores(con: duckdb.DuckDBPyConnection, as_of: date) -> list[tuple]:
    """Return one date's score rows without the time they were written, in customer order."""
    return con.execute(
        "select customer_id, churn_probability, predicted_revenue, value_tier, model_version "
        "from scores.customer_scores where as_of_date = ? order by customer_id",
        [as_of],
    ).fetchall()


def test_a_backfill_scores_each_past_date_exactly_as_a_fresh_build_for_that_date(chain: dict) -> None:
    api: Api = chain["api"]
    first, last = BACKFILL_DATES
    request = {
        "dag_id": "score",
        "from_date": f"{first}T00:00:00Z",
        "to_date": f"{last}T23:59:59Z",
        "max_active_runs": 1,
        "reprocess_behavior": "none",
        "run_backwards": False,
        "dag_run_conf": {},
    }
    # On SQLite the api-server refuses a backfill while the scheduler holds the database lock (HTTP 503
    # "Database is locked"); that is transient, so ask again a bounded number of times.
    for attempt in range(20):
        try:
            api.call("POST", "/backfills", request)
            break
        except RuntimeError as error:
            if "Database is locked" not in str(error) or attempt == 19:
                raise
            time.sleep(3)

    def backfilled() -> list[dict] | None:
        found = [run for run in api.runs() if run["dag_id"] == "score" and run["run_type"] == "backfill"]
        return found if len(found) == len(BACKFILL_DATES) and _quiet(api) else None

    runs = _wait_for(backfilled, "the backfill runs of score", 420)
    assert sorted(run["logical_date"][:10] for run in runs) == [str(day) for day in BACKFILL_DATES]
    assert {run["state"] for run in runs} == {"success"}

    # A fresh run for each date, outside Airflow on a copy: dbt builds the marts for the date, then score.
    data = Path(chain["env"]["CVW_DATA_DIR"])
    fresh = data / "fresh.duckdb"
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute("checkpoint")
    shutil.copyfile(data / "warehouse.duckdb", fresh)
    env = {**chain["env"], "CVW_WAREHOUSE": str(fresh)}
    for as_of in BACKFILL_DATES:
        for verb in ("build", "score"):
            done = subprocess.run(
                [sys.executable, "-m", "ml.cli", verb, "--as-of-date", str(as_of)],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with (
        duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as warehouse,
        duckdb.connect(str(fresh), read_only=True) as rebuilt,
    ):
        for as_of in BACKFILL_DATES:
            backfilled_rows = _scores(warehouse, as_of)
            assert len(backfilled_rows) == _eligible(warehouse, as_of) > 0
            assert backfilled_rows == _scores(rebuilt, as_of), f"{as_of}: backfill and fresh build differ"
        assert _marts_date(warehouse) > last  # the warehouse's marts stay the latest: built in a scratch copy


def test_a_failing_dbt_test_fails_its_own_task_and_what_dbt_skipped_ends_skipped(chain: dict) -> None:
    # Runs last: it leaves the marts unbuilt. An order with an unknown status fails stg_shop__orders'
    # accepted_values test; dbt skips everything built on stg_shop__orders after it.
    api: Api = chain["api"]
    _wait_for(lambda: _quiet(api), "every run to end", 300)
    with duckdb.connect(chain["env"]["CVW_WAREHOUSE"]) as con:
        con.execute(
            "insert into raw.orders (order_id, customer_id, ordered_at, amount, status) "
            "select 'unknown-status', customer_id, ordered_at, amount, 'on hold' from raw.orders limit 1"
        )
    run_id = api.call("POST", "/dags/transform/dagRuns", {"logical_date": None})["dag_run_id"]
    assert api.wait_for_run("transform", run_id, timeout_seconds=600) == "failed"
    states: dict[str, set[str]] = {}
    for ti in api.call("GET", f"/dags/transform/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]:
        states.setdefault(ti["state"], set()).add(ti["task_id"])
    assert states["failed"] == {"dbt.dbt_producer_watcher", "dbt.stg_shop__orders.test"}
    skipped = {"dbt.fct_orders.run", "dbt.customer_features.run", "dbt.customer_features.test"}
    assert skipped <= states["skipped"]
    assert {"dbt.stg_shop__orders.run", "dbt.stg_shop__customers.test"} <= states["success"]
    # the marts asset is not updated, and the run fails (its last tasks decide)
    assert states["upstream_failed"] == {"dbt.dbt_producer_watcher_done"}
    assert api.call("GET", f"/assets/events?source_run_id={quote(run_id)}")["total_entries"] == 0
    # the failed tests' task, resumed on a worker from the triggerer, and the build's task alert with dbt's
    # reason: they said "Review the producer task ... logs" and "dbt command failed ... exit code 1"
    manifest = json.loads(Path(chain["env"]["CVW_DBT_MANIFEST"]).read_text())
    test = next(n for n in manifest["nodes"] if ".accepted_values_stg_shop__orders_status_" in n)
    name, reason = test.split(".")[2], "(Got 1 result, configured to fail if != 0)"
    alerts = [alert for alert in chain["alerts"] if f"run {run_id})" in alert]
    assert sorted(alerts) == [
        f"Task transform.dbt.dbt_producer_watcher failed (try 1, run {run_id}): AirflowException: "
        f"`dbt build` failed on 1 node(s): {test} {reason}.",
        f"Task transform.dbt.stg_shop__orders.test failed (try 2, run {run_id}): AirflowException: tests of "
        f"model.customer_value.stg_shop__orders failed in this run's dbt build: {name} {reason}",
    ]

"""Every DAG file imports cleanly; the DAGs are chained by assets, run one at a time, in the writer lane."""

import importlib.util
import json
import logging
from pathlib import Path

import duckdb
import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from include.airflow_defaults import WAREHOUSE_POOL
from include.alerts import notify_failure
from include.cosmos_config import BI_TAG, dbt_task_group, run_producer_first
from include.node_tasks import NODE_POKE_SECONDS
from include.settings import get_settings

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
EXPECTED_DAGS = {"ingest", "transform", "train", "score", "publish", "monitor"}
# Tasks that never open the warehouse, so they may run outside the one-slot writer pool: the score date
# (the run's params and type), train's announcement of a promoted champion (train_models' XCom), Cosmos'
# gate after its build (an EmptyOperator, which never runs), and the dbt node tasks, which read the build's
# results from XCom and may not run dbt (_is_dbt_node_reader).
WAREHOUSE_FREE_TASKS = {
    ("score", "scoring_date"),
    ("train", "announce_champion"),
    ("transform", "dbt.dbt_producer_watcher_done"),
}


def _is_dbt_node_reader(dag_id: str, task) -> bool:
    """Return whether a task is a Cosmos node task of transform: it reports one node of the build."""
    return dag_id == "transform" and hasattr(task, "_fallback_to_non_watcher_run")


@pytest.fixture(scope="module")
def dag_bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_every_dag_file_imports_without_errors(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}


def test_the_pipeline_dags_exist_with_docs_and_one_run_at_a_time(dag_bag: DagBag) -> None:
    assert set(dag_bag.dag_ids) == EXPECTED_DAGS
    for dag_id in EXPECTED_DAGS:
        dag = dag_bag.dags[dag_id]
        assert dag.doc_md and dag.doc_md.strip().startswith("###"), f"{dag_id} has no doc_md"
        assert dag.max_active_runs == 1, f"{dag_id} may run twice at once against one DuckDB file"
        assert not dag.catchup, f"{dag_id} would replay every interval since its start date"


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
        "publish": {"serving_copy", "warehouse_bi"},
        "monitor": {"model_monitoring"},
    }

    def names(condition) -> set[str]:
        """Return the asset names of a condition (an asset, or any/all of conditions)."""
        if hasattr(condition, "objects"):
            return set().union(*(names(part) for part in condition.objects))
        return {condition.name}

    triggers = {
        dag_id: names(dag_bag.dags[dag_id].timetable.asset_condition)
        for dag_id in ("transform", "train", "score", "publish", "monitor")
    }
    assert triggers == {
        "transform": {"warehouse_raw"},
        "train": {"warehouse_marts"},
        "score": {"warehouse_marts", "champion_model"},
        "publish": {"customer_scores", "model_monitoring"},
        "monitor": {"customer_scores"},
    }


def test_publish_starts_on_new_scores_and_again_on_new_monitoring(dag_bag: DagBag) -> None:
    """bi.model_performance shows ml.backtests, which monitor writes after scoring: published only with the
    next scores, new backtests reached BI a day late. Either asset's event alone now starts publish."""
    from airflow.assets.evaluation import AssetEvaluator

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag_bag.dags["publish"]))
    condition = serialized.timetable.asset_condition
    keys = [key for key, _ in condition.iter_assets()]

    def starts(*updated: str) -> bool:
        """Return whether the scheduler's evaluation starts publish once the named assets have new events."""
        return AssetEvaluator(None).run(condition, {key: key.name in updated for key in keys})

    assert starts("customer_scores") and starts("model_monitoring")
    assert starts("customer_scores", "model_monitoring") and not starts()


@pytest.mark.parametrize(
    ("dag_id", "chain"),
    [
        ("ingest", ["load_landing_files"]),
        ("train", ["should_train", "train_models", "announce_champion"]),
        ("score", ["scoring_date", "score_customers"]),
        ("publish", ["publish_serving_copy"]),
        ("monitor", ["monitor_champion"]),
    ],
)
def test_each_task_waits_for_the_one_before_it(dag_bag: DagBag, dag_id: str, chain: list[str]) -> None:
    # a task that decides whether the run goes on (should_train) skips every task after it
    upstream = {task.task_id: task.upstream_task_ids for task in dag_bag.dags[dag_id].tasks}
    assert upstream == {task: set(chain[i - 1 : i]) for i, task in enumerate(chain)}


def test_time_schedules_are_the_documented_crons(dag_bag: DagBag) -> None:
    def cron(dag_id: str) -> str | None:
        timetable = dag_bag.dags[dag_id].timetable
        timetable = getattr(timetable, "timetable", timetable)  # AssetOrTimeSchedule wraps a cron
        return getattr(timetable, "expression", None)

    assert cron("ingest") == "0 5 * * *"  # daily, before scoring
    assert cron("train") == "0 3 * * 1"  # weekly, Monday
    assert cron("score") == "0 6 * * *"  # daily
    assert cron("transform") is None and cron("publish") is None and cron("monitor") is None  # assets only


def test_every_task_that_opens_the_warehouse_runs_in_the_one_slot_writer_pool(dag_bag: DagBag) -> None:
    outside = {
        (dag_id, task.task_id)
        for dag_id in EXPECTED_DAGS
        for task in dag_bag.dags[dag_id].tasks
        if task.pool != WAREHOUSE_POOL and not _is_dbt_node_reader(dag_id, task)
    }
    assert outside == WAREHOUSE_FREE_TASKS


def test_the_score_date_opens_no_warehouse_and_the_lane_decides_there_is_no_champion(
    dag_bag: DagBag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold_warehouse
) -> None:
    # scoring_date checked for a champion: without a champion pointer (a fresh install, every run until the
    # first training) it opened the warehouse to read the registry, outside the lane, beside its writers;
    # with the warehouse busy it read nothing and skipped the run as having no champion
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowSkipException

    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))  # no champion pointer
    duckdb.connect(str(warehouse)).close()
    holder = hold_warehouse(warehouse)  # a writer of the lane, until the test ends
    score = dag_bag.dags["score"]
    run = SimpleNamespace(run_type="manual", logical_date=None)
    assert score.get_task("scoring_date").python_callable(params={"as_of_date": ""}, dag_run=run) == ""
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    with pytest.raises(AirflowSkipException, match="^No champion model yet: train promotes one"):
        score.get_task("score_customers").python_callable(as_of_date="", outlet_events={})


class _BuildResults:
    """The XComs a producer task left: what a node task instance's xcom_pull reads."""

    dag_id = "transform"

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def xcom_pull(self, task_ids: str, key: str) -> object:
        return self.values.get(key)


def test_dbt_node_tasks_never_run_dbt_themselves(dag_bag: DagBag) -> None:
    """Where Cosmos would re-run a node with dbt (a retry, a clear, a build that never reported the node), a
    node task reports the build's result for its node, and fails saying to trigger a new run without one."""
    from airflow.sdk.exceptions import AirflowException, AirflowSkipException

    readers = [task for task in dag_bag.dags["transform"].tasks if _is_dbt_node_reader("transform", task)]
    assert len(readers) > 20 and {task.pool for task in readers} == {"default_pool"}
    model = next(task for task in readers if task.task_id == "dbt.fct_orders.run")
    key = "model__customer_value__fct_orders_status"
    for task in readers:  # (no task runner here: the producer's state reads as unknown)
        with pytest.raises(AirflowException, match=r"trigger a new transform run to rebuild"):
            task._fallback_to_non_watcher_run(2, {"ti": _BuildResults({}), "run_id": "manual__1"})
    assert model._fallback_to_non_watcher_run(2, {"ti": _BuildResults({key: {"status": "success"}})}) is True
    with pytest.raises(AirflowSkipException):
        model._fallback_to_non_watcher_run(2, {"ti": _BuildResults({key: {"status": "skipped"}})})
    with pytest.raises(AirflowException, match="ended with status 'error'"):
        model._fallback_to_non_watcher_run(2, {"ti": _BuildResults({key: {"status": "error"}})})


BINDER_ERROR = 'Binder Error: Referenced column "order_idd" not found in FROM clause!'
UNIT_TEST_ERROR = (
    "Runtime Error in unit_test int_cutoff_spine_from_as_of_var (models/m.yml)\n  An error occurred during "
    "execution of unit test 'int_cutoff_spine_from_as_of_var'. There may be an error in the unit test "
    f"definition: check the data types.\n   Runtime Error\n    {BINDER_ERROR}\n    Candidate bindings: x"
)


@pytest.mark.parametrize(
    ("task_id", "failed_node", "status", "message", "failure"),
    [
        (
            "dbt.fct_orders.run",
            "model.customer_value.fct_orders",
            "error",
            f"Runtime Error in model fct_orders (models/m.sql)\n  {BINDER_ERROR}\n  LINE 3: order_idd",
            f"model.customer_value.fct_orders failed in this run's dbt build: {BINDER_ERROR}",
        ),
        (
            "dbt.int_cutoff_spine.run",  # dbt ran the model's unit tests first, failed one, skipped the model
            "unit_test.customer_value.int_cutoff_spine.int_cutoff_spine_from_as_of_var",
            "failed",
            UNIT_TEST_ERROR,
            "model.customer_value.int_cutoff_spine was not built: its unit test "
            f"int_cutoff_spine_from_as_of_var failed in this run's dbt build: {BINDER_ERROR}",
        ),
        (
            "dbt.customer_features.test",
            "test.customer_value.assert_customer_features_use_only_data_before_cutoff",
            "fail",
            "Got 2 results, configured to fail if != 0",
            "tests of model.customer_value.customer_features failed in this run's dbt build: "
            "assert_customer_features_use_only_data_before_cutoff "
            "(Got 2 results, configured to fail if != 0)",
        ),
    ],
    ids=["a model", "a model's unit test", "a model's tests"],
)
def test_a_failed_node_s_task_fails_with_dbt_s_message_on_its_worker_and_its_retry(
    dag_bag: DagBag, task_id: str, failed_node: str, status: str, message: str, failure: str
) -> None:
    """Resumed on a worker after its trigger saw the node fail, a node task said "Review the producer task
    ... logs", and its retry "ended with status 'error'": dbt's reason was only in the build's log.
    (tests/integration/test_transform_failure_alerts.py runs a failing build under dag.test.)"""
    from airflow.sdk.exceptions import AirflowException

    task = dag_bag.dags["transform"].get_task(task_id)
    node = task.model_unique_id.replace(".", "__")
    ti = _BuildResults(
        {
            f"{node}_tests_status" if task.is_test_sensor else f"{node}_status": (
                status if task.is_test_sensor else {"status": status}
            ),
            f"{failed_node.replace('.', '__')}_dbt_event": {"status": "None", "msg": message},
        }
    )
    with pytest.raises(AirflowException) as failed:
        task.execute_complete({"ti": ti, "task": task}, event={"status": "failed", "reason": "node_failed"})
    assert str(failed.value) == failure
    with pytest.raises(AirflowException) as failed:  # its retry reads the same result again
        task._fallback_to_non_watcher_run(2, {"ti": ti})
    assert str(failed.value) == failure
    # a build whose task failed before dbt reported the node ends the node's task skipped, in the triggerer
    # (tests/dags/test_node_trigger.py) or, under dag.test, by its report (test_transform_marts_date.py)


def test_tasks_retry_with_exponential_backoff_and_alert_on_failure(dag_bag: DagBag) -> None:
    for dag_id in EXPECTED_DAGS:
        for task in dag_bag.dags[dag_id].tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            alerts = any(getattr(c, "__wrapped__", c) is notify_failure for c in callbacks)
            assert alerts or task.task_id.endswith("dbt_producer_watcher"), f"{dag_id}.{task.task_id}"
            if task.task_id.endswith("dbt_producer_watcher"):
                assert task.retries == 0  # a build is re-run by a new run, never per node
                continue
            if _is_dbt_node_reader(dag_id, task):
                # once, at once: a retry only reads the build's result again (include/node_tasks.py)
                assert (task.retries, task.retry_exponential_backoff) == (1, False), task.task_id
                continue
            assert task.retries == 2, f"{dag_id}.{task.task_id}"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id}"


def test_transform_has_a_task_for_every_dbt_model_and_seed_and_their_tests(dag_bag: DagBag) -> None:
    manifest = json.loads(get_settings().dbt_manifest_path.read_text())
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed") and node["package_name"] == "customer_value"
    ]
    bi = {node["name"] for node in nodes if BI_TAG in node["tags"]}
    assert bi == {"customer_value", "segment_summary", "model_performance"}
    nodes = [node for node in nodes if node["name"] not in bi]  # they read scores: publish builds them
    task_ids = set(dag_bag.dags["transform"].task_ids)
    built_bi = [t for t in task_ids if any(t.startswith(f"dbt.{name}") for name in bi)]
    assert built_bi == [], "transform must not build the BI marts"
    for node in nodes:
        kind = "seed" if node["resource_type"] == "seed" else "run"
        assert any(t.startswith(f"dbt.{node['name']}") and kind in t for t in task_ids), node["name"]
    tested = {n.get("attached_node") for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    for node in nodes:
        if node["unique_id"] in tested:
            assert f"dbt.{node['name']}.test" in task_ids, f"the tests of {node['name']} have no task"
    # the build's own task announces the marts, only when it passed: not a task after the node tasks (a
    # node dbt skipped ends skipped, which would pass a skip on), and no task of its own (a worker start)
    transform = dag_bag.dags["transform"]
    announcing = [task.task_id for task in transform.tasks if task.outlets]
    assert announcing == ["dbt.dbt_producer_watcher"]
    producer = transform.get_task("dbt.dbt_producer_watcher")
    assert producer._post_execute_hook.__name__ == "record_marts_date"
    # the build cannot retry: it refuses a date with no data first, then waits for a reader elsewhere to let
    # go of the warehouse
    assert producer._pre_execute_hook.__name__ == "refuse_or_wait_before_the_build"


def test_node_tasks_report_beside_the_build_and_after_it_under_dag_test(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["transform"]
    producer = dag.get_task("dbt.dbt_producer_watcher")
    readers = [task for task in dag.tasks if _is_dbt_node_reader("transform", task)]
    # under a scheduler: no node task waits for the whole build, nor for its upstream node tasks (the edges
    # show dbt's lineage; each task reads its own node's result, and dbt skips what a failure feeds)
    assert producer.downstream_task_ids == {"dbt.dbt_producer_watcher_done"}
    assert {task.trigger_rule for task in readers} == {"always"}
    assert all(task.deferrable and task.poke_interval == NODE_POKE_SECONDS for task in readers)
    # ... and the scheduler starts it in the triggerer, never on a worker, from the serialized DAG it reads
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    manifest = json.loads(get_settings().dbt_manifest_path.read_text())
    unit_tests_of: dict[str, list[str]] = {}
    for unit_test in manifest["unit_tests"].values():
        unit_tests_of.setdefault(unit_test["depends_on"]["nodes"][0], []).append(unit_test["unique_id"])
    assert len(unit_tests_of["model.customer_value.int_cutoff_spine"]) == 5
    for task in readers:
        started = serialized.get_task(task.task_id)
        args = started.start_trigger_args
        assert started.start_from_trigger and args.trigger_cls == "include.node_trigger.NodeResultTrigger"
        assert args.next_method == "execute_complete"  # a node that did not pass resumes in Cosmos' code
        kwargs = args.trigger_kwargs["__var"]
        assert (kwargs["model_unique_id"], kwargs["is_test_sensor"]) == (
            task.model_unique_id,
            task.task_id.endswith(".test"),
        ), task.task_id
        assert kwargs["producer_task_id"] == producer.task_id and kwargs["poke_interval"] == NODE_POKE_SECONDS
        # a tests task tells a failed test from one dbt skipped after an upstream failure, test by test
        tests = producer.tests_per_model[task.model_unique_id] if task.task_id.endswith(".test") else []
        assert kwargs["test_unique_ids"] == tests, task.task_id
        unit_tests = [] if task.task_id.endswith(".test") else unit_tests_of.get(task.model_unique_id, [])
        assert kwargs["unit_test_ids"] == unit_tests, task.task_id  # a failed one fails its model's task
    roots = {task.task_id for task in readers if not task.upstream_task_ids}
    assert len(roots) >= 5  # the seed and the staging views
    # dag.test runs one task at a time: include.run_dags puts the build before the roots, and every other
    # node task after its upstream ones passed (on its own copy)
    dag = DagBag(dag_folder=str(dag.fileloc)).dags["transform"]
    producer = dag.get_task("dbt.dbt_producer_watcher")
    readers = [task for task in dag.tasks if _is_dbt_node_reader("transform", task)]
    run_producer_first(dag)
    assert {t.task_id for t in readers if t.upstream_task_ids == {producer.task_id}} == roots
    assert all(dag.get_task(task_id).trigger_rule == "all_done" for task_id in roots)  # report a failed build
    assert {t.trigger_rule for t in readers if t.task_id not in roots} == {"all_success"}


def test_the_build_parses_no_lineage_events_that_nothing_would_send(dag_bag: DagBag, tmp_path: Path) -> None:
    assert importlib.util.find_spec("airflow.providers.openlineage") is None  # the project installs none
    producer = dag_bag.dags["transform"].get_task("dbt.dbt_producer_watcher")
    # Cosmos' parser would read tmp_path/target/manifest.json and fail; the stand-in reads nothing
    assert producer.calculate_openlineage_events_completes({}, tmp_path, ["dbt", "build"]) is False
    assert producer.openlineage_events_completes == []


def test_rendering_the_dbt_project_logs_no_cosmos_warning(caplog: pytest.LogCaptureFixture) -> None:
    # e.g. "Unavailable conversion function" for each dbt exposure, at every parse of the DAG file
    start = pendulum.datetime(2024, 1, 1)
    with caplog.at_level(logging.WARNING), DAG("render", schedule=None, start_date=start):
        dbt_task_group("dbt")
    cosmos = [r for r in caplog.records if r.name.startswith("cosmos") and r.levelno >= logging.WARNING]
    assert [record.getMessage() for record in cosmos] == []


@pytest.mark.parametrize(
    ("dag_id", "param", "good", "bad"),
    [
        ("transform", "as_of_date", ["", "2024-05-01"], ["2024-13-01", "01/05/2024", "yesterday"]),
        ("score", "as_of_date", ["", "2024-05-31", "2024-02-29"], ["2024-05-32", "2024-5-1", "2024-02-30"]),
        ("publish", "as_of_date", ["", "2025-01-01"], ["2025-00-01"]),
        ("monitor", "as_of_date", ["", "2025-01-01"], ["2025-1-01"]),
        # the horizons the label marts are built with (CVW_HORIZON_DAYS unset: dbt's 90 and 365)
        ("train", "horizon_days", [90, 365], [30, 0, 731, "90", 90.5]),
        ("transform", "full_refresh", [True, False], ["yes", 1]),
        ("transform", "test_every_row", [True, False], ["yes", 1]),
        ("monitor", "recompute_backtests", [True, False], ["yes", 1]),
    ],
)
def test_params_reject_malformed_values(
    dag_bag: DagBag, dag_id: str, param: str, good: list, bad: list
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    spec = dag_bag.dags[dag_id].params.get_param(param)
    for value in good:
        assert spec.resolve(value) == value
    for value in bad:
        with pytest.raises(ParamValidationError):
            spec.resolve(value)


@pytest.mark.parametrize("landing", ["missing", "empty"])
def test_ingest_with_nothing_to_load_is_skipped_even_before_the_landing_folder_exists(
    dag_bag: DagBag, tmp_path, monkeypatch: pytest.MonkeyPatch, landing: str
) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    folder = tmp_path / "landing"
    if landing == "empty":
        folder.mkdir()
    monkeypatch.setenv("CVW_LANDING_DIR", str(folder))
    monkeypatch.setenv("CVW_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    task = dag_bag.dags["ingest"].get_task("load_landing_files")
    with pytest.raises(AirflowSkipException, match="nothing to load, raw is unchanged"):
        task.python_callable()


def test_trains_doc_offers_only_the_horizons_its_param_accepts(dag_bag: DagBag) -> None:
    import re

    doc = dag_bag.dags["train"].doc_md
    paragraph = doc[doc.index("Param `horizon_days`") :].split("\n\n")[0]
    offered = {int(number) for number in re.findall(r"\b\d+\b", paragraph)}
    accepted = set(dag_bag.dags["train"].params.get_param("horizon_days").schema["enum"])
    assert offered <= accepted, f"the doc offers {sorted(offered - accepted)}, which the param refuses"

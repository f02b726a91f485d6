"""The dbt project as a Cosmos task group: one Airflow task per dbt node, one dbt process per build.

Rendering: from the manifest `include/airflow_setup.py` writes (`dbt parse`), never by running dbt while
Airflow parses the DAG file.

Execution: Cosmos' WATCHER mode. One producer task runs a single `dbt build` (models, seeds, unit tests and
data tests, in dbt's own order, on one DuckDB connection), and every model, seed and model's tests gets
its own task that reports that node's result from the build; a failing model or test fails its own task,
and the nodes dbt skips because of it end skipped. Under a scheduler every node task starts at once, in the
triggerer (`start_from_trigger`, trigger rule `always`: the edges between node tasks draw dbt's lineage,
but no node task waits for another). Its trigger (include/node_trigger.py) polls the producer's results
every NODE_POKE_SECONDS and ends the task there when the node passed, or was skipped after an upstream
failure; only a node that failed resumes on a worker, to fail there with dbt's message for it, once the
build has ended (dbt writes it in its run summary; include/dbt_results.py). So reporting a node costs no
worker process on the cores dbt needs, and nothing is left to report once the build is done
(docs/benchmarks.md). A failed build fails its own task with each failed node and dbt's reason, in one
line, not with Cosmos' "exit code 1" after dbt's whole JSON output at error level. A passed model's
compiled SQL is in the producer's XComs (`..._compiled_sql`), not in its task's rendered fields, which only
a worker could set. `dag.test()` runs one task at a time, never in the triggerer, and runs a deferred
task's trigger in line: a node task run before the producer would wait for a build that never starts. The
in-process runner (include/run_dags.py) so puts the producer before the root node tasks, and every other
node task after its upstream ones (run_producer_first).

Writer lane: only the producer writes, so only it runs in the warehouse's one-slot pool. The node tasks
read the build's results from XCom and run in the default pool, side by side. Cosmos would re-run a node
alone with dbt when its task is retried or cleared, or when the build died before reporting it: a second
dbt process, outside the writer lane. Here that fallback only reports (`report_only`): the build's result
for the node when it has one, else a failure with one sentence saying to trigger a new run, whose build
runs in the lane: a cleared producer does not rebuild (Cosmos skips a producer's second try, so that one
run never builds twice). So a node task's retry never runs dbt, and node tasks retry once, at once: a
retry only reads the same result again, so it is safe against a transient failure (apache/airflow#67287 in
Airflow 3.3.2 failed node tasks when they still deferred from a worker).
"""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from types import MethodType
from typing import Any

from airflow.sdk import DAG, BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowSkipException
from airflow.triggers.base import StartTriggerArgs
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.operators._watcher.state import (
    get_xcom_val,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
)

from include import node_trigger
from include.airflow_defaults import WAREHOUSE_POOL
from include.airflow_setup import dbt_executable
from include.dbt import dbt_environment, label_horizons
from include.dbt_results import build_failure, node_failure
from include.settings import get_settings

PRODUCER_TASK_ID = "dbt_producer_watcher"  # Cosmos' name for the task that runs `dbt build`
PRODUCER_GATE_TASK_ID = "dbt_producer_watcher_done"
NODE_POOL = "default_pool"  # node tasks only read the producer's XComs: they need no writer slot
# How often a deferred node task's trigger reads the build's results (Cosmos' default is 10 s): a node's
# task then ends at most this long after dbt finished the node. Each poll is two small metadata queries.
NODE_POKE_SECONDS = 2
# One retry, at once: a node task's retry only reads the build's result again (see the module docstring).
NODE_RETRIES = 1
NODE_RETRY_DELAY = timedelta(seconds=1)
BI_TAG = "bi"  # dbt_project/models/marts/bi: built after scoring by the publish DAG, never by transform


def _project_config(manifest: Path) -> ProjectConfig:
    """Return the project config: the repo's dbt project, rendered from the parsed manifest."""
    settings = get_settings()
    if not manifest.exists():
        raise FileNotFoundError(
            f"The dbt manifest {manifest} does not exist: run `python -m include.airflow_setup` "
            "(it runs `dbt parse`) before Airflow parses the DAGs; `make demo` and `make airflow` do."
        )
    project = ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=manifest,
        install_dbt_deps=False,
        # Cosmos runs dbt in a fresh temporary copy of the project; with DBT_TARGET_PATH=target (below) it
        # keeps the build's partial parse in its cache folder and re-points it at the next copy, so the
        # seeds load from the live copy. dbt re-parses in full by itself when vars, profile or files changed
        # (or when the project's own target/ holds a newer cache, which Cosmos prefers). Saves about 3 s of
        # each build's parse (docs/benchmarks.md).
        partial_parse=True,
        env_vars={
            # the warehouse's path is absolute: dbt runs in a temporary copy of the project
            **dbt_environment(settings.warehouse_path),
            # the copy's own target folder, whatever DBT_TARGET_PATH the deployment sets for its other dbt
            # runs: Cosmos reads each model's compiled SQL from there, for the node task's compiled_sql field
            "DBT_TARGET_PATH": "target",
        },
    )
    # A local file read as a plain Path: Cosmos' object-storage path would load every Airflow plugin (and
    # FastAPI with them) while the DAG file is parsed, which alone costs more than half a second.
    project.manifest_path = manifest
    return project


def run_producer_first(dag: DAG) -> None:
    """Put each dbt producer upstream of the root node tasks of its group, for dag.test's one-at-a-time runs.

    Roots still run (and report) when the build failed. A DAG without a dbt task group is left as it is.
    """
    for producer in [task for task in dag.tasks if task.task_id.endswith(PRODUCER_TASK_ID)]:
        group = producer.task_group
        for task in group.iter_tasks() if group is not None else []:
            if task is producer or task.task_id.endswith(PRODUCER_GATE_TASK_ID):
                continue
            if task.upstream_task_ids:  # after its upstream node tasks passed, as Cosmos renders it
                task.trigger_rule = TriggerRule.ALL_SUCCESS
            else:
                producer >> task
                task.trigger_rule = TriggerRule.ALL_DONE


def build_failure_of(task: BaseOperator, context: Any) -> str | None:
    """Return the one line saying why this run's build failed the task's node (dbt's message), or None when
    the build has no failure for it (it passed, was skipped, or has no result yet)."""
    ti = context["ti"]
    status = task._get_node_status(ti, context)
    if status is None or is_dbt_node_status_success(status) or is_dbt_node_status_skipped(status):
        return None
    return node_failure(
        task.model_unique_id,
        status,
        lambda key: get_xcom_val(ti, task.producer_task_id, key),
        tests=getattr(task, "dbt_test_ids", []),
        unit_tests=getattr(task, "dbt_unit_test_ids", []),
        producer=task.producer_task_id,
    )


def _report_build_result(self: BaseOperator, try_number: int, context: Any) -> bool:
    """Replace Cosmos' per-node dbt re-run: report this run's build result for the node, or fail saying how
    to rebuild within the writer lane when the build has none (a new run: a cleared producer skips)."""
    status = self._get_node_status(context["ti"], context)
    if is_dbt_node_status_success(status):
        return True
    if is_dbt_node_status_skipped(status):
        raise AirflowSkipException(f"{self.model_unique_id} was skipped by this run's dbt build.")
    if status is not None:
        raise AirflowException(build_failure_of(self, context))
    raise AirflowException(
        f"{self.task_id} has no result from this run's dbt build (try {try_number}): node tasks never run "
        f"dbt themselves, since the warehouse has one writer; trigger a new {self.dag_id} run to rebuild (a "
        f"cleared {PRODUCER_TASK_ID} skips: Cosmos never runs a second build in one run)."
    )


def _with_dbt_message(method: str) -> Any:
    """Return Cosmos' `poke` or `execute_complete` of a node task, failing with dbt's message for the node.

    Cosmos fails a node that failed with "Model ... finished with status 'error'" (poke, under dag.test) or
    "Review the producer task ... logs" (execute_complete, under a scheduler), dbt's reason left in the
    build's log. Cosmos' method runs on the task the task runner executes (context["task"], the copy it
    rendered), not on the parsed task this is bound to.
    """

    def report(self: BaseOperator, context: Any, *args: Any, **kwargs: Any) -> Any:
        task = context.get("task") or self
        try:
            return getattr(type(task), method)(task, context, *args, **kwargs)
        except AirflowSkipException:
            raise
        except AirflowException:
            failure = build_failure_of(task, context)
            if failure is None:  # the build failed before the node, or has no result for it: Cosmos' words
                raise
            raise AirflowException(failure) from None

    return report


def start_in_triggerer(
    task: BaseOperator, tests_per_model: dict[str, list[str]], unit_tests_per_model: dict[str, list[str]]
) -> None:
    """Have the scheduler start the node task in the triggerer; a passed or skipped node ends it there.

    Only a node that failed resumes on a worker (Cosmos' `execute_complete`), see include/node_trigger.py.
    dag.test() never starts a task in the triggerer: it runs `execute` in line.
    """
    node = task.model_unique_id
    task.start_from_trigger = True
    task.start_trigger_args = StartTriggerArgs(
        trigger_cls=node_trigger.CLASS_PATH,
        trigger_kwargs={
            "model_unique_id": node,
            "producer_task_id": task.producer_task_id,
            "dag_id": task.dag_id,
            "poke_interval": NODE_POKE_SECONDS,
            "is_test_sensor": task.is_test_sensor,
            "test_unique_ids": tests_per_model.get(node, []) if task.is_test_sensor else [],
            "unit_test_ids": [] if task.is_test_sensor else unit_tests_per_model.get(node, []),
        },
        next_method="execute_complete",
        timeout=task.execution_timeout,
    )


def unit_tests_per_model(manifest: Path) -> dict[str, list[str]]:
    """Return each model's dbt unit tests from the manifest (Cosmos gives them no task)."""
    unit_tests: dict[str, list[str]] = {}
    for unit_test in json.loads(manifest.read_text()).get("unit_tests", {}).values():
        for model in unit_test["depends_on"]["nodes"]:
            unit_tests.setdefault(model, []).append(unit_test["unique_id"])
    return unit_tests


def producer_of(group: DbtTaskGroup) -> BaseOperator:
    """Return the group's producer: the task that runs `dbt build`."""
    return next(task for task in group.iter_tasks() if task.task_id.endswith(PRODUCER_TASK_ID))


def report_only(group: DbtTaskGroup) -> None:
    """Make every node task a reader of the build's results, in the default pool, retried once at once."""
    tasks = list(group.iter_tasks())
    producer = producer_of(group)
    unit_tests = unit_tests_per_model(get_settings().dbt_manifest_path)
    for task in tasks:
        if not hasattr(task, "_fallback_to_non_watcher_run"):  # the producer, and Cosmos' empty gate
            continue
        task._fallback_to_non_watcher_run = MethodType(_report_build_result, task)
        for method in ("poke", "execute_complete"):  # a failed node fails with dbt's message
            setattr(task, method, MethodType(_with_dbt_message(method), task))
        node = task.model_unique_id
        task.dbt_test_ids = producer.tests_per_model.get(node, []) if task.is_test_sensor else []
        task.dbt_unit_test_ids = [] if task.is_test_sensor else unit_tests.get(node, [])
        task.pool = NODE_POOL
        task.trigger_rule = TriggerRule.ALWAYS
        task.retries = NODE_RETRIES
        task.retry_delay = NODE_RETRY_DELAY
        task.retry_exponential_backoff = False
        task.poke_interval = NODE_POKE_SECONDS
        start_in_triggerer(task, producer.tests_per_model, unit_tests)


def _fail_in_one_line(self: BaseOperator, result: Any) -> None:
    """Stand in for Cosmos' handling of a failed `dbt build`: fail with each failed node and dbt's reason.

    Cosmos logged dbt's whole output (its JSON log lines, over 200 kB) at error level and failed with "dbt
    command failed ... exit code 1". dbt's readable lines are in the log as the build ran them; its JSON
    goes to the debug level.
    """
    if result.exit_code == 0:
        return
    self.log.debug("\n".join(result.full_output))
    raise AirflowException(build_failure(result.full_output, result.exit_code))


def report_failed_builds_in_one_line(group: DbtTaskGroup) -> None:
    """Have the producer fail a failed build with one line naming the failed nodes and dbt's reasons."""
    producer = producer_of(group)
    producer.handle_exception_subprocess = MethodType(_fail_in_one_line, producer)


def _no_lineage_events(self: BaseOperator, *args: Any, **kwargs: Any) -> bool:
    """Stand in for Cosmos' OpenLineage parsing of the build's artifacts: nothing would send the events."""
    return False


def skip_unsent_lineage(group: DbtTaskGroup) -> None:
    """Have the producer skip parsing OpenLineage events when no OpenLineage provider is installed.

    After the build Cosmos turns dbt's manifest and run results into OpenLineage events for the provider's
    listener to send; without the provider nothing reads them. The import and parse took about a second of
    the producer at 100,000 customers (docs/benchmarks.md). With the provider installed, Cosmos does it.
    """
    if importlib.util.find_spec("airflow.providers.openlineage") is not None:
        return
    producer = producer_of(group)
    producer.calculate_openlineage_events_completes = MethodType(_no_lineage_events, producer)


def dbt_task_group(group_id: str = "dbt", producer_args: dict[str, Any] | None = None) -> DbtTaskGroup:
    """Return the dbt build as a Cosmos task group; dbt vars come from the DAG run's params.

    `producer_args` go to the producer (the task that runs `dbt build`) only, e.g. the asset it updates
    when the build passed and a `post_execute` hook that says what it holds.
    """
    settings = get_settings()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=_project_config(settings.dbt_manifest_path),
        profile_config=ProfileConfig(
            profile_name="customer_value",
            target_name="dev",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            # dbt in a process of its own, whose JSON log lines the producer turns into XComs beside it. In
            # the producer's process (DBT_RUNNER) each dbt event became JSON and each node's XComs were
            # pushed in dbt's own threads, between its nodes: about 5 s of a 25 s build at 100,000
            # customers (docs/benchmarks.md).
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt_executable(),
            # Cosmos never re-runs a whole build: a retried producer skips and the node tasks retry instead.
            setup_operator_args={"retries": 0, **(producer_args or {})},
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # The BI marts read the score tables, which exist only after scoring: publish builds them.
            # Exposures say who reads the marts (ML, BI): nothing to run, so no task (else Cosmos warns); nor
            # the project's hooks (operations), which dbt runs at the build's start and end all the same.
            exclude=[f"tag:{BI_TAG}", "resource_type:exposure", "resource_type:operation"],
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,  # the DAG emits the warehouse_marts asset itself, once the build passed
        ),
        operator_args={
            "pool": WAREHOUSE_POOL,
            "full_refresh": "{{ params.full_refresh }}",
            "vars": {"as_of_date": "{{ params.as_of_date }}", "label_horizons": label_horizons()},
        },
    )
    report_only(group)
    report_failed_builds_in_one_line(group)
    skip_unsent_lineage(group)
    return group

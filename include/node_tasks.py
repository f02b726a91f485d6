"""The node tasks of the dbt task group: each reports its node's result from the producer's build.

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

import json
from datetime import timedelta
from pathlib import Path
from types import MethodType
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowException, AirflowSkipException
from airflow.triggers.base import StartTriggerArgs
from cosmos import DbtTaskGroup
from cosmos.operators._watcher.state import (
    ProducerTaskState,
    get_xcom_val,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
)

from include import node_trigger
from include.dbt_results import node_failure
from include.settings import get_settings

PRODUCER_TASK_ID = "dbt_producer_watcher"  # Cosmos' name for the task that runs `dbt build`
NODE_POOL = "default_pool"  # node tasks only read the producer's XComs: they need no writer slot
# How often a deferred node task's trigger reads the build's results (Cosmos' default is 10 s): a node's
# task then ends at most this long after dbt finished the node. Each poll is two small metadata queries.
NODE_POKE_SECONDS = 2
# One retry, at once: a node task's retry only reads the build's result again (see the module docstring).
NODE_RETRIES = 1
NODE_RETRY_DELAY = timedelta(seconds=1)


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
    to rebuild within the writer lane when the build has none (a new run: a cleared producer skips).

    A build task that failed before dbt reported the node (a refused date, a lock held past the wait, a
    killed worker) skips it: every node task failed and alerted with it, dozens of alerts for one cause.
    """
    status = self._get_node_status(context["ti"], context)
    if is_dbt_node_status_success(status):
        return True
    if is_dbt_node_status_skipped(status):
        raise AirflowSkipException(f"{self.model_unique_id} was skipped by this run's dbt build.")
    if status is not None:
        raise AirflowException(build_failure_of(self, context))
    if self._get_producer_task_status(context) == ProducerTaskState.FAILED:
        raise AirflowSkipException(
            f"{self.model_unique_id} was not built: this run's dbt build task {self.producer_task_id} failed "
            "before dbt reported it; that task's log and alert say why."
        )
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

"""The trigger a dbt node task starts in: it reads the node's result from the build and ends the task there.

Under a scheduler each node task of the transform DAG starts in the triggerer (`start_from_trigger`), not
on a worker: a worker would spend a process start-up (about a second of CPU, on the two cores dbt itself
needs) only to find the node not built yet and defer, then another to take the result. This trigger polls
the producer's XComs as Cosmos' own does and, when the node passed, ends the task as a success where it
is (TaskSuccessEvent), with no worker at all. Anything else (the node failed or was skipped, the producer
was cleared, or the build ran without the node) resumes the task on a worker in Cosmos'
`execute_complete`, which fails it with dbt's message (include/node_tasks.py), skips it, or says how to
rebuild. A producer that failed before dbt reported the node (a refused date, a lock held past the wait)
ends the task skipped, here: the producer's own failure and alert say why, once. dbt writes a failed
node's message only in its run summary, as the build ends: a failure is so passed on once the producer
has ended.

A node dbt skipped because a node upstream of it failed ends skipped, in the triggerer: Cosmos writes its
status as "failed" (so that a node task waiting for it fails), but here every node task starts at once
(trigger rule `always`) instead of waiting for its upstream tasks to pass, and only the node that failed
should show red (`_skipped_after_an_upstream_failure`).

A cleared producer keeps its last build's XComs until its new try starts and purges them, and node tasks
start at once (trigger rule `always`). So the trigger reads no result while the producer waits to run,
and, once it runs, waits one poll for the purge: a re-run never reports the build before it.

Kept in a module of its own: the triggerer imports it by class path, and it pulls in only Cosmos' trigger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.state import (
    PRODUCER_TERMINAL_STATES,
    get_dbt_event_xcom_key,
    get_status_xcom_key,
    is_dbt_node_status_failed,
    is_dbt_node_status_skipped,
    is_dbt_node_status_success,
)
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger

CLASS_PATH = f"{__name__}.NodeResultTrigger"
logger = logging.getLogger(__name__)
RUNNING = "running"
FAILED_BY_COSMOS = "failed"  # no dbt node status: Cosmos writes it for a node dbt skipped after a failure
SKIPPED = "skipped"


class NodeResultTrigger(WatcherTrigger):
    """Cosmos' WatcherTrigger, started for a node task by the scheduler; a passed node ends the task here.

    The scheduler creates the trigger from the operator's static `start_trigger_args`, before any run
    context exists, so the run is read from the task instance the triggerer attaches.
    """

    def __init__(
        self,
        *args: Any,
        run_id: str | None = None,
        map_index: int | None = -1,
        test_unique_ids: list[str] | None = None,
        unit_test_ids: list[str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, run_id=run_id, map_index=map_index, **kwargs)  # type: ignore[arg-type]
        self.test_unique_ids = test_unique_ids or []  # a tests task's: the tests of its model
        self.unit_test_ids = unit_test_ids or []  # a model's task: its dbt unit tests, which have no task

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return CLASS_PATH, {
            **kwargs,
            "test_unique_ids": self.test_unique_ids,
            "unit_test_ids": self.unit_test_ids,
        }

    async def _skipped_after_an_upstream_failure(self) -> bool:
        """Return whether dbt only skipped this task's nodes, none of them having failed itself.

        A model's or seed's status is then "failed", Cosmos' word for dbt's "skipped" (dbt's own failures
        are "error" or "runtime error"), and none of its unit tests failed. A model's tests have one
        status for all: "fail". A test that failed or errored itself has a dbt event saying so (dbt's run
        summary reports it), where a test dbt skipped has none (dbt in a process of its own) or one saying
        "skipped" (dbt in Airflow's).
        """
        if not self.is_test_sensor:
            if await self._get_node_status() != FAILED_BY_COSMOS:
                return False
            for unit_test in self.unit_test_ids:  # dbt skips a model whose unit test failed: show it red
                status = ((await self.get_xcom_val(get_status_xcom_key(unit_test))) or {}).get("status")
                if is_dbt_node_status_failed(status) and status != FAILED_BY_COSMOS:  # not skipped too
                    return False
            return True
        events = await self._test_events()
        if None in events:
            # a failed test's event may come only from dbt's run summary, at the end of the build: without it
            # yet, wait for the build to end before reading a missing event as a skip
            while await self._get_producer_task_status() not in PRODUCER_TERMINAL_STATES:
                await asyncio.sleep(self.poke_interval)
            events = await self._test_events()
        for event in events:
            status = (event or {}).get("status", SKIPPED)
            if not (is_dbt_node_status_success(status) or is_dbt_node_status_skipped(status)):
                return False
        return True

    async def _test_events(self) -> list[dict | None]:
        """Return the dbt event of each test of this task's model, None where the build wrote none (yet)."""
        return [await self.get_xcom_val(get_dbt_event_xcom_key(test)) for test in self.test_unique_ids]

    async def _wait_for_this_build(self) -> None:
        """Return once the producer's XComs are this build's: it ended, or has run for one poll."""
        while True:
            state = await self._get_producer_task_status()
            if state in PRODUCER_TERMINAL_STATES:
                return
            if state == RUNNING:
                await asyncio.sleep(self.poke_interval)  # its task runner purges the last try's XComs
                return
            await asyncio.sleep(self.poke_interval)  # cleared, scheduled or queued: its results are old

    async def _wait_for_the_run_summary(self) -> None:
        """Return once the build has ended: dbt writes a failed node's message only in its run summary, and
        the task, resumed on a worker, fails with that message (include/dbt_results.py)."""
        while await self._get_producer_task_status() not in PRODUCER_TERMINAL_STATES:
            await asyncio.sleep(self.poke_interval)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.run_id is None:
            self.run_id = self.task_instance.run_id
            self.map_index = self.task_instance.map_index
        await self._wait_for_this_build()
        async for event in super().run():
            payload = event.payload
            if payload.get("status") == EventStatus.SUCCESS and "reason" not in payload:
                yield TaskSuccessEvent()
            elif payload.get("reason") == WatcherEventReason.PRODUCER_FAILED:
                # the build's task failed before dbt reported the node (a refused date, a lock held past
                # the wait, a killed worker): its alert says why; each node task failing too sent dozens
                logger.info(
                    "%s was not built: the dbt build task %s failed before dbt reported it.",
                    self.model_unique_id,
                    self.producer_task_id,
                )
                yield TaskSkippedEvent()
            elif payload.get("reason") != WatcherEventReason.NODE_FAILED:
                yield event
            elif await self._skipped_after_an_upstream_failure():
                logger.info("dbt skipped %s: a node upstream of it failed.", self.model_unique_id)
                yield TaskSkippedEvent()
            else:
                await self._wait_for_the_run_summary()
                yield event
            return

"""The trigger a dbt node task starts in: it reads the node's result from the build and ends the task there.

Under a scheduler each node task of the transform DAG starts in the triggerer (`start_from_trigger`), not
on a worker: a worker would spend a process start-up (about a second of CPU, on the two cores dbt itself
needs) only to find the node not built yet and defer, then another to take the result. This trigger polls
the producer's XComs as Cosmos' own does and, when the node passed, ends the task as a success where it
is (TaskSuccessEvent), with no worker at all. Anything else (the node failed or was skipped, the producer
failed or was cleared, or the build ran without the node) resumes the task on a worker in Cosmos'
`execute_complete`, which fails it with its message, skips it, or refuses a re-run, as before.

Kept in a module of its own: the triggerer imports it by class path, and it pulls in only Cosmos' trigger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.triggerer import WatcherTrigger

CLASS_PATH = f"{__name__}.NodeResultTrigger"


class NodeResultTrigger(WatcherTrigger):
    """Cosmos' WatcherTrigger, started for a node task by the scheduler; a passed node ends the task here.

    The scheduler creates the trigger from the operator's static `start_trigger_args`, before any run
    context exists, so the run is read from the task instance the triggerer attaches.
    """

    def __init__(self, *args: Any, run_id: str | None = None, map_index: int | None = -1, **kwargs: Any):
        super().__init__(*args, run_id=run_id, map_index=map_index, **kwargs)  # type: ignore[arg-type]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return CLASS_PATH, kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self.run_id is None:
            self.run_id = self.task_instance.run_id
            self.map_index = self.task_instance.map_index
        async for event in super().run():
            payload = event.payload
            passed = payload.get("status") == EventStatus.SUCCESS and "reason" not in payload
            yield TaskSuccessEvent() if passed else event
            return

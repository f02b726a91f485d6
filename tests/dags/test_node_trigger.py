"""A node task started in the triggerer ends there only when its node passed; else it resumes on a worker.

The producer's XComs are a dict here: what is under test is which event each result becomes. The live
Airflow test (tests/integration/test_airflow_live.py) runs the trigger for real, in a triggerer.
"""

import asyncio
from types import SimpleNamespace

import pytest
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import get_compiled_sql_xcom_key, get_status_xcom_key

from include.node_trigger import CLASS_PATH, NodeResultTrigger

NODE = "model.customer_value.customer_features"
STARTUP = [{"name": "MainReportVersion", "msg": "dbt 1.11"}, {"name": "AdapterRegistered", "msg": "duckdb"}]


class ProducerResults(NodeResultTrigger):
    """The trigger, reading a build's XComs and the producer's state from memory."""

    def __init__(self, xcoms: dict, producer_state: str | None, **kwargs):
        super().__init__(
            model_unique_id=NODE,
            producer_task_id="dbt.dbt_producer_watcher",
            dag_id="transform",
            poke_interval=0.01,
            **kwargs,
        )
        self.xcoms = {"dbt_startup_events": STARTUP, **xcoms}
        self.producer_state = producer_state
        self.task_instance = SimpleNamespace(
            task_id="dbt.customer_features.run", run_id="manual__2026-11-29", map_index=-1
        )

    async def get_xcom_val(self, key: str):
        return self.xcoms.get(key)

    async def _get_producer_task_status(self):
        return self.producer_state


def _events(trigger: NodeResultTrigger) -> list[TriggerEvent]:
    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout=10))


def test_a_passed_model_ends_its_task_in_the_triggerer() -> None:
    xcoms = {get_status_xcom_key(NODE): {"status": "success"}, get_compiled_sql_xcom_key(NODE): "select 1"}
    trigger = ProducerResults(xcoms, producer_state="running")
    events = _events(trigger)
    assert len(events) == 1 and isinstance(events[0], TaskSuccessEvent)
    assert (trigger.run_id, trigger.map_index) == ("manual__2026-11-29", -1)  # read from the task instance


def test_passed_tests_of_a_model_end_their_task_in_the_triggerer() -> None:
    xcoms = {get_tests_status_xcom_key(NODE): "pass"}
    events = _events(ProducerResults(xcoms, producer_state="success", is_test_sensor=True))
    assert len(events) == 1 and isinstance(events[0], TaskSuccessEvent)


@pytest.mark.parametrize(
    ("xcoms", "producer_state", "payload"),
    [
        (
            {get_status_xcom_key(NODE): {"status": "error"}},
            "running",
            {"status": "failed", "reason": "node_failed"},
        ),
        ({get_status_xcom_key(NODE): {"status": "skipped"}}, "running", {"status": "skipped"}),
        ({}, "failed", {"status": "failed", "reason": "producer_failed"}),
        ({}, "success", {"status": "success", "reason": "node_not_run"}),
    ],
    ids=["node failed", "node skipped", "producer failed", "build ran without the node"],
)
def test_any_other_result_resumes_the_task_on_a_worker(
    xcoms: dict, producer_state: str, payload: dict
) -> None:
    events = _events(ProducerResults(xcoms, producer_state=producer_state))
    assert len(events) == 1 and not isinstance(events[0], TaskSuccessEvent)
    assert events[0].payload == payload  # Cosmos' execute_complete fails, skips or logs it on the worker


def test_the_trigger_serializes_to_its_own_class() -> None:
    path, kwargs = ProducerResults({}, producer_state=None).serialize()
    assert path == CLASS_PATH == "include.node_trigger.NodeResultTrigger"
    assert NodeResultTrigger(**kwargs).model_unique_id == NODE

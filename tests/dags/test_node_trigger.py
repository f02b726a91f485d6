"""A node task started in the triggerer ends there only when its node passed; else it resumes on a worker.

The producer's XComs are a dict here: what is under test is which event each result becomes. The live
Airflow test (tests/integration/test_airflow_live.py) runs the trigger for real, in a triggerer.
"""

import asyncio
from types import SimpleNamespace

import pytest
from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import (
    get_compiled_sql_xcom_key,
    get_dbt_event_xcom_key,
    get_status_xcom_key,
)

from include.node_trigger import CLASS_PATH, NodeResultTrigger

NODE = "model.customer_value.customer_features"
TESTS = ["test.customer_value.not_null_customer_features_customer_id", "test.customer_value.leakage_guard"]
STARTUP = [{"name": "MainReportVersion", "msg": "dbt 1.11"}, {"name": "AdapterRegistered", "msg": "duckdb"}]


class ProducerResults(NodeResultTrigger):
    """The trigger, reading a build's XComs and the producer's state from memory."""

    def __init__(self, xcoms: dict, producer_state: str | None | list, **kwargs):
        super().__init__(
            model_unique_id=NODE,
            producer_task_id="dbt.dbt_producer_watcher",
            dag_id="transform",
            poke_interval=0.01,
            **kwargs,
        )
        self.xcoms = {"dbt_startup_events": STARTUP, **xcoms}
        # one state, or the states of successive polls (the last one repeats)
        self.producer_states = producer_state if isinstance(producer_state, list) else [producer_state]
        self.polls = 0
        self.task_instance = SimpleNamespace(
            task_id="dbt.customer_features.run", run_id="manual__2026-11-29", map_index=-1
        )

    async def get_xcom_val(self, key: str):
        return self.xcoms.get(key)

    async def _get_producer_task_status(self):
        self.polls += 1
        return self.producer_states[min(self.polls, len(self.producer_states)) - 1]


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
            ["running", "running", "failed"],  # reported once the build ended (below)
            {"status": "failed", "reason": "node_failed"},
        ),
        ({get_status_xcom_key(NODE): {"status": "skipped"}}, "running", {"status": "skipped"}),
        ({}, "success", {"status": "success", "reason": "node_not_run"}),
    ],
    ids=["node failed", "node skipped", "build ran without the node"],
)
def test_any_other_result_resumes_the_task_on_a_worker(
    xcoms: dict, producer_state: str | list, payload: dict
) -> None:
    events = _events(ProducerResults(xcoms, producer_state=producer_state))
    assert len(events) == 1 and not isinstance(events[0], TaskSuccessEvent)
    assert events[0].payload == payload  # Cosmos' execute_complete fails, skips or logs it on the worker


def test_a_node_the_build_task_failed_before_reporting_ends_skipped_in_the_triggerer() -> None:
    # it resumed on a worker to fail, "Watcher producer task ... failed before reporting results", with an
    # alert from every node task (43 for a refused date) beside the build task's own, the one with the reason
    events = _events(ProducerResults({}, producer_state=["running", "failed"]))
    assert len(events) == 1 and isinstance(events[0], TaskSkippedEvent)
    tests = ProducerResults({}, producer_state="failed", is_test_sensor=True, test_unique_ids=TESTS)
    assert [type(event) for event in _events(tests)] == [TaskSkippedEvent]


def test_the_trigger_serializes_to_its_own_class() -> None:
    trigger = ProducerResults({}, producer_state=None, is_test_sensor=True, test_unique_ids=TESTS)
    path, kwargs = trigger.serialize()
    assert path == CLASS_PATH == "include.node_trigger.NodeResultTrigger"
    trigger = NodeResultTrigger(**kwargs)
    assert (trigger.model_unique_id, trigger.test_unique_ids) == (NODE, TESTS)


def _event(status: str, msg: str = "") -> dict:
    """A node's dbt event as the producer keeps it."""
    return {"status": status, "start_time": "10:44:36", "finish_time": None, "msg": msg}


@pytest.mark.parametrize("dbt_event", [_event("skipped"), None], ids=["dbt in Airflow's process", "its own"])
def test_a_model_dbt_skipped_after_an_upstream_failure_ends_skipped_in_the_triggerer(dbt_event) -> None:
    # Cosmos writes the status of a node skipped after an upstream failure as "failed", a word dbt never uses
    xcoms = {get_status_xcom_key(NODE): {"status": "failed"}, get_dbt_event_xcom_key(NODE): dbt_event}
    events = _events(ProducerResults(xcoms, producer_state="failed"))
    assert len(events) == 1 and isinstance(events[0], TaskSkippedEvent)


def test_a_model_that_failed_itself_resumes_on_a_worker_to_fail() -> None:
    event = _event("None", 'Runtime Error in model customer_features\n  Binder Error: "no_such_column"')
    xcoms = {get_status_xcom_key(NODE): {"status": "error"}, get_dbt_event_xcom_key(NODE): event}
    events = _events(ProducerResults(xcoms, producer_state="failed"))
    assert len(events) == 1 and events[0].payload == {"status": "failed", "reason": "node_failed"}


class MessageAtTheEnd(ProducerResults):
    """A build still running when its model failed: dbt writes the model's message in its run summary, as the
    build ends (dbt in a process of its own), which the failed task reads on its worker."""

    def __init__(self):
        super().__init__({get_status_xcom_key(NODE): {"status": "error"}}, ["running"] * 4 + ["failed"])

    async def _get_producer_task_status(self):
        state = await super()._get_producer_task_status()
        if state == "failed":
            self.xcoms[get_dbt_event_xcom_key(NODE)] = _event("None", "Runtime Error in model x (x.sql)\n  m")
        return state


def test_a_failed_model_is_passed_on_once_the_build_ended_with_its_message() -> None:
    # passed on at once, the task failed on its worker before dbt had written why, with no message to give
    trigger = MessageAtTheEnd()
    events = _events(trigger)
    assert events[0].payload == {"status": "failed", "reason": "node_failed"}
    assert trigger.producer_states[trigger.polls - 1] == "failed"  # it waited for the end of the build
    assert get_dbt_event_xcom_key(NODE) in trigger.xcoms  # so the message is there when the task resumes


@pytest.mark.parametrize(
    "dbt_events",
    [[_event("pass"), _event("skipped")], [None, None]],
    ids=["dbt in Airflow's process", "dbt in its own: no event for a passed or skipped test"],
)
def test_tests_dbt_skipped_after_an_upstream_failure_end_skipped_in_the_triggerer(dbt_events) -> None:
    xcoms = {
        get_tests_status_xcom_key(NODE): "fail",  # one of the tests, of two models, was skipped
        **{get_dbt_event_xcom_key(test): event for test, event in zip(TESTS, dbt_events, strict=True)},
    }
    events = _events(ProducerResults(xcoms, "failed", is_test_sensor=True, test_unique_ids=TESTS))
    assert len(events) == 1 and isinstance(events[0], TaskSkippedEvent)


@pytest.mark.parametrize(
    "failed_event",
    [_event("None", "Got 1 result, configured to fail if != 0"), _event("fail"), _event("error")],
    ids=["a test failed (dbt's run summary)", "a test failed (its result)", "a test errored"],
)
def test_tests_that_failed_themselves_resume_on_a_worker_to_fail(failed_event: dict | None) -> None:
    xcoms = {
        get_tests_status_xcom_key(NODE): "fail",
        get_dbt_event_xcom_key(TESTS[0]): _event("skipped"),
        get_dbt_event_xcom_key(TESTS[1]): failed_event,
    }
    events = _events(ProducerResults(xcoms, "failed", is_test_sensor=True, test_unique_ids=TESTS))
    assert len(events) == 1 and not isinstance(events[0], TaskSkippedEvent | TaskSuccessEvent)
    assert events[0].payload == {"status": "failed", "reason": "node_failed"}


class SummaryAtTheEnd(ProducerResults):
    """A build still running when its test failed: the failed test's event comes with dbt's run summary, as
    the build ends (dbt in a process of its own)."""

    def __init__(self, failed_event: dict):
        xcoms = {get_tests_status_xcom_key(NODE): "fail", get_dbt_event_xcom_key(TESTS[0]): _event("pass")}
        super().__init__(xcoms, ["running", "running", "running", "failed"], is_test_sensor=True,
                         test_unique_ids=TESTS)  # fmt: skip
        self.failed_event = failed_event

    async def _get_producer_task_status(self):
        state = await super()._get_producer_task_status()
        if state == "failed":
            self.xcoms[get_dbt_event_xcom_key(TESTS[1])] = self.failed_event
        return state


def test_a_test_whose_failure_comes_with_the_run_summary_is_not_read_as_skipped() -> None:
    trigger = SummaryAtTheEnd(_event("None", "Got 1 result, configured to fail if != 0"))
    events = _events(trigger)
    assert len(events) == 1 and not isinstance(events[0], TaskSkippedEvent | TaskSuccessEvent)
    assert events[0].payload == {"status": "failed", "reason": "node_failed"}


class ClearedProducer(ProducerResults):
    """A producer cleared after a build where the node failed: queued, then running a build that passes.

    Its new try's task runner purges the old XComs a moment after it starts running, and the node passes
    two polls later.
    """

    def __init__(self):
        super().__init__({get_status_xcom_key(NODE): {"status": "error"}}, [None, "queued", "running"])

    async def _get_producer_task_status(self):
        state = await super()._get_producer_task_status()
        if self.polls == 4:
            del self.xcoms[get_status_xcom_key(NODE)]
        if self.polls == 6:
            self.xcoms[get_status_xcom_key(NODE)] = {"status": "success"}
        return state


def test_a_cleared_producer_s_old_results_are_not_reported() -> None:
    trigger = ClearedProducer()
    events = _events(trigger)
    assert len(events) == 1 and isinstance(events[0], TaskSuccessEvent)  # not the old build's failure


@pytest.mark.parametrize(
    ("unit_test", "skipped"),
    [("fail", False), ("error", False), ("pass", True), ("failed", True)],
    ids=["it failed", "it errored", "it passed", "it was skipped too, after an upstream failure"],
)
def test_a_model_dbt_skipped_because_its_unit_test_failed_fails_its_task(unit_test: str, skipped: bool):
    # dbt runs a model's unit tests before it and skips it when one fails; the unit test has no task
    unit = "unit_test.customer_value.customer_features.counts_orders"
    xcoms = {
        get_status_xcom_key(NODE): {"status": "failed"},
        get_status_xcom_key(unit): {"status": unit_test},
    }
    events = _events(ProducerResults(xcoms, producer_state="failed", unit_test_ids=[unit]))
    assert len(events) == 1 and isinstance(events[0], TaskSkippedEvent) == skipped

"""The failure alert: one clear line always; a webhook post only when a connection is configured."""

from types import SimpleNamespace

import pytest

from include import alerts

CONTEXT = {
    "ti": SimpleNamespace(
        dag_id="score", task_id="score_customers", run_id="scheduled__2024-05-17", try_number=3
    ),
    "exception": OSError('IO Error: Could not set lock on file "warehouse.duckdb"\nConflicting lock held'),
}


def test_the_message_names_the_task_run_try_and_first_line_of_the_error() -> None:
    assert alerts.failure_message(CONTEXT) == (
        "Task score.score_customers failed (try 3, run scheduled__2024-05-17): "
        'OSError: IO Error: Could not set lock on file "warehouse.duckdb"'
    )


def test_a_task_stopped_from_outside_is_named_so_not_an_empty_error() -> None:
    # a heartbeat timeout or an out-of-memory kill runs the callback in the DAG processor: no exception
    assert alerts.failure_message({"ti": CONTEXT["ti"]}) == (
        "Task score.score_customers failed (try 3, run scheduled__2024-05-17): it raised no error, so it was "
        "stopped from outside (out of memory, a missed heartbeat, a stopped worker): its log on the worker "
        "shows where it stopped."
    )


def test_without_a_connection_it_only_logs(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.delenv("CVW_ALERT_CONN_ID", raising=False)

    def no_network(url: str, message: str) -> None:
        raise AssertionError("posted without a configured connection")

    monkeypatch.setattr(alerts, "post_webhook", no_network)
    with caplog.at_level("ERROR"):
        message = alerts.notify_failure(CONTEXT)
    assert message in caplog.text
    assert caplog.text.count("failed (try 3") == 1


def test_with_a_connection_it_posts_the_line_to_the_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import BaseHook

    posted = []
    url = "https://hooks.example.com/T0/B0/x"
    connection = SimpleNamespace(conn_type="http", host=url, port=None, schema="")
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: connection))
    monkeypatch.setattr(alerts, "post_webhook", lambda url, message: posted.append((url, message)))
    message = alerts.notify_failure(CONTEXT, conn_id="cvw_alerts")
    assert posted == [(url, message)]


def test_a_broken_webhook_never_hides_the_failure(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from airflow.sdk import BaseHook

    connection = SimpleNamespace(conn_type="https", host="hooks.example.com", port=8443, schema="alerts/cvw")
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: connection))

    def refused(url: str, message: str) -> None:
        raise ConnectionRefusedError(url)

    monkeypatch.setattr(alerts, "post_webhook", refused)
    with caplog.at_level("WARNING"):
        alerts.notify_failure(CONTEXT, conn_id="cvw_alerts")
    assert "https://hooks.example.com:8443/alerts/cvw" in caplog.text
    assert "Could not send the failure alert through connection cvw_alerts" in caplog.text


@pytest.mark.parametrize("broken", [("CVW_AS_OF_DATE", "2024-02-30"), ("CVW_HORIZON_DAYS", "ninety")])
def test_a_malformed_setting_is_still_alerted_through_the_configured_connection(
    monkeypatch: pytest.MonkeyPatch, broken: tuple[str, str]
) -> None:
    # the task failed because of the malformed setting; the alert must still go out, not raise in its turn
    from airflow.sdk import BaseHook

    monkeypatch.setenv(*broken)
    monkeypatch.setenv("CVW_ALERT_CONN_ID", "cvw_alerts")
    posted = []
    connection = SimpleNamespace(conn_type="https", host="hooks.example.com/x", port=None, schema="")
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: connection))
    monkeypatch.setattr(alerts, "post_webhook", lambda url, message: posted.append(url))
    alerts.notify_failure({**CONTEXT, "exception": SystemExit(f"{broken[0]}={broken[1]!r} is not valid")})
    assert posted == ["https://hooks.example.com/x"]

"""The failure alert: one clear line always; a webhook post only when a connection is configured.

The webhook is a real HTTP server on 127.0.0.1 and the connection a real Airflow one, from its
AIRFLOW_CONN_<ID> environment variable, as a deployment may define it.
"""

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    """Yield the URL of a webhook listening on 127.0.0.1 and the (path, JSON body) of each POST it got."""
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/x", received
    server.shutdown()
    server.server_close()


def test_without_a_connection_it_only_logs(
    monkeypatch: pytest.MonkeyPatch, caplog, webhook: tuple[str, list]
) -> None:
    url, received = webhook
    monkeypatch.delenv("CVW_ALERT_CONN_ID", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_CVW_ALERTS", url)  # defined, but not the alert's: nothing is posted
    with caplog.at_level("ERROR"):
        message = alerts.notify_failure(CONTEXT)
    assert message in caplog.text
    assert caplog.text.count("failed (try 3") == 1
    assert received == []


def test_with_a_connection_it_posts_the_line_to_the_webhook(
    monkeypatch: pytest.MonkeyPatch, webhook: tuple[str, list]
) -> None:
    url, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_CVW_ALERTS", url)
    message = alerts.notify_failure(CONTEXT, conn_id="cvw_alerts")
    assert received == [("/services/T0/B0/x", {"text": message})]


def test_a_broken_webhook_never_hides_the_failure(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the post is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_CVW_ALERTS", f"http://127.0.0.1:{port}/alerts/cvw")
    with caplog.at_level("WARNING"):
        message = alerts.notify_failure(CONTEXT, conn_id="cvw_alerts")
    assert message.startswith("Task score.score_customers failed (try 3")
    assert "Could not send the failure alert through connection cvw_alerts: <urlopen error [Errno 111]" in (
        caplog.text
    )


def test_a_connection_without_a_scheme_in_its_host_is_posted_to_over_https() -> None:
    connection = SimpleNamespace(conn_type="https", host="hooks.example.com", port=8443, schema="alerts/cvw")
    assert alerts.webhook_url(connection) == "https://hooks.example.com:8443/alerts/cvw"
    connection = SimpleNamespace(conn_type="slackwebhook", host="hooks.example.com", port=None, schema="x")
    assert alerts.webhook_url(connection) == "https://hooks.example.com/x"


@pytest.mark.parametrize("broken", [("CVW_AS_OF_DATE", "2024-02-30"), ("CVW_HORIZON_DAYS", "ninety")])
def test_a_malformed_setting_is_still_alerted_through_the_configured_connection(
    monkeypatch: pytest.MonkeyPatch, broken: tuple[str, str], webhook: tuple[str, list]
) -> None:
    # the task failed because of the malformed setting; the alert must still go out, not raise in its turn
    url, received = webhook
    monkeypatch.setenv(*broken)
    monkeypatch.setenv("CVW_ALERT_CONN_ID", "cvw_alerts")
    monkeypatch.setenv("AIRFLOW_CONN_CVW_ALERTS", url)
    message = alerts.notify_failure(
        {**CONTEXT, "exception": SystemExit(f"{broken[0]}={broken[1]!r} is not valid")}
    )
    assert received == [("/services/T0/B0/x", {"text": message})]

"""Failed-task alerts: one clear log line always, and a webhook post when an Airflow connection is configured.

Set `CVW_ALERT_CONN_ID` to the id of an Airflow connection whose host is the webhook URL (for example
`AIRFLOW_CONN_CVW_ALERTS='{"conn_type": "http", "host": "https://hooks.example.com/T000/B000/XXX"}'`).
The post is `{"text": "<the line>"}` (Slack, Mattermost and Teams incoming webhooks accept it). A failure to
notify is logged and never fails anything else.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10


def failure_message(context: Mapping[str, Any]) -> str:
    """Return one line naming the failed task, its run and try, and the first line of the error."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    try_number = getattr(ti, "try_number", "?")
    error = context.get("exception")
    if error is None:  # the callback ran outside the task (the DAG processor): nothing was raised in it
        return (
            f"Task {dag_id}.{task_id} failed (try {try_number}, run {run_id}): it raised no error, so it was "
            "stopped from outside (out of memory, a missed heartbeat, a stopped worker): its log on the "
            "worker shows where it stopped."
        )
    text = str(error).strip()
    reason = text.splitlines()[0][:300] if text else "no error message"
    return (
        f"Task {dag_id}.{task_id} failed (try {try_number}, run {run_id}): {type(error).__name__}: {reason}"
    )


def webhook_url(connection: Any) -> str:
    """Return the URL of a webhook connection: its host when that is a URL, else scheme://host[:port]/schema."""
    host = (connection.host or "").strip()
    if "://" in host:
        return host
    scheme = connection.conn_type if connection.conn_type in ("http", "https") else "https"
    port = f":{connection.port}" if connection.port else ""
    path = f"/{connection.schema.lstrip('/')}" if connection.schema else ""
    return f"{scheme}://{host}{port}{path}"


def post_webhook(url: str, message: str) -> None:
    """POST {"text": message} as JSON to the URL; raise on HTTP or network errors."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": message}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
        response.read()


def notify_failure(context: Mapping[str, Any], conn_id: str | None = None) -> str:
    """Log the failure line and post it to the configured webhook connection; return the line."""
    from include.settings import alert_conn_id

    message = failure_message(context)
    log.error(message)
    try:  # an alert must never hide the failure it reports, nor fail Airflow's callback runner
        # read apart from the other settings: the failure may be a malformed one (CVW_AS_OF_DATE=2024-02-30),
        # and that is when the alert matters
        conn_id = alert_conn_id() if conn_id is None else conn_id
        if not conn_id:
            return message
        from airflow.sdk import BaseHook

        post_webhook(webhook_url(BaseHook.get_connection(conn_id)), message)
    except Exception as error:
        log.warning("Could not send the failure alert through connection %s: %s", conn_id, error)
    return message

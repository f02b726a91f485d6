"""Test-wide environment: Airflow and dbt never phone home, Airflow state stays out of the user's home."""

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# pytest-xdist runs the suite in worker processes (pyproject's addopts): each keeps its own Airflow home (a
# SQLite metadata DB that dag.test() writes) and its own dbt target and log folders, which two processes
# running dbt at once would write over each other
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ.setdefault(
    "AIRFLOW_HOME", str(REPO_ROOT / ".airflow" / f"pytest-{WORKER}" if WORKER else REPO_ROOT / ".airflow")
)
if WORKER:
    os.environ.setdefault("DBT_TARGET_PATH", f"target/pytest-{WORKER}")
    os.environ.setdefault("DBT_LOG_PATH", str(REPO_ROOT / "dbt_project" / "logs" / f"pytest-{WORKER}"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__USAGE_DATA_COLLECTION__ENABLED"] = "False"
os.environ["SCARF_ANALYTICS"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"


@pytest.fixture()
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a copy of the dbt project (its target folder left out) that include.dbt runs: one to edit."""
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("CVW_DBT_PROJECT_DIR", str(project))
    return project


@pytest.fixture()
def dbt_show(tmp_path: Path) -> Callable[..., list[dict]]:
    """Return show(query, environment, limit=5): the rows `dbt show --inline` gives for a query (Jinja and
    the project's macros included) run in the project with the environment, as dicts."""

    def show(query: str, environment: dict[str, str], limit: int = 5) -> list[dict]:
        project = REPO_ROOT / "dbt_project"
        shown = subprocess.run(
            [
                str(Path(sys.executable).parent / "dbt"), "show", "--inline", query, "--limit", str(limit),
                "--output", "json", "--log-format", "json", "--project-dir", str(project),
                "--profiles-dir", str(project),
                "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            ],
            env=environment, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stdout[-2000:]
        return next(
            json.loads(json.loads(line)["data"]["preview"])
            for line in shown.stdout.splitlines()
            if line.startswith("{") and "preview" in json.loads(line).get("data", {})
        )

    return show


# Another process holding a DuckDB file (a notebook, a `cvw sql`, a scoring): argv path, mode, and seconds
# to hold it, or "stdin" to hold it until its stdin closes.
HOLDER = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read-only")
print("holding", flush=True)
sys.stdin.read() if sys.argv[3] == "stdin" else time.sleep(float(sys.argv[3]))
con.close()
"""


@pytest.fixture()
def hold_warehouse() -> Iterator[Callable[..., subprocess.Popen]]:
    """Yield hold(path, read_only=False, seconds=None): start another process holding the DuckDB file, for
    `seconds` or (None) until its stdin closes, and return it once it holds the file. A holder still
    running when the test ends is killed."""
    holders: list[subprocess.Popen] = []

    def hold(path: Path, read_only: bool = False, seconds: float | None = None) -> subprocess.Popen:
        mode, until = "read-only" if read_only else "read-write", "stdin" if seconds is None else str(seconds)
        command = [sys.executable, "-c", HOLDER, str(path), mode, until]
        stdin = subprocess.PIPE if seconds is None else None
        holder = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout.readline().strip() == "holding"
        return holder

    yield hold
    for holder in holders:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=30)


class _Webhook(BaseHTTPRequestHandler):
    """A webhook, as Slack's, that keeps the text of every alert posted to it in `server.posted`."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posted.append(json.loads(body)["text"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        """Keep the server's request lines out of the tests' output."""


@pytest.fixture(scope="module")
def alert_webhook() -> Iterator[dict]:
    """Serve a webhook on loopback; yield the environment that sends the failure alerts (include/alerts.py)
    of Airflow processes to it, and the list of the alerts' texts it received."""
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    server.posted = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    env = {
        "AIRFLOW_CONN_CVW_ALERTS": json.dumps({"conn_type": "http", "host": url}),
        "CVW_ALERT_CONN_ID": "cvw_alerts",
        "NO_PROXY": "127.0.0.1",
    }
    try:
        yield {"env": env, "posted": server.posted}
    finally:
        server.shutdown()
        server.server_close()

"""Run Airflow locally as `airflow standalone` does: api-server, scheduler, dag-processor, triggerer.

    python -m include.airflow_local [--home .airflow] [--port 8080]   # `make airflow`; Ctrl-C stops all four

LocalExecutor with the SQLite metadata database in AIRFLOW_HOME (Airflow 3 runs LocalExecutor on SQLite;
`airflow standalone` does the same), the simple auth manager with one user `admin` whose password is
generated once into AIRFLOW_HOME/simple_auth_manager_passwords.json, and the project's DAGs. The set-up
(include/airflow_setup.py: metadata DB, writer-lane pool, dbt manifest) runs first. The integration test
tests/integration/test_airflow_live.py starts the same processes with the same environment.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from include.settings import REPO_ROOT, TELEMETRY_OFF

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# The scheduler and the triggerer would each start a log server on every interface (Airflow 3.3 binds it to
# all, on 8793 and 8794). Here every component shares one machine and one log folder, which the api-server
# reads directly, so they run without: nothing listens beyond the api-server on 127.0.0.1.
COMPONENT_ARGS = {"scheduler": ("--skip-serve-logs",), "triggerer": ("--skip-serve-logs",)}
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
SDK_CLIENT_LOG_LEVEL = "airflow.sdk.api.client=critical"  # see local_environment


def _secret(home: Path, name: str, make: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> str:
    """Return a random secret kept in a file of AIRFLOW_HOME, creating it (with `make`) the first time."""
    path = home / name
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        _create_once(path, make())
    return path.read_text().strip()


def _create_once(path: Path, text: str) -> None:
    """Write `text` to `path`, which does not exist, readable by its owner alone and whole or not at all.

    Written first to a private temporary file (mkstemp makes it 0600), then linked to its name, which fails
    when the name exists: a process that lost the race takes the winner's secret, since every component
    must share one Fernet key, and no process ever reads a half-written or briefly world-readable one.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)


def _fernet_key() -> str:
    """Return a new Fernet key: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def local_environment(home: Path, port: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of every local Airflow process: loopback only, LocalExecutor, simple auth."""
    env = dict(os.environ if base is None else base)
    url = f"http://127.0.0.1:{port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": env.get("AIRFLOW__CORE__DAGS_FOLDER") or str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",  # the writer pool runs warehouse tasks one at a time anyway
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, "jwt_secret"),
            # Every component must encrypt and decrypt with one key. Without it each process takes whatever
            # airflow.cfg holds when it starts, and the first writes a new key there while the others run:
            # the scheduler then stored a trigger's arguments in clear and the triggerer, holding the new key,
            # died on them (InvalidToken), leaving every deferred task waiting.
            "AIRFLOW__CORE__FERNET_KEY": _secret(home, "fernet_key", _fernet_key),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # The Task SDK's API client logs every XCom it does not find at error level, then returns nothing,
            # which the caller reads as "not yet": each poll of a node task's trigger for a node dbt has not
            # built (hundreds a run). Its only error lines are such lookups (apache/airflow#73175).
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": SDK_CLIENT_LOG_LEVEL,
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
            # the producer never retries (include/cosmos_config.py), so Cosmos need not back its XComs up to
            # an Airflow Variable after every dbt event
            "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
            **TELEMETRY_OFF,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")])),
        }
    )
    return env


def admin_password(home: Path) -> str:
    """Return the simple auth manager's admin password, generating it into AIRFLOW_HOME the first time."""
    path = home / PASSWORDS_FILE
    passwords = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    if USER not in passwords:
        passwords[USER] = secrets.token_urlsafe(12)
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    return passwords[USER]


def airflow_executable() -> str:
    """Return the `airflow` command beside this Python (the project's venv)."""
    return str(Path(sys.executable).parent / "airflow")


def require_free_port(port: int) -> None:
    """Stop with one sentence when another process listens on the port of 127.0.0.1 the api-server needs.

    Else the set-up ran, the four components started, and the api-server died on "address already in use",
    which reached the user as a traceback pointing at AIRFLOW_HOME/logs.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a closed one's port is free
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise SystemExit(
                f"Port {port} of 127.0.0.1, where Airflow's api-server listens, is in use by another process "
                f"({error.strerror}; another `make airflow`?): stop it, or choose another port "
                f"(AIRFLOW_PORT={port + 1} make airflow)."
            ) from None


def set_up(env: Mapping[str, str]) -> None:
    """Run the project's Airflow set-up (migrate, pool, manifest) in a child process with this environment.

    A set-up that refuses (`dbt parse` failed, a setting malformed) has printed its sentence: exit with its
    code, without a traceback of this process on top.
    """
    command = [sys.executable, "-m", "include.airflow_setup"]
    returncode = subprocess.run(command, env=dict(env), cwd=REPO_ROOT).returncode
    if returncode != 0:
        raise SystemExit(returncode)


def start_components(env: Mapping[str, str], log_dir: Path) -> dict[str, subprocess.Popen]:
    """Start the four Airflow components, each in its own process group, logging to log_dir/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = {}
    for name in COMPONENTS:
        with (log_dir / f"{name}.log").open("ab") as log:
            processes[name] = subprocess.Popen(
                [airflow_executable(), name, *COMPONENT_ARGS.get(name, ())],
                env=dict(env),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    return processes


def stop_components(processes: Mapping[str, subprocess.Popen], grace_seconds: float = 30.0) -> None:
    """Stop the components and everything they started: SIGTERM to each process group, SIGKILL if needed."""
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in processes.values():  # the group may outlive its leader (executor workers, uvicorn)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def wait_until_healthy(port: int, processes: Mapping[str, subprocess.Popen], timeout_seconds: float) -> None:
    """Return once the api-server answers its health check; raise if a component exits or time runs out."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        exited = [name for name, process in processes.items() if process.poll() is not None]
        if exited:
            raise RuntimeError(f"Airflow {', '.join(exited)} exited early: see its log in AIRFLOW_HOME/logs.")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise TimeoutError(f"Airflow's api-server did not answer on 127.0.0.1:{port} in {timeout_seconds:.0f} s.")


class AirflowApi:
    """A small client of Airflow's REST API v2, authenticated with a JWT from the simple auth manager."""

    def __init__(self, port: int, password: str, user: str = USER) -> None:
        self.base = f"http://127.0.0.1:{port}"
        body = json.dumps({"username": user, "password": password}).encode()
        request = urllib.request.Request(
            f"{self.base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            self.token = json.loads(reply.read())["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """Return the JSON reply of one call to /api/v2<path>; raise RuntimeError with the reply on errors."""
        request = urllib.request.Request(
            f"{self.base}/api/v2{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: HTTP {error.code} {error.read()[:500]!r}") from None

    def runs(self) -> list[dict]:
        """Return every run of every DAG (id, type, state, logical date ...)."""
        return self.call("GET", "/dags/~/dagRuns?limit=500")["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Return the state of every task instance of one run."""
        reply = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500")
        return {ti["task_id"]: ti["state"] for ti in reply["task_instances"]}

    def wait_for_dags(self, dag_ids: set[str], timeout_seconds: float) -> None:
        """Return once the dag-processor has registered every DAG of dag_ids; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if dag_ids <= {dag["dag_id"] for dag in self.call("GET", "/dags?limit=100")["dags"]}:
                return
            time.sleep(2)
        raise TimeoutError(f"the DAGs {sorted(dag_ids)} were not registered within {timeout_seconds:.0f} s")

    def wait_for_run(self, dag_id: str, run_id: str, timeout_seconds: float) -> str:
        """Return the final state of one DAG run, polling; raise TimeoutError when it does not finish."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            state = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state not in ("queued", "running"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} did not finish within {timeout_seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Start Airflow locally, print where and how to log in, and stop everything on Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--home", type=Path, default=REPO_ROOT / ".airflow", help="AIRFLOW_HOME to use")
    args = parser.parse_args(argv)
    require_free_port(args.port)
    home = args.home.resolve()
    env = local_environment(home, args.port)
    password = admin_password(home)
    set_up(env)
    processes = start_components(env, home / "logs" / "components")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops Airflow as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    try:
        wait_until_healthy(args.port, processes, timeout_seconds=180)
        print(f"\nAirflow is up: http://127.0.0.1:{args.port}   login: {USER} / {password}")
        print(f"DAGs: {env['AIRFLOW__CORE__DAGS_FOLDER']}; logs: {home / 'logs'}; Ctrl-C stops Airflow.")
        print("New DAGs start paused: unpause the six DAGs (ingest to monitor) in the UI.\n")
        while all(process.poll() is None for process in processes.values()):
            time.sleep(1)
        print("An Airflow component exited: see its log in", home / "logs" / "components")
    except KeyboardInterrupt:
        print("\nStopping Airflow ...")
    finally:
        stop_components(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""docker-compose.yml is a valid Compose file that runs the team deployment this project documents.

There is no Docker engine here, so the file is checked, not run: against the Compose Specification's JSON
schema, then service by service (commands, volumes, health checks, start order, secrets).
The schema is vendored: compose_spec.json is `compose/config/compose_spec.json` from the PyPI package
docker-compose 1.29.2 (Apache-2.0, sha256 0dc04bd3...2b112bac), the Compose Specification of May 2021;
keys added to the specification since then would be rejected by it, and none is used here.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft201909Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose_spec.json")
AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": ["airflow", "api-server"],
    "airflow-scheduler": ["airflow", "scheduler"],
    "airflow-dag-processor": ["airflow", "dag-processor"],
    "airflow-triggerer": ["airflow", "triggerer"],
}
LONG_RUNNING = [name for name in AIRFLOW_SERVICES if name != "airflow-init"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())  # resolves the <<: merge keys


def _env_example() -> dict[str, str]:
    """Return the names and values .env.example sets."""
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_file_follows_the_compose_specification(compose: dict) -> None:
    errors = sorted(Draft201909Validator(json.loads(SCHEMA.read_text())).iter_errors(compose), key=str)
    assert [f"{list(error.path)}: {error.message}" for error in errors] == []


def test_it_runs_postgres_and_the_four_airflow_components_after_an_init(compose: dict) -> None:
    assert set(compose["services"]) == {"postgres", *AIRFLOW_SERVICES}
    for name, command in AIRFLOW_SERVICES.items():
        if command:
            assert compose["services"][name]["command"] == command
    init = " ".join(compose["services"]["airflow-init"]["command"])
    assert "python -m include.airflow_setup --require-secrets" in init  # migrate, writer pool, dbt manifest
    assert compose["services"]["airflow-init"]["restart"] == "no"


def test_airflow_uses_local_executor_on_postgres_with_the_project_mounted(compose: dict) -> None:
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/project/dags"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert "./:/opt/project:ro" in service["volumes"], f"{name} does not mount the project read-only"
        assert "warehouse:/opt/warehouse" in service["volumes"], f"{name} has no warehouse volume"
        on_volume = ("CVW_WAREHOUSE", "CVW_SERVING", "CVW_DBT_MANIFEST", "DBT_TARGET_PATH", "DBT_LOG_PATH")
        for setting in on_volume:
            assert env[setting].startswith("/opt/warehouse/"), f"{name}: {setting} is not on the volume"
        assert service["env_file"] == ".env"


def test_telemetry_is_off_in_every_airflow_container(compose: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__USAGE_DATA_COLLECTION__ENABLED"] == "False"
        assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
        assert env["DO_NOT_TRACK"] == "1"
        assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"


def test_every_long_running_service_has_a_health_check_and_waits_for_its_dependencies(compose: dict) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    for name, job in (
        ("airflow-scheduler", "SchedulerJob"),
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ):
        assert services[name]["healthcheck"]["test"][1:] == [
            "airflow",
            "jobs",
            "check",
            "--job-type",
            job,
            "--local",
        ]
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in LONG_RUNNING:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }
        assert services[name]["restart"] == "always"


def test_only_loopback_is_published_and_volumes_are_declared(compose: dict) -> None:
    published = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert published == ["127.0.0.1:8080:8080"]
    named = {
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if not volume.startswith(".")
    }
    assert named == set(compose["volumes"]) == {"airflow-metadata", "airflow-auth", "warehouse"}


def test_secrets_come_from_the_env_file_and_the_example_holds_none(compose: dict) -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    example = _env_example()
    used = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text)) | set(re.findall(r"\$\$\{(\w+)\}", text))
    assert used <= set(example), f"not in .env.example: {used - set(example)}"
    for name in ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert example[name].startswith("change-me"), f"{name} in .env.example looks like a real secret"
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN", name) and not name.endswith("_FILE"):
                assert str(value).startswith("${"), f"{name} is written into docker-compose.yml"
    connection = compose["x-airflow-common"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert ":${POSTGRES_PASSWORD}@" in connection
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


def test_the_task_sdk_client_logs_no_error_per_missing_xcom_as_under_make_airflow(
    compose: dict, tmp_path: Path
) -> None:
    from include.airflow_local import SDK_CLIENT_LOG_LEVEL, local_environment

    local = local_environment(tmp_path, 8080, {})
    assert local["AIRFLOW__LOGGING__NAMESPACE_LEVELS"] == SDK_CLIENT_LOG_LEVEL
    for name in AIRFLOW_SERVICES:
        assert (
            compose["services"][name]["environment"]["AIRFLOW__LOGGING__NAMESPACE_LEVELS"]
            == SDK_CLIENT_LOG_LEVEL
        ), name


def test_the_init_refuses_the_example_s_secrets_and_starts_nothing() -> None:
    from include.airflow_setup import DEPLOYMENT_SECRETS, require_secrets, unsafe_secrets

    example = _env_example()
    assert set(DEPLOYMENT_SECRETS) <= set(example)
    assert unsafe_secrets(example) == [
        "POSTGRES_PASSWORD is still the placeholder of .env.example",
        "AIRFLOW_ADMIN_PASSWORD is still the placeholder of .env.example",
        "AIRFLOW__API_AUTH__JWT_SECRET is still the placeholder of .env.example",
        "AIRFLOW__CORE__FERNET_KEY is not set",
    ]
    with pytest.raises(SystemExit, match=r"^Not setting up Airflow: POSTGRES_PASSWORD is still"):
        require_secrets(example)


def test_the_init_accepts_set_secrets_and_a_real_fernet_key_only() -> None:
    from cryptography.fernet import Fernet

    from include.airflow_setup import unsafe_secrets

    chosen = {
        "POSTGRES_PASSWORD": "p0stgres-s3cret",
        "AIRFLOW_ADMIN_PASSWORD": "adm1n-s3cret",
        "AIRFLOW__API_AUTH__JWT_SECRET": "a-long-random-string-of-the-team",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
    assert unsafe_secrets({**_env_example(), **chosen}) == []
    not_a_key = {**chosen, "AIRFLOW__CORE__FERNET_KEY": "my-fernet-key"}
    assert unsafe_secrets(not_a_key) == [
        "AIRFLOW__CORE__FERNET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
    ]
    assert unsafe_secrets({k: v for k, v in chosen.items() if k != "POSTGRES_PASSWORD"}) == [
        "POSTGRES_PASSWORD is not set"
    ]

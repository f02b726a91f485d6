"""`make airflow`: every local component shares one set of secrets, kept in AIRFLOW_HOME, and what stops
it from starting (a port in use, a set-up that refuses) ends in one sentence."""

import os
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.fernet import Fernet

from include.airflow_local import _create_once, _secret, local_environment, main, require_free_port, set_up


def test_every_component_gets_the_same_valid_fernet_key(tmp_path) -> None:
    # one key for all: a component that read another would die decrypting the others' trigger arguments
    first, second = (local_environment(tmp_path, 8080, {}) for _ in range(2))
    key = first["AIRFLOW__CORE__FERNET_KEY"]
    assert key == second["AIRFLOW__CORE__FERNET_KEY"] == (tmp_path / "fernet_key").read_text()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"trigger kwargs")) == b"trigger kwargs"
    assert (tmp_path / "fernet_key").stat().st_mode & 0o777 == 0o600
    assert local_environment(tmp_path / "other", 8080, {})["AIRFLOW__CORE__FERNET_KEY"] != key


def test_components_starting_at_once_share_the_first_key_and_leave_no_temporary_file(tmp_path) -> None:
    # each wrote its own key over the file when two started together, and a file was world-readable between
    # its write and its chmod: the components then encrypted with different keys
    keys = iter(f"key-{n}" for n in range(2))
    assert _secret(tmp_path, "fernet_key", lambda: next(keys)) == "key-0"
    # a process that generated its key after another created the file takes the file's
    _create_once(tmp_path / "fernet_key", "key-1")
    assert (tmp_path / "fernet_key").read_text() == "key-0"
    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda n: _secret(tmp_path, "jwt_secret"), range(8)))
    assert found == {(tmp_path / "jwt_secret").read_text()}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fernet_key", "jwt_secret"]
    assert {path.stat().st_mode & 0o777 for path in tmp_path.iterdir()} == {0o600}


def test_the_api_signs_tokens_with_one_secret_per_home(tmp_path) -> None:
    first, second = (local_environment(tmp_path, 8080, {}) for _ in range(2))
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == second["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_a_port_in_use_stops_make_airflow_in_one_sentence_before_anything_starts(tmp_path) -> None:
    # it migrated, started the four components, and the api-server died on "address already in use":
    # a RuntimeError's traceback pointing at AIRFLOW_HOME/logs
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(SystemExit) as refused:
            main(["--home", str(tmp_path / "home"), "--port", str(port)])
    assert str(refused.value) == (
        f"Port {port} of 127.0.0.1, where Airflow's api-server listens, is in use by another process "
        f"(Address already in use; another `make airflow`?): stop it, or choose another port "
        f"(AIRFLOW_PORT={port + 1} make airflow)."
    )
    assert not (tmp_path / "home").exists()  # no set-up, no component
    require_free_port(port)  # free again once it closed


def test_a_set_up_that_refuses_ends_with_its_sentence_not_a_traceback(tmp_path, project_copy, capfd) -> None:
    (project_copy / "models" / "broken.sql").write_text("select {{ ref('no_such_model') }}\n")
    env = local_environment(
        tmp_path / "home", 8080, {**os.environ, "CVW_DBT_MANIFEST": str(tmp_path / "m.json")}
    )
    with pytest.raises(SystemExit) as refused:  # was subprocess.CalledProcessError, after the sentence
        set_up(env)
    assert refused.value.code == 1
    assert (
        f"`dbt parse` of {project_copy} failed, so Airflow cannot render transform" in capfd.readouterr().err
    )

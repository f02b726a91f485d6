"""The environment every local Airflow component gets shares one set of secrets, kept in AIRFLOW_HOME."""

from cryptography.fernet import Fernet

from include.airflow_local import local_environment


def test_every_component_gets_the_same_valid_fernet_key(tmp_path) -> None:
    # one key for all: a component that read another would die decrypting the others' trigger arguments
    first, second = (local_environment(tmp_path, 8080, {}) for _ in range(2))
    key = first["AIRFLOW__CORE__FERNET_KEY"]
    assert key == second["AIRFLOW__CORE__FERNET_KEY"] == (tmp_path / "fernet_key").read_text()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"trigger kwargs")) == b"trigger kwargs"
    assert (tmp_path / "fernet_key").stat().st_mode & 0o777 == 0o600
    assert local_environment(tmp_path / "other", 8080, {})["AIRFLOW__CORE__FERNET_KEY"] != key


def test_the_api_signs_tokens_with_one_secret_per_home(tmp_path) -> None:
    first, second = (local_environment(tmp_path, 8080, {}) for _ in range(2))
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == second["AIRFLOW__API_AUTH__JWT_SECRET"]

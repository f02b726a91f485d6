"""DAG tests parse the real DAG files: the transform DAG needs the dbt manifest, written once per session."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """Write the dbt manifest Cosmos renders transform from, as `make demo` and `make airflow` do first."""
    from include.airflow_setup import ensure_manifest

    ensure_manifest()

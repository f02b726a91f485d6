"""The project builds on a real PostgreSQL server, incrementally too, and its marts equal DuckDB's.

tests/integration/test_dbt_portability.py compiles the project for Postgres without a server, and so only
the first build's SQL: an incremental build's SQL, and the queries its macros run while it builds, are
written only then. Here a throwaway PostgreSQL cluster (skipped where no PostgreSQL server is installed)
receives the three loads of test_dbt_incremental's shop, replacements included, with a `dbt build
--target postgres` after each, and every mart is compared with a DuckDB full refresh of the same rows.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from include.dbt import run_dbt
from tests.integration.test_dbt_incremental import LOADED_AT, RELATIONS, append, read, shop_loads

POSTGRES_TYPES = {
    "VARCHAR": "text",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "double precision",
    "BIGINT": "bigint",
}
POSTGRES_TYPES |= {"INTEGER": "integer", "DATE": "date", "BOOLEAN": "boolean"}


def _postgres_bin() -> Path | None:
    """Return the folder of PostgreSQL's server programs (initdb, pg_ctl), or None when none is installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _as_server_user() -> list[str]:
    """Return the command prefix that runs a server program: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        if os.environ.get("CI"):
            pytest.fail("running as root without the postgres user Debian's postgresql package creates")
        pytest.skip("running as root without a postgres user to run the PostgreSQL server as")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """Start a throwaway PostgreSQL cluster on a free local port; yield the profile's CVW_PG_* variables."""
    server_bin = _postgres_bin()
    if server_bin is None:
        if os.environ.get("CI"):  # .ci/run installs Debian's postgresql: CI must not pass without it
            pytest.fail("no PostgreSQL server installed (initdb), though .ci/run installs one")
        pytest.skip("no PostgreSQL server installed (initdb)")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="cvw-postgres-"))
    root.chmod(0o755)
    data = root / "data"
    if prefix:
        shutil.chown(root, user="postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    subprocess.run(
        [*prefix, str(server_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
    pg_ctl = [*prefix, str(server_bin / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-o", options, "-l", str(root / "server.log"), "-w", "start"], check=True)
    try:
        createdb = [str(server_bin / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "postgres"]
        subprocess.run([*prefix, *createdb, "warehouse"], check=True)
        yield {"CVW_PG_HOST": "127.0.0.1", "CVW_PG_PORT": port, "CVW_PG_USER": "postgres"}
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _connect(server: dict[str, str]):
    """Return a psycopg2 connection to the cluster's warehouse database."""
    import psycopg2  # dbt-postgres's driver

    return psycopg2.connect(
        host=server["CVW_PG_HOST"], port=server["CVW_PG_PORT"], user="postgres", dbname="warehouse"
    )


def copy_raw(duckdb_path: Path, server: dict[str, str]) -> None:
    """Replace the cluster's raw schema with the raw tables of a DuckDB warehouse, row for row."""
    with duckdb.connect(str(duckdb_path), read_only=True) as source, _connect(server) as target:
        cursor = target.cursor()
        cursor.execute("drop schema if exists raw cascade; create schema raw")
        tables = source.execute(
            "select table_name from duckdb_tables() "
            "where schema_name = 'raw' and database_name = current_database()"
        ).fetchall()
        for (table,) in tables:
            columns = source.execute(
                "select column_name, data_type from duckdb_columns() "
                "where schema_name = 'raw' and table_name = ? and database_name = current_database() "
                "order by column_index",
                [table],
            ).fetchall()
            declared = ", ".join(f'"{name}" {POSTGRES_TYPES[kind]}' for name, kind in columns)
            cursor.execute(f'create table raw."{table}" ({declared})')
            rows = io.StringIO()
            source.execute(f'select * from raw."{table}"').df().to_csv(
                rows, index=False, header=False, na_rep="\\N"
            )
            rows.seek(0)
            cursor.copy_expert(f"copy raw.\"{table}\" from stdin with (format csv, null '\\N')", rows)


def read_postgres(server: dict[str, str], relation: str, keys: list[str]) -> pd.DataFrame:
    """Return a relation of the cluster sorted by its key, with a fresh index."""
    with _connect(server) as con, con.cursor() as cursor:
        cursor.execute(f"select * from {relation} order by {', '.join(keys)}")
        names = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=names)


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with dates as timestamps and numbers as floats: the drivers type them differently."""
    converted = {}
    for name, column in frame.items():
        values = column.dropna()
        if pd.api.types.is_bool_dtype(column) or (len(values) and isinstance(values.iloc[0], bool)):
            converted[name] = column.astype(object)
        elif pd.api.types.is_numeric_dtype(column) or (
            len(values) and isinstance(values.iloc[0], (int, float))
        ):
            converted[name] = pd.to_numeric(column).astype(float)
        elif pd.api.types.is_datetime64_any_dtype(column) or (
            len(values) and hasattr(values.iloc[0], "year")
        ):
            converted[name] = pd.to_datetime(column).astype("datetime64[us]")
        else:
            converted[name] = column.astype(object)
    return pd.DataFrame(converted)


@pytest.fixture(scope="module")
def built(postgres: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """Return (the cluster, built after each of the three loads, a DuckDB warehouse fully built once)."""
    root = tmp_path_factory.mktemp("postgres_build")
    duck = root / "warehouse.duckdb"
    environment = pytest.MonkeyPatch()
    for name, value in postgres.items():
        environment.setenv(name, value)
    try:
        for number, load in enumerate(shop_loads()):
            append(duck, load, str(number + 1), LOADED_AT[number])
            copy_raw(duck, postgres)
            postgres_build = ["build", "--target", "postgres", "--target-path", str(root / "target")]
            run_dbt([*postgres_build, "--exclude", "tag:bi"], warehouse_path=root / "unused.duckdb")
    finally:
        environment.undo()
    run_dbt(
        ["build", "--resource-type", "seed", "--resource-type", "model", "--exclude", "tag:bi"],
        warehouse_path=duck,
    )
    return postgres, duck


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_postgres_built_incrementally_equals_a_duckdb_build(
    built: tuple[dict[str, str], Path], relation: str
) -> None:
    server, duck = built
    keys = RELATIONS[relation]
    actual, expected = read_postgres(server, relation, keys), read(duck, relation, keys)
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected) > 0
    pd.testing.assert_frame_equal(comparable(actual), comparable(expected), check_exact=False, rtol=1e-9)


def test_the_record_of_unfinished_models_works_on_postgres(
    built: tuple[dict[str, str], Path], tmp_path: Path, project_copy: Path
) -> None:
    # the hooks' SQL (macros/unfinished_models.sql) runs on Postgres: the builds above finished every model,
    # a model that fails stays recorded, and the next build of it clears it
    from include.dbt import DbtFailed

    server, _ = built
    query = "intermediate.unfinished_models", ["relation_name"]
    assert read_postgres(server, *query).empty
    model = project_copy / "models" / "intermediate" / "int_orders_running_totals.sql"
    model.write_text("-- edited\n" + model.read_text())  # the checksum guard stops its incremental run
    environment = pytest.MonkeyPatch()
    for name, value in server.items():
        environment.setenv(name, value)
    run = ["run", "--target", "postgres", "--target-path", str(tmp_path / "target")]
    run += ["--select", "int_orders_running_totals"]
    try:
        with pytest.raises(DbtFailed, match="changed since its table was built"):
            run_dbt(run, warehouse_path=tmp_path / "unused.duckdb")
        unfinished = read_postgres(server, *query)["relation_name"].tolist()
        assert unfinished == ["intermediate.int_orders_running_totals"]
        run_dbt([*run, "--full-refresh"], warehouse_path=tmp_path / "unused.duckdb")
    finally:
        environment.undo()
    assert read_postgres(server, *query).empty

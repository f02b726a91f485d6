"""The dbt SQL follows the house style (sqlfluff, dbt templater) and compiles for Postgres as well."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from sqlfluff.core import FluffConfig, Linter

from include.dbt import run_dbt

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = sorted((REPO_ROOT / "dbt_project" / "models").rglob("*.sql"))
# DuckDB-only spellings that must sit behind adapter.dispatch, never in a model's compiled SQL for Postgres.
DUCKDB_ONLY = re.compile(
    r"\b(date_diff|datediff|strftime|strptime|epoch_ms|arg_max|arg_min|list_\w+)\s*\(|\bqualify\b"
)


def _sqlfluff(paths: list[str], lint_warehouse: Path | None) -> None:
    """Assert that sqlfluff (dbt templater, the profile's lint target on that warehouse) finds nothing."""
    environment = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "CVW_LINT_WAREHOUSE": str(lint_warehouse or ""),
    }
    linted = subprocess.run(
        # one process per core: the dbt templater compiles the project once, then files lint in parallel
        [sys.executable, "-m", "sqlfluff", "lint", *paths, "--nocolor", "--processes", "0"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    violations = [line for line in linted.stdout.splitlines() if line.startswith(("==", "L:"))]
    assert linted.returncode == 0, "\n".join(violations) or linted.stderr[-2000:]
    assert "All Finished" in linted.stdout


def test_sqlfluff_with_the_dbt_templater_finds_nothing(tmp_path: Path) -> None:
    # Models that ask the warehouse whether the pipeline's own tables exist (scores, evaluations, backtests)
    # and which columns they have render their full query only when they do: lint against a warehouse
    # holding them, as after a first monitoring run; then lint those models again against the tables of an
    # older release, without the columns added since, and against an empty warehouse, before any training.
    from ml.backtests import (
        BACKTEST_INPUT_COLUMNS,
        NEXT_ORDER_COLUMNS,
        ORDERS_COLUMNS,
        OUT_OF_TIME_COLUMN,
        ensure_backtests_table,
    )
    from ml.evaluation_table import ADDED_COLUMNS, ensure_evaluations
    from ml.score_tables import ensure_score_tables

    current, older = tmp_path / "current.duckdb", tmp_path / "older.duckdb"
    for warehouse in (current, older):
        with duckdb.connect(str(warehouse)) as con:
            ensure_score_tables(con)
            ensure_evaluations(con)
            ensure_backtests_table(con)
    with duckdb.connect(str(older)) as con:
        backtests = BACKTEST_INPUT_COLUMNS | OUT_OF_TIME_COLUMN | ORDERS_COLUMNS | NEXT_ORDER_COLUMNS
        for table, added in (("ml.evaluations", ADDED_COLUMNS), ("ml.backtests", backtests)):
            for column in added:
                con.execute(f"alter table {table} drop column {column}")
    _sqlfluff(["dbt_project/models", "dbt_project/tests"], current)
    introspecting = [
        str(path.relative_to(REPO_ROOT))
        for path in MODELS
        if re.search(r"\bsource_(exists|columns)\(", path.read_text())
    ]
    assert len(introspecting) == 4, introspecting
    _sqlfluff(introspecting, older)
    _sqlfluff(introspecting, None)


@pytest.fixture(scope="module")
def postgres_compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder of the project compiled for the Postgres target, without a Postgres server."""
    target = tmp_path_factory.mktemp("postgres_target")
    offline = ["--no-introspect", "--no-populate-cache"]  # nothing asks the (absent) server anything
    run_dbt(
        ["compile", "--target", "postgres", *offline, "--target-path", str(target)],
        warehouse_path=target / "unused.duckdb",
        dbt_vars={"extra_cutoff_dates": ["2024-06-15"]},  # so that the spine's optional branch compiles too
    )
    return target / "compiled" / "customer_value"


def compiled_sql(compiled: Path) -> dict[str, str]:
    """Return {file name: SQL} of every compiled model and data test (generic tests sit under their YAML)."""
    return {path.name: path.read_text() for path in compiled.rglob("*.sql")}


def postgres_parse_problems(sql: str) -> list[str]:
    """Return sqlfluff's Postgres parse errors and unparsable fragments of one statement (none: it parses)."""
    config = FluffConfig(overrides={"dialect": "postgres", "templater": "raw"})  # not the repo's .sqlfluff
    parsed = Linter(config=config).parse_string(sql)
    if parsed.tree is None:
        return ["no parse tree"]
    unparsable = [segment.raw[:200] for segment in parsed.tree.recursive_crawl("unparsable")]
    return [str(violation) for violation in parsed.violations] + unparsable


def test_every_model_and_data_test_compiles_for_postgres(postgres_compiled: Path) -> None:
    compiled = compiled_sql(postgres_compiled)
    assert {path.name for path in MODELS} <= set(compiled)
    singular_tests = {path.name for path in (REPO_ROOT / "dbt_project" / "tests").glob("*.sql")}
    assert singular_tests <= set(compiled)
    data_tests = {name: sql for name, sql in compiled.items() if name not in {path.name for path in MODELS}}
    problems = {name: postgres_parse_problems(sql) for name, sql in data_tests.items()}
    assert len(data_tests) > 50 and not {name: found for name, found in problems.items() if found}


@pytest.mark.parametrize("model", [path.stem for path in MODELS])
def test_compiled_postgres_sql_parses_as_postgres_and_has_no_duckdb_functions(
    postgres_compiled: Path, model: str
) -> None:
    sql = compiled_sql(postgres_compiled)[f"{model}.sql"]
    assert not DUCKDB_ONLY.findall(sql.lower())
    assert not postgres_parse_problems(sql)


def test_contracts_name_text_columns_as_dbt_type_string_makes_them_on_postgres() -> None:
    # dbt.type_string() is `text` on Postgres: a `varchar` contract made the first build character varying
    # and stopped every incremental build after it (on_schema_change: fail saw the type change);
    # tests/integration/test_dbt_postgres.py builds on a real server where one is installed
    import yaml

    declared = {
        (model["name"], column["name"]): str(column.get("data_type", "")).lower()
        for path in (REPO_ROOT / "dbt_project" / "models").rglob("*.yml")
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", [])
        if model.get("config", {}).get("contract", {}).get("enforced")
        for column in model.get("columns", [])
    }
    assert len(declared) > 150
    varchar = ("varchar", "character varying")
    assert not {key: kind for key, kind in declared.items() if kind.startswith(varchar)}
    assert sum(kind == "text" for kind in declared.values()) == 39

"""dbt reads the settings it needs (warehouse, margin rate, memory limit) as include.settings does."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from include.dbt import dbt_environment

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


def test_the_project_passes_dbt_its_settings_with_empty_meaning_the_default(monkeypatch) -> None:
    monkeypatch.setenv("CVW_GROSS_MARGIN_RATE", "")
    monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", " ")
    environment = dbt_environment(Path("/data/w.duckdb"))
    names = ("CVW_WAREHOUSE", "CVW_GROSS_MARGIN_RATE", "CVW_DUCKDB_MEMORY_LIMIT")
    assert {name: environment[name] for name in names} == {
        "CVW_WAREHOUSE": "/data/w.duckdb",
        "CVW_GROSS_MARGIN_RATE": "0.4",
        "CVW_DUCKDB_MEMORY_LIMIT": "80%",
    }
    monkeypatch.setenv("CVW_GROSS_MARGIN_RATE", "0.25")
    monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", "2GB")
    environment = dbt_environment(Path("/data/w.duckdb"))
    assert (environment["CVW_GROSS_MARGIN_RATE"], environment["CVW_DUCKDB_MEMORY_LIMIT"]) == ("0.25", "2GB")
    assert (environment["DO_NOT_TRACK"], environment["DBT_SEND_ANONYMOUS_USAGE_STATS"]) == ("1", "false")


@pytest.mark.parametrize(
    ("rate", "memory", "expected"), [("", "", (0.4, "80%")), ("0.25", "1GB", (0.25, "1GB"))]
)
def test_dbt_run_by_hand_reads_an_empty_variable_as_the_default(
    tmp_path, dbt_show, rate, memory, expected
) -> None:
    # an analyst's `dbt` in a shell with CVW_GROSS_MARGIN_RATE= set: dbt used to read margin 0.0 (the CLV
    # kept 0.4) and fail on memory_limit ''
    environment = {
        **os.environ,
        "CVW_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "CVW_GROSS_MARGIN_RATE": rate,
        "CVW_DUCKDB_MEMORY_LIMIT": memory,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    query = "select {{ var('gross_margin_rate') }} as rate, current_setting('memory_limit') as memory"
    rows = dbt_show(query, environment)
    assert rows[0]["rate"] == expected[0]
    # DuckDB reports the limit in binary units; 80% is of this machine's memory
    assert rows[0]["memory"] == "953.6 MiB" if expected[1] == "1GB" else rows[0]["memory"].endswith("GiB")


def test_dbt_reads_and_writes_timestamps_in_utc_whatever_the_machines_zone(tmp_path, dbt_show) -> None:
    # dbt's DuckDB session took the machine's zone (every other connection of the project is UTC): under
    # TZ=Pacific/Kiritimati a Paris order at 00:30 on 1 March (+01:00) fell on 1 March, not 29 February
    environment = {
        **os.environ,
        "TZ": "Pacific/Kiritimati",
        "CVW_WAREHOUSE": str(tmp_path / "w.duckdb"),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    query = (
        "select current_setting('TimeZone') as zone, "
        "cast(cast('2024-03-01 00:30:00+01:00' as timestamptz) as date)::varchar as day"
    )
    rows = dbt_show(query, environment)
    assert rows == [{"zone": "UTC", "day": "2024-02-29"}]


def test_the_label_horizons_are_dbt_project_ymls_own_plus_the_setting(monkeypatch, tmp_path) -> None:
    # an analyst adds 180 to var label_horizons: the transform DAG passed [90, 365] whatever the project
    # said (its post-hook then deleted the 180-day labels) and train's param refused 180
    from include.airflow_defaults import horizon_days_param
    from include.dbt import label_horizons

    monkeypatch.setenv("CVW_HORIZON_DAYS", "90")
    assert label_horizons() == [90, 365]  # the repository's dbt_project.yml
    project = (PROJECT / "dbt_project.yml").read_text()
    assert "  label_horizons: [90, 365]\n" in project
    (tmp_path / "dbt_project.yml").write_text(
        project.replace("  label_horizons: [90, 365]\n", "  label_horizons: [365, 180, 90]\n")
    )
    monkeypatch.setenv("CVW_DBT_PROJECT_DIR", str(tmp_path))
    assert label_horizons() == [90, 180, 365]
    assert horizon_days_param(90).schema["enum"] == [90, 180, 365]
    monkeypatch.setenv("CVW_HORIZON_DAYS", "30")
    assert label_horizons() == [30, 90, 180, 365]
    (tmp_path / "dbt_project.yml").write_text(project.replace("  label_horizons: [90, 365]\n", ""))
    with pytest.raises(SystemExit, match=r"var label_horizons must be a list of days, e\.g\. \[90, 365\]"):
        label_horizons()


@pytest.mark.parametrize("horizons", ["[90, -30]", "[0, 90]", "[90, 400.5]", "[90, abc]", "[90, true]"])
def test_a_label_horizon_that_is_not_a_whole_day_stops_with_one_sentence(
    monkeypatch, tmp_path, horizons
) -> None:
    # int() read 400.5 as 400 and took -30 and 0: cvw build then built labels of -30 days, every customer
    # churned, and train's param offered them
    from include.dbt import label_horizons

    project = (PROJECT / "dbt_project.yml").read_text()
    (tmp_path / "dbt_project.yml").write_text(
        project.replace("  label_horizons: [90, 365]\n", f"  label_horizons: {horizons}\n")
    )
    monkeypatch.setenv("CVW_DBT_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("CVW_HORIZON_DAYS", "90")
    with pytest.raises(SystemExit) as refused:
        label_horizons()
    shown = horizons.replace("abc", "'abc'").replace("true", "True")
    assert str(refused.value) == (
        f"{tmp_path / 'dbt_project.yml'}: var label_horizons must be a list of whole days of at least 1, "
        f"e.g. [90, 365], not {shown}."
    )


def _tiny_project(folder: Path, columns: str, contract: dict[str, str]) -> None:
    """Write a dbt project (the repo's profile) of an incremental model and a contracted table."""
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text((PROJECT / "profiles.yml").read_text())
    (folder / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0.0'\nconfig-version: 2\nprofile: customer_value\n"
        "vars:\n  label_horizons: [90, 365]\n"
        "models:\n  tiny:\n    +on_schema_change: fail\n"
    )
    (folder / "models" / "growing.sql").write_text(
        "{{ config(materialized='incremental', unique_key='customer_id') }}\n"
        f"select 'c1' as customer_id, {columns}\n"
    )
    (folder / "models" / "contracted.sql").write_text(f"select 'c1' as customer_id, {columns}\n")
    declared = "".join(
        f"      - name: {name}\n        data_type: {kind}\n" for name, kind in contract.items()
    )
    (folder / "models" / "_models.yml").write_text(
        "version: 2\nmodels:\n  - name: contracted\n    config:\n      contract:\n        enforced: true\n"
        f"    columns:\n      - name: customer_id\n        data_type: varchar\n{declared}"
    )


def _tiny_dbt_paths(monkeypatch, tmp_path: Path) -> tuple[Path, Path]:
    """Return (project folder, warehouse) of a tiny project in tmp_path, with dbt's target and logs there."""
    project = tmp_path / "project"
    monkeypatch.setenv("CVW_DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    return project, tmp_path / "w.duckdb"


def test_a_build_that_a_new_column_fails_says_which_column_and_the_fix(monkeypatch, tmp_path) -> None:
    # an analyst adds weekend_order_share: the sentence was "... (Compilation Error in model growing
    # (models/growing.sql))", the reason and dbt's table of columns left in the log above it
    from include.dbt import DbtFailed, run_dbt

    project, warehouse = _tiny_dbt_paths(monkeypatch, tmp_path)
    _tiny_project(project, "1e0 as revenue", {"revenue": "double"})
    run_dbt(["build"], warehouse_path=warehouse)
    _tiny_project(project, "1e0 as revenue, 5e-1 as weekend_order_share", {"revenue": "double"})
    with pytest.raises(DbtFailed) as failed:
        run_dbt(["build"], warehouse_path=warehouse)
    assert str(failed.value) == (
        "`dbt build` failed on 2 node(s): "
        "model.tiny.contracted (its columns differ from its YAML contract (weekend_order_share missing in "
        "contract): declare every column with its data_type and a description in the model's YAML); "
        "model.tiny.growing (its columns changed (new weekend_order_share) and an incremental model keeps "
        "its table's columns: rebuild with cvw build --full-refresh (transform's param full_refresh))."
    )
    # declared, but as another type: both types are named
    _tiny_project(project, "1e0 as revenue", {"revenue": "integer"})
    with pytest.raises(DbtFailed) as failed:
        run_dbt(["build", "--select", "contracted"], warehouse_path=warehouse)
    assert str(failed.value) == (
        "`dbt build --select contracted` failed on 1 node(s): model.tiny.contracted (its columns differ from "
        "its YAML contract (revenue data type mismatch: DOUBLE in the model, INTEGER in the YAML): declare "
        "every column with its data_type and a description in the model's YAML)."
    )


def test_a_failed_unit_test_is_one_sentence_without_terminal_colours(monkeypatch, tmp_path) -> None:
    # cvw build printed "... (\x1b[32mactual\x1b[0m differs from \x1b[31mexpected\x1b[0m:)": dbt colours its
    # diff, and the escape codes went into the sentence (and the logs) as text
    from include.dbt import DbtFailed, run_dbt

    project, warehouse = _tiny_dbt_paths(monkeypatch, tmp_path)
    _tiny_project(project, "1e0 as revenue", {"revenue": "double"})
    with (project / "models" / "_models.yml").open("a") as properties:
        properties.write(
            "unit_tests:\n  - name: revenue_is_two\n    model: contracted\n    given: []\n"
            "    expect:\n      rows:\n        - {customer_id: c1, revenue: 2.0}\n"
        )
    with pytest.raises(DbtFailed) as failed:
        run_dbt(["build", "--select", "contracted"], warehouse_path=warehouse)
    assert str(failed.value) == (
        "`dbt build --select contracted` failed on 1 node(s): unit_test.tiny.contracted.revenue_is_two "
        "(actual differs from expected: the model's rows are not the unit test's expected rows "
        "(dbt's log shows both))."
    )


def test_a_build_after_one_with_other_vars_parses_only_what_changed(monkeypatch, tmp_path) -> None:
    # cvw build after publish's build of the bi marts (var bi_as_of_date) parsed the whole project again,
    # every day: dbt kept the parse state of its last run alone, and other vars void it
    from include.dbt import run_dbt

    project, warehouse = _tiny_dbt_paths(monkeypatch, tmp_path)
    _tiny_project(project, "1e0 as revenue", {"revenue": "double"})
    published = {"bi_as_of_date": "2026-01-01"}
    parses = []
    for number, dbt_vars in enumerate([None, published, None, published, None]):
        logs = tmp_path / f"logs_{number}"
        monkeypatch.setenv("DBT_LOG_PATH", str(logs))
        if number == 4:  # an edit is parsed, the rest is not
            (project / "models" / "growing.sql").write_text(
                "{{ config(materialized='incremental', unique_key='customer_id') }}\n"
                "select 'c1' as customer_id, 2e0 as revenue\n"
            )
        run_dbt(["run"], warehouse_path=warehouse, dbt_vars=dbt_vars)
        log = (logs / "dbt.log").read_text()
        parses.append(
            "partial: nothing changed"
            if "no changes found, skipping parsing" in log
            else "partial: 1 file changed"
            if "Partial parsing enabled: 0 files deleted, 0 files added, 1 files changed" in log
            else "full"
        )
    assert parses == [
        "full",
        "full",
        "partial: nothing changed",
        "partial: nothing changed",
        "partial: 1 file changed",
    ]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select revenue from main.growing").fetchall() == [(2.0,)]


def test_a_build_for_a_date_after_the_data_can_reach_stops_before_dbt(monkeypatch, tmp_path) -> None:
    # CVW_AS_OF_DATE=2062-01-01 (for 2026) built marts whose cutoffs after the data all looked churned: a
    # first model learnt them and was promoted, and only scoring refused them
    from include.dbt import dbt_build
    from include.scoring import latest_scoring_date

    monkeypatch.setenv("CVW_AS_OF_DATE", "2062-01-01")
    missing = tmp_path / "warehouse.duckdb"
    with pytest.raises(SystemExit) as refused:
        dbt_build(warehouse_path=missing)
    assert str(refused.value) == (
        "The as-of date 2062-01-01 is in the future: the marts would hold cutoffs after the data, whose "
        f"customers all look churned, and scoring refuses them. Choose a date up to {latest_scoring_date()} "
        "(check CVW_AS_OF_DATE, or the as_of_date given)."
    )
    assert not missing.exists()

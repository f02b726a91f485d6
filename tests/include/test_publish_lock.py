"""Publish copies the bi marts once dbt has let go of the warehouse: a process that took the file in
between is waited for, and one that keeps it past the wait is one sentence, never DuckDB's traceback."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.publish import _write_copy


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a warehouse with the bi marts dbt builds for 2025-06-01: two customers, one segment."""
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        for schema in ("marts", "bi"):
            con.execute(f"create schema {schema}")
        con.execute(
            "create table marts.customer_features as "
            "select date '2025-06-01' as cutoff_date, true as is_scoring_date"
        )
        con.execute(
            "create table bi.customer_value as select * from (values "
            "('c1', 120.0, 'v1', 'champions'), ('c2', 30.0, 'v1', null)) "
            "t(customer_id, predicted_revenue, model_version, rfm_segment)"
        )
        con.execute(
            "create table bi.segment_summary as "
            "select 150.0 as predicted_revenue, 'champions' as rfm_segment, 'high' as value_tier"
        )
        con.execute(
            "create table bi.model_performance as select 'backtest' as source, 'champion' as model, "
            "'v1' as model_version, date '2025-03-01' as cutoff_date, 90 as horizon_days, "
            "'auc' as metric, 0.8 as value, 2::bigint as customers, "
            "timestamp '2025-06-01 00:00:00' as evaluated_at, true as is_out_of_time"
        )
    return path


def test_a_writer_that_took_the_warehouse_after_dbt_is_waited_for(
    warehouse: Path, tmp_path: Path, hold_warehouse
) -> None:
    # the attach after dbt's build had no wait and no sentence: DuckDB's lock error as a traceback, and the
    # build of the bi marts thrown away
    serving = tmp_path / "serving.duckdb"
    holder = hold_warehouse(warehouse, seconds=2)
    snapshot, warnings = _write_copy(warehouse, serving, date(2025, 6, 1), {})
    assert holder.wait(timeout=10) == 0  # it copied only once the writer was gone
    assert (snapshot["as_of_date"], snapshot["customers"], snapshot["model_version"]) == (
        date(2025, 6, 1),
        2,
        "v1",
    )
    with duckdb.connect(str(serving), read_only=True) as con:
        rows = con.execute("select customer_id, predicted_revenue from bi.customer_value").fetchall()
        performance = con.execute("select source, metric, value from bi.model_performance").fetchall()
    assert rows == [("c1", 120.0), ("c2", 30.0)]
    assert performance == [("backtest", "auc", 0.8)]
    # no temporary file is left beside the serving copy
    assert sorted(path.name for path in tmp_path.iterdir()) == ["serving.duckdb", "warehouse.duckdb"]


def test_a_writer_that_keeps_the_warehouse_past_the_wait_is_one_sentence(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold_warehouse
) -> None:
    import include.warehouse

    monkeypatch.setattr(include.warehouse, "LOCK_WAIT_SECONDS", 2)
    serving = tmp_path / "serving.duckdb"
    hold_warehouse(warehouse)  # until the test ends
    with pytest.raises(SystemExit) as stopped:
        _write_copy(warehouse, serving, date(2025, 6, 1), {})
    assert str(stopped.value).startswith(f"The warehouse {warehouse} stayed locked by another process for ")
    assert f'(IO Error: Could not set lock on file "{warehouse}": Conflicting lock' in str(stopped.value)
    assert str(stopped.value).endswith(
        "close the connection that holds it (BI tools read the serving copy instead), then run again."
    )
    # no serving copy, and no temporary file left where it would be
    assert sorted(path.name for path in tmp_path.iterdir()) == ["warehouse.duckdb"]

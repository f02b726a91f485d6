"""Transform's build task reads the marts' date once dbt has ended: a process that opened the warehouse
in between is waited for, not a failure of the build that passed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from include.assets import MARTS


def test_the_marts_date_waits_for_a_writer_that_opened_the_warehouse_after_dbt(
    dag_task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold_warehouse
) -> None:
    # it connected once, with no wait: a writer that opened the file after dbt ended failed the producer,
    # and with it the transform whose build had passed (Cosmos never runs a second build in one run)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.customer_features as select * from (values "
            "(date '2025-05-01', false), (date '2025-06-01', true)) t(cutoff_date, is_scoring_date)"
        )
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    producer = dag_task("transform", "dbt.dbt_producer_watcher")
    context = {"outlet_events": {MARTS: SimpleNamespace(extra={})}}
    holder = hold_warehouse(warehouse, seconds=2)  # a notebook, a `cvw score`
    producer._post_execute_hook(context)
    assert holder.wait(timeout=10) == 0  # it read the date only once the writer was gone
    assert context["outlet_events"][MARTS].extra == {"as_of_date": "2025-06-01"}

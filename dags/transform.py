"""
### Transform

Runs `dbt build` on `dbt_project/` against the warehouse: staging views, intermediate models and the
`marts` schema (`customer_rfm`, `customer_features` over the cutoff spine, `customer_labels`), with every
data and unit test. Runs when new raw data lands (`warehouse_raw`) and updates `warehouse_marts`.

Param `as_of_date` (YYYY-MM-DD, optional) fixes the scoring date; empty means the day after the last order.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from include.assets import MARTS, RAW_TABLES


@dag(
    schedule=[RAW_TABLES],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"as_of_date": Param("", type="string", description="Scoring date YYYY-MM-DD; empty = latest")},
    doc_md=__doc__,
    tags=["customer-value", "dbt"],
)
def transform():
    @task(outlets=[MARTS])
    def dbt_build(params: dict | None = None) -> str:
        """Build and test every dbt model; return the scoring date the marts were built for."""
        from datetime import date

        from include.dbt import dbt_build as build
        from include.settings import get_settings

        as_of = (params or {}).get("as_of_date") or None
        as_of_date = date.fromisoformat(as_of) if as_of else get_settings().as_of_date
        build(as_of_date=as_of_date)
        return str(as_of_date or "latest")

    dbt_build()


transform()

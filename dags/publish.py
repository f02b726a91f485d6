"""
### Publish

Writes the BI serving copy (`CVW_SERVING`, default `data/serving.duckdb`): a separate DuckDB file with the
stable `bi` schema (`customer_value`, `segment_summary`, `model_performance`, `snapshot`; see
`docs/bi.md`). The file is built under a temporary name beside the old one, checkpointed, closed and
renamed over it, so a BI tool reading it sees the previous or the new complete snapshot and never holds a
lock on the warehouse.

Then `build_bi_marts` builds the same three tables as dbt models with enforced contracts in the warehouse's
`bi` schema (dbt tag `bi`, `dbt_project/models/marts/bi/`, from the latest scoring date), for BI tools that
connect to the warehouse directly; transform never builds them, because they read the score tables.

Runs whenever scores change (`customer_scores`); updates `serving_copy` with the published date, then
`warehouse_bi`.
Publishing is idempotent: a retry or a second run writes the same snapshot again. A failed publish leaves
the previous serving file untouched (the temporary file is removed), so dashboards keep working on the
last good snapshot while the failure is fixed.
Param `as_of_date` (YYYY-MM-DD, optional): the scoring date to publish; empty = the latest scored date.
Both tasks open the warehouse, so they run in the `warehouse_writer` pool (a DuckDB reader cannot open a
file another process is writing).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from include.airflow_defaults import DEFAULT_ARGS, WAREHOUSE_POOL, as_of_date_param
from include.assets import BI_MARTS, CUSTOMER_SCORES, SERVING_COPY


@dag(
    schedule=[CUSTOMER_SCORES],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"as_of_date": as_of_date_param("Scoring date to publish; empty = the latest scored date.")},
    doc_md=__doc__,
    tags=["customer-value", "bi"],
)
def publish():
    @task(outlets=[SERVING_COPY], pool=WAREHOUSE_POOL)
    def publish_serving_copy(params=None, outlet_events=None) -> dict[str, str]:
        """Replace the serving file by a snapshot of the scores; return what it holds."""
        from include.publish import publish_serving
        from include.scoring import parse_as_of_date

        snapshot = {k: str(v) for k, v in publish_serving(parse_as_of_date(params["as_of_date"])).items()}
        print(f"Published {snapshot['customers']} customers as of {snapshot['as_of_date']}.")
        outlet_events[SERVING_COPY].extra = {"as_of_date": snapshot["as_of_date"]}
        return snapshot

    @task(outlets=[BI_MARTS], pool=WAREHOUSE_POOL)
    def build_bi_marts() -> None:
        """Build and test the warehouse's bi schema (dbt models tagged `bi`) from the latest scores."""
        from include.dbt import run_dbt

        run_dbt(["build", "--select", "tag:bi"])

    publish_serving_copy() >> build_bi_marts()


publish()

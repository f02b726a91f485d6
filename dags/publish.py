"""
### Publish

Builds the BI marts, dbt models with enforced contracts in the warehouse's `bi` schema (dbt tag `bi`,
`dbt_project/models/marts/bi/`), for the published scoring date, for BI tools that connect to the
warehouse directly; transform never builds them, because they read the score tables. Then writes the BI
serving copy (`CVW_SERVING`, default `data/serving.duckdb`): a separate DuckDB file with a copy of those
marts in its `bi` schema (`customer_value`, `segment_summary`, `model_performance`, `snapshot`; see
`docs/bi.md`). The file is built under a temporary name beside the old one, checkpointed, closed and
renamed over it, so a BI tool reading it sees the previous or the new complete snapshot and never holds a
lock on the warehouse.

Runs whenever scores change (`customer_scores`) and whenever monitoring changes (`model_monitoring`):
`model_performance` shows the backtests **monitor** writes after each scoring (`ml.backtests`), which
would otherwise reach BI only with the next scoring's publish, a day later. A scoring day therefore
publishes twice, after score and again after monitor; updates `warehouse_bi` and `serving_copy` (with the
published date) each time.
Publishing is idempotent: a retry or a second run rebuilds the snapshot from what the warehouse holds, so
the same date published again changes only what changed meanwhile (the monitor's backtests). A failed
publish leaves the previous serving file untouched (the temporary file is removed), so dashboards keep
working on the last good snapshot while the failure is fixed.
Param `as_of_date` (YYYY-MM-DD, optional): the scoring date to publish; empty = the latest scored date.
The task writes the warehouse, so it runs in the `warehouse_writer` pool (a DuckDB reader cannot open a
file another process is writing).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from include.airflow_defaults import DEFAULT_ARGS, WAREHOUSE_POOL, as_of_date_param, refusals_fail_at_once
from include.assets import BI_MARTS, CUSTOMER_SCORES, MONITORING, SERVING_COPY


@dag(
    schedule=CUSTOMER_SCORES | MONITORING,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"as_of_date": as_of_date_param("Scoring date to publish; empty = the latest scored date.")},
    doc_md=__doc__,
    tags=["customer-value", "bi"],
)
def publish():
    @task(outlets=[BI_MARTS, SERVING_COPY], pool=WAREHOUSE_POOL)
    def publish_serving_copy(params=None, outlet_events=None) -> dict[str, str]:
        """Build the warehouse's bi marts for the date and replace the serving file by a copy of them."""
        from include.dbt import DbtFailed
        from include.publish import publish_serving
        from include.scoring import parse_as_of_date

        # a date without scores, a failed dbt build of the bi marts: a retry says the same (a warehouse
        # held by another process is retried)
        with refusals_fail_at_once(DbtFailed):
            published = publish_serving(parse_as_of_date(params["as_of_date"]))
        snapshot = {k: str(v) for k, v in published.items()}
        print(f"Published {snapshot['customers']} customers as of {snapshot['as_of_date']}.")
        for asset in (BI_MARTS, SERVING_COPY):  # both hold the published date
            outlet_events[asset].extra = {"as_of_date": snapshot["as_of_date"]}
        return snapshot

    publish_serving_copy()


publish()

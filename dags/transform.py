"""
### Transform

Builds and tests the dbt project (`dbt_project/`) against the warehouse through **astronomer-cosmos**:
staging views, intermediate models and the `marts` schema (`customer_rfm`, `customer_features` over the
cutoff spine, `customer_labels`, `dim_customers`, `fct_sessions`, and the views `fct_orders`,
`score_outcomes` and `score_outcome_windows`, the last two what the monitor backtests from), with every unit
test and data test. The BI marts (tag `bi`) are left to publish.

Each dbt model and seed is an Airflow task, and so are the tests of each model, so a failure shows on the
node that failed, and what dbt skipped because of it shows skipped. One producer task runs a single
`dbt build` (one process, one DuckDB connection) and the node tasks, all started with it, report each
node's result as soon as the build has done it (Cosmos' watcher mode: a node task waits in the triggerer,
not on a worker, and the edges between node tasks draw dbt's lineage without making them wait; see
`include/cosmos_config.py`). The graph is rendered from a dbt manifest written ahead of time by
`python -m include.airflow_setup`.

Runs when new raw data lands (`warehouse_raw`). When the build passed, the producer itself updates
`warehouse_marts` with the date the marts were built for (`record_marts_date`, its `post_execute` hook),
which starts **score** (and **train** when needed); a failed build updates nothing. The build's own task
sends it, not a task after the node tasks (they only report, and a node dbt skipped ends skipped, which
Airflow would pass on to a task after it) nor a task of its own, whose start on a worker cost 2-3 s of a
26 s run at 100,000 customers (docs/benchmarks.md).

Params: `as_of_date` (YYYY-MM-DD, optional) fixes the date the marts are built for (default
`CVW_AS_OF_DATE`; empty: the day after the last order); `full_refresh` rebuilds incremental models from
scratch; `test_every_row` runs every test over every row, where a build tests the cutoffs it rebuilt and the
raw events and lines it loaded (docs/operations.md, "What a build tests").
The dbt build runs in the `warehouse_writer` pool; the node tasks only read the build's results, in the
default pool, and never run dbt themselves. To re-run the build, trigger a new run: a cleared
`dbt_producer_watcher` skips (Cosmos never runs a second build in one run).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag

from include.airflow_defaults import (
    DEFAULT_ARGS,
    as_of_date_param,
    every_row_param,
    full_refresh_param,
    refusals_fail_at_once,
)
from include.assets import MARTS, RAW_TABLES
from include.cosmos_config import dbt_task_group
from include.settings import get_settings

AS_OF_DATE = get_settings().as_of_date  # CVW_AS_OF_DATE pins the marts' date when set


def record_marts_date(context: Any, result: Any = None) -> None:
    """Attach the scoring date the passed build made the marts for to its warehouse_marts event."""
    from include.scoring import marts_as_of_date

    # dbt's process has ended: the producer still holds the writer slot, but a process outside Airflow (a
    # notebook, `cvw score`) may have opened the warehouse since; failing on it would fail the passed build,
    # which the run cannot do again
    as_of_date = marts_as_of_date(wait=True)
    if as_of_date is None:
        raise RuntimeError("dbt build passed but marts.customer_features has no scoring date.")
    context["outlet_events"][MARTS].extra = {"as_of_date": as_of_date.isoformat()}


def refuse_or_wait_before_the_build(context: Any) -> None:
    """Hold the build until no other process holds the warehouse: the build itself never retries.

    First refuse, in one sentence, a build that could only empty the marts or fill them with cutoffs after the
    data, as `cvw build` does: an `as_of_date` on or before the first order passed dbt and replaced every
    mart by an empty one.
    """
    from include.dbt import refuse_a_build_without_data
    from include.scoring import parse_as_of_date
    from include.warehouse import wait_until_writable

    warehouse = get_settings().warehouse_path
    with refusals_fail_at_once():
        refuse_a_build_without_data(warehouse, parse_as_of_date(context["params"]["as_of_date"]), wait=True)
    wait_until_writable(warehouse)


@dag(
    schedule=[RAW_TABLES],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "as_of_date": as_of_date_param(
            "Date the marts are built for; empty = the day after the last order.",
            default=AS_OF_DATE.isoformat() if AS_OF_DATE else "",
        ),
        "full_refresh": full_refresh_param(),
        "test_every_row": every_row_param(),
    },
    doc_md=__doc__,
    tags=["customer-value", "dbt"],
)
def transform():
    dbt_task_group(
        "dbt",
        producer_args={
            "outlets": [MARTS],
            "pre_execute": refuse_or_wait_before_the_build,
            "post_execute": record_marts_date,
        },
    )


transform()

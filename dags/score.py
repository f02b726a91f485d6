"""
### Score

Scores every customer with at least one completed order before the scoring date with the champion model
and replaces that date's rows of `scores.customer_scores` in one transaction (a retry never duplicates
rows); updates `customer_scores` with the date, which starts **publish** and **monitor**.

Which date a run scores (`scoring_date`):
* the `as_of_date` param when given;
* a scheduled or backfill run: its logical date (`airflow backfill create --dag-id score --from-date DAY
  --to-date LAST_DAYT23:59:59` scores each day as of that day; docs/operations.md);
* otherwise (asset-triggered, manual): `CVW_AS_OF_DATE` when set, else the date the marts were built for.
Scores for a date need marts built for it: a date other than the marts' own is scored from marts built
for that date in a scratch copy of the warehouse (`include/scoring.py`), so the warehouse's marts stay as
they are and a backfilled date gets exactly the rows a fresh build for it gives. The copy is removed when
the scoring ends; one left by a scoring killed outright is removed by the next scoring on the same host.

Schedule: daily at 06:00 UTC, and whenever the marts (`warehouse_marts`) or the champion
(`champion_model`) change. Without a champion the run is skipped; train's first promotion starts it again.
`score_customers` runs in the `warehouse_writer` pool.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from include.airflow_defaults import DEFAULT_ARGS, WAREHOUSE_POOL, as_of_date_param, refusals_fail_at_once
from include.assets import CHAMPION_MODEL, CUSTOMER_SCORES, MARTS


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=(MARTS | CHAMPION_MODEL)
    ),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "as_of_date": as_of_date_param("Scoring date; empty: the logical date if scheduled, else the marts'.")
    },
    doc_md=__doc__,
    tags=["customer-value", "ml"],
)
def score():
    @task
    def scoring_date(params=None, dag_run=None) -> str:
        """Return the date this run scores (YYYY-MM-DD; "" = the marts' date), from its params and type."""
        from include.scoring import run_as_of_date

        return run_as_of_date(params["as_of_date"], dag_run.run_type, dag_run.logical_date)

    @task(outlets=[CUSTOMER_SCORES], pool=WAREHOUSE_POOL)
    def score_customers(as_of_date: str, outlet_events=None) -> int:
        """Score the customers as of the date; return the number of score rows written; skip without a
        champion."""
        from airflow.sdk.exceptions import AirflowSkipException

        from include.dbt import DbtFailed
        from include.scoring import champion_exists, parse_as_of_date, score_as_of

        # here, in the writer lane: without a champion pointer it reads the registry in the warehouse, which
        # scoring_date, outside the lane, opened beside the lane's writers
        if not champion_exists():
            raise AirflowSkipException("No champion model yet: train promotes one and that starts scoring.")

        # a date in the future, no feature mart, a failed dbt build of another date's marts: a retry says the
        # same (a warehouse held by another process is retried)
        with refusals_fail_at_once(DbtFailed):
            scored = score_as_of(parse_as_of_date(as_of_date))
        print(f"Scored {scored['rows']} customers as of {scored['as_of_date']} (marts: {scored['marts']}).")
        outlet_events[CUSTOMER_SCORES].extra = {"as_of_date": scored["as_of_date"]}
        return int(scored["rows"])

    score_customers(scoring_date())


score()

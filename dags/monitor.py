"""
### Monitor

Checks the champion model against what it sees now (`ml/monitor_champion.py`):
* **drift**: the feature mart's rows at the scoring date and the champion's scores of that date are counted
  into the bins of the training distribution kept in the model's metadata (`drift_reference`), chunk by
  chunk; the PSI of each column replaces that date's rows of `ml.feature_drift` (status `stable` < 0.1 ≤
  `moderate` < 0.25 ≤ `significant`: investigate at moderate, retrain at significant when the log says the
  marts hold labels after the champion's newest cutoff). A champion trained before references were kept has
  none: the run logs so and only backtests.
* **backtests**: realized against predicted revenue, orders, churn and next order date for every scored date
  whose horizon has elapsed (`ml.backtests`, one row per date, model and horizon, from the dbt view
  `marts.score_outcomes`).
  None yet is normal, not a failure. A date's backtest is kept while its scores and its window's orders
  (`marts.score_outcome_windows`) are unchanged: each run computes only new and changed windows.

Runs whenever scores change (`customer_scores`), beside **publish**; updates `model_monitoring` with the
date, which starts **publish** again, so the new backtests reach the BI marts the same day.
Param `as_of_date` (YYYY-MM-DD, optional): the scoring date to check; empty = the latest scored date.
Param `recompute_backtests` (default false): compute every backtest again.
Skipped while there is no champion. Writes the warehouse, so it runs in the `warehouse_writer` pool.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from include.airflow_defaults import (
    DEFAULT_ARGS,
    WAREHOUSE_POOL,
    as_of_date_param,
    recompute_backtests_param,
    refusals_fail_at_once,
)
from include.assets import CUSTOMER_SCORES, MONITORING


@dag(
    schedule=[CUSTOMER_SCORES],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "as_of_date": as_of_date_param("Scoring date to check; empty = the latest scored date."),
        "recompute_backtests": recompute_backtests_param(),
    },
    doc_md=__doc__,
    tags=["customer-value", "ml"],
)
def monitor():
    @task(outlets=[MONITORING], pool=WAREHOUSE_POOL)
    def monitor_champion(params=None, outlet_events=None) -> dict:
        """Write the drift of the scoring date and the backtests of the champion; return the summary."""
        from airflow.sdk.exceptions import AirflowSkipException

        from include.scoring import champion_exists, parse_as_of_date
        from ml.monitor_champion import describe, monitor

        if not champion_exists():
            raise AirflowSkipException("No champion model yet: nothing to monitor.")
        with refusals_fail_at_once():  # no scores yet: a retry says the same
            summary = monitor(
                parse_as_of_date(params["as_of_date"]), recompute_backtests=params["recompute_backtests"]
            )
        print(describe(summary))
        outlet_events[MONITORING].extra = {"as_of_date": summary["as_of_date"] or ""}
        return summary

    monitor_champion()


monitor()

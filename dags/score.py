"""
### Score

Scores every customer with at least one order before the scoring date with the champion model and
replaces that date's rows of `scores.customer_scores` in one transaction (a retry never duplicates rows).
Runs when a new champion is promoted; updates the `customer_scores` asset.

Param `as_of_date` (YYYY-MM-DD, optional): empty means the marts' scoring date.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from include.assets import CHAMPION_MODEL, CUSTOMER_SCORES


@dag(
    schedule=[CHAMPION_MODEL],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"as_of_date": Param("", type="string", description="Scoring date YYYY-MM-DD; empty = latest")},
    doc_md=__doc__,
    tags=["customer-value", "ml"],
)
def score():
    @task(outlets=[CUSTOMER_SCORES])
    def score_customers(params: dict | None = None) -> int:
        """Score the customers; return the number of score rows written."""
        from datetime import date

        from ml.score import score_customers

        as_of = (params or {}).get("as_of_date") or None
        return score_customers(as_of_date=date.fromisoformat(as_of) if as_of else None)

    score_customers()


score()

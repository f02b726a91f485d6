"""
### Train

Trains the LightGBM CLV regressor (revenue in the horizon) and churn classifier (no order in the horizon)
on the feature mart's past cutoffs, checks them out of time on the latest labelled cutoff (MAE, Spearman,
ROC-AUC), saves the artifacts and promotes the new model to champion. Runs when the marts change.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from include.assets import CHAMPION_MODEL, MARTS


@dag(
    schedule=[MARTS],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["customer-value", "ml"],
)
def train():
    @task(outlets=[CHAMPION_MODEL])
    def train_models() -> dict[str, float]:
        """Train, evaluate out of time and promote; return the out-of-time metrics."""
        from ml.train import format_metrics, train_models

        metadata = train_models()
        print(format_metrics(metadata))
        return metadata["out_of_time_metrics"]

    train_models()


train()

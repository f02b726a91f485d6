"""
### Train

Trains the LightGBM CLV and churn models on the feature mart's past cutoffs, checks them out of time on the
latest labelled cutoff against the baselines (BG/NBD + Gamma-Gamma, persistence, naive rate, RFM-only
LightGBM), saves the version with its HTML report and drift reference, records it in `ml.model_registry`
and the evaluation in `ml.evaluations` (rows of its `model_version`), and gates it: it becomes champion
only if it beats every baseline and holds the current champion (docs/scores.md); the first model is
promoted anyway (there is nothing else to score with), and so is a model whose champion cannot score the
mart (its features changed since). Only a promotion updates `champion_model` (task
`announce_champion`, with the new `model_version` in the event's extra), which starts **score** with the
new champion; a rejected model ends `announce_champion` skipped, so no event is sent and nothing is
re-scored with an unchanged champion.

When it trains (the `should_train` task decides, and skips the rest of the run otherwise):
* weekly, Monday 03:00 UTC: retrain on the latest marts;
* whenever the marts change (`warehouse_marts`) and **no champion exists yet** (a fresh install);
* when someone triggers it.
A marts update with a champion in place does not retrain: score re-scores with the current champion.
Nor does a backfill run (a model learns from the marts as they are now, whatever the run's date).
Without marts there is nothing to learn from, so every run skips until transform has built them.

A retry of `train_models` after a try that registered its model and then failed (its worker killed, its
result not reported) trains nothing: it reports that model, and announces it when it was promoted.

Param `horizon_days`: the prediction horizon, one the marts hold labels for (they are built for the
dbt var `label_horizons`, 90 and 365 days, and `CVW_HORIZON_DAYS`; add one there, or set it, and rebuild
the marts for another). `should_train` and
`train_models` run in the `warehouse_writer` pool; `announce_champion` opens nothing and runs outside it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from include.airflow_defaults import DEFAULT_ARGS, WAREHOUSE_POOL, horizon_days_param, refusals_fail_at_once
from include.assets import CHAMPION_MODEL, MARTS
from include.settings import get_settings


def trained_since(started: datetime) -> dict | None:
    """Return the result of the newest model version the registry recorded as trained at or after a time."""
    import json

    from include.warehouse import connect, has_table
    from ml.artifacts import version_dir
    from ml.registry_table import CHAMPION

    settings = get_settings()
    if not settings.warehouse_path.exists():
        return None
    since = started.astimezone(UTC).replace(tzinfo=None)  # ml.model_registry.trained_at is UTC
    with connect(settings.warehouse_path, read_only=True) as con:
        if not has_table(con, "ml", "model_registry", views=False):
            return None
        query = (
            "select model_version, bool_or(status = ?) from ml.model_registry where trained_at >= ? "
            "group by model_version order by max(trained_at) desc limit 1"
        )
        row = con.execute(query, [CHAMPION, since]).fetchone()
    metadata = version_dir(settings.artifacts_dir, row[0]) / "metadata.json" if row else None
    if metadata is None or not metadata.exists():
        return None
    metrics = json.loads(metadata.read_text()).get("out_of_time_metrics", {})
    return {**metrics, "model_version": row[0], "promoted": bool(row[1])}


@dag(
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC"), assets=[MARTS]),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"horizon_days": horizon_days_param(get_settings().horizon_days)},
    doc_md=__doc__,
    tags=["customer-value", "ml"],
)
def train():
    @task.short_circuit(pool=WAREHOUSE_POOL)
    def should_train(dag_run=None) -> bool:
        """Return whether this run trains: marts exist and (no champion yet, or a weekly or manual run)."""
        from include.scoring import champion_exists, marts_as_of_date, should_train

        decision, reason = should_train(dag_run.run_type, champion_exists(), marts_as_of_date())
        print(f"{'Training' if decision else 'Not training'}: {reason}.")
        return decision

    @task(pool=WAREHOUSE_POOL)
    def train_models(params=None, ti=None, dag_run=None) -> dict[str, float | str | bool]:
        """Train, evaluate out of time, report and gate; return the metrics, the version and the verdict."""
        from ml.train import format_metrics, train_models

        if ti is not None and ti.try_number > 1 and dag_run is not None:
            # an earlier try may have registered (and promoted) its model, then failed: report that one. A
            # second model would be gated against it, and its rejection would leave the promotion unannounced
            earlier = trained_since(dag_run.run_after)
            if earlier is not None:
                verdict = "promoted" if earlier["promoted"] else "rejected"
                version = earlier["model_version"]
                print(
                    f"Model {version}, registered ({verdict}) by an earlier try of this run: not retrained."
                )
                return earlier
        with refusals_fail_at_once():  # too little data, no labels of the horizon: a retry says the same
            metadata = train_models(horizon_days=int(params["horizon_days"]))
        print(format_metrics(metadata))
        verdict = {"model_version": metadata["version"], "promoted": bool(metadata["promoted"])}
        return {**metadata["out_of_time_metrics"], **verdict}

    @task(outlets=[CHAMPION_MODEL])
    def announce_champion(trained: dict, outlet_events=None) -> str:
        """Return the promoted version, announced on champion_model; skip, announcing nothing, if rejected."""
        from airflow.sdk.exceptions import AirflowSkipException

        version = str(trained["model_version"])
        if not trained["promoted"]:
            raise AirflowSkipException(
                f"Model {version} was rejected by the gate: the champion is unchanged, nothing to announce."
            )
        outlet_events[CHAMPION_MODEL].extra = {"model_version": version}
        return version

    trained = train_models()
    should_train() >> trained  # a False should_train skips training and the announcement
    announce_champion(trained)


train()

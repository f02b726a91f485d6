"""The dbt project as a Cosmos task group: one Airflow task per dbt node, one dbt process per build.

Rendering: from the manifest `include/airflow_setup.py` writes (`dbt parse`), never by running dbt while
Airflow parses the DAG file.

Execution: Cosmos' WATCHER mode. One producer task runs a single `dbt build` (models, seeds, unit tests and
data tests, in dbt's own order, on one DuckDB connection), and every model, seed and model's tests gets
its own task that reports that node's result from the build; a failing model or test fails its own task,
and the nodes dbt skips because of it end skipped. Under a scheduler every node task starts at once, in the
triggerer (`start_from_trigger`, trigger rule `always`: the edges between node tasks draw dbt's lineage,
but no node task waits for another). Its trigger (include/node_trigger.py) polls the producer's results
every NODE_POKE_SECONDS and ends the task there when the node passed, or was skipped after an upstream
failure; only a node that failed resumes on a worker, to fail there with dbt's message for it, once the
build has ended (dbt writes it in its run summary; include/dbt_results.py). So reporting a node costs no
worker process on the cores dbt needs, and nothing is left to report once the build is done
(docs/benchmarks.md). A failed build fails its own task with each failed node and dbt's reason, in one
line, not with Cosmos' "exit code 1" after dbt's whole JSON output at error level. A passed model's
compiled SQL is in the producer's XComs (`..._compiled_sql`), not in its task's rendered fields, which only
a worker could set. `dag.test()` runs one task at a time, never in the triggerer, and runs a deferred
task's trigger in line: a node task run before the producer would wait for a build that never starts. The
in-process runner (include/run_dags.py) so puts the producer before the root node tasks, and every other
node task after its upstream ones (run_producer_first). The node tasks: include/node_tasks.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import MethodType
from typing import Any

from airflow.sdk import DAG, BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowException
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from include.airflow_defaults import WAREHOUSE_POOL
from include.airflow_setup import dbt_executable
from include.dbt import dbt_environment, label_horizons
from include.dbt_results import build_failure
from include.node_tasks import PRODUCER_TASK_ID, producer_of, report_only
from include.settings import get_settings

PRODUCER_GATE_TASK_ID = "dbt_producer_watcher_done"
BI_TAG = "bi"  # dbt_project/models/marts/bi: built after scoring by the publish DAG, never by transform


def _project_config(manifest: Path) -> ProjectConfig:
    """Return the project config: the repo's dbt project, rendered from the parsed manifest."""
    settings = get_settings()
    if not manifest.exists():
        raise FileNotFoundError(
            f"The dbt manifest {manifest} does not exist: run `python -m include.airflow_setup` "
            "(it runs `dbt parse`) before Airflow parses the DAGs; `make demo` and `make airflow` do."
        )
    project = ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=manifest,
        install_dbt_deps=False,
        # Cosmos runs dbt in a fresh temporary copy of the project; with DBT_TARGET_PATH=target (below) it
        # keeps the build's partial parse in its cache folder and re-points it at the next copy, so the
        # seeds load from the live copy. dbt re-parses in full by itself when vars, profile or files changed
        # (or when the project's own target/ holds a newer cache, which Cosmos prefers). Saves about 3 s of
        # each build's parse (docs/benchmarks.md).
        partial_parse=True,
        env_vars={
            # the warehouse's path is absolute: dbt runs in a temporary copy of the project
            **dbt_environment(settings.warehouse_path),
            # the copy's own target folder, whatever DBT_TARGET_PATH the deployment sets for its other dbt
            # runs: Cosmos reads each model's compiled SQL from there, for the node task's compiled_sql field
            "DBT_TARGET_PATH": "target",
        },
    )
    # A local file read as a plain Path: Cosmos' object-storage path would load every Airflow plugin (and
    # FastAPI with them) while the DAG file is parsed, which alone costs more than half a second.
    project.manifest_path = manifest
    return project


def run_producer_first(dag: DAG) -> None:
    """Put each dbt producer upstream of the root node tasks of its group, for dag.test's one-at-a-time runs.

    Roots still run (and report) when the build failed. A DAG without a dbt task group is left as it is.
    """
    for producer in [task for task in dag.tasks if task.task_id.endswith(PRODUCER_TASK_ID)]:
        group = producer.task_group
        for task in group.iter_tasks() if group is not None else []:
            if task is producer or task.task_id.endswith(PRODUCER_GATE_TASK_ID):
                continue
            if task.upstream_task_ids:  # after its upstream node tasks passed, as Cosmos renders it
                task.trigger_rule = TriggerRule.ALL_SUCCESS
            else:
                producer >> task
                task.trigger_rule = TriggerRule.ALL_DONE


def _fail_in_one_line(self: BaseOperator, result: Any) -> None:
    """Stand in for Cosmos' handling of a failed `dbt build`: fail with each failed node and dbt's reason.

    Cosmos logged dbt's whole output (its JSON log lines, over 200 kB) at error level and failed with "dbt
    command failed ... exit code 1". dbt's readable lines are in the log as the build ran them; its JSON
    goes to the debug level.
    """
    if result.exit_code == 0:
        return
    self.log.debug("\n".join(result.full_output))
    raise AirflowException(build_failure(result.full_output, result.exit_code))


def report_failed_builds_in_one_line(group: DbtTaskGroup) -> None:
    """Have the producer fail a failed build with one line naming the failed nodes and dbt's reasons."""
    producer = producer_of(group)
    producer.handle_exception_subprocess = MethodType(_fail_in_one_line, producer)


def _no_lineage_events(self: BaseOperator, *args: Any, **kwargs: Any) -> bool:
    """Stand in for Cosmos' OpenLineage parsing of the build's artifacts: nothing would send the events."""
    return False


def skip_unsent_lineage(group: DbtTaskGroup) -> None:
    """Have the producer skip parsing OpenLineage events when no OpenLineage provider is installed.

    After the build Cosmos turns dbt's manifest and run results into OpenLineage events for the provider's
    listener to send; without the provider nothing reads them. The import and parse took about a second of
    the producer at 100,000 customers (docs/benchmarks.md). With the provider installed, Cosmos does it.
    """
    if importlib.util.find_spec("airflow.providers.openlineage") is not None:
        return
    producer = producer_of(group)
    producer.calculate_openlineage_events_completes = MethodType(_no_lineage_events, producer)


def dbt_task_group(group_id: str = "dbt", producer_args: dict[str, Any] | None = None) -> DbtTaskGroup:
    """Return the dbt build as a Cosmos task group; dbt vars come from the DAG run's params.

    `producer_args` go to the producer (the task that runs `dbt build`) only, e.g. the asset it updates
    when the build passed and a `post_execute` hook that says what it holds.
    """
    settings = get_settings()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=_project_config(settings.dbt_manifest_path),
        profile_config=ProfileConfig(
            profile_name="customer_value",
            target_name="dev",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            # dbt in a process of its own, whose JSON log lines the producer turns into XComs beside it. In
            # the producer's process (DBT_RUNNER) each dbt event became JSON and each node's XComs were
            # pushed in dbt's own threads, between its nodes: about 5 s of a 25 s build at 100,000
            # customers (docs/benchmarks.md).
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=dbt_executable(),
            # Cosmos never re-runs a whole build: a retried producer skips and the node tasks retry instead.
            setup_operator_args={"retries": 0, **(producer_args or {})},
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # The BI marts read the score tables, which exist only after scoring: publish builds them.
            # Exposures say who reads the marts (ML, BI): nothing to run, so no task (else Cosmos warns); nor
            # the project's hooks (operations), which dbt runs at the build's start and end all the same.
            exclude=[f"tag:{BI_TAG}", "resource_type:exposure", "resource_type:operation"],
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,  # the DAG emits the warehouse_marts asset itself, once the build passed
        ),
        operator_args={
            "pool": WAREHOUSE_POOL,
            "full_refresh": "{{ params.full_refresh }}",
            "vars": {
                "as_of_date": "{{ params.as_of_date }}",
                "label_horizons": label_horizons(),
                # rendered as the text 'True' or 'False': macro every_row_tested reads it so
                "test_every_row": "{{ params.test_every_row }}",
            },
        },
    )
    report_only(group)
    report_failed_builds_in_one_line(group)
    skip_unsent_lineage(group)
    return group

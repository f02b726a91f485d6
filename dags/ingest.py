"""
### Ingest

Loads every new file of the landing folder (`CVW_LANDING_DIR`, default `data/landing/`) into the
warehouse's `raw` schema, in one transaction. Each file's content hash is recorded, so a file delivered
twice loads nothing the second time. When nothing new arrived (or the folder does not exist yet, as on a
new installation) the task is **skipped** (not failed) and the
`warehouse_raw` asset is not updated, so nothing downstream runs; otherwise the asset update starts
**transform**.

A file that cannot be loaded (a required column missing, a column of the wrong type) fails the task with
one sentence naming the file and the fix, and leaves the warehouse exactly as it was; rows that fail
validation are kept in `raw._rejects` with their reason (see docs/data-contract.md). Retrying or
re-triggering is always safe: content already loaded is recognised by its hash and skipped. A retry of a
try that committed its load and then failed (its worker killed, its result not reported) finds nothing
new, yet still updates `warehouse_raw` with what that try loaded, so transform builds it; so does the task
cleared after such a try failed its run.

Schedule: daily at 05:00 UTC (before the 06:00 scoring run), or trigger it after a delivery
(UI, `airflow dags trigger ingest`, or `POST /api/v2/dags/ingest/dagRuns`).
Runs in the `warehouse_writer` pool (one slot: DuckDB has a single writer).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from include.airflow_defaults import DEFAULT_ARGS, WAREHOUSE_POOL, refusals_fail_at_once
from include.assets import RAW_TABLES


def loaded_since(started: datetime) -> dict[str, int]:
    """Return the rows loaded per table by the loads the warehouse recorded at or after a time."""
    from include.settings import get_settings
    from include.warehouse import connect, has_table

    path = get_settings().warehouse_path
    if not path.exists():
        return {}
    since = started.astimezone(UTC).replace(tzinfo=None)  # raw._file_loads.loaded_at is UTC
    with connect(path, read_only=True) as con:
        if not has_table(con, "raw", "_file_loads", views=False):
            return {}
        query = "select table_name, sum(rows_loaded) from raw._file_loads where loaded_at >= ? group by 1"
        return {table: int(rows) for table, rows in con.execute(query, [since]).fetchall()}


@dag(
    schedule=CronTriggerTimetable("0 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["customer-value", "warehouse"],
)
def ingest():
    @task(outlets=[RAW_TABLES], pool=WAREHOUSE_POOL)
    def load_landing_files(ti=None, dag_run=None) -> dict[str, int]:
        """Load new landing files into raw; return rows loaded per table, or skip when nothing is new."""
        from airflow.sdk.exceptions import AirflowSkipException

        from include.ingest import describe, load_landing
        from include.settings import get_settings

        landing_dir = get_settings().landing_dir
        if not landing_dir.is_dir():  # a new installation before its first delivery
            message = f"{landing_dir} does not exist yet: nothing to load, raw is unchanged."
            raise AirflowSkipException(message)
        loaded: dict[str, int] = {}
        with refusals_fail_at_once(ValueError):  # a file that fails whole fails the same on a retry
            loads = load_landing(landing_dir)
        for load in loads:
            if load.skipped:  # the loader logs the files it loads; say which ones it found loaded before
                print(describe(load))
            else:
                loaded[load.table] = loaded.get(load.table, 0) + load.rows_loaded
        # an earlier try of this run may have committed its load and failed after: announce that load. Since
        # the run was due, not since it started: clearing a task of a failed run restarts the run's clock
        since = getattr(dag_run, "run_after", None) or getattr(dag_run, "start_date", None)
        if not loaded and ti is not None and ti.try_number > 1 and since is not None:
            loaded = loaded_since(since)
            if loaded:
                print(f"Loads recorded since this run was due (an earlier try's, or another's): {loaded};"
                      " updating warehouse_raw for them.")  # fmt: skip
        if not loaded:
            if loads:  # a file delivered again, under its name or another, holds content loaded before
                raise AirflowSkipException(
                    f"Nothing new in {landing_dir}: its {len(loads)} files hold content loaded before, so "
                    "nothing to load, raw is unchanged."
                )
            raise AirflowSkipException(f"No new files in {landing_dir}: nothing to load, raw is unchanged.")
        return loaded

    load_landing_files()


ingest()

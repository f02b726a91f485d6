"""What every DAG of the project shares: the writer lane, retry policy, failure alert and validated params.

Imported at DAG-parse time, so it stays light: Airflow's SDK and the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.sdk import Param

from include.alerts import notify_failure

# DuckDB lets one process write a file, and a read-only connection fails while another process writes it:
# every task that opens the warehouse runs in this one-slot pool (created by include/airflow_setup.py).
WAREHOUSE_POOL = "warehouse_writer"
WAREHOUSE_POOL_SLOTS = 1

# Lock waits and other transient errors get two more tries, 30-60 s then 60-120 s later (at most 10 minutes).
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "customer-value",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": notify_failure,
}

# YYYY-MM-DD, or empty; JSON Schema's "date" format also refuses days a month lacks (2024-02-30).
DATE_PATTERN = r"^$|^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


@contextmanager
def refusals_fail_at_once(*refusals: type[Exception]) -> Iterator[None]:
    """Fail a task without retries when the project refuses to go on (its one-sentence SystemExit).

    A refusal names what is wrong with the data, a param or the set-up (too little data, a date in the
    future, no scores yet): a retry gives the same sentence minutes later and holds back the alert. Airflow
    retries a SystemExit, so it becomes AirflowFailException, which it does not. A warehouse held by another
    process (include.warehouse.WarehouseInUse, also when a dbt run met it) is the exception: a retry may find
    it free. `refusals` adds the exception types a task's own calls refuse with (the loader's ValueError for a
    file that fails whole, include.dbt.DbtFailed for a failed dbt build).
    """
    from airflow.sdk.exceptions import AirflowFailException

    from include.warehouse import WarehouseInUse

    try:
        yield
    except WarehouseInUse:
        raise
    except (SystemExit, *refusals) as refusal:
        raise AirflowFailException(str(refusal)) from None


def as_of_date_param(description: str, default: str = "") -> Param:
    """Return the `as_of_date` param: a real YYYY-MM-DD date or empty."""
    return Param(
        default,
        type="string",
        pattern=DATE_PATTERN,
        anyOf=[{"const": ""}, {"format": "date"}],
        title="As-of date (YYYY-MM-DD)",
        description=description,
    )


def horizon_days_param(default: int) -> Param:
    """Return the `horizon_days` param: one of the horizons the label marts are built with."""
    from include.dbt import label_horizons

    horizons = label_horizons()
    return Param(
        default,
        type="integer",
        enum=horizons,
        title="Prediction horizon (days)",
        description=(
            f"Days after the scoring date the models predict: one the marts hold labels for ({horizons}; "
            "add another to var label_horizons of dbt_project.yml, or set CVW_HORIZON_DAYS, and rebuild)."
        ),
    )


def every_row_param() -> Param:
    """Return transform's `test_every_row` param: when true the build tests every row, not only what it
    wrote."""
    return Param(
        False,
        type="boolean",
        title="Test every row",
        description=(
            "Run every dbt test over every row, as `dbt test` does; a build otherwise tests the cutoffs it "
            "rebuilt and the raw events and lines it loaded (the rows it kept were tested when written)."
        ),
    )


def recompute_backtests_param() -> Param:
    """Return the monitor's `recompute_backtests` param: compute every backtest again when true."""
    return Param(
        False,
        type="boolean",
        title="Recompute backtests",
        description=(
            "Compute every past scoring date's backtest again, not only new windows and those whose scores "
            "or orders changed (after an upgrade that changes how backtests are computed)."
        ),
    )


def full_refresh_param() -> Param:
    """Return the `full_refresh` param: rebuild incremental models from scratch when true."""
    return Param(
        False,
        type="boolean",
        title="Full refresh",
        description="Rebuild incremental dbt models (and seeds) from scratch instead of adding new rows.",
    )

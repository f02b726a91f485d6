"""
### Ingest

Loads every file in the landing folder (`CVW_LANDING_DIR`, default `data/landing/`) into the warehouse's
`raw` schema. Each file's content hash is recorded, so a file delivered twice loads nothing the second time;
the whole load is one transaction. Updates the `warehouse_raw` asset, which starts **transform**.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from include.assets import RAW_TABLES


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["customer-value", "warehouse"],
)
def ingest():
    @task(outlets=[RAW_TABLES])
    def load_landing_files() -> dict[str, int]:
        """Load new landing files into raw; return rows loaded per table."""
        from include.ingest import load_landing
        from include.settings import get_settings

        loads = load_landing(get_settings().landing_dir)
        loaded: dict[str, int] = {}
        for load in loads:
            loaded[load.table] = loaded.get(load.table, 0) + load.rows_loaded
        return loaded

    load_landing_files()


ingest()

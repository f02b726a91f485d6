"""Settings: environment variables with repository defaults. Nothing else reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# A warehouse of customer data calls no one: the usage telemetry of Airflow, dbt and Cosmos, switched off in
# every process the project starts (the Makefile, docker-compose and the Dockerfile set the same).
TELEMETRY_OFF = {
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "SCARF_ANALYTICS": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def _path(name: str, default: Path) -> Path:
    """Return the path in environment variable `name`, resolved against the repo root, or `default`."""
    value = os.environ.get(name)
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def _optional_date(name: str) -> date | None:
    """Return the ISO date in environment variable `name`, or None when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a date: set it as YYYY-MM-DD or leave it empty.") from None


def _float(name: str, default: float) -> float:
    """Return the number in environment variable `name`, or `default` when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a number: set it like 0.4 or leave it empty.") from None


def _share(name: str, default: float) -> float:
    """Return the share from 0 to 1 in environment variable `name`, or `default` when it is unset or empty."""
    value = _float(name, default)
    if not 0.0 <= value <= 1.0:
        raise SystemExit(
            f"{name}={os.environ[name].strip()!r} is not a share from 0 to 1: set it like {default} (40% is "
            "0.4) or leave it empty."
        )
    return value


def _int(name: str, default: int, minimum: int = 1) -> int:
    """Return the whole number in environment variable `name`, or `default` when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise SystemExit(
            f"{name}={value!r} is not a whole number of at least {minimum}: set it like {default} or leave "
            "it empty."
        )
    return number


@dataclass(frozen=True)
class Settings:
    """Every setting of the project, read once from the environment."""

    data_dir: Path
    warehouse_path: Path
    landing_dir: Path
    artifacts_dir: Path
    dbt_project_dir: Path
    as_of_date: date | None
    horizon_days: int
    seed: int
    synthetic_customers: int
    online_retail_dir: Path
    serving_path: Path  # the BI serving copy, replaced atomically by the publish DAG
    serving_storage_version: str  # DuckDB storage format of the serving copy: the oldest DuckDB that reads it
    dbt_manifest_path: Path  # dbt manifest Cosmos renders the transform DAG from (`dbt parse` writes it)
    dbt_target_dir: Path  # where the project's own dbt runs write (dbt's DBT_TARGET_PATH, from the project)
    alert_conn_id: str  # Airflow connection of a webhook that hears about failed tasks; empty: log only
    discount_rate_monthly: float  # r of the discounted CLV (docs/scores.md)
    gross_margin_rate: float  # margin / revenue where no unit cost is known: dbt's margin and the CLV's
    train_max_customers: int  # training reads a fixed hash sample of this many customers when there are more
    duckdb_memory_limit: str  # DuckDB's memory_limit for dbt and every warehouse connection; it spills beyond


def _memory_limit(name: str, default: str) -> str:
    """Return the DuckDB memory_limit in environment variable `name` (e.g. 16GB, 70%), or `default`."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    reason = _memory_limit_refused(value)
    if reason:  # else dbt's profile and every connection failed on it, in DuckDB's words alone
        raise SystemExit(
            f"{name}={value!r} is not a DuckDB memory limit ({reason}): set it like 16GB or 70% (of this "
            "machine's memory), or leave it empty."
        )
    return value


@cache
def _memory_limit_refused(value: str) -> str | None:
    """Return DuckDB's reason for refusing a memory_limit, None when it takes it (asked once per value)."""
    import duckdb  # only when the setting is given: DAG files read settings at parse time

    try:
        duckdb.connect(config={"memory_limit": value}).close()
    except duckdb.Error as error:
        return str(error).splitlines()[0]
    return None


def alert_conn_id() -> str:
    """Return CVW_ALERT_CONN_ID, read on its own: failure alerts need it when another setting is malformed."""
    return os.environ.get("CVW_ALERT_CONN_ID", "").strip()


def get_settings() -> Settings:
    """Return the settings in force now (environment variables over repository defaults)."""
    data_dir = _path("CVW_DATA_DIR", REPO_ROOT / "data")
    dbt_project_dir = _path("CVW_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project")
    return Settings(
        data_dir=data_dir,
        warehouse_path=_path("CVW_WAREHOUSE", data_dir / "warehouse.duckdb"),
        landing_dir=_path("CVW_LANDING_DIR", data_dir / "landing"),
        artifacts_dir=_path("CVW_ARTIFACTS_DIR", REPO_ROOT / "artifacts"),
        dbt_project_dir=dbt_project_dir,
        as_of_date=_optional_date("CVW_AS_OF_DATE"),
        horizon_days=_int("CVW_HORIZON_DAYS", 90),
        seed=_int("CVW_SEED", 42, minimum=0),
        synthetic_customers=_int("CVW_SYNTHETIC_CUSTOMERS", 5000),
        online_retail_dir=_path("CVW_ONLINE_RETAIL_DIR", REPO_ROOT.parent / "shared/data/online_retail_ii"),
        serving_path=_path("CVW_SERVING", data_dir / "serving.duckdb"),
        serving_storage_version=os.environ.get("CVW_SERVING_STORAGE_VERSION", "").strip() or "v1.0.0",
        dbt_manifest_path=_path("CVW_DBT_MANIFEST", dbt_project_dir / "target" / "airflow" / "manifest.json"),
        # dbt's own variable, read as dbt reads it: a relative path is from the project folder
        dbt_target_dir=dbt_project_dir / (os.environ.get("DBT_TARGET_PATH", "").strip() or "target"),
        alert_conn_id=alert_conn_id(),
        discount_rate_monthly=_float("CVW_DISCOUNT_RATE_MONTHLY", 0.01),
        gross_margin_rate=_share("CVW_GROSS_MARGIN_RATE", 0.4),
        train_max_customers=_int("CVW_TRAIN_MAX_CUSTOMERS", 200_000),
        duckdb_memory_limit=_memory_limit("CVW_DUCKDB_MEMORY_LIMIT", "80%"),
    )

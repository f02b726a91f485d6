"""The table ml.evaluations: its columns, the id of one evaluation's rows, and the write that replaces them.

Rows are in long format (one row per model and metric) under an id that is the same when the same evaluation
runs again on the same data and settings (evaluation_id), so a re-run replaces its rows. An ad-hoc evaluation
(`cvw evaluate`, ml.evaluate) has no model_version; `cvw train` stores its evaluation with the version it
registers, under an id of that version's.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import pandas as pd

from ml.fitting import BOOSTERS

EVALUATIONS_DDL = """
create table if not exists ml.evaluations (
    evaluation_id varchar not null,
    evaluated_at timestamp not null,
    cutoff_date date not null,
    horizon_days integer not null,
    model varchar not null,
    metric varchar not null,
    value double,
    customers integer not null,
    model_version varchar,
    primary key (evaluation_id, model, metric)
)
"""
# Columns added since the table's first release: a table made before them gets them, empty on its rows.
ADDED_COLUMNS = {"model_version": "varchar"}


def evaluation_id(
    cutoff: date, horizon_days: int, frame: pd.DataFrame, model_version: str | None = None
) -> str:
    """Return an id that is the same when the same evaluation runs again on the same data and settings.

    A registered model's evaluation (model_version given) has an id of its own: its rows stay when the same
    data is evaluated again, ad hoc or by another training run.
    """
    fingerprint = {
        "cutoff": str(cutoff),
        "horizon_days": horizon_days,
        "rows": int(len(frame)),
        "label_revenue": round(float(frame["label_revenue"].sum()), 2),
        "boosters": {name: [params, rounds] for name, (params, rounds) in BOOSTERS.items()},
    }
    if model_version is not None:  # absent otherwise, so an ad-hoc evaluation keeps the id it always had
        fingerprint["model_version"] = model_version
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{cutoff}_{horizon_days}d_{digest}"


def with_evaluation_keys(
    table: pd.DataFrame,
    cutoff: date,
    horizon_days: int,
    frame: pd.DataFrame,
    model_version: str | None = None,
) -> pd.DataFrame:
    """Return an evaluate_cutoff table with the ml.evaluations keys in front (id, time, cutoff, horizon) and
    the registered model version it evaluated (None for an ad-hoc evaluation) at the end."""
    table = table.copy()
    table.insert(0, "horizon_days", horizon_days)
    table.insert(0, "cutoff_date", cutoff)
    table.insert(0, "evaluated_at", datetime.now(UTC).replace(tzinfo=None))
    table.insert(0, "evaluation_id", evaluation_id(cutoff, horizon_days, frame, model_version))
    table["model_version"] = pd.Series(model_version, index=table.index, dtype="object")
    return table


def ensure_evaluations(con) -> None:
    """Create schema ml and table ml.evaluations when they do not exist, and add columns it lacks."""
    from include.warehouse import ensure_table

    ensure_table(con, "ml", "evaluations", EVALUATIONS_DDL, ADDED_COLUMNS)


def write_rows(con, table: pd.DataFrame) -> int:
    """Replace one evaluation's rows in ml.evaluations in the caller's transaction; return the rows."""
    ensure_evaluations(con)
    con.register("new_evaluation", table)
    try:
        con.execute(
            "delete from ml.evaluations where evaluation_id = ?", [str(table["evaluation_id"].iloc[0])]
        )
        con.execute(
            """
            insert into ml.evaluations (
                evaluation_id, evaluated_at, cutoff_date, horizon_days, model, metric, value, customers,
                model_version
            )
            select
                evaluation_id, evaluated_at, cutoff_date, horizon_days, model, metric, value, customers,
                model_version
            from new_evaluation
            """
        )
    finally:
        con.unregister("new_evaluation")
    return len(table)


def store(con, table: pd.DataFrame) -> int:
    """Replace one evaluation's rows in ml.evaluations in a single transaction; return the rows written."""
    from include.warehouse import transaction

    with transaction(con):
        return write_rows(con, table)

"""Refuse marts a dbt build left unfinished: the one check every step that reads the marts makes first.

dbt commits one model at a time, so a build that fails or is killed halfway leaves some models as the new
build made them and others as the old one did. The project's on-run-start hook records every model a build
selects in `intermediate.unfinished_models` before any of them runs, and its on-run-end hook deletes the
rows of those the build finished (dbt_project/macros/unfinished_models.sql): a row left says the model may
not match the others. A warehouse built before the record existed has no such table, and nothing to refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from include.warehouse import has_table

SCHEMA, TABLE = "intermediate", "unfinished_models"
# What each step reads: the marts of its own queries, and those the dbt models it builds read
TRAINING_MARTS = ("marts.customer_features", "marts.customer_labels")
SCORING_MARTS = ("marts.customer_features", "marts.customer_rfm")
MONITORING_MARTS = ("marts.customer_features", "marts.score_outcomes", "marts.score_outcome_windows")
PUBLISHING_MARTS = ("marts.customer_features", "marts.customer_rfm", "marts.dim_customers")
TOP_MARTS = ("marts.customer_rfm", "marts.fct_orders")


def unfinished_marts(con: duckdb.DuckDBPyConnection, relations: Sequence[str]) -> list[tuple[str, datetime]]:
    """Return each of the relations a dbt build left unfinished, with the start of the build that first
    left it so, in the order given; empty when every one is finished (or nothing records builds yet)."""
    if not has_table(con, SCHEMA, TABLE, views=False):
        return []
    rows = con.execute(
        f"select relation_name, min(marked_at) from {SCHEMA}.{TABLE} "
        "where list_contains(?, relation_name) group by relation_name",
        [list(relations)],
    ).fetchall()
    since = dict(rows)
    return [(relation, since[relation]) for relation in relations if relation in since]


def require_finished_marts(con: duckdb.DuckDBPyConnection, relations: Sequence[str], verb: str) -> None:
    """Stop with one sentence naming the relations `cvw <verb>` reads that a dbt build left unfinished,
    since when, and the fix; return None when every one is finished."""
    unfinished = unfinished_marts(con, relations)
    if not unfinished:
        return
    by_build: dict[datetime, list[str]] = {}
    for relation, since in unfinished:
        by_build.setdefault(since, []).append(relation)
    parts = [
        f"{_joined(names)}, which the {'dbt build' if number == 0 else 'one'} that started at "
        f"{since:%Y-%m-%d %H:%M:%S} UTC left unfinished"
        for number, (since, names) in enumerate(sorted(by_build.items()))
    ]
    raise SystemExit(
        f"cvw {verb} reads {_joined(parts)} (a build that fails or is stopped halfway leaves the marts "
        f"holding rows of two builds): run `cvw build` again (under Airflow, trigger transform), then "
        f"cvw {verb}."
    )


def _joined(names: Sequence[str]) -> str:
    """Return names as English: "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

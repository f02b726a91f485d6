"""The score tables: scores.customer_scores (the score history), scores.customer_rfm, the latest-scores view.

ensure_score_tables makes them (and ml.model_registry) on the first scoring, and brings a table made by an
earlier release to the current one: the first release's is kept aside, a table with the primary key of
releases before it was dropped is rebuilt without it. ml.publish_scores writes them.
"""

from __future__ import annotations

import duckdb

from include.warehouse import transaction
from ml.registry_table import ensure_registry
from ml.rfm_snapshot import CUSTOMER_RFM_DDL

# One row per (as_of_date, customer_id, model_version), and one model per date: publish_scores, the table's
# one writer, replaces a date whole and refuses a stage that holds a customer twice. No primary-key index
# holds the key: deleting a date's keys from it cost DuckDB 10-30 s at 1M customers, the re-scoring of every
# date a new champion scores again (docs/benchmarks.md), as it did for scores.customer_rfm (ml.rfm_snapshot).
SCORES_DDL = """
create table if not exists scores.customer_scores (
    as_of_date date not null,
    customer_id varchar not null,
    model_version varchar not null,
    horizon_days integer not null,
    churn_probability double not null,
    predicted_revenue double not null,
    predicted_orders double not null,
    discounted_clv double not null,
    historic_revenue double not null,
    avg_days_between_orders double,
    expected_next_order_date date,
    value_tier varchar,
    risk_band varchar not null,
    action varchar,
    churn_reasons varchar not null,
    value_reasons varchar not null,
    scored_at timestamp not null
)
"""
# The rows of the latest scoring date (one model scores a date: the last one that scored it).
LATEST_VIEW_SQL = """
create or replace view scores.customer_scores_latest as
select scores.*
from scores.customer_scores as scores
where scores.as_of_date = (select max(latest.as_of_date) from scores.customer_scores as latest)
"""


def ensure_score_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create scores.customer_scores, scores.customer_rfm, ml.model_registry and the latest-scores view.

    A score table of the first release (one row per customer and date, without CLV, reasons or actions)
    is kept as scores.customer_scores_legacy and a new one is started. A score table with the primary key
    of releases before it was dropped is rebuilt without it, its rows kept (_drop_primary_key).
    """
    con.execute("create schema if not exists scores")
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'scores' and table_name = 'customer_scores'"
        ).fetchall()
    }
    if columns and "discounted_clv" not in columns:
        con.execute("drop view if exists scores.customer_scores_latest")
        con.execute("alter table scores.customer_scores rename to customer_scores_legacy")
        print("scores.customer_scores had the first release's columns: kept as customer_scores_legacy.")
    elif columns and _has_primary_key(con):
        _drop_primary_key(con)
    con.execute(SCORES_DDL)
    con.execute(CUSTOMER_RFM_DDL)
    ensure_registry(con)
    con.execute(LATEST_VIEW_SQL)


def _has_primary_key(con: duckdb.DuckDBPyConnection) -> bool:
    """Return whether scores.customer_scores has a primary key, as releases before SCORES_DDL's note made."""
    [(keys,)] = con.execute(
        "select count(*) from duckdb_constraints() where schema_name = 'scores' "
        "and table_name = 'customer_scores' and constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    return keys > 0


def _drop_primary_key(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild scores.customer_scores without its primary key, every row kept, in one transaction.

    DuckDB cannot drop a primary key: the rows go to a table made by SCORES_DDL, which then takes the
    old one's name. A failure leaves the old table as it was.
    """
    with transaction(con):
        con.execute("drop view if exists scores.customer_scores_latest")
        con.execute(SCORES_DDL.replace("scores.customer_scores", "scores.customer_scores_rebuilt"))
        con.execute(
            "insert into scores.customer_scores_rebuilt by name "
            "select * from scores.customer_scores order by as_of_date, customer_id"
        )
        [(rows,)] = con.execute("select count(*) from scores.customer_scores_rebuilt").fetchall()
        con.execute("drop table scores.customer_scores")
        con.execute("alter table scores.customer_scores_rebuilt rename to customer_scores")
    print(f"scores.customer_scores rebuilt without its primary key, its {rows:,} rows kept.")

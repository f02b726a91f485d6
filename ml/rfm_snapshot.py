"""The RFM rows of each scored date, kept beside its scores in scores.customer_rfm.

marts.customer_rfm holds one date, the one the marts were built for, and the BI marts show each customer's
RFM segment at the published date. A date scored from marts built for it in a scratch copy (a backfill, or
the scheduled run of a day after a day without orders) left its RFM rows in the copy, so it was served with
empty RFM columns and every customer in the 'unknown' segment. Each scoring therefore keeps its date's rows
of the marts it scored from, in the transaction that writes the scores, and a scratch scoring copies them
back with the scores (include/scoring.py, DATED_SCORE_TABLES).
"""

from __future__ import annotations

from datetime import date

import duckdb

from include.warehouse import has_table

# marts.customer_rfm's columns (dbt_project/models/marts/ml/customer_rfm.sql), in its order
RFM_COLUMNS = (
    "customer_id",
    "as_of_date",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
)
# No primary key: a key's index made re-scoring a date of 928,858 customers (delete its rows, insert them
# again) take 10-12 s against 0.5-0.7 s without, more than the whole scoring without it (8.3 s). The rows
# are unique all the same: a date's rows are deleted before its insert, from a mart keyed as they are.
CUSTOMER_RFM_DDL = """
create table if not exists scores.customer_rfm (
    customer_id varchar not null,
    as_of_date date not null,
    recency_days bigint,
    frequency bigint,
    monetary double,
    r_score integer,
    f_score integer,
    m_score integer,
    rfm_segment varchar
)
"""


def keep_rfm(con: duckdb.DuckDBPyConnection, as_of_date: date) -> int:
    """Replace the date's rows of scores.customer_rfm by marts.customer_rfm's for its scored customers;
    return them (0 when the marts hold no RFM rows of that date). ml.score_tables makes the table."""
    con.execute("delete from scores.customer_rfm where as_of_date = ?", [as_of_date])
    if not has_table(con, "marts", "customer_rfm"):
        return 0
    columns = ", ".join(RFM_COLUMNS)
    [(kept,)] = con.execute(
        f"""
        insert into scores.customer_rfm ({columns})
        select {columns} from marts.customer_rfm
        where as_of_date = ?
            and customer_id in (select customer_id from scores.customer_scores where as_of_date = ?)
        """,
        [as_of_date, as_of_date],
    ).fetchall()
    return int(kept)

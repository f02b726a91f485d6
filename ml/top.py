"""The demo's closing summary: top customers by discounted CLV, and how to query the warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from include.settings import REPO_ROOT, get_settings
from include.unfinished import TOP_MARTS, require_finished_marts
from include.warehouse import connect, has_table, require_table


def _rfm_rows(con: duckdb.DuckDBPyConnection) -> str:
    """Return SQL of the RFM rows of every scored date: those its scoring kept (scores.customer_rfm), else
    marts.customer_rfm's, as bi.customer_value reads them.

    marts.customer_rfm holds the marts' date alone: a date scored from marts built for it in a scratch copy
    has its rows in scores.customer_rfm only (ml/rfm_snapshot.py).
    """
    if not has_table(con, "scores", "customer_rfm"):
        return "select customer_id, as_of_date, rfm_segment from marts.customer_rfm"
    return """
        select customer_id, as_of_date, rfm_segment from scores.customer_rfm
        union all
        select customer_id, as_of_date, rfm_segment from marts.customer_rfm as marts_rfm
        where not exists (
            select 1 from scores.customer_rfm as kept where kept.as_of_date = marts_rfm.as_of_date
        )
    """


def top_customers(con: duckdb.DuckDBPyConnection, limit: int = 10) -> pd.DataFrame:
    """Return the customers with the highest discounted CLV at the latest scoring date."""
    return con.execute(
        f"""
        with rfm as ({_rfm_rows(con)})

        select
            scores.customer_id,
            scores.predicted_revenue,
            scores.discounted_clv,
            scores.churn_probability,
            scores.value_tier,
            scores.risk_band,
            scores.action,
            rfm.rfm_segment,
            split_part(scores.churn_reasons, '; ', 1) as top_churn_reason
        from scores.customer_scores_latest as scores
        left join rfm
            on scores.customer_id = rfm.customer_id and scores.as_of_date = rfm.as_of_date
        order by scores.discounted_clv desc, scores.customer_id
        limit ?
        """,
        [limit],
    ).df()


def score_summary(con: duckdb.DuckDBPyConnection) -> tuple[str, int, int]:
    """Return (as-of date, score rows, eligible customers) for the latest scoring date.

    Eligible: customers with a completed order before the date, from the order mart, which holds every
    date; the feature mart holds only its cutoffs, so a date scored from marts built for it in a scratch
    copy (include.scoring) counted 0 customers there.
    """
    require_table(con, "scores", "customer_scores", "score the customers (cvw score)")
    latest = con.execute(
        """
        select as_of_date, count(*) from scores.customer_scores
        group by as_of_date order by as_of_date desc limit 1
        """
    ).fetchone()
    if latest is None:  # the table a first scoring creates before its rows, when it was killed or failed
        raise SystemExit("scores.customer_scores is empty: score the customers first (cvw score).")
    as_of, rows = latest
    eligible = con.execute(
        "select count(distinct customer_id) from marts.fct_orders "
        "where not is_cancelled and ordered_at < cast(? as timestamp)",
        [as_of],
    ).fetchone()[0]
    return str(as_of), rows, eligible


def rfm_date(con: duckdb.DuckDBPyConnection) -> str | None:
    """Return the date marts.customer_rfm was built for, or None when it holds no rows."""
    [(built,)] = con.execute("select max(as_of_date) from marts.customer_rfm").fetchall()
    return None if built is None else str(built)


def _display_path(path: Path) -> str:
    """Return the path relative to the repo when it lies inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def print_summary(warehouse_path: Path | None = None, limit: int = 10) -> None:
    """Print the top customers and the commands that query the score table."""
    path = warehouse_path or get_settings().warehouse_path
    with connect(path, read_only=True) as con:
        require_finished_marts(con, TOP_MARTS, "top")
        as_of, rows, eligible = score_summary(con)
        top = top_customers(con, limit)
        rfm_as_of = rfm_date(con)
    with_rfm = bool(top["rfm_segment"].notna().any())  # no RFM rows of the date: every segment is None
    top["predicted_revenue"] = top["predicted_revenue"].map("{:,.2f}".format)
    top["discounted_clv"] = top["discounted_clv"].map("{:,.2f}".format)
    top["churn_probability"] = top["churn_probability"].map("{:.1%}".format)
    if not with_rfm:
        top = top.drop(columns="rfm_segment")
    shown = _display_path(path)
    print(f"\nScores as of {as_of}: {rows} rows for {eligible} customers with an order before that date.")
    print(
        f"Top {len(top)} customers by discounted CLV over the horizon:\n"
    )  # fewer than asked in a small shop
    print(top.to_string(index=False))
    if not with_rfm:
        print(
            f"\nNo RFM segments: {as_of} was scored before each scoring kept its RFM rows, and "
            f"marts.customer_rfm is built for {rfm_as_of or 'no date'}; score it again (cvw score "
            f"--as-of-date {as_of}) to keep them."
        )
    print("\nQuery the warehouse yourself:")
    query = "select count(*) from scores.customer_scores"
    print(f'  .venv/bin/cvw sql "{query}"')
    print(f'  duckdb -readonly {shown} "{query}"   # with the DuckDB CLI, if you have it')
    print(
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{shown}', read_only=True)"
        ".sql('select * from scores.customer_scores limit 5'))\""
    )

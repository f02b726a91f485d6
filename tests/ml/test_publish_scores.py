"""Chunked reads cover every customer once; re-scoring a date replaces all its rows; the latest view."""

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import explain, publish_scores

FEATURES = ["orders_90d", "revenue_90d"]


def _mart(con: duckdb.DuckDBPyConnection, customers: int, cutoff: date) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        """
        create table if not exists marts.customer_features (
            customer_id varchar, cutoff_date date, is_scoring_date boolean, orders_90d int,
            revenue_90d double, revenue_lifetime double, mean_days_between_orders double,
            avg_order_value double
        )
        """
    )
    con.executemany(
        "insert into marts.customer_features values (?, ?, true, ?, ?, ?, 30.0, 50.0)",
        [(f"C{i:02d}", cutoff, i, 10.0 * i, 100.0 * i) for i in range(customers)],
    )


def test_iter_chunks_yields_every_customer_once_in_bounded_chunks() -> None:
    con = duckdb.connect()
    _mart(con, 7, date(2025, 1, 1))
    _mart(con, 3, date(2024, 12, 1))
    chunks = list(publish_scores.iter_chunks(con, date(2025, 1, 1), chunk_size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert pd.concat(chunks)["customer_id"].tolist() == [f"C{i:02d}" for i in range(7)]
    assert chunks[0]["cutoff_date"].iloc[0] == pd.Timestamp("2025-01-01")
    assert list(publish_scores.iter_chunks(con, date(2030, 1, 1), chunk_size=3)) == []


def _score_chunks(con: duckdb.DuckDBPyConnection, as_of: date, version: str, chunk_size: int = 4):
    for chunk in publish_scores.iter_chunks(con, as_of, chunk_size):
        n = len(chunk)
        revenue = chunk["revenue_90d"].to_numpy() * 3  # customer i: 30 i
        churn = np.where(chunk["orders_90d"].to_numpy() < 5, 0.8, 0.1)
        contributions = np.column_stack([np.full(n, -0.5), np.full(n, 0.2)])
        churn_reasons = explain.join_reasons(explain.top_reasons(contributions, FEATURES, "churn"))
        value_reasons = explain.join_reasons(explain.top_reasons(-contributions, FEATURES, "clv"))
        yield publish_scores.build_score_chunk(
            chunk, revenue, churn, churn_reasons, value_reasons, as_of, 90, version, 0.0, 0.5
        )


def test_publishing_in_chunks_ranks_tiers_over_the_whole_date_and_replaces_on_rerun() -> None:
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    _mart(con, 10, as_of)
    assert publish_scores.publish_scores(con, as_of, "v1", _score_chunks(con, as_of, "v1")) == 10
    assert publish_scores.publish_scores(con, as_of, "v1", _score_chunks(con, as_of, "v1", 3)) == 10
    rows = con.execute(
        """
        select customer_id, value_tier, risk_band, action, discounted_clv, predicted_orders,
            expected_next_order_date::varchar, churn_reasons, value_reasons
        from scores.customer_scores order by customer_id
        """
    ).fetchall()
    assert len(rows) == 10
    assert [r[1] for r in rows] == ["low"] * 5 + ["medium"] * 4 + ["high"]  # C09 has the highest CLV
    assert [r[3] for r in rows] == ["let go"] * 5 + ["upsell"] * 4 + ["upsell"]
    # C09: revenue 270 x margin 0.5, undiscounted; 270 / 50 = 5.4 orders, 90 / 5.4 -> 17 days
    assert rows[9][4:7] == (pytest.approx(135.0), pytest.approx(5.4), "2025-01-18")
    assert rows[9][7:] == (
        "orders last 90 days ↓ risk; revenue last 90 days ↑ risk",
        "orders last 90 days ↑ value; revenue last 90 days ↓ value",
    )
    assert rows[0][6] is None  # C00 predicts no order: no date


def test_rescoring_a_date_with_another_model_replaces_the_date_and_the_view_shows_the_latest() -> None:
    con = duckdb.connect()
    for as_of in (date(2025, 1, 1), date(2025, 2, 1)):
        _mart(con, 4, as_of)
    publish_scores.publish_scores(con, date(2025, 1, 1), "v1", _score_chunks(con, date(2025, 1, 1), "v1"))
    publish_scores.publish_scores(con, date(2025, 2, 1), "v1", _score_chunks(con, date(2025, 2, 1), "v1"))
    publish_scores.publish_scores(con, date(2025, 2, 1), "v2", _score_chunks(con, date(2025, 2, 1), "v2"))
    by_date = "select as_of_date::varchar, model_version, count(*) from scores.customer_scores group by all order by 1"
    assert con.execute(by_date).fetchall() == [("2025-01-01", "v1", 4), ("2025-02-01", "v2", 4)]
    latest = "select as_of_date::varchar, model_version, count(*) from scores.customer_scores_latest group by all"
    assert con.execute(latest).fetchall() == [("2025-02-01", "v2", 4)]


def test_a_score_table_of_the_first_release_is_kept_aside_and_a_new_one_started() -> None:
    con = duckdb.connect()
    con.execute("create schema scores")
    con.execute("create table scores.customer_scores (customer_id varchar, as_of_date date, value_tier varchar)")
    con.execute("insert into scores.customer_scores values ('A', date '2024-01-01', 'high')")
    _mart(con, 3, date(2025, 1, 1))
    publish_scores.publish_scores(con, date(2025, 1, 1), "v1", _score_chunks(con, date(2025, 1, 1), "v1"))
    assert con.execute("select count(*) from scores.customer_scores_legacy").fetchone() == (1,)
    assert con.execute("select count(*) from scores.customer_scores").fetchone() == (3,)


def test_a_chunk_of_another_model_is_refused_and_nothing_is_written() -> None:
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    _mart(con, 4, as_of)
    with pytest.raises(ValueError, match="another date or model"):
        publish_scores.publish_scores(con, as_of, "v1", _score_chunks(con, as_of, "v2"))
    assert con.execute("select count(*) from scores.customer_scores").fetchone() == (0,)

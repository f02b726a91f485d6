"""Value tiers follow the documented cut points; writing scores replaces a date's rows, never duplicates."""

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from ml.score import value_tiers, write_scores


def test_value_tiers_put_the_top_tenth_high_the_next_four_tenths_medium() -> None:
    revenue = np.arange(20, 0, -1, dtype=float)  # customer 0 has the most
    ids = np.array([f"C{i:02d}" for i in range(20)])
    tiers = value_tiers(revenue, ids)
    assert list(tiers[:2]) == ["high", "high"]
    assert list(tiers[2:10]) == ["medium"] * 8
    assert list(tiers[10:]) == ["low"] * 10


def test_value_tiers_break_ties_by_customer_id_so_reruns_agree() -> None:
    tiers = value_tiers(np.zeros(10), np.array([f"C{i}" for i in range(9, -1, -1)]))
    # all tied: C0 (last position in the input) ranks first and is the single "high"
    assert list(tiers) == ["low"] * 5 + ["medium"] * 4 + ["high"]


def _scores(as_of: date, customers: list[str], version: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customers,
            "as_of_date": [as_of] * len(customers),
            "churn_probability": [0.5] * len(customers),
            "predicted_revenue": [10.0] * len(customers),
            "value_tier": ["low"] * len(customers),
            "model_version": [version] * len(customers),
            "scored_at": [datetime(2026, 1, 1)] * len(customers),
        }
    )


def test_rewriting_a_date_replaces_its_rows_and_keeps_other_dates(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_scores(con, _scores(date(2025, 1, 1), ["A", "B", "C"], "v1"), date(2025, 1, 1))
    write_scores(con, _scores(date(2025, 2, 1), ["A", "B"], "v1"), date(2025, 2, 1))
    write_scores(con, _scores(date(2025, 1, 1), ["A", "B", "C", "D"], "v2"), date(2025, 1, 1))
    rows = con.execute(
        "select as_of_date, count(*), min(model_version) from scores.customer_scores group by 1 order by 1"
    ).fetchall()
    assert rows == [(date(2025, 1, 1), 4, "v2"), (date(2025, 2, 1), 2, "v1")]


def test_a_failed_write_leaves_the_previous_rows(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_scores(con, _scores(date(2025, 1, 1), ["A", "B"], "v1"), date(2025, 1, 1))
    duplicate_key = _scores(date(2025, 1, 1), ["A", "A"], "v2")
    try:
        write_scores(con, duplicate_key, date(2025, 1, 1))
    except duckdb.ConstraintException:
        pass
    else:
        raise AssertionError("a duplicate customer must violate the primary key")
    assert con.execute("select count(*), min(model_version) from scores.customer_scores").fetchone() == (
        2,
        "v1",
    )

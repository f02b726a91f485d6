"""Chunked reads cover every customer once; re-scoring a date replaces all its rows; the latest view."""

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml import actions, explain, publish_scores, score_tables

FEATURES = ["orders_90d", "revenue_90d"]


def _mart(con: duckdb.DuckDBPyConnection, customers: int, cutoff: date) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        """
        create table if not exists marts.customer_features (
            customer_id varchar, cutoff_date date, is_scoring_date boolean, orders_90d int,
            revenue_90d double, revenue_lifetime double, avg_order_value double, orders_lifetime bigint,
            order_days_lifetime bigint, days_since_first_order bigint, days_since_last_order bigint
        )
        """
    )
    con.executemany(  # two orders 30 days apart
        "insert into marts.customer_features values (?, ?, true, ?, ?, ?, 50.0, 2, 2, 60, 30)",
        [(f"C{i:02d}", cutoff, i, 10.0 * i, 100.0 * i) for i in range(customers)],
    )


def test_iter_arrow_chunks_yields_every_customer_once_in_bounded_chunks() -> None:
    con = duckdb.connect()
    _mart(con, 7, date(2025, 1, 1))
    _mart(con, 3, date(2024, 12, 1))
    chunks = list(publish_scores.iter_arrow_chunks(con, date(2025, 1, 1), chunk_size=3))
    assert [chunk.num_rows for chunk in chunks] == [3, 3, 1]
    assert pa.concat_tables(chunks).column("customer_id").to_pylist() == [f"C{i:02d}" for i in range(7)]
    assert chunks[0].column("cutoff_date")[0].as_py() == date(2025, 1, 1)
    assert list(publish_scores.iter_arrow_chunks(con, date(2030, 1, 1), chunk_size=3)) == []


def _score_chunks(con: duckdb.DuckDBPyConnection, as_of: date, version: str, chunk_size: int = 4):
    for chunk in publish_scores.iter_arrow_chunks(con, as_of, chunk_size):
        n = chunk.num_rows
        revenue = chunk.column("revenue_90d").to_numpy() * 3  # customer i: 30 i
        churn = np.where(chunk.column("orders_90d").to_numpy() < 5, 0.8, 0.1)
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
    # C09: revenue 270 x margin 0.5, undiscounted; 270 / 50 = 5.4 orders; with churn 0.1, q = 0.902 buy at
    # x = 5.98 order days: the median of the next order is 12.1 days away, the 13th day
    assert rows[9][4:7] == (pytest.approx(135.0), pytest.approx(5.4), "2025-01-13")
    assert rows[9][7:] == (
        "orders last 90 days ↓ risk; revenue last 90 days ↑ risk",
        "orders last 90 days ↑ value; revenue last 90 days ↓ value",
    )
    assert rows[0][6] is None  # C00 predicts no order, and churn 0.8: no date


def test_rescoring_a_date_with_another_model_replaces_the_date_and_the_view_shows_the_latest() -> None:
    con = duckdb.connect()
    for as_of in (date(2025, 1, 1), date(2025, 2, 1)):
        _mart(con, 4, as_of)
    publish_scores.publish_scores(con, date(2025, 1, 1), "v1", _score_chunks(con, date(2025, 1, 1), "v1"))
    publish_scores.publish_scores(con, date(2025, 2, 1), "v1", _score_chunks(con, date(2025, 2, 1), "v1"))
    publish_scores.publish_scores(con, date(2025, 2, 1), "v2", _score_chunks(con, date(2025, 2, 1), "v2"))
    counts = "select as_of_date::varchar, model_version, count(*) from scores.{} group by all order by 1"
    by_date = counts.format("customer_scores")
    assert con.execute(by_date).fetchall() == [("2025-01-01", "v1", 4), ("2025-02-01", "v2", 4)]
    latest = counts.format("customer_scores_latest")
    assert con.execute(latest).fetchall() == [("2025-02-01", "v2", 4)]


def _rfm_mart(con: duckdb.DuckDBPyConnection, as_of: date, customers: int) -> None:
    """Write marts.customer_rfm of one date, as a build for that date replaces it (customer i: i days)."""
    con.execute("drop table if exists marts.customer_rfm")
    con.execute(
        """
        create table marts.customer_rfm as
        select printf('C%02d', i) as customer_id, $as_of::date as as_of_date, i::bigint as recency_days,
            2::bigint as frequency, 100.0 * i as monetary, 5 - i % 5 as r_score, 2 as f_score, 3 as m_score,
            ['Champions', 'Loyal'][i % 2 + 1] as rfm_segment
        from range($customers) as t(i)
        """,
        {"as_of": as_of, "customers": customers},
    )


def test_each_scoring_keeps_its_dates_rfm_rows_and_a_rescoring_replaces_them() -> None:
    # marts.customer_rfm holds the marts' date only: the RFM of an earlier scored date went with the next
    # build, and a date scored from marts built for it elsewhere (a scratch copy) never reached the warehouse
    con, january, february = duckdb.connect(), date(2025, 1, 1), date(2025, 2, 1)
    _mart(con, 4, january)
    _mart(con, 3, february)
    _rfm_mart(con, january, 5)  # C04 has an RFM row but no features: not scored, not kept
    publish_scores.publish_scores(con, january, "v1", _score_chunks(con, january, "v1"))
    _rfm_mart(con, february, 3)
    publish_scores.publish_scores(con, february, "v1", _score_chunks(con, february, "v1"))
    kept = (
        "select as_of_date::varchar, customer_id, recency_days, rfm_segment from scores.customer_rfm "
        "order by 1, 2"
    )
    assert con.execute(kept).fetchall() == [
        ("2025-01-01", "C00", 0, "Champions"),
        ("2025-01-01", "C01", 1, "Loyal"),
        ("2025-01-01", "C02", 2, "Champions"),
        ("2025-01-01", "C03", 3, "Loyal"),
        ("2025-02-01", "C00", 0, "Champions"),
        ("2025-02-01", "C01", 1, "Loyal"),
        ("2025-02-01", "C02", 2, "Champions"),
    ]
    # re-scoring January from marts of another date keeps none of theirs, and none of January's old rows
    publish_scores.publish_scores(con, january, "v2", _score_chunks(con, january, "v2"))
    by_date = "select as_of_date::varchar, count(*) from scores.customer_rfm group by 1 order by 1"
    assert con.execute(by_date).fetchall() == [("2025-02-01", 3)]
    # re-scoring February from its own marts replaces its rows, one per customer (the table has no key)
    publish_scores.publish_scores(con, february, "v2", _score_chunks(con, february, "v2"))
    assert con.execute(by_date).fetchall() == [("2025-02-01", 3)]


def test_a_score_table_of_the_first_release_is_kept_aside_and_a_new_one_started() -> None:
    con = duckdb.connect()
    con.execute("create schema scores")
    con.execute(
        "create table scores.customer_scores (customer_id varchar, as_of_date date, value_tier varchar)"
    )
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


def test_a_prediction_that_is_not_a_number_stops_scoring_and_nothing_is_written() -> None:
    # NaN predicted revenue passed the NOT NULL columns: a date of 25 customers was written with NaN
    # predicted_revenue and discounted_clv, tiered in NaN's sort order
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    _mart(con, 4, as_of)

    def chunks():
        for chunk in publish_scores.iter_arrow_chunks(con, as_of, 4):
            revenue = np.array([10.0, np.nan, 5.0, np.nan])
            yield publish_scores.build_score_chunk(
                chunk, revenue, np.full(4, 0.5), [""] * 4, [""] * 4, as_of, 90, "v1", 0.0, 0.5
            )

    with pytest.raises(SystemExit, match="^2 customers of 2025-01-01 got a predicted_revenue that is not a"):
        publish_scores.publish_scores(con, as_of, "v1", chunks())
    assert con.execute("select count(*) from scores.customer_scores").fetchone() == (0,)


def test_chunks_are_cut_to_size_across_duckdb_batches_and_read_only_the_asked_columns() -> None:
    con = duckdb.connect()
    _mart(con, 3, date(2025, 1, 1))
    con.execute(  # 250,000 customers: more than two of DuckDB's 122,880-row batches
        "insert into marts.customer_features "
        "select 'D' || lpad(range::varchar, 6, '0'), date '2025-01-01', true, 1, 1.0, 1.0, 50.0, 2, 2, 60, 30"
        " from range(250000)"
    )
    columns = ["customer_id", "orders_90d"]
    chunks = list(publish_scores.iter_arrow_chunks(con, date(2025, 1, 1), 100_000, columns))
    assert [chunk.num_rows for chunk in chunks] == [100_000, 100_000, 50_003]
    assert chunks[0].column_names == ["customer_id", "orders_90d"]
    ids = [i for chunk in chunks for i in chunk.column("customer_id").to_pylist()]
    assert ids == sorted(ids) and len(set(ids)) == 250_003
    with pytest.raises(ValueError, match="has no column loyalty_points"):
        next(publish_scores.iter_arrow_chunks(con, date(2025, 1, 1), 10, ["customer_id", "loyalty_points"]))


def _chunk(customers: list[str], clv: list[float], bands: list[str], as_of: date, version: str):
    """Return score rows of hand-picked discounted CLVs (margin 1, no discount) and risk bands."""
    n = len(customers)
    features = pa.table(
        {
            "customer_id": customers,
            "revenue_lifetime": [1.0] * n,
            "avg_order_value": [1.0] * n,
            "orders_lifetime": [4] * n,
            "order_days_lifetime": [4] * n,
            "days_since_first_order": [100] * n,
            "days_since_last_order": [10] * n,
        }
    )
    churn = np.select([np.array(bands) == "low", np.array(bands) == "high"], [0.1, 0.9], 0.5)
    return publish_scores.build_score_chunk(
        features, np.array(clv), churn, [""] * n, [""] * n, as_of, 90, version, 0.0, 1.0
    )


def test_tiers_and_actions_written_in_sql_rank_as_ml_actions_does_with_ties() -> None:
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    rng = np.random.default_rng(3)
    customers = [f"C{i:03d}" for i in rng.permutation(200)]
    clv = rng.choice([0.0, 5.0, 10.0, 20.0], 200)  # many ties, broken by customer id
    bands = list(rng.choice(list(actions.BANDS), 200))
    chunks = [_chunk(customers[:90], clv[:90], bands[:90], as_of, "v1")]
    chunks.append(_chunk(customers[90:], clv[90:], bands[90:], as_of, "v1"))
    assert publish_scores.publish_scores(con, as_of, "v1", chunks) == 200
    rows = con.execute(
        "select customer_id, discounted_clv, risk_band, value_tier, action from scores.customer_scores"
    ).df()
    tiers = actions.value_tiers(rows["discounted_clv"], rows["customer_id"])
    assert rows["value_tier"].tolist() == tiers.tolist()
    assert rows["action"].tolist() == actions.recommended_actions(tiers, rows["risk_band"]).tolist()
    assert rows["value_tier"].value_counts().to_dict() == {"low": 100, "medium": 80, "high": 20}


def test_rescoring_with_the_same_model_replaces_every_row_and_drops_customers_no_longer_scored() -> None:
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    publish_scores.publish_scores(
        con, as_of, "v1", [_chunk(["A", "B", "C"], [1.0, 2.0, 3.0], ["low", "low", "high"], as_of, "v1")]
    )
    again = [_chunk(["B", "C", "D"], [30.0, 20.0, 10.0], ["high", "low", "low"], as_of, "v1")]
    assert publish_scores.publish_scores(con, as_of, "v1", again) == 3
    rows = con.execute(
        "select customer_id, discounted_clv, risk_band, value_tier from scores.customer_scores order by 1"
    ).fetchall()
    assert rows == [("B", 30.0, "high", "medium"), ("C", 20.0, "low", "low"), ("D", 10.0, "low", "low")]


def test_a_customer_twice_in_a_dates_chunks_is_refused_and_the_date_keeps_its_rows() -> None:
    # the table's key is held here, not by a primary-key index (score_tables.SCORES_DDL)
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    first = [_chunk(["A", "B"], [1.0, 2.0], ["low", "low"], as_of, "v1")]
    publish_scores.publish_scores(con, as_of, "v1", first)
    twice = [_chunk(["B", "C"], [5.0, 6.0], ["low", "high"], as_of, "v2")] * 2
    with pytest.raises(ValueError, match="hold 2 rows of a customer already in them"):
        publish_scores.publish_scores(con, as_of, "v2", twice)
    rows = con.execute("select customer_id, model_version from scores.customer_scores order by 1").fetchall()
    assert rows == [("A", "v1"), ("B", "v1")]


def test_a_score_table_with_the_old_primary_key_is_rebuilt_without_it_every_row_kept(capsys) -> None:
    # deleting a date's keys from the index cost 10-30 s at 1M customers whenever a new champion re-scored
    con = duckdb.connect()
    old = [_chunk(["A", "B"], [1.0, 2.0], ["low", "high"], date(2025, 1, 1), "v1")]
    publish_scores.publish_scores(con, date(2025, 1, 1), "v1", old)
    before = con.execute("select * from scores.customer_scores order by customer_id").fetchall()
    con.execute("create table kept as select * from scores.customer_scores")
    con.execute("drop view scores.customer_scores_latest")
    con.execute("drop table scores.customer_scores")
    keyed = score_tables.SCORES_DDL.replace(
        "scored_at timestamp not null",
        "scored_at timestamp not null, primary key (as_of_date, customer_id, model_version)",
    )
    con.execute(keyed)  # the table as releases before made it
    con.execute("insert into scores.customer_scores select * from kept")
    assert score_tables._has_primary_key(con)
    score_tables.ensure_score_tables(con)
    assert not score_tables._has_primary_key(con)
    assert con.execute("select * from scores.customer_scores order by customer_id").fetchall() == before
    assert "rebuilt without its primary key, its 2 rows kept" in capsys.readouterr().out
    again = [_chunk(["B", "C"], [5.0, 6.0], ["low", "high"], date(2025, 1, 1), "v2")]
    assert publish_scores.publish_scores(con, date(2025, 1, 1), "v2", again) == 2
    latest = "select customer_id, model_version from scores.customer_scores_latest order by 1"
    assert con.execute(latest).fetchall() == [("B", "v2"), ("C", "v2")]


def test_a_chunk_with_an_unknown_risk_band_is_refused_and_nothing_is_written() -> None:
    con, as_of = duckdb.connect(), date(2025, 1, 1)
    chunk = _chunk(["A", "B"], [1.0, 2.0], ["low", "low"], as_of, "v1")
    band = chunk.schema.get_field_index("risk_band")
    chunk = chunk.set_column(band, "risk_band", pa.array(["low", "extreme"]))
    with pytest.raises(ValueError, match="risk bands must be in"):
        publish_scores.publish_scores(con, as_of, "v1", [chunk])
    assert con.execute("select count(*) from scores.customer_scores").fetchall() == [(0,)]


def test_scoring_reads_the_mart_rounded_as_training_does() -> None:
    from ml.data import FLOAT_DECIMALS, rounded

    con = duckdb.connect()
    _mart(con, 2, date(2025, 1, 1))
    con.execute(
        "update marts.customer_features set avg_order_value = 49.123456789, revenue_90d = null "
        "where customer_id = 'C01'"
    )
    (table,) = publish_scores.iter_arrow_chunks(con, date(2025, 1, 1), chunk_size=10)
    chunk = table.to_pandas()
    trained = rounded(con.execute("select * from marts.customer_features order by customer_id").df())
    assert FLOAT_DECIMALS == 4 and chunk["avg_order_value"].tolist() == [50.0, 49.1235]
    assert chunk["revenue_90d"].isna().tolist() == [False, True]
    pd.testing.assert_frame_equal(
        chunk.drop(columns="cutoff_date"), trained.drop(columns="cutoff_date"), check_dtype=False
    )


def test_a_chunk_larger_than_a_duckdb_row_group_is_written_whole(tmp_path) -> None:
    # DuckDB 2.0 loses the rows of a bulk insert (a row group or more) into a table made by CREATE TABLE AS
    # in the same transaction; the stage is declared column by column instead (ml.publish_scores)
    con, as_of, count = duckdb.connect(str(tmp_path / "warehouse.duckdb")), date(2025, 1, 1), 130_000
    customers = [f"C{i:06d}" for i in range(count)]
    bands = ["low", "medium", "high"] * (count // 3) + ["low"] * (count % 3)
    chunk = _chunk(customers, list(np.arange(count, dtype=float)), bands, as_of, "v1")
    assert publish_scores.publish_scores(con, as_of, "v1", [chunk]) == count
    rows = con.execute(
        "select count(*), sum(discounted_clv), count(*) filter (where value_tier = 'high') "
        "from (select * from scores.customer_scores)"
    ).fetchall()
    assert rows == [(count, count * (count - 1) / 2, count // 10)]

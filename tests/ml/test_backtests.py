"""Backtests are written once per key with exact numbers, and say whether they are out of time."""

from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from ml import backtests

SCORED_AT = datetime(2025, 6, 1, 6)


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema scores")
    con.execute("create schema marts")
    con.execute(
        f"""
        create table scores.customer_scores as
        select *, timestamp '{SCORED_AT}' as scored_at from (values
            ('A', date '2025-01-01', 0.1, 10.0, 2.0, 'v1', 90, date '2025-01-16'),
            ('B', date '2025-01-01', 0.9, 0.0, 0.5, 'v1', 90, date '2025-03-01'),
            ('C', date '2025-01-01', 0.8, 5.0, 1.0, 'v1', 90, null),
            ('D', date '2025-01-01', 0.2, 5.0, 0.5, 'v1', 90, date '2025-02-10'),
            ('A', date '2025-06-01', 0.5, 7.0, 1.0, 'v1', 90, date '2025-07-01')
        ) as t(customer_id, as_of_date, churn_probability, predicted_revenue, predicted_orders, model_version,
            horizon_days, expected_next_order_date)
        """
    )
    # A and D ordered: first on 2025-01-11 (5 days before A's expected date), 2025-02-20 (10 days after D's)
    con.execute(
        """
        create table marts.score_outcomes as
        select * from (values
            ('A', date '2025-01-01', 90, 3, 20.0, false, date '2025-01-11'),
            ('B', date '2025-01-01', 90, 0, 0.0, true, null),
            ('C', date '2025-01-01', 90, 0, 0.0, true, null),
            ('D', date '2025-01-01', 90, 2, 10.0, false, date '2025-02-20'),
            ('A', date '2025-01-01', 30, 1, 1.0, false, date '2025-01-11')
        ) as t(customer_id, as_of_date, horizon_days, orders, revenue, is_churned, first_order_date)
        """
    )
    # the complete windows (2025-06-01's ends after the marts' as-of date) and their orders' fingerprints
    con.execute(
        """
        create table marts.score_outcome_windows as
        select * from (values (date '2025-01-01', 90, '17'), (date '2025-01-01', 30, '5'))
            as t(as_of_date, horizon_days, orders_fingerprint)
        """
    )
    return con


def test_backtests_cover_scored_dates_whose_horizon_has_labels_with_exact_metrics() -> None:
    con = _warehouse()
    run_at = datetime(2025, 7, 1)
    backtests.run_backtests(con, run_at=run_at)
    result = backtests.run_backtests(con, run_at=run_at)  # a re-run replaces, never duplicates
    assert con.execute("select count(*) from ml.backtests").fetchone() == (1,)
    row = result.iloc[0].to_dict()
    assert (row["as_of_date"], row["model_version"], row["customers"]) == (date(2025, 1, 1), "v1", 4)
    assert (row["predicted_revenue"], row["realized_revenue"]) == (20.0, 30.0)
    assert row["revenue_bias"] == pytest.approx(-1 / 3)
    assert row["revenue_mae"] == pytest.approx(5.0)  # |10-20| + 0 + |5-0| + |5-10| over 4
    assert row["churn_roc_auc"] == 1.0
    assert (row["predicted_churn_rate"], row["realized_churn_rate"]) == (pytest.approx(0.5), 0.5)
    # the scores' predicted orders against the orders placed: 2 + 0.5 + 1 + 0.5 against 3 + 0 + 0 + 2
    assert (row["predicted_orders"], row["realized_orders"]) == (4.0, 5.0)
    assert row["orders_bias"] == pytest.approx(-0.2)  # 4 / 5 - 1
    assert row["orders_mae"] == pytest.approx(1.0)  # |2-3| + |0.5-0| + |1-0| + |0.5-2| over 4
    # the expected next order dates of the two who ordered (B and C did not): 5 days late, 10 days early
    assert row["next_order_customers"] == 2
    assert row["next_order_mdae_days"] == 7.5  # the median of 5 and 10
    assert row["next_order_early_share"] == 0.5  # A ordered before the expected date, D after it
    # of the three shown a date (C was not), whether they ordered or not, A alone ordered by it
    assert row["next_order_dated_customers"] == 3
    assert row["next_order_by_date_share"] == pytest.approx(1 / 3)


def test_an_order_on_the_expected_date_itself_counts_as_ordered_by_it() -> None:
    con = _warehouse()  # D's expected date 2025-02-10, its first order now on that day
    con.execute(
        "update marts.score_outcomes set first_order_date = date '2025-02-10' where customer_id = 'D'"
    )
    row = backtests.run_backtests(con, run_at=datetime(2025, 7, 1)).iloc[0]
    assert (row["next_order_early_share"], row["next_order_by_date_share"]) == (0.5, pytest.approx(2 / 3))


def test_a_customer_who_ordered_without_an_expected_date_is_left_out_of_the_next_order_measure() -> None:
    con = _warehouse()
    con.execute("update scores.customer_scores set expected_next_order_date = null where customer_id = 'D'")
    row = backtests.run_backtests(con, run_at=datetime(2025, 7, 1)).iloc[0]
    assert (row["next_order_customers"], row["next_order_mdae_days"], row["next_order_early_share"]) == (
        1,
        5.0,
        1.0,
    )
    assert (row["next_order_dated_customers"], row["next_order_by_date_share"]) == (2, 0.5)  # A and B
    con.execute("update marts.score_outcomes set first_order_date = null, orders = 0")  # nobody ordered
    row = backtests.run_backtests(con, run_at=datetime(2025, 7, 2), recompute=True).iloc[0]
    assert row["next_order_customers"] == 0
    assert row["next_order_mdae_days"] is None and row["next_order_early_share"] is None
    assert (row["next_order_dated_customers"], row["next_order_by_date_share"]) == (2, 0.0)
    con.execute("update scores.customer_scores set expected_next_order_date = null")  # nobody shown one
    row = backtests.run_backtests(con, run_at=datetime(2025, 7, 3), recompute=True).iloc[0]
    assert (row["next_order_dated_customers"], row["next_order_by_date_share"]) == (0, None)


def test_a_backtest_from_a_view_built_before_first_order_date_is_recomputed_after_the_next_build() -> None:
    # marts.score_outcomes lacks first_order_date until the transform rebuilds it: the next order's columns
    # stay empty (unknown, not "nobody ordered"), and the first run after the build fills them
    con = _warehouse()
    con.execute("alter table marts.score_outcomes rename to score_outcomes_built")
    built_before = "select * exclude (first_order_date) from marts.score_outcomes_built"
    con.execute(f"create view marts.score_outcomes as {built_before}")
    columns = ["run_at", "predicted_orders", *backtests.NEXT_ORDER_COLUMNS, "recomputed"]
    first, second, third = (datetime(2025, 7, day) for day in (1, 2, 3))
    before = backtests.run_backtests(con, run_at=first)[columns].to_records(index=False).tolist()
    assert before == [(first, 4.0, None, None, None, None, None, True)]
    assert backtests.run_backtests(con, run_at=second)["recomputed"].tolist() == [True]  # still unknown
    con.execute("create or replace view marts.score_outcomes as select * from marts.score_outcomes_built")
    built = backtests.run_backtests(con, run_at=third)[columns].to_records(index=False).tolist()
    assert built == [(third, 4.0, 2, 7.5, 0.5, 3, pytest.approx(1 / 3), True)]
    assert backtests.run_backtests(con, run_at=third)["recomputed"].tolist() == [False]


def test_each_scored_horizon_is_backtested_against_its_own_labels() -> None:
    # the same date scored by a 365-day model too (an earlier champion): its rows meet the 365-day labels
    # only, and its backtest is recorded under 365 days, whatever horizon the champion has now
    con = _warehouse()
    con.execute(
        """
        insert into scores.customer_scores values
            ('A', date '2025-01-01', 0.1, 40.0, 4.0, 'v0', 365, null, now()),
            ('B', date '2025-01-01', 0.5, 10.0, 1.0, 'v0', 365, null, now())
        """
    )
    con.execute(
        """
        insert into marts.score_outcomes values
            ('A', date '2025-01-01', 365, 6, 50.0, false, date '2025-01-11'),
            ('B', date '2025-01-01', 365, 0, 0.0, true, null)
        """
    )
    con.execute("insert into marts.score_outcome_windows values (date '2025-01-01', 365, '3')")
    result = backtests.run_backtests(con, run_at=datetime(2026, 2, 1))
    summary = result[["model_version", "horizon_days", "customers", "predicted_revenue", "realized_revenue"]]
    assert summary.sort_values("model_version").to_records(index=False).tolist() == [
        ("v0", 365, 2, 50.0, 50.0),
        ("v1", 90, 4, 20.0, 30.0),
    ]


def _backtest(result: pd.DataFrame) -> tuple:
    row = result.iloc[0]
    return row["realized_revenue"], row["run_at"], bool(row["recomputed"])


def test_a_backtest_is_kept_until_its_scores_or_its_windows_orders_change() -> None:
    con = _warehouse()
    first, second, third, fourth = (datetime(2025, 7, day) for day in (1, 2, 3, 4))
    assert _backtest(backtests.run_backtests(con, run_at=first)) == (30.0, first, True)
    # the outcomes differ but the window's orders did not (by its fingerprint): the row is not recomputed
    con.execute("update marts.score_outcomes set revenue = 80.0 where customer_id = 'A'")
    assert _backtest(backtests.run_backtests(con, run_at=second)) == (30.0, first, False)
    # a late order in the window changes its fingerprint
    con.execute("update marts.score_outcome_windows set orders_fingerprint = '99' where horizon_days = 90")
    assert _backtest(backtests.run_backtests(con, run_at=third)) == (90.0, third, True)
    # the date re-scored (publishing replaces it, with a new scored_at), by the same model
    con.execute("update marts.score_outcomes set revenue = 50.0 where customer_id = 'A'")
    con.execute("update scores.customer_scores set scored_at = scored_at + interval 1 day")
    assert _backtest(backtests.run_backtests(con, run_at=fourth)) == (60.0, fourth, True)
    con.execute("update marts.score_outcomes set revenue = 0.0 where customer_id = 'A'")
    assert _backtest(backtests.run_backtests(con, run_at=fourth)) == (60.0, fourth, False)
    assert _backtest(backtests.run_backtests(con, run_at=first, recompute=True)) == (10.0, first, True)
    # a window no longer complete (the marts rebuilt as of an earlier date): its backtest goes
    con.execute("delete from marts.score_outcome_windows")
    assert backtests.run_backtests(con, run_at=fourth).empty
    assert con.execute("select count(*) from ml.backtests").fetchone() == (0,)


def test_a_backtests_table_made_before_its_inputs_were_kept_gains_them_and_recomputes() -> None:
    con = _warehouse()
    con.execute("create schema ml")
    # ml.backtests as monitoring made it before it kept what each row was computed from
    con.execute(
        """
        create table ml.backtests (
            as_of_date date not null, model_version varchar not null, horizon_days integer not null,
            run_at timestamp not null, customers integer not null, predicted_revenue double not null,
            realized_revenue double not null, revenue_bias double, revenue_mae double not null,
            revenue_spearman double, predicted_churn_rate double not null,
            realized_churn_rate double not null, churn_roc_auc double,
            primary key (as_of_date, model_version, horizon_days)
        )
        """
    )
    con.execute(
        "insert into ml.backtests values "
        "(date '2025-01-01', 'v1', 90, timestamp '2025-06-02', 4, 1, 1, 0, 0, 0, 0, 0, 0)"
    )
    result = backtests.run_backtests(con, run_at=datetime(2025, 7, 1))
    stored = con.execute(
        "select realized_revenue, scored_at, orders_fingerprint from ml.backtests"
    ).fetchall()
    assert stored == [(30.0, SCORED_AT, "17")]
    assert result["recomputed"].tolist() == [True]


def test_backtests_refuse_a_table_outside_the_allow_list() -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        backtests.run_backtests(duckdb.connect(), source="raw.orders; drop table x")


def _register(con: duckdb.DuckDBPyConnection, version: str, cutoffs: list[str], test_cutoff: str) -> None:
    """Record a model version of 90 days in ml.model_registry, as training does."""
    from ml.registry import register_model

    metadata = {"version": version, "horizon_days": 90, "features": ["orders_90d"], "refit_cutoffs": cutoffs}
    register_model(con, {**metadata, "test_cutoff": test_cutoff, "git_commit": "abc"}, "champion", "test")


def test_a_backtest_of_outcomes_the_scoring_model_learnt_from_is_not_out_of_time() -> None:
    # v1 learnt from the 90-day windows [c, c + 90) of cutoffs 2024-07-01 and 2024-10-03: its last outcome
    # is of 2024-12-31, the day before the window it scored; a later champion v2, whose training reached
    # 2025-01-01's window, backfilled that date too, and its backtest looked as out of time as v1's
    con = _warehouse()
    _register(con, "v1", ["2024-07-01", "2024-10-03"], "2024-10-03")
    _register(con, "v2", ["2024-10-01", "2025-01-01"], "2025-02-01")
    con.execute(
        """
        insert into scores.customer_scores
        select customer_id, as_of_date, churn_probability, predicted_revenue, predicted_orders, 'v2',
            horizon_days, expected_next_order_date, scored_at
        from scores.customer_scores
        """
    )
    result = backtests.run_backtests(con, run_at=datetime(2025, 7, 1))
    flags = result[["model_version", "is_out_of_time"]].to_records(index=False).tolist()
    assert flags == [("v1", True), ("v2", False)]
    # v1 with its last cutoff a day later: its window [2024-10-04, 2025-01-02) holds 2025-01-01
    _register(con, "v1", ["2024-07-01", "2024-10-04"], "2024-10-04")
    kept = backtests.run_backtests(con, run_at=datetime(2025, 7, 2))
    assert kept[["is_out_of_time", "recomputed"]].to_records(index=False).tolist() == [
        (False, False),
        (False, False),
    ]


def test_out_of_time_reads_every_cutoff_and_horizon_the_model_learnt_from() -> None:
    training = (90, [date(2024, 1, 1), date(2024, 6, 1)])  # windows [01-01, 03-31) and [06-01, 08-30)
    assert backtests.out_of_time(date(2023, 10, 3), 90, training) is True  # its window ends 2024-01-01
    assert backtests.out_of_time(date(2023, 10, 4), 90, training) is False
    assert backtests.out_of_time(date(2024, 8, 30), 90, training) is True
    assert backtests.out_of_time(date(2024, 8, 29), 90, training) is False
    assert backtests.out_of_time(date(2024, 8, 29), 30, (365, [date(2023, 8, 30)])) is True
    assert backtests.out_of_time(date(2024, 8, 28), 30, (365, [date(2023, 8, 30)])) is False
    assert backtests.out_of_time(date(2024, 8, 28), 30, None) is None


def test_a_backtest_of_a_model_the_registry_does_not_hold_is_of_unknown_time() -> None:
    con = _warehouse()
    assert backtests.run_backtests(con, run_at=datetime(2025, 7, 1))["is_out_of_time"].tolist() == [None]
    _register(con, "v0", ["2024-07-01"], "2024-07-01")  # another version: v1's training stays unknown
    assert backtests.run_backtests(con, run_at=datetime(2025, 7, 1))["is_out_of_time"].tolist() == [None]


def test_a_backtest_kept_from_before_the_flag_gets_it_without_being_recomputed() -> None:
    con = _warehouse()
    con.execute("create schema ml")
    con.execute(backtests.BACKTESTS_DDL)
    con.execute("alter table ml.backtests drop column is_out_of_time")  # as monitoring made it before
    first = datetime(2025, 7, 1)
    con.execute(
        "insert into ml.backtests values (date '2025-01-01', 'v1', 90, ?, 4, 20, 30, 0, 5, 0, 0.5, 0.5, 1, "
        "?, '17', 4, 5, -0.2, 1, 2, 7.5, 0.5, 3, 1 / 3)",
        [first, SCORED_AT],
    )
    _register(con, "v1", ["2024-10-03"], "2024-10-03")
    result = backtests.run_backtests(con, run_at=datetime(2025, 7, 2))
    assert result[["run_at", "is_out_of_time", "recomputed"]].to_records(index=False).tolist() == [
        (first, True, False)
    ]


def test_a_backtest_kept_from_before_the_orders_columns_is_recomputed_with_them() -> None:
    # the monitor compared revenue and churn only; a table made before the orders' columns gains them, and
    # its kept rows, whose scores and window are unchanged, are computed again to fill them
    con = _warehouse()
    con.execute("create schema ml")
    con.execute(backtests.BACKTESTS_DDL)
    for column in [*backtests.ORDERS_COLUMNS, *backtests.NEXT_ORDER_COLUMNS]:  # as monitoring made it before
        con.execute(f"alter table ml.backtests drop column {column}")
    first, second, third = (datetime(2025, 7, day) for day in (1, 2, 3))
    con.execute(
        "insert into ml.backtests values "
        "(date '2025-01-01', 'v1', 90, ?, 4, 20, 30, -1 / 3, 5, 0, 0.5, 0.5, 1, ?, '17', null)",
        [first, SCORED_AT],
    )
    columns = ["run_at", "predicted_orders", "realized_orders", "orders_bias", "orders_mae", "recomputed"]
    recomputed = backtests.run_backtests(con, run_at=second)[columns].to_records(index=False).tolist()
    assert recomputed == [(second, 4.0, 5.0, pytest.approx(-0.2), 1.0, True)]
    kept = backtests.run_backtests(con, run_at=third)[columns].to_records(index=False).tolist()
    assert kept == [(second, 4.0, 5.0, pytest.approx(-0.2), 1.0, False)]


def test_a_backtest_kept_from_before_the_next_order_columns_is_recomputed_with_them() -> None:
    con = _warehouse()
    con.execute("create schema ml")
    con.execute(backtests.BACKTESTS_DDL)
    for column in backtests.NEXT_ORDER_COLUMNS:  # as monitoring made it before them
        con.execute(f"alter table ml.backtests drop column {column}")
    first, second, third = (datetime(2025, 7, day) for day in (1, 2, 3))
    con.execute(
        "insert into ml.backtests values (date '2025-01-01', 'v1', 90, ?, 4, 20, 30, -1 / 3, 5, 0, 0.5, 0.5, "
        "1, ?, '17', null, 4, 5, -0.2, 1)",
        [first, SCORED_AT],
    )
    columns = ["run_at", *backtests.NEXT_ORDER_COLUMNS, "recomputed"]
    recomputed = backtests.run_backtests(con, run_at=second)[columns].to_records(index=False).tolist()
    assert recomputed == [(second, 2, 7.5, 0.5, 3, pytest.approx(1 / 3), True)]
    kept = backtests.run_backtests(con, run_at=third)[columns].to_records(index=False).tolist()
    assert kept == [(second, 2, 7.5, 0.5, 3, pytest.approx(1 / 3), False)]


def test_a_backtest_kept_from_before_the_share_ordered_by_the_date_is_recomputed_with_it() -> None:
    # the next order date became the median of the next order: a row the monitor made before its measure
    # (over every customer shown a date) has the other next order columns, and is computed again
    con = _warehouse()
    con.execute("create schema ml")
    con.execute(backtests.BACKTESTS_DDL)
    for column in ("next_order_dated_customers", "next_order_by_date_share"):
        con.execute(f"alter table ml.backtests drop column {column}")
    first, second, third = (datetime(2025, 7, day) for day in (1, 2, 3))
    con.execute(
        "insert into ml.backtests values (date '2025-01-01', 'v1', 90, ?, 4, 20, 30, -1 / 3, 5, 0, 0.5, 0.5, "
        "1, ?, '17', null, 4, 5, -0.2, 1, 2, 7.5, 0.5)",
        [first, SCORED_AT],
    )
    columns = ["run_at", "next_order_dated_customers", "next_order_by_date_share", "recomputed"]
    recomputed = backtests.run_backtests(con, run_at=second)[columns].to_records(index=False).tolist()
    assert recomputed == [(second, 3, pytest.approx(1 / 3), True)]
    kept = backtests.run_backtests(con, run_at=third)[columns].to_records(index=False).tolist()
    assert kept == [(second, 3, pytest.approx(1 / 3), False)]


def test_the_orders_bias_of_a_window_without_orders_is_null() -> None:
    con = _warehouse()
    con.execute("update marts.score_outcomes set orders = 0, revenue = 0, is_churned = true")
    row = backtests.run_backtests(con, run_at=datetime(2025, 7, 1)).iloc[0]
    assert (row["predicted_orders"], row["realized_orders"], row["orders_mae"]) == (4.0, 0.0, 1.0)
    assert row["orders_bias"] is None and row["revenue_bias"] is None

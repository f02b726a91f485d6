"""The too-little-data guard: the marts' summary is exact and each refusal names what is missing."""

import dataclasses

import duckdb
import pytest

from ml import enough_data


def _marts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.customer_features as
        select * from (values
            ('A', date '2025-01-01', 10, 1), ('A', date '2025-02-01', 41, 1),
            ('B', date '2025-02-01', 200, 3), ('C', date '2025-02-01', 20, 5)
        ) as t(customer_id, cutoff_date, days_since_first_order, orders_lifetime)
        """
    )
    con.execute(
        """
        create table marts.customer_labels as
        select * from (values
            ('A', date '2025-01-01', 30), ('A', date '2025-01-01', 90), ('B', date '2024-12-01', 30)
        ) as t(customer_id, cutoff_date, horizon_days)
        """
    )


def test_summarize_training_data_counts_at_the_latest_cutoff() -> None:
    con = duckdb.connect()
    _marts(con)
    assert enough_data.summarize_training_data(con, 30) == enough_data.TrainingDataSummary(
        3, 200, 2, 2, 30, evaluable=False
    )
    assert enough_data.summarize_training_data(con, 180).labelled_cutoffs == 0


def test_summarize_training_data_without_marts_says_to_build_them() -> None:
    with pytest.raises(SystemExit, match="run the dbt build first"):
        enough_data.summarize_training_data(duckdb.connect(), 90)


def test_enough_data_passes_and_too_little_names_everything_missing_in_one_sentence() -> None:
    enough_data.check_enough_data(enough_data.TrainingDataSummary(500, 180, 1, 1, 90))
    with pytest.raises(SystemExit) as raised:
        enough_data.check_enough_data(enough_data.TrainingDataSummary(3, 200, 0, 0, 90))
    assert str(raised.value) == (
        "Too little data to train: only 3 customers with a completed order (at least 500), "
        "no customer with 3 or more orders, no cutoff with a complete 90-day label window; "
        "load the orders of more customers and a longer order history or use a shorter horizon "
        "(CVW_HORIZON_DAYS)."
    )
    with pytest.raises(SystemExit) as raised:
        enough_data.check_enough_data(enough_data.TrainingDataSummary(900, 90, 5, 2, 90))
    assert str(raised.value) == (
        "Too little data to train: only 90 days of order history (at least 180); load a longer order history."
    )
    # only customers are short: neither a longer history nor a shorter horizon adds any
    with pytest.raises(SystemExit) as raised:
        enough_data.check_enough_data(enough_data.TrainingDataSummary(499, 400, 5, 9, 90))
    assert str(raised.value) == (
        "Too little data to train: only 499 customers with a completed order (at least 500); load the orders "
        "of more customers."
    )


def test_too_little_data_names_labelled_cutoffs_too_close_to_fit_validate_and_test_on() -> None:
    # a shop of 800 customers whose orders span 180 days, 2024-01-01 to 06-28: the marts' cutoffs start
    # 90 days after the first order, so two have a 30-day label window, 30 days apart; one more month trains
    con = duckdb.connect()
    _marts(con)
    con.execute("delete from marts.customer_labels")
    for cutoff in ("2024-04-01", "2024-05-01"):
        con.execute("insert into marts.customer_labels values ('A', ?::date, 30)", [cutoff])
    summary = enough_data.summarize_training_data(con, 30)
    assert (summary.labelled_cutoffs, summary.evaluable) == (2, False)
    with pytest.raises(SystemExit) as raised:
        enough_data.check_enough_data(
            dataclasses.replace(summary, customers_with_orders=800, history_days=180)
        )
    assert str(raised.value) == (
        "Too little data to train: fewer than three cutoffs with a complete 30-day label window, each 30 "
        "days or more after the one before (to fit, validate and test on); load a longer order history or "
        "use a shorter horizon (CVW_HORIZON_DAYS)."
    )
    con.execute("insert into marts.customer_labels values ('A', date '2024-06-01', 30)")
    assert enough_data.summarize_training_data(con, 30).evaluable
    # 29 days from 04-01 to 04-30: the validation cutoff would see the test cutoff's labels
    con.execute(
        "update marts.customer_labels set cutoff_date = date '2024-04-30' "
        "where cutoff_date = date '2024-05-01'"
    )
    assert not enough_data.summarize_training_data(con, 30).evaluable


def test_a_customer_sample_below_the_minimum_stops_training_and_names_the_cap() -> None:
    summary = enough_data.TrainingDataSummary(10_000, 400, 50, 12, 90)
    enough_data.check_enough_sampled(summary, 1.0, 200_000)
    enough_data.check_enough_sampled(summary, 0.05, 500)  # about 500 of them: enough
    with pytest.raises(SystemExit) as raised:
        enough_data.check_enough_sampled(summary, 0.003, 30)
    assert str(raised.value) == (
        "Too little data to train: CVW_TRAIN_MAX_CUSTOMERS=30 samples about 30 of the 10,000 customers with "
        "a completed order (at least 500 are needed); raise CVW_TRAIN_MAX_CUSTOMERS to 500 or more."
    )

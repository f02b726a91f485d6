"""Discounted CLV follows the documented formula; the value fields and the too-little-data guard are exact."""

import dataclasses
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from ml import clv


def test_horizon_months_rounds_days_to_whole_months() -> None:
    assert [clv.horizon_months(d) for d in (1, 30, 90, 180, 365)] == [1, 1, 3, 6, 12]


def test_discounted_clv_spreads_the_margin_evenly_and_discounts_each_month_end() -> None:
    # 300 revenue x 0.4 margin = 120 over 3 months: 40 at the end of months 1, 2 and 3
    expected = 40 / 1.01 + 40 / 1.01**2 + 40 / 1.01**3
    result = clv.discounted_clv(np.array([300.0, 0.0]), 90, discount_rate_monthly=0.01, gross_margin_rate=0.4)
    assert result == pytest.approx([expected, 0.0])
    assert expected == pytest.approx(117.64, abs=0.01)


def test_a_zero_discount_rate_gives_the_undiscounted_margin() -> None:
    assert clv.discounted_clv(np.array([300.0]), 180, 0.0, 0.4) == pytest.approx([120.0])


def test_a_predicted_margin_replaces_revenue_times_the_margin_rate() -> None:
    result = clv.discounted_clv(np.array([1000.0]), 30, 0.02, 0.4, predicted_margin=np.array([51.0]))
    assert result == pytest.approx([50.0])  # one month: 51 / 1.02


def test_a_rate_outside_its_range_names_the_setting() -> None:
    with pytest.raises(SystemExit, match="CVW_DISCOUNT_RATE_MONTHLY"):
        clv.discounted_clv(np.array([1.0]), 90, discount_rate_monthly=1.5)
    with pytest.raises(SystemExit, match="CVW_GROSS_MARGIN_RATE"):
        clv.discounted_clv(np.array([1.0]), 90, gross_margin_rate=40)


def test_customer_value_fields_read_the_mart_and_derive_orders_from_average_order_value() -> None:
    features = pa.table(
        {
            "customer_id": ["A", "B"],
            "revenue_lifetime": [500.0, 40.0],
            "avg_order_value": [50.0, 40.0],
            "orders_lifetime": [10, 1],
            "order_days_lifetime": [10, 1],
            "days_since_first_order": [275, 12],
            "days_since_last_order": [5, 12],
        }
    )
    table = clv.customer_value_fields(
        features, np.array([150.0, -1.0]), np.array([np.exp(-3), 1.3]), date(2025, 1, 1), 90, 0.0, 0.5
    )
    assert table.column_names == list(clv.CUSTOMER_VALUE_COLUMNS)
    fields = table.to_pydict()
    assert fields["customer_id"] == ["A", "B"]
    assert fields["historic_revenue"] == [500.0, 40.0]
    assert fields["predicted_revenue"] == [150.0, 0.0]  # negative predictions clip to 0
    assert fields["predicted_orders"] == [3.0, 0.0]  # 150 / 50
    assert fields["churn_probability"] == [np.exp(-3), 1.0]
    assert fields["discounted_clv"] == pytest.approx([75.0, 0.0])
    assert fields["avg_days_between_orders"] == [30.0, None]  # (275 - 5) / 9; one day with orders: none
    # A buys for sure (p = e^-3) on 3 days: the median wait is 90 ln 2 / 3 = 20.8 days, the 21st day; B will
    # not order (p = 1): no date
    assert fields["expected_next_order_date"] == [date(2025, 1, 21), None]


def test_orders_fall_back_to_bg_nbd_only_where_the_average_order_value_is_zero_or_missing() -> None:
    features = pa.table(
        {
            "customer_id": ["paid", "free", "unknown", "free, no count"],
            "revenue_lifetime": [500.0, 0.0, None, 0.0],
            "avg_order_value": [50.0, 0.0, None, 0.0],
            "orders_lifetime": [10, 4, 1, 2],
            "order_days_lifetime": [10, 4, 1, 2],
            "days_since_first_order": [95, 25, 3, 40],
            "days_since_last_order": [5, 4, 3, 10],
        }
    )
    bg_nbd = np.array([9.0, 6.0, 0.1, np.nan])
    churn = np.exp(-np.array([3.0, 6.0, 0.1, 0.0]))  # a customer certain to buy at each count's rate
    fields = clv.customer_value_fields(
        features,
        np.array([150.0, 0.0, 0.0, 0.0]),
        churn,
        date(2025, 1, 1),
        90,
        fallback_orders=bg_nbd,
    ).to_pydict()
    # 150 / 50 whatever BG/NBD says; BG/NBD's count for the free and the unknown; 0 without a count
    assert fields["predicted_orders"] == [3.0, 6.0, 0.1, 0.0]
    # medians 90 ln 2 / 3 = 20.8 days and 90 ln 2 / 6 = 10.4: the 21st and the 11th day; p = 0.9 and 1: none
    assert fields["expected_next_order_date"] == [date(2025, 1, 21), date(2025, 1, 11), None, None]
    without = clv.customer_value_fields(
        features, np.array([150.0, 0.0, 0.0, 0.0]), churn, date(2025, 1, 1), 90
    ).to_pydict()
    assert without["predicted_orders"] == [3.0, 0.0, 0.0, 0.0]  # no count given: 0, as before
    derived = ("predicted_orders", "expected_next_order_date")
    assert {k: v for k, v in fields.items() if k not in derived} == {
        k: v for k, v in without.items() if k not in derived
    }  # nothing else moves


def test_a_buyer_of_several_orders_a_day_waits_for_their_next_buying_day_not_a_fraction_of_it() -> None:
    features = pa.table(
        {
            "customer_id": ["wholesale", "retail"],
            "revenue_lifetime": [5000.0, 500.0],
            "avg_order_value": [100.0, 50.0],
            # 50 orders on 10 days from 95 to 5 days before the cutoff; 10 orders on 10 such days
            "orders_lifetime": [50, 10],
            "order_days_lifetime": [10, 10],
            "days_since_first_order": [95, 95],
            "days_since_last_order": [5, 5],
        }
    )
    fields = clv.customer_value_fields(
        features, np.array([4500.0, 450.0]), np.exp(-np.array([9.0, 9.0])), date(2025, 1, 1), 90
    ).to_pydict()
    assert fields["predicted_orders"] == [45.0, 9.0]  # 4500 / 100, 450 / 50
    # both buy on 9 days of the 90 (five orders a day for the one, one for the other): certain to buy
    # (p = e^-9), their median wait is 90 ln 2 / 9 = 6.9 days, the 7th day
    assert fields["expected_next_order_date"] == [date(2025, 1, 7), date(2025, 1, 7)]
    # 90 days from the first buying day to the last, 9 gaps between the 10: same-day orders are no gap
    assert fields["avg_days_between_orders"] == [10.0, 10.0]


def test_orders_per_order_day_is_one_without_a_day_with_an_order() -> None:
    table = pa.table({"orders_lifetime": [6, 0, None], "order_days_lifetime": [2, 0, None]})
    assert clv.orders_per_order_day(table).tolist() == [3.0, 1.0, 1.0]


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
    assert clv.summarize_training_data(con, 30) == clv.TrainingDataSummary(3, 200, 2, 2, 30, evaluable=False)
    assert clv.summarize_training_data(con, 180).labelled_cutoffs == 0


def test_summarize_training_data_without_marts_says_to_build_them() -> None:
    with pytest.raises(SystemExit, match="run the dbt build first"):
        clv.summarize_training_data(duckdb.connect(), 90)


def test_enough_data_passes_and_too_little_names_everything_missing_in_one_sentence() -> None:
    clv.check_enough_data(clv.TrainingDataSummary(500, 180, 1, 1, 90))
    with pytest.raises(SystemExit) as raised:
        clv.check_enough_data(clv.TrainingDataSummary(3, 200, 0, 0, 90))
    assert str(raised.value) == (
        "Too little data to train: only 3 customers with a completed order (at least 500), "
        "no customer with 3 or more orders, no cutoff with a complete 90-day label window; "
        "load the orders of more customers and a longer order history or use a shorter horizon "
        "(CVW_HORIZON_DAYS)."
    )
    with pytest.raises(SystemExit) as raised:
        clv.check_enough_data(clv.TrainingDataSummary(900, 90, 5, 2, 90))
    assert str(raised.value) == (
        "Too little data to train: only 90 days of order history (at least 180); load a longer order history."
    )
    # only customers are short: neither a longer history nor a shorter horizon adds any
    with pytest.raises(SystemExit) as raised:
        clv.check_enough_data(clv.TrainingDataSummary(499, 400, 5, 9, 90))
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
    summary = clv.summarize_training_data(con, 30)
    assert (summary.labelled_cutoffs, summary.evaluable) == (2, False)
    with pytest.raises(SystemExit) as raised:
        clv.check_enough_data(dataclasses.replace(summary, customers_with_orders=800, history_days=180))
    assert str(raised.value) == (
        "Too little data to train: fewer than three cutoffs with a complete 30-day label window, each 30 "
        "days or more after the one before (to fit, validate and test on); load a longer order history or "
        "use a shorter horizon (CVW_HORIZON_DAYS)."
    )
    con.execute("insert into marts.customer_labels values ('A', date '2024-06-01', 30)")
    assert clv.summarize_training_data(con, 30).evaluable
    # 29 days from 04-01 to 04-30: the validation cutoff would see the test cutoff's labels
    con.execute(
        "update marts.customer_labels set cutoff_date = date '2024-04-30' "
        "where cutoff_date = date '2024-05-01'"
    )
    assert not clv.summarize_training_data(con, 30).evaluable


def test_a_customer_sample_below_the_minimum_stops_training_and_names_the_cap() -> None:
    summary = clv.TrainingDataSummary(10_000, 400, 50, 12, 90)
    clv.check_enough_sampled(summary, 1.0, 200_000)
    clv.check_enough_sampled(summary, 0.05, 500)  # about 500 of them: enough
    with pytest.raises(SystemExit) as raised:
        clv.check_enough_sampled(summary, 0.003, 30)
    assert str(raised.value) == (
        "Too little data to train: CVW_TRAIN_MAX_CUSTOMERS=30 samples about 30 of the 10,000 customers with "
        "a completed order (at least 500 are needed); raise CVW_TRAIN_MAX_CUSTOMERS to 500 or more."
    )

"""Discounted CLV follows the documented formula; the value fields are exact."""

from datetime import date

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

"""The expected next order date is the median date of the next order under the churn probability and the
predicted orders: known answers on hand-made scores, and the date's defining property."""

from datetime import date

import numpy as np
import pytest

from ml import next_order

AS_OF = date(2025, 1, 1)


def _days(dates) -> list[int | None]:
    """Return each date's days after AS_OF, None for NaT."""
    return [None if d is None or d != d else (d.date() - AS_OF).days for d in dates]


def test_a_customer_certain_to_buy_waits_h_ln2_over_their_order_days() -> None:
    # q = 1: p = exp(-x), D = x; the median of an exponential wait is H ln 2 / x
    p, d = np.exp(-np.array([2.0, 9.0])), np.array([2.0, 9.0])
    q, x = next_order.buying_share_and_rate(p, d)
    assert q == pytest.approx([1.0, 1.0]) and x == pytest.approx([2.0, 9.0])
    assert next_order.median_days(p, d, 90) == pytest.approx(90 * np.log(2) / np.array([2.0, 9.0]))
    # 31.19 and 6.93 days: the days holding them are the 32nd and the 7th of the horizon
    assert _days(next_order.expected_next_order_dates(d, p, AS_OF, 90)) == [31, 6]


def test_the_buying_share_and_rate_are_recovered_from_the_two_scores() -> None:
    # q = 0.8 buy at x = 3: p = 0.2 + 0.8 e^-3 = 0.2398, D = 2.4; the median solves 0.8 (1 - e^(-3t/90)) = 1/2
    q_true, x_true = np.array([0.8, 0.6]), np.array([3.0, 12.0])
    p, d = (1 - q_true) + q_true * np.exp(-x_true), q_true * x_true
    q, x = next_order.buying_share_and_rate(p, d)
    assert q == pytest.approx(q_true, rel=1e-9) and x == pytest.approx(x_true, rel=1e-9)
    t50 = -90 / x_true * np.log(1 - 0.5 / q_true)  # 29.43 and 13.44 days
    assert next_order.median_days(p, d, 90) == pytest.approx(t50, rel=1e-9)
    assert _days(next_order.expected_next_order_dates(d, p, AS_OF, 90)) == [29, 13]


def test_no_date_when_an_order_is_not_more_likely_than_not() -> None:
    p, d = np.array([0.5, 0.9, 0.99, 0.3, np.nan]), np.array([50.0, 30.0, 5.0, np.nan, 2.0])
    # however many orders a buyer places, half the customers or more place none; a missing score: none
    assert np.isnan(next_order.median_days(p, d, 90)).all()
    assert next_order.expected_next_order_dates(d, p, AS_OF, 90).isna().all()


def test_fewer_order_days_than_the_chance_of_any_spread_the_orders_evenly() -> None:
    # D <= 1 - p: P(an order within t days) = (1 - p) t / H; p = 0.2: t50 = 90 / 1.6 = 56.25 days; D = 0 too
    p, d = np.array([0.2, 0.2, 0.4]), np.array([0.5, 0.0, 0.6])
    q, x = next_order.buying_share_and_rate(p, d)
    assert q == pytest.approx([0.8, 0.8, 0.6]) and x.tolist() == [0.0, 0.0, 0.0]
    assert next_order.median_days(p, d, 90) == pytest.approx([56.25, 56.25, 75.0])
    assert _days(next_order.expected_next_order_dates(d, p, AS_OF, 90)) == [56, 56, 74]


def test_scores_no_buying_share_fits_take_every_customer_buying_at_the_churn_s_rate() -> None:
    # p = 0.1 with D = 1.5: 1 - p < D but p < e^-1.5 = 0.22, only q > 1 fits; q = 1, x = -ln 0.1 = 2.30
    p, d = np.array([0.1]), np.array([1.5])
    q, x = next_order.buying_share_and_rate(p, d)
    assert (q.tolist(), x) == ([1.0], pytest.approx([np.log(10)]))
    assert next_order.median_days(p, d, 90) == pytest.approx([90 * np.log(2) / np.log(10)])  # 27.09
    assert _days(next_order.expected_next_order_dates(d, p, AS_OF, 90)) == [27]


def test_a_median_within_the_first_day_is_the_scoring_date() -> None:
    p, d = np.array([np.exp(-200.0), 0.0]), np.array([200.0, 3.0])  # 0.31 days; certain to order at once
    assert _days(next_order.expected_next_order_dates(d, p, AS_OF, 90)) == [0, 0]


def test_the_date_is_the_first_day_by_whose_end_an_order_is_at_least_as_likely_as_not() -> None:
    # over a grid of buying shares and rates: P(an order by the date's start) < 1/2 <= P(by its end)
    q, x = np.meshgrid(np.linspace(0.55, 1.0, 10), np.geomspace(0.3, 60.0, 25))
    q, x = q.ravel(), x.ravel()
    p, d = (1 - q) + q * np.exp(-x), q * x
    offsets = np.array(_days(next_order.expected_next_order_dates(d, p, AS_OF, 365)), dtype=float)
    shown = p < 0.5
    assert (np.isnan(offsets) == ~shown).all() and shown.sum() > 100  # a date where p < 1/2 only
    q, x, offsets = q[shown], x[shown], offsets[shown]
    before, by_end = (q * (1 - np.exp(-x * t / 365)) for t in (offsets, offsets + 1))
    assert (before < 0.5).all() and (by_end >= 0.5 - 1e-12).all()
    assert (offsets <= 364).all()  # within the horizon: its last day is as_of + 364


def test_orders_per_order_day_turn_orders_into_days_with_an_order() -> None:
    # 45 orders in 90 days, five on each day they buy: 9 order days, as for the retail buyer of 9 orders
    p = np.exp(-np.array([9.0, 9.0]))
    dates = next_order.expected_next_order_dates(np.array([45.0, 9.0]), p, AS_OF, 90, np.array([5.0, 1.0]))
    assert _days(dates) == [6, 6]  # 90 ln 2 / 9 = 6.93 days for both

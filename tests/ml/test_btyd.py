"""BG/NBD and Gamma-Gamma: formulas against hand computation at the published CDNOW parameters, and
maximum likelihood recovering known parameters from simulated customers."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from ml import btyd, btyd_fit
from ml.btyd_models import (
    BgNbd,
    GammaGamma,
    Levels,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    gamma_gamma_expected_value,
    gamma_gamma_log_likelihood,
)

# Published CDNOW fits: BG/NBD (Fader, Hardie & Lee 2005); Gamma-Gamma on repeat customers (Fader & Hardie
# 2013)
CDNOW_BGNBD = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
CDNOW_GAMMA_GAMMA = GammaGamma(p=6.25, q=3.74, gamma=15.44)


def _simulate_bgnbd(params: BgNbd, customers: int, rng: np.random.Generator):
    """Return x, t_x, T of customers drawn from BG/NBD, first purchase at 0, observed 27-39 weeks."""
    rate = rng.gamma(params.r, 1 / params.alpha, customers)
    dropout = rng.beta(params.a, params.b, customers)
    T = rng.uniform(27, 39, customers)  # noqa: N806 (the paper's notation)
    x, t_x, now = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    active = np.ones(customers, dtype=bool)
    while active.any():
        now = now + rng.exponential(1 / rate)
        active &= now <= T
        x[active] += 1
        t_x[active] = now[active]
        active &= rng.random(customers) >= dropout  # dies after a repeat purchase with probability p
    return x, t_x, T


def test_bgnbd_log_likelihood_of_a_customer_without_repeat_purchase_by_hand() -> None:
    # x = 0: L = (alpha / (alpha + T))^r = (4.414 / 43.274)^0.243
    expected = 0.243 * np.log(4.414 / 43.274)
    assert bgnbd_log_likelihood(CDNOW_BGNBD, [0], [0], [38.86])[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(-0.554713, abs=1e-6)


def test_bgnbd_log_likelihood_equals_the_model_integrated_over_rate_and_dropout() -> None:
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, T = 2, 30.43, 38.86  # noqa: N806

    def over_p(f):
        return integrate.quad(lambda p: f(p) * stats.beta.pdf(p, a, b), 0, 1)[0]

    def over_rate(f):
        return integrate.quad(lambda lam: f(lam) * stats.gamma.pdf(lam, r, scale=1 / alpha), 0, np.inf)[0]

    alive = over_p(lambda p: (1 - p) ** x) * over_rate(lambda lam: lam**x * np.exp(-lam * T))
    died = over_p(lambda p: p * (1 - p) ** (x - 1)) * over_rate(lambda lam: lam**x * np.exp(-lam * t_x))
    closed_form = bgnbd_log_likelihood(CDNOW_BGNBD, [x], [t_x], [T])[0]
    assert closed_form == pytest.approx(np.log(alive + died), rel=1e-7)
    assert closed_form == pytest.approx(-9.458606, abs=1e-6)


def test_bgnbd_conditional_expectation_matches_the_published_cdnow_example() -> None:
    # Fader, Hardie & Lee (2005): x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in the next 39 weeks
    expected = bgnbd_expected_purchases(CDNOW_BGNBD, 39, [2], [30.43], [38.86])[0]
    assert expected == pytest.approx(1.226, abs=5e-4)
    # P(alive) by hand: 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
    by_hand = 1 / (1 + 0.793 / 3.426 * (43.274 / 34.844) ** 2.243)
    assert bgnbd_p_alive(CDNOW_BGNBD, [2], [30.43], [38.86])[0] == pytest.approx(by_hand, rel=1e-12)
    assert bgnbd_p_alive(CDNOW_BGNBD, [0], [0], [38.86])[0] == 1.0


def test_bgnbd_expectation_for_a_very_frequent_buyer_matches_the_untransformed_series() -> None:
    # eq. 10 with 2F1(r+x, b+x; a+b+x-1; z) summed term by term in log space, where the naive series overflows
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, T, t = 300, 38.0, 38.86, 39.0  # noqa: N806
    z = t / (alpha + T + t)
    n = np.arange(20_000)
    log_terms = np.concatenate(
        [[0.0], np.cumsum(np.log((r + x + n) * (b + x + n) / ((a + b + x - 1 + n) * (n + 1)) * z))[:-1]]
    )
    log_hypergeometric = np.logaddexp.reduce(log_terms)
    decay = np.exp((r + x) * np.log((alpha + T) / (alpha + T + t)) + log_hypergeometric)
    p_alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    by_series = (a + b + x - 1) / (a - 1) * (1 - decay) * p_alive
    assert bgnbd_expected_purchases(CDNOW_BGNBD, t, [x], [t_x], [T])[0] == pytest.approx(by_series, rel=1e-9)


def test_bgnbd_expectation_keeps_its_dropout_where_the_transformed_series_overflows() -> None:
    # a and b in the hundreds (everyone with about the same dropout chance, here 1/2: the fit goes there when
    # dropout is homogeneous) and a young customer: Euler's form overflows, and eq. 10 as published holds.
    # Known values: eq. 10 in mpmath at 50 digits (the first), and in scipy as published (the second).
    t = 90 / 7
    capped = BgNbd(r=0.5, alpha=2.0, a=1096.0, b=1096.0)
    expected = bgnbd_expected_purchases(capped, t, [0], [0], [4.0])[0]
    assert expected == pytest.approx(0.610434229327, rel=1e-9)
    # (the no-dropout rate (r + x) / (alpha + T) * t, used here before, gives 1.0714)
    homogeneous = BgNbd(r=2.0027, alpha=1.9995, a=778.17, b=779.20)
    assert bgnbd_expected_purchases(homogeneous, t, [2], [0.571], [0.714])[0] == pytest.approx(
        0.8886731516, rel=1e-8
    )


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T", "expected"),
    [
        # a week-old customer and a 365-day horizon: scipy's 2F1 overflows in both forms, and the rate
        # without dropout gave 9.656 and 28.97 here; summed in log space, eq. 10 holds (mpmath, 60 digits)
        ((1.0, 4.4, 100.0, 100.0), 0, 0, 1.0, 1.66253111553),
        ((1.0, 4.4, 50.0, 1000.0), 0, 0, 1.0, 6.62676874862),
        ((3.0, 4.4, 300.0, 10.0), 0, 0, 1.0, 1.03251033705),
        ((3.0, 1.0, 100.0, 10.0), 1, 4, 4.0, 0.101001343539),
    ],
)
def test_bgnbd_expectation_where_both_forms_of_the_series_overflow(params, x, t_x, T, expected) -> None:  # noqa: N803
    purchases = bgnbd_expected_purchases(BgNbd(*params), 52.14, [x, x], [t_x, t_x], [T, T])
    assert purchases == pytest.approx([expected, expected], rel=1e-9)


def test_p_alive_of_a_customer_whose_odds_of_death_overflow_is_zero_without_a_warning() -> None:
    # three orders within hours, then two years of silence: ((alpha + T) / (alpha + t_x)) ** (r + x) is
    # beyond a float, and every such customer printed "RuntimeWarning: overflow encountered in power" at
    # every cutoff of training (17 of them before the one sentence of a shop where everyone churned)
    params = BgNbd(r=1000.0, alpha=0.001, a=0.5, b=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alive = bgnbd_p_alive(params, [2.0, 2.0, 0.0], [0.0, 100.0, 0.0], [104.0, 104.0, 104.0])
    assert alive[0] == 0.0  # the limit of 1 / (1 + odds) as the odds grow without bound
    assert alive[1] == pytest.approx(1 / (1 + 0.5 / 3.0 * (104.001 / 100.001) ** 1002.0), rel=1e-12)
    assert alive[2] == 1.0  # no repeat purchase: alive


def test_bgnbd_expectation_at_a_equal_to_one_is_its_limit() -> None:
    # (a+b+x-1)/(a-1) (1 - ...) is 0/0 at a = 1 (a fit without repeat buyers stays at its start, 1.0);
    # mpmath at 50 digits gives 0.4456261533 and 1.9832707045 at a = 1 -/+ 1e-8
    at_one = BgNbd(r=0.5, alpha=2.0, a=1.0, b=2.5)
    expected = bgnbd_expected_purchases(at_one, 90 / 7, [0, 3], [0, 8], [10.0, 10.0])
    assert expected == pytest.approx([0.4456261533, 1.9832707045], rel=1e-8)


def test_gamma_gamma_density_equals_the_model_integrated_over_the_customer_mean() -> None:
    p, q, gamma = 6.25, 3.74, 15.44
    x, m_x = 2, 30.0
    # the mean of x Gamma(p, nu) order values is Gamma(p x, nu x); nu ~ Gamma(q, gamma)
    density = integrate.quad(
        lambda nu: stats.gamma.pdf(m_x, p * x, scale=1 / (nu * x)) * stats.gamma.pdf(nu, q, scale=1 / gamma),
        0,
        np.inf,
    )[0]
    closed_form = gamma_gamma_log_likelihood(CDNOW_GAMMA_GAMMA, [x], [m_x])[0]
    assert closed_form == pytest.approx(np.log(density), rel=1e-7)


def test_gamma_gamma_expected_value_shrinks_the_customer_mean_towards_the_population_mean() -> None:
    # population mean p gamma / (q - 1) = 6.25 x 15.44 / 2.74
    assert gamma_gamma_expected_value(CDNOW_GAMMA_GAMMA, [0], [0])[0] == pytest.approx(35.218978, abs=1e-6)
    # x = 2, m_x = 30: p (gamma + x m_x) / (p x + q - 1) = 6.25 x 75.44 / 15.24
    value = gamma_gamma_expected_value(CDNOW_GAMMA_GAMMA, [2], [30.0])[0]
    assert value == pytest.approx(6.25 * 75.44 / 15.24, rel=1e-12)


def test_bgnbd_fit_recovers_the_cdnow_parameters_from_simulated_customers() -> None:
    x, t_x, T = _simulate_bgnbd(CDNOW_BGNBD, 40_000, np.random.default_rng(11))  # noqa: N806
    fitted = btyd_fit.fit_bgnbd(x, t_x, T)
    assert fitted.r == pytest.approx(0.243, rel=0.10)
    assert fitted.alpha == pytest.approx(4.414, rel=0.15)
    assert fitted.a == pytest.approx(0.793, rel=0.20)
    assert fitted.b == pytest.approx(2.426, rel=0.25)
    # and the fit is the maximum: the true parameters are no more likely on this sample
    at_fit = bgnbd_log_likelihood(fitted, x, t_x, T).sum()
    assert at_fit >= bgnbd_log_likelihood(CDNOW_BGNBD, x, t_x, T).sum()


def test_bgnbd_fit_counts_every_customer_of_a_shared_summary() -> None:
    # whole days, as the mart gives them: many customers share one (x, t_x, T)
    x, t_x, T = _simulate_bgnbd(CDNOW_BGNBD, 20_000, np.random.default_rng(3))  # noqa: N806
    t_x, T = np.round(t_x * 7) / 7, np.round(T * 7) / 7  # noqa: N806
    assert len(set(zip(x, t_x, T, strict=True))) < len(x) / 2
    fitted = btyd_fit.fit_bgnbd(x, t_x, T)
    # the fit on every row, one customer each, as the likelihood is written in the paper
    start = np.array([1.0, float(np.mean(T)), 1.0, 1.0])
    every_row = btyd_fit._minimise(
        btyd_fit._bgnbd_negative_log_likelihood,
        start,
        (*(Levels.of(values) for values in (x, t_x, T)), np.ones(len(x))),
        [7.0, 12.0, 7.0, 7.0],
    )
    assert [fitted.r, fitted.alpha, fitted.a, fitted.b] == pytest.approx(list(every_row), rel=1e-6)


def _numerical_gradient(objective, log_params: np.ndarray, args: tuple, step: float = 1e-6) -> np.ndarray:
    """Return the central-difference gradient of objective's value in log-parameters."""
    gradient = []
    for i in range(len(log_params)):
        shift = np.zeros(len(log_params))
        shift[i] = step
        upper, lower = objective(log_params + shift, *args)[0], objective(log_params - shift, *args)[0]
        gradient.append((upper - lower) / (2 * step))
    return np.array(gradient)


def test_the_likelihoods_the_fits_minimise_are_the_published_ones_with_their_gradients() -> None:
    # special functions are computed once per distinct x, t_x and T and gathered: the same numbers
    x, t_x, T = _simulate_bgnbd(CDNOW_BGNBD, 3_000, np.random.default_rng(8))  # noqa: N806
    t_x, T = np.round(t_x * 7) / 7, np.round(T * 7) / 7  # noqa: N806
    count = np.random.default_rng(9).integers(1, 4, len(x)).astype(float)
    params = BgNbd(r=0.3, alpha=5.0, a=0.7, b=2.0)
    log_params = np.log([params.r, params.alpha, params.a, params.b])
    args = (*(Levels.of(values) for values in (x, t_x, T)), count)
    value, gradient = btyd_fit._bgnbd_negative_log_likelihood(log_params, *args)
    assert value == -float(count @ bgnbd_log_likelihood(params, x, t_x, T))
    numerical = _numerical_gradient(btyd_fit._bgnbd_negative_log_likelihood, log_params, args)
    assert gradient == pytest.approx(numerical, rel=1e-5)

    repeat = x > 0
    m_x = np.random.default_rng(10).gamma(4.0, 10.0, int(repeat.sum()))
    gg_params = GammaGamma(p=6.0, q=4.0, gamma=15.0)
    gg_log_params = np.log([gg_params.p, gg_params.q, gg_params.gamma])
    gg_args = (Levels.of(x[repeat]), m_x, np.log(m_x))
    value, gradient = btyd_fit._gamma_gamma_negative_log_likelihood(gg_log_params, *gg_args)
    assert value == -float(np.sum(gamma_gamma_log_likelihood(gg_params, x[repeat], m_x)))
    numerical = _numerical_gradient(btyd_fit._gamma_gamma_negative_log_likelihood, gg_log_params, gg_args)
    assert gradient == pytest.approx(numerical, rel=1e-5)


def test_gamma_gamma_fit_recovers_the_cdnow_parameters_from_simulated_customers() -> None:
    rng = np.random.default_rng(5)
    customers = 20_000
    x = rng.integers(1, 8, customers).astype(float)
    nu = rng.gamma(CDNOW_GAMMA_GAMMA.q, 1 / CDNOW_GAMMA_GAMMA.gamma, customers)
    # the mean of x order values, each Gamma(p, nu), is Gamma(p x, nu x)
    m_x = rng.gamma(CDNOW_GAMMA_GAMMA.p * x, 1 / (nu * x))
    fitted = btyd_fit.fit_gamma_gamma(x, m_x)
    assert fitted.p == pytest.approx(6.25, rel=0.10)
    assert fitted.q == pytest.approx(3.74, rel=0.10)
    assert fitted.gamma == pytest.approx(15.44, rel=0.15)


def test_gamma_gamma_fit_of_order_values_in_the_hundreds_of_millions_is_the_same_fit_scaled() -> None:
    # scaling every order value by s scales the maximum-likelihood gamma by s and leaves p and q: a B2B
    # shop's values (1e8 here) met the fit's bound on gamma (e^16) and came back as p 773.8, q 2.90
    rng = np.random.default_rng(0)
    nu = rng.gamma(3.74, 1 / 15.44, 3000)
    x = rng.integers(1, 6, 3000).astype(float)
    m_x = rng.gamma(6.25 * x, 1 / (nu * x))
    plain = btyd_fit.fit_gamma_gamma(x, m_x)
    large = btyd_fit.fit_gamma_gamma(x, m_x * 1e8)
    assert (large.p, large.q, large.gamma / 1e8) == pytest.approx((plain.p, plain.q, plain.gamma), rel=1e-5)
    expected = gamma_gamma_expected_value(large, x, m_x * 1e8) / 1e8
    assert expected == pytest.approx(gamma_gamma_expected_value(plain, x, m_x), rel=1e-5)
    assert large.population_mean / 1e8 == pytest.approx(plain.population_mean, rel=1e-5)
    assert btyd_fit.order_value_scale(m_x) == 1.0  # an ordinary shop is fitted as it always was
    assert btyd_fit.order_value_scale(m_x * 1e8) == 1e7


def test_btyd_inputs_are_arithmetic_on_mart_columns_in_weeks() -> None:
    frame = pd.DataFrame(
        {
            "order_days_lifetime": [1, 3],
            "days_since_first_order": [14, 70],
            "days_since_last_order": [14, 7],
            "revenue_lifetime": [20.0, 100.0],
            "first_order_day_revenue": [20.0, 40.0],
        }
    )
    inputs = btyd.btyd_inputs(frame)
    assert inputs["x"].tolist() == [0.0, 2.0]
    assert inputs["t_x"].tolist() == [0.0, 9.0]  # (70 - 7) / 7 weeks from first to last order
    assert inputs["T"].tolist() == [2.0, 10.0]
    assert np.isnan(inputs["m_x"].iloc[0]) and inputs["m_x"].iloc[1] == 30.0  # (100 - 40) / 2 repeat days


def test_a_wholesale_buyer_with_many_orders_a_day_is_alive_after_a_usual_gap() -> None:
    # BG/NBD allows one purchase per period. A buyer with 27 orders on each of 20 days over 38 weeks, the
    # last 14 days ago (its usual gap), counted by order made 539 repeat purchases, 14 a week, so two weeks
    # without one meant death (P(alive) about 3e-9). Counted by day (lifetimes' convention), x = 19.
    buyer = pd.DataFrame(
        {
            "order_days_lifetime": [20],
            "days_since_first_order": [266],
            "days_since_last_order": [14],
            "revenue_lifetime": [20 * 27 * 40.0],
            "first_order_day_revenue": [27 * 40.0],
        }
    )
    inputs = btyd.btyd_inputs(buyer)
    assert inputs[["x", "t_x", "T"]].iloc[0].tolist() == [19.0, 36.0, 38.0]
    assert inputs["m_x"].iloc[0] == 27 * 40.0  # a day's orders are one purchase worth their sum
    predicted = btyd.predict_btyd(inputs, CDNOW_BGNBD, CDNOW_GAMMA_GAMMA, horizon_days=90)
    assert predicted["btyd_p_alive"].iloc[0] == pytest.approx(0.9105, abs=1e-4)
    assert predicted["btyd_expected_purchases"].iloc[0] == pytest.approx(4.810, abs=1e-3)
    by_order = btyd.predict_btyd(
        pd.DataFrame({"x": [539.0], "t_x": [36.0], "T": [38.0], "m_x": [40.0]}),
        CDNOW_BGNBD,
        CDNOW_GAMMA_GAMMA,
        horizon_days=90,
    )
    assert by_order["btyd_p_alive"].iloc[0] < 1e-8


def test_without_a_repeat_customer_gamma_gamma_has_nothing_to_fit_and_says_so_with_nan() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" on the way
        fitted = btyd_fit.fit_gamma_gamma(np.array([]), np.array([]))
    assert np.isnan([fitted.p, fitted.q, fitted.gamma]).all()
    # every customer of such a cutoff has x = 0
    assert np.isnan(gamma_gamma_expected_value(fitted, np.array([0.0, 0.0]), np.array([0.0, 0.0]))).all()


def test_with_q_at_most_two_the_population_mean_is_the_repeat_customers_mean() -> None:
    # q <= 1: the spend rate's distribution has no mean, and p * gamma / (q - 1) is negative or infinite
    fitted = GammaGamma(p=2.0, q=0.9, gamma=10.0, repeat_mean=60.0)
    assert fitted.population_mean == 60.0
    values = gamma_gamma_expected_value(fitted, np.array([0.0, 1.0, 3.0]), np.array([0.0, 40.0, 50.0]))
    # x = 1: 2 * 1 + 0.9 - 1 > 0, the shrunk formula holds; x = 3 too
    assert values == pytest.approx([60.0, 2.0 * (10.0 + 40.0) / 1.9, 2.0 * (10.0 + 150.0) / 5.9])
    no_mean = GammaGamma(p=0.05, q=0.5, gamma=10.0, repeat_mean=60.0)  # p * x + q - 1 < 0 at x = 1
    own = gamma_gamma_expected_value(no_mean, np.array([1.0]), np.array([40.0]))
    assert own == pytest.approx([40.0])
    # just above 1 the model's mean exists but is 6,667 times gamma * p: a one-time buyer gets the repeat mean
    barely = GammaGamma(p=2.0, q=1.0003, gamma=10.0, repeat_mean=60.0)
    assert barely.population_mean == 60.0
    assert gamma_gamma_expected_value(barely, np.array([0.0]), np.array([0.0])) == pytest.approx([60.0])
    assert GammaGamma(p=2.0, q=2.0, gamma=10.0, repeat_mean=60.0).population_mean == 60.0
    # above 2 (the spend rate has a variance) the model's own mean, as published
    assert GammaGamma(p=2.0, q=2.5, gamma=10.0, repeat_mean=60.0).population_mean == pytest.approx(
        2.0 * 10.0 / 1.5
    )
    assert CDNOW_GAMMA_GAMMA.population_mean == pytest.approx(6.25 * 15.44 / 2.74)


def test_a_fit_needs_four_customers_and_three_with_a_repeat_purchase_of_positive_value() -> None:
    def inputs(rows: list[tuple[float, float]]) -> pd.DataFrame:
        x, m_x = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
        return pd.DataFrame({"x": x, "t_x": x, "T": x + 1, "m_x": m_x})

    repeat, once, refunded = (2.0, 30.0), (0.0, np.nan), (1.0, 0.0)
    assert btyd.identified_fit(inputs([repeat, repeat, repeat, once]))
    assert btyd.identified_fit(inputs([repeat] * 4))
    assert not btyd.identified_fit(inputs([repeat] * 3))  # three customers: BG/NBD has four parameters
    assert not btyd.identified_fit(inputs([repeat, repeat, refunded, once]))  # two with a positive value
    assert not btyd.identified_fit(inputs([once] * 50))
    assert btyd.repeat_customers(inputs([repeat, refunded, once])) == 1


def test_a_fit_on_one_repeat_customer_runs_to_its_bounds_where_stored_parameters_do_not() -> None:
    # bought on two days, the last a day ago, first two days ago: alive by any measure; fitted on him alone
    # BG/NBD called him dead (why identified_fit refuses such a fit)
    one = pd.DataFrame({"x": [1.0], "t_x": [1 / 7], "T": [2 / 7], "m_x": [20.0]})
    assert btyd.predict_btyd(one, *btyd.fit_btyd(one), 90)["btyd_p_alive"].iloc[0] < 1e-6
    stored = btyd.btyd_parameters((CDNOW_BGNBD, CDNOW_GAMMA_GAMMA))
    assert btyd.btyd_from_parameters(stored) == (CDNOW_BGNBD, CDNOW_GAMMA_GAMMA)
    odds_dead = 0.793 / 2.426 * ((4.414 + 2 / 7) / (4.414 + 1 / 7)) ** 1.243  # FHL 2005 eq. 11 at CDNOW's
    alive = btyd.predict_btyd(one, *btyd.btyd_from_parameters(stored), 90)["btyd_p_alive"].iloc[0]
    assert alive == pytest.approx(1 / (1 + odds_dead))  # 0.746


def _mart_rows(cutoff: str, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> pd.DataFrame:  # noqa: N803
    """Return customer_features rows of customers (x, t_x, T in weeks) spending 20 a day, at a cutoff."""
    return pd.DataFrame(
        {
            "cutoff_date": pd.Timestamp(cutoff),
            "order_days_lifetime": x + 1,
            "days_since_first_order": T * 7,
            "days_since_last_order": (T - t_x) * 7,
            "revenue_lifetime": 20.0 * (x + 1),
            "first_order_day_revenue": 20.0,
        }
    )


def test_a_cutoff_too_small_to_fit_on_gets_the_fit_of_the_nearest_larger_later_one() -> None:
    # two test orders before a shop's launch: a one-time buyer, and one who bought on two days in a row
    tiny = _mart_rows("2024-01-01", np.array([0.0, 1.0]), np.array([0.0, 1 / 7]), np.array([16.0, 15.6]))
    rng = np.random.default_rng(3)
    february, march = (
        _mart_rows(cutoff, *_simulate_bgnbd(CDNOW_BGNBD, 400, rng)) for cutoff in ("2024-02-01", "2024-03-01")
    )
    frame = pd.concat([tiny, february, march], ignore_index=True)
    predicted = btyd.btyd_by_cutoff(frame, 90)

    inputs = btyd.btyd_inputs(frame)
    february_fit = btyd.fit_btyd(inputs[frame["cutoff_date"] == pd.Timestamp("2024-02-01")])
    expected = btyd.predict_btyd(inputs.iloc[:2], *february_fit, 90)
    pd.testing.assert_frame_equal(predicted.iloc[:2], expected)
    assert predicted["btyd_p_alive"].iloc[1] > 0.3  # fitted on the two alone: 7e-10
    # the larger cutoffs keep their own fits; a frame of the small cutoff alone has none other to take
    march_rows = frame["cutoff_date"] == pd.Timestamp("2024-03-01")
    march_fit = btyd.fit_btyd(inputs[march_rows])
    pd.testing.assert_frame_equal(
        predicted[march_rows], btyd.predict_btyd(inputs[march_rows], *march_fit, 90)
    )
    alone = btyd.btyd_by_cutoff(tiny, 90)
    pd.testing.assert_frame_equal(
        alone, btyd.predict_btyd(inputs.iloc[:2], *btyd.fit_btyd(inputs.iloc[:2]), 90)
    )

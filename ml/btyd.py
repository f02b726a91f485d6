"""BG/NBD and Gamma-Gamma fitted by maximum likelihood with scipy: the buy-till-you-die baseline.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a customer buys at
rate lambda ~ Gamma(r, alpha); after every repeat purchase the customer dies with probability p ~ Beta(a, b).
A customer is summarised by x (repeat purchases), t_x (time of the last purchase) and T (time since the
first purchase), all measured from the first purchase. Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma
model of monetary value"): order values ~ Gamma(p, nu) around a customer mean with nu ~ Gamma(q, gamma),
fitted on the average repeat-order value m_x of customers with x >= 1.

Inputs come from marts.customer_features columns (a BTYD input is arithmetic on mart columns, never a
re-aggregation of orders): x = order_days_lifetime - 1, t_x = days_since_first_order - days_since_last_order,
T = days_since_first_order, m_x = (revenue_lifetime - first_order_day_revenue) / x; time in weeks.
A purchase is a day with a completed order, as in lifetimes (`summary_data_from_transaction_data`, freq "D"):
BG/NBD allows one purchase per period, and a wholesale customer with dozens of orders a day, counted by
order, looked dead to it (P(alive) about 1e-7) however recently it bought.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

DAYS_PER_UNIT = 7.0  # BTYD time unit: weeks, as in the published CDNOW fits
BTYD_FEATURES = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_order_value", "btyd_revenue")


@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD parameters."""

    r: float
    alpha: float
    a: float
    b: float


# The fewest customers, and customers with a repeat purchase of positive value, a fit is made on: BG/NBD has
# four parameters and Gamma-Gamma three, fitted on the repeat customers alone, who are also BG/NBD's only
# evidence of dropout. With fewer the likelihood rises without a maximum and the fit runs to the bounds of
# its search: on one repeat customer, bought twice in two days, P(alive) was 1.5e-8 (identified_fit).
MIN_FIT_CUSTOMERS = 4
MIN_REPEAT_CUSTOMERS = 3
A_STEP = 1e-4  # at |a - 1| below it, BG/NBD's expectation is interpolated between 1 - A_STEP and 1 + A_STEP
MEAN_NEEDS_Q_ABOVE = 2.0  # Gamma-Gamma's own population mean is used only where its spend rate has a variance
# Mean repeat order value above which Gamma-Gamma is fitted on values scaled down (order_value_scale)
SCALE_ABOVE = 1e4


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma parameters, and the mean order value of a customer without repeat purchases.

    The model's population mean, p * gamma / (q - 1), exists only for q > 1, and the spend rate's
    distribution has a variance only for q > 2. A fit with q <= 2 (very spread order values) gives
    repeat_mean, the mean repeat order value of the customers it was fitted on, instead: as q nears 1 the
    model's mean grows without bound (q = 1.0003 puts it thousands of times over any order seen), and a
    one-time buyer would get that value. None: the model's own mean.
    """

    p: float
    q: float
    gamma: float
    repeat_mean: float | None = None

    @property
    def population_mean(self) -> float:
        """Return the expected order value of a customer with no repeat purchase (NaN when undefined)."""
        if self.q > MEAN_NEEDS_Q_ABOVE:
            return self.p * self.gamma / (self.q - 1)
        return self.repeat_mean if self.repeat_mean is not None else float("nan")


@dataclass(frozen=True)
class _Levels:
    """An array kept with its distinct values and, per element, the position of its value among them.

    The likelihoods apply special functions (gammaln, betaln, digamma) to x, and logs to t_x and T, at
    every step of the fit; x takes a few dozen values, and t_x and T (whole days in weeks) a few hundred,
    so each function is computed once per distinct value and gathered: the same numbers, computed once.
    """

    values: np.ndarray  # sorted distinct values
    index: np.ndarray  # values[index] is the array
    array: np.ndarray

    @classmethod
    def of(cls, array: np.ndarray) -> _Levels:
        array = np.asarray(array, dtype=float)
        values, index = np.unique(array, return_inverse=True)
        return cls(values, index, array)

    def map(self, function) -> np.ndarray:
        """Return function(array), computed on the distinct values (function works elementwise)."""
        return function(self.values)[self.index]


def _bgnbd_terms(
    params: BgNbd,
    x: _Levels,
    t_x: _Levels,
    T: _Levels,  # noqa: N803
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return BG/NBD's per-row log-likelihood terms (Fader, Hardie & Lee 2005, eq. 6): common, alive and
    died (the log-likelihood is common + logaddexp(alive, died)), and log(alpha + T) and log(alpha + t_x)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    xs = x.array
    common = x.map(
        lambda v: gammaln(r + v) - gammaln(r) + r * np.log(alpha) + betaln(a, b + v) - betaln(a, b)
    )
    log_alpha_t = T.map(lambda v: np.log(alpha + v))
    alive = -(r + xs) * log_alpha_t
    # log(alpha + t_x) where x > 0; log(alpha) otherwise (t_x is 0 there)
    log_alpha_t_x = np.where(xs > 0, t_x.map(lambda v: np.log(alpha + v)), np.log(alpha))
    # died right after the last repeat purchase: B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        died = np.where(
            xs > 0, x.map(lambda v: np.log(a) - np.log(b + v - 1)) - (r + xs) * log_alpha_t_x, -np.inf
        )
    return common, alive, died, log_alpha_t, log_alpha_t_x


def _gamma_gamma_terms(
    params: GammaGamma, x: _Levels, m_x: np.ndarray, log_m_x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return Gamma-Gamma's per-row log-density (Fader & Hardie 2013, eq. 3) and log(gamma + m_x x);
    log_m_x is log(m_x)."""
    p, q, gamma = params.p, params.q, params.gamma
    xs = x.array
    log_total = np.log(gamma + m_x * xs)
    log_density = (
        x.map(lambda v: gammaln(p * v + q) - gammaln(p * v) - gammaln(q) + q * np.log(gamma))
        + (p * xs - 1) * log_m_x
        + x.map(lambda v: p * v * np.log(v))
        - (p * xs + q) * log_total
    )
    return log_density, log_total


def bgnbd_log_likelihood(
    params: BgNbd,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803 (the paper's notation)
) -> np.ndarray:
    """Return each customer's log-likelihood under BG/NBD (Fader, Hardie & Lee 2005, eq. 6)."""
    common, alive, died, _, _ = _bgnbd_terms(params, *(_Levels.of(v) for v in (x, t_x, T)))
    return common + np.logaddexp(alive, died)


def bgnbd_p_alive(params: BgNbd, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:  # noqa: N803
    """Return P(alive at T | x, t_x, T) (FHL 2005 eq. 11); 1 for customers without a repeat purchase.

    The odds of death overflow to infinity for a customer long silent after buying fast (repeat orders in
    their first hours, T in years): P(alive) is then 0, its limit, and no overflow warning is printed.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))  # noqa: N806
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds_dead = np.where(
            x > 0,
            params.a / (params.b + x - 1) * ((params.alpha + T) / (params.alpha + t_x)) ** (params.r + x),
            0.0,
        )
    return 1.0 / (1.0 + odds_dead)


def bgnbd_expected_purchases(
    params: BgNbd,
    t: float,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """Return E[purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10).

    At a = 1 the formula is 0/0; the expectation is continuous in a, and within A_STEP of 1 it is
    interpolated between its values at 1 - A_STEP and 1 + A_STEP (an error of order A_STEP squared, below
    that of scipy's 2F1, about 1e-5 relative at worst near a = 1).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))  # noqa: N806
    if abs(a - 1) < A_STEP:
        below = _future_if_alive(r, alpha, 1 - A_STEP, b, t, x, T)
        above = _future_if_alive(r, alpha, 1 + A_STEP, b, t, x, T)
        future = below + (above - below) * (a - (1 - A_STEP)) / (2 * A_STEP)
    else:
        future = _future_if_alive(r, alpha, a, b, t, x, T)
    return future * bgnbd_p_alive(params, x, t_x, T)


def _future_if_alive(
    r: float,
    alpha: float,
    a: float,
    b: float,
    t: float,
    x: np.ndarray,
    T: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """Return eq. 10 before P(alive): (a+b+x-1)/(a-1) (1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(...)).

    The hypergeometric term is taken after Euler's transformation, which keeps the series small for
    customers with many purchases (Fader & Hardie's note on the #NUM! error). Where scipy's 2F1 overflows
    in that form (a above about 2 and z near 1: a young customer, a horizon long beside alpha + T), the
    published form's series, whose terms are all positive, is summed in log space.
    """
    z = t / (alpha + T + t)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        decay = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    overflowed = ~np.isfinite(decay)
    if overflowed.any():  # once per distinct (x, T): a few hundred at most, whatever the customers
        rows = np.stack([x[overflowed], z[overflowed]], axis=1)
        pairs, where = np.unique(rows, axis=0, return_inverse=True)
        summed = np.array(
            [
                np.exp((r + xi) * np.log1p(-zi) + _log_positive_hyp2f1(r + xi, b + xi, a + b + xi - 1, zi))
                for xi, zi in pairs
            ]
        )
        decay[overflowed] = summed[where.ravel()]
    return (a + b + x - 1) / (a - 1) * (1 - decay)


def _log_positive_hyp2f1(first: float, second: float, third: float, z: float, chunk: int = 4096) -> float:
    """Return log 2F1(first, second; third; z) for positive parameters and 0 <= z < 1, summed in log space.

    Every term is positive, so the sum is a log-sum-exp of the terms' logs; it runs in chunks until the
    next term is below 1e-18 of the sum and the terms are falling (then the rest, falling at least as fast
    as a geometric series of ratio below 1, cannot reach it).
    """
    total, log_term, start = -np.inf, 0.0, 0
    while start < 50_000_000:
        k = np.arange(start, start + chunk, dtype=float)
        log_ratios = np.log(first + k) + np.log(second + k) - np.log(third + k) - np.log(k + 1) + np.log(z)
        log_terms = log_term + np.concatenate(([0.0], np.cumsum(log_ratios[:-1])))
        total = np.logaddexp(total, np.logaddexp.reduce(log_terms))
        log_term = log_terms[-1] + log_ratios[-1]
        start += chunk
        if log_ratios[-1] < 0 and log_term - np.log1p(-np.exp(log_ratios[-1])) < total - 41.5:
            return float(total)
    return float("nan")


def gamma_gamma_log_likelihood(params: GammaGamma, x: np.ndarray, m_x: np.ndarray) -> np.ndarray:
    """Return the log-density of each average order value m_x over x orders (Fader & Hardie 2013, eq. 3)."""
    m_x = np.asarray(m_x, dtype=float)
    return _gamma_gamma_terms(params, _Levels.of(x), m_x, np.log(m_x))[0]


def gamma_gamma_expected_value(params: GammaGamma, x: np.ndarray, m_x: np.ndarray) -> np.ndarray:
    """Return E[order value | x, m_x]: the population mean p*gamma/(q-1) shrunk towards m_x (eq. 5).

    A customer without repeat purchases (x = 0) gets params.population_mean. For the others the formula
    holds where p*x + q > 1; elsewhere the posterior has no mean, and they get their own mean m_x.
    """
    p, q, gamma = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m_x = np.where(x > 0, np.asarray(m_x, dtype=float), 0.0)
    denominator = p * x + q - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        shrunk = (p * (gamma + x * m_x)) / denominator
    return np.where(x == 0, params.population_mean, np.where(denominator > 0, shrunk, m_x))


def _bgnbd_negative_log_likelihood(
    log_params: np.ndarray,
    x: _Levels,
    t_x: _Levels,
    T: _Levels,  # noqa: N803
    count: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Return the negative log-likelihood of BG/NBD and its gradient in log-parameters.

    Row i stands for count[i] customers of the same (x, t_x, T), so its terms are weighted by count[i].
    The terms are bgnbd_log_likelihood's (_bgnbd_terms).
    """
    r, alpha, a, b = np.exp(log_params)
    xs = x.array
    common, alive, died, log_alpha_t, log_alpha_t_x = _bgnbd_terms(BgNbd(r, alpha, a, b), x, t_x, T)
    total = np.logaddexp(alive, died)
    w_alive, w_died = np.exp(alive - total), np.exp(died - total)  # posterior weights of the two branches
    digamma_a_b_x = x.map(lambda v: digamma(a + b + v))
    gradient = np.array(
        [
            count
            @ (
                x.map(lambda v: digamma(r + v) - digamma(r) + np.log(alpha))
                - w_alive * log_alpha_t
                - w_died * log_alpha_t_x
            ),
            count
            @ (r / alpha - w_alive * (r + xs) / (alpha + T.array) - w_died * (r + xs) / (alpha + t_x.array)),
            count @ (digamma(a + b) - digamma_a_b_x + w_died / a),
            count
            @ (
                x.map(lambda v: digamma(b + v))
                - digamma_a_b_x
                - digamma(b)
                + digamma(a + b)
                - w_died / x.map(lambda v: np.where(v > 0, b + v - 1, 1.0))
            ),
        ]
    )
    value = -float(count @ (common + total))
    if not np.isfinite(value):
        return 1e300, np.zeros(4)
    return value, -gradient * np.exp(log_params)


def _gamma_gamma_negative_log_likelihood(
    log_params: np.ndarray, x: _Levels, m_x: np.ndarray, log_m_x: np.ndarray
) -> tuple[float, np.ndarray]:
    """Return the summed negative log-likelihood of Gamma-Gamma and its gradient in log-parameters.

    The terms are gamma_gamma_log_likelihood's (_gamma_gamma_terms; log_m_x = log(m_x), computed once).
    """
    p, q, gamma = np.exp(log_params)
    xs = x.array
    log_density, log_total = _gamma_gamma_terms(GammaGamma(p, q, gamma), x, m_x, log_m_x)
    value = -float(np.sum(log_density))
    digamma_p_x_q = x.map(lambda v: digamma(p * v + q))
    gradient = np.array(
        [
            np.sum(
                xs * (digamma_p_x_q - x.map(lambda v: digamma(p * v)) + log_m_x + x.map(np.log) - log_total)
            ),
            np.sum(digamma_p_x_q - digamma(q) + np.log(gamma) - log_total),
            np.sum(q / gamma - (p * xs + q) / (gamma + m_x * xs)),
        ]
    )
    if not np.isfinite(value):
        return 1e300, np.zeros(3)
    return value, -gradient * np.exp(log_params)


def _minimise(objective, start: np.ndarray, args: tuple, upper: list[float]) -> np.ndarray:
    """Return the positive parameters minimising an objective with gradient, searched on the log scale."""
    result = minimize(
        objective,
        np.log(start),
        args=args,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-9.0, bound) for bound in upper],
        options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 2000},
    )
    return np.exp(result.x)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BgNbd:  # noqa: N803
    """Return the maximum-likelihood BG/NBD parameters for customers (x, t_x, T).

    Customers of the same (x, t_x, T) add the same terms to the likelihood: each distinct triple is
    computed once, weighted by its customers (a synthetic date of 186,000 customers has 114,000).
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))  # noqa: N806
    start = np.array([1.0, max(float(np.mean(T)), 1e-3), 1.0, 1.0])
    distinct = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).groupby(["x", "t_x", "T"], sort=True).size()
    summaries = tuple(distinct.index.get_level_values(level).to_numpy(dtype=float) for level in range(3))
    # a and b are capped near 1,100: beyond, a population without visible dropout gains no likelihood and
    # the hypergeometric series of the expectation overflows
    r, alpha, a, b = _minimise(
        _bgnbd_negative_log_likelihood,
        start,
        (*(_Levels.of(summary) for summary in summaries), distinct.to_numpy(dtype=float)),
        [7.0, 12.0, 7.0, 7.0],
    )
    return BgNbd(r=float(r), alpha=float(alpha), a=float(a), b=float(b))


def fit_gamma_gamma(x: np.ndarray, m_x: np.ndarray) -> GammaGamma:
    """Return the maximum-likelihood Gamma-Gamma parameters from repeat customers (x >= 1, m_x > 0).

    Without any such customer (a cutoff before anyone bought twice) there is nothing to fit: the parameters
    are NaN, and so are the order values and BTYD revenue predicted with them (LightGBM reads a missing
    feature).
    """
    x, m_x = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    if len(x) == 0:
        return GammaGamma(p=float("nan"), q=float("nan"), gamma=float("nan"))
    scale = order_value_scale(m_x)
    scaled = m_x / scale
    start = np.array([2.0, 3.0, max(float(np.mean(scaled)), 1e-3)])
    arguments = (_Levels.of(x), scaled, np.log(scaled))
    p, q, gamma = _minimise(_gamma_gamma_negative_log_likelihood, start, arguments, [7.0, 7.0, 16.0])
    return GammaGamma(p=float(p), q=float(q), gamma=float(gamma) * scale, repeat_mean=float(np.mean(m_x)))


def order_value_scale(m_x: np.ndarray) -> float:
    """Return the power of ten Gamma-Gamma divides order values by before its fit: 1 up to SCALE_ABOVE.

    The fit searches log(gamma) below 16 (gamma below 8.9 million), and gamma grows with the order values
    (p and q do not: scaling every m_x by s scales the maximum-likelihood gamma by s and nothing else). A
    shop whose mean repeat order value is in the millions (a B2B shop, a currency of small units) met that
    bound, and the fit returned other p and q, off by a factor of 100 at 1e8. Above SCALE_ABOVE the values
    are brought to between 100 and 1,000 for the fit, and gamma is scaled back.
    """
    mean = float(np.mean(m_x))
    if not mean > SCALE_ABOVE:
        return 1.0
    return float(10.0 ** (np.floor(np.log10(mean)) - 2))


def btyd_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Return x, t_x, T (weeks) and m_x for every row of a customer_features frame."""
    x = frame["order_days_lifetime"].to_numpy(dtype=float) - 1
    first = frame["days_since_first_order"].to_numpy(dtype=float)
    last = frame["days_since_last_order"].to_numpy(dtype=float)
    repeat_revenue = frame["revenue_lifetime"].to_numpy(dtype=float) - frame[
        "first_order_day_revenue"
    ].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m_x = np.where(x > 0, repeat_revenue / np.maximum(x, 1), np.nan)
    return pd.DataFrame(
        {"x": x, "t_x": (first - last) / DAYS_PER_UNIT, "T": first / DAYS_PER_UNIT, "m_x": m_x},
        index=frame.index,
    )


def fit_btyd(inputs: pd.DataFrame) -> tuple[BgNbd, GammaGamma]:
    """Return BG/NBD fitted on every customer and Gamma-Gamma on those with a positive repeat value."""
    bgnbd = fit_bgnbd(inputs["x"], inputs["t_x"], inputs["T"])
    repeat = (inputs["x"] > 0) & (inputs["m_x"] > 0)
    gamma_gamma = fit_gamma_gamma(inputs.loc[repeat, "x"], inputs.loc[repeat, "m_x"])
    return bgnbd, gamma_gamma


def repeat_customers(inputs: pd.DataFrame) -> int:
    """Return how many customers of btyd_inputs rows have a repeat purchase of positive value (x, m_x > 0)."""
    return int(((inputs["x"] > 0) & (inputs["m_x"] > 0)).sum())


def identified_fit(inputs: pd.DataFrame) -> bool:
    """Return whether BG/NBD and Gamma-Gamma can be fitted on these customers (MIN_FIT_CUSTOMERS, and
    MIN_REPEAT_CUSTOMERS of them with a repeat purchase of positive value)."""
    return len(inputs) >= MIN_FIT_CUSTOMERS and repeat_customers(inputs) >= MIN_REPEAT_CUSTOMERS


def btyd_parameters(fitted: tuple[BgNbd, GammaGamma]) -> dict[str, dict[str, Any]]:
    """Return a fit's parameters as plain numbers, as model metadata stores them (btyd_from_parameters)."""
    bgnbd, gamma_gamma = fitted
    return {"bgnbd": asdict(bgnbd), "gamma_gamma": asdict(gamma_gamma)}


def btyd_from_parameters(parameters: dict[str, dict[str, Any]]) -> tuple[BgNbd, GammaGamma]:
    """Return the fit btyd_parameters stored."""
    return BgNbd(**parameters["bgnbd"]), GammaGamma(**parameters["gamma_gamma"])


def predict_btyd(
    inputs: pd.DataFrame, bgnbd: BgNbd, gamma_gamma: GammaGamma, horizon_days: int
) -> pd.DataFrame:
    """Return expected purchases in the horizon, P(alive), expected order value and expected revenue."""
    x, t_x, T = inputs["x"], inputs["t_x"], inputs["T"]  # noqa: N806
    purchases = bgnbd_expected_purchases(bgnbd, horizon_days / DAYS_PER_UNIT, x, t_x, T)
    # customers with a refund-only repeat history fall back to the population mean (x treated as 0)
    usable = (inputs["x"] > 0) & (inputs["m_x"] > 0)
    order_value = gamma_gamma_expected_value(
        gamma_gamma, np.where(usable, inputs["x"], 0), np.where(usable, inputs["m_x"], 0)
    )
    return pd.DataFrame(
        {
            "btyd_expected_purchases": purchases,
            "btyd_p_alive": bgnbd_p_alive(bgnbd, x, t_x, T),
            "btyd_expected_order_value": order_value,
            "btyd_revenue": purchases * order_value,
        },
        index=inputs.index,
    )


def btyd_by_cutoff(
    frame: pd.DataFrame, horizon_days: int, fitted_on: pd.Series | None = None
) -> pd.DataFrame:
    """Return BTYD predictions for every row, with BG/NBD and Gamma-Gamma fitted per cutoff on its rows.

    fitted_on (booleans aligned with the frame) limits the fits to those rows; every row is predicted. A
    cutoff too small to fit them on (identified_fit: a shop's first months, a few test orders before its
    launch) gets the fit of the nearest later cutoff that is not, as scoring gives such a date the fit of a
    larger one (ml.score.fit_date_btyd): fitted on two customers, one repeat customer who had bought on two
    days in a row got P(alive) 7e-10 and BTYD revenue 9e-9 as training features. With no such later cutoff,
    the cutoff is fitted on its own rows.
    """
    parts = []
    later: tuple[BgNbd, GammaGamma] | None = None
    for _, rows in reversed(list(frame.groupby("cutoff_date", sort=True))):  # the latest cutoff first
        inputs = btyd_inputs(rows)
        fit_inputs = inputs if fitted_on is None else inputs[fitted_on.loc[rows.index].to_numpy(dtype=bool)]
        identified = identified_fit(fit_inputs)
        fitted = fit_btyd(fit_inputs) if identified or later is None else later
        if identified:
            later = fitted
        parts.append(predict_btyd(inputs, *fitted, horizon_days))
    return pd.concat(parts).reindex(frame.index)

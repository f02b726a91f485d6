"""BG/NBD and Gamma-Gamma: their parameters, log-likelihoods and predictions (the fits: ml.btyd_fit).

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a customer buys at
rate lambda ~ Gamma(r, alpha); after every repeat purchase the customer dies with probability p ~ Beta(a, b).
A customer is summarised by x (repeat purchases), t_x (time of the last purchase) and T (time since the
first purchase), all measured from the first purchase. Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma
model of monetary value"): order values ~ Gamma(p, nu) around a customer mean with nu ~ Gamma(q, gamma),
fitted on the average repeat-order value m_x of customers with x >= 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, gammaln, hyp2f1


@dataclass(frozen=True)
class BgNbd:
    """Fitted BG/NBD parameters."""

    r: float
    alpha: float
    a: float
    b: float


A_STEP = 1e-4  # at |a - 1| below it, BG/NBD's expectation is interpolated between 1 - A_STEP and 1 + A_STEP
MEAN_NEEDS_Q_ABOVE = 2.0  # Gamma-Gamma's own population mean is used only where its spend rate has a variance


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
class Levels:
    """An array kept with its distinct values and, per element, the position of its value among them.

    The likelihoods apply special functions (gammaln, betaln, digamma) to x, and logs to t_x and T, at
    every step of the fit; x takes a few dozen values, and t_x and T (whole days in weeks) a few hundred,
    so each function is computed once per distinct value and gathered: the same numbers, computed once.
    """

    values: np.ndarray  # sorted distinct values
    index: np.ndarray  # values[index] is the array
    array: np.ndarray

    @classmethod
    def of(cls, array: np.ndarray) -> Levels:
        array = np.asarray(array, dtype=float)
        values, index = np.unique(array, return_inverse=True)
        return cls(values, index, array)

    def map(self, function) -> np.ndarray:
        """Return function(array), computed on the distinct values (function works elementwise)."""
        return function(self.values)[self.index]


def bgnbd_terms(
    params: BgNbd,
    x: Levels,
    t_x: Levels,
    T: Levels,  # noqa: N803
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


def gamma_gamma_terms(
    params: GammaGamma, x: Levels, m_x: np.ndarray, log_m_x: np.ndarray
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
    common, alive, died, _, _ = bgnbd_terms(params, *(Levels.of(v) for v in (x, t_x, T)))
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
    return gamma_gamma_terms(params, Levels.of(x), m_x, np.log(m_x))[0]


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

"""BG/NBD and Gamma-Gamma fitted by maximum likelihood with scipy (the models: ml.btyd_models).

Both likelihoods come with their gradients in log-parameters, and L-BFGS-B searches the log scale within
bounds; customers of the same summary add the same terms, so each distinct one is computed once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma

from ml.btyd_models import BgNbd, GammaGamma, Levels, bgnbd_terms, gamma_gamma_terms

# Mean repeat order value above which Gamma-Gamma is fitted on values scaled down (order_value_scale)
SCALE_ABOVE = 1e4


def _bgnbd_negative_log_likelihood(
    log_params: np.ndarray,
    x: Levels,
    t_x: Levels,
    T: Levels,  # noqa: N803
    count: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Return the negative log-likelihood of BG/NBD and its gradient in log-parameters.

    Row i stands for count[i] customers of the same (x, t_x, T), so its terms are weighted by count[i].
    The terms are bgnbd_log_likelihood's (bgnbd_terms).
    """
    r, alpha, a, b = np.exp(log_params)
    xs = x.array
    common, alive, died, log_alpha_t, log_alpha_t_x = bgnbd_terms(BgNbd(r, alpha, a, b), x, t_x, T)
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
    log_params: np.ndarray, x: Levels, m_x: np.ndarray, log_m_x: np.ndarray
) -> tuple[float, np.ndarray]:
    """Return the summed negative log-likelihood of Gamma-Gamma and its gradient in log-parameters.

    The terms are gamma_gamma_log_likelihood's (gamma_gamma_terms; log_m_x = log(m_x), computed once).
    """
    p, q, gamma = np.exp(log_params)
    xs = x.array
    log_density, log_total = gamma_gamma_terms(GammaGamma(p, q, gamma), x, m_x, log_m_x)
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
        (*(Levels.of(summary) for summary in summaries), distinct.to_numpy(dtype=float)),
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
    arguments = (Levels.of(x), scaled, np.log(scaled))
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

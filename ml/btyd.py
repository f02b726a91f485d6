"""The buy-till-you-die baseline on the feature mart: BG/NBD and Gamma-Gamma inputs, fits and predictions.

The models (their likelihoods and predictions) are ml.btyd_models, their maximum-likelihood fits
ml.btyd_fit; this module feeds them the mart's rows, per cutoff, and returns their predictions as features.

Inputs come from marts.customer_features columns (a BTYD input is arithmetic on mart columns, never a
re-aggregation of orders): x = order_days_lifetime - 1, t_x = days_since_first_order - days_since_last_order,
T = days_since_first_order, m_x = (revenue_lifetime - first_order_day_revenue) / x; time in weeks.
A purchase is a day with a completed order, as in lifetimes (`summary_data_from_transaction_data`, freq "D"):
BG/NBD allows one purchase per period, and a wholesale customer with dozens of orders a day, counted by
order, looked dead to it (P(alive) about 1e-7) however recently it bought.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from ml.btyd_fit import fit_bgnbd, fit_gamma_gamma
from ml.btyd_models import (
    BgNbd,
    GammaGamma,
    bgnbd_expected_purchases,
    bgnbd_p_alive,
    gamma_gamma_expected_value,
)

DAYS_PER_UNIT = 7.0  # BTYD time unit: weeks, as in the published CDNOW fits
BTYD_FEATURES = ("btyd_expected_purchases", "btyd_p_alive", "btyd_expected_order_value", "btyd_revenue")
# The fewest customers, and customers with a repeat purchase of positive value, a fit is made on: BG/NBD has
# four parameters and Gamma-Gamma three, fitted on the repeat customers alone, who are also BG/NBD's only
# evidence of dropout. With fewer the likelihood rises without a maximum and the fit runs to the bounds of
# its search: on one repeat customer, bought twice in two days, P(alive) was 1.5e-8 (identified_fit).
MIN_FIT_CUSTOMERS = 4
MIN_REPEAT_CUSTOMERS = 3


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
    larger one (ml.score_btyd.fit_date_btyd): fitted on two customers, one repeat customer who had bought
    on two days in a row got P(alive) 7e-10 and BTYD revenue 9e-9 as training features. With no such later
    cutoff, the cutoff is fitted on its own rows.
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

"""What a practitioner would use instead of the model, scored on the same customers at the same cutoff.

Each baseline returns (predicted revenue in the horizon, churn probability) for the rows of a
customer_features frame:
- persistence: the revenue of the last horizon-length window before the cutoff repeats; churn = no order
  in that window;
- naive rate: revenue / tenure x horizon; churn = P(no order) of a Poisson process at the order rate;
- BG/NBD + Gamma-Gamma fitted at the cutoff (ml.btyd); churn scored by expected purchases, as
  P(no purchase) = exp(-expected purchases), since P(alive) ranks one-time buyers poorly;
- LightGBM on the RFM columns only (recency, frequency, monetary, tenure), untuned, Tweedie and binary.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.features import RFM_FEATURES, model_matrix

PERSISTENCE_WINDOWS = (30, 90, 180, 365)  # the windows customer_features has revenue_<N>d and orders_<N>d for
RFM_PARAMS: dict[str, Any] = {"seed": 7, "deterministic": True, "num_threads": 1, "verbose": -1}
RFM_ROUNDS = 100


def require_persistence_window(horizon_days: int) -> None:
    """Stop with one sentence when the feature mart has no order window of the horizon's length."""
    if horizon_days not in PERSISTENCE_WINDOWS:
        raise SystemExit(
            f"The persistence baseline needs revenue_{horizon_days}d and orders_{horizon_days}d in "
            f"marts.customer_features, which has windows {PERSISTENCE_WINDOWS} only: add that window to "
            "int_orders_aggregated_to_cutoffs or evaluate one of those horizons."
        )


def persistence(frame: pd.DataFrame, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Return last window's revenue as the prediction and 'no order in the last window' as churn."""
    require_persistence_window(horizon_days)
    revenue = frame[f"revenue_{horizon_days}d"].to_numpy(dtype=float)
    churn = (frame[f"orders_{horizon_days}d"].to_numpy(dtype=float) == 0).astype(float)
    return np.clip(revenue, 0.0, None), churn


def naive_rate(frame: pd.DataFrame, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Return revenue per day of tenure times the horizon, and P(no order) at the order rate."""
    tenure = np.maximum(frame["tenure_days"].to_numpy(dtype=float), 1.0)
    revenue = frame["revenue_lifetime"].to_numpy(dtype=float) / tenure * horizon_days
    orders = frame["orders_lifetime"].to_numpy(dtype=float) / tenure * horizon_days
    return np.clip(revenue, 0.0, None), np.exp(-orders)


def btyd(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the BG/NBD + Gamma-Gamma revenue and exp(-expected purchases) from a frame's BTYD columns."""
    revenue = frame["btyd_revenue"].to_numpy(dtype=float)
    return np.clip(revenue, 0.0, None), np.exp(-frame["btyd_expected_purchases"].to_numpy(dtype=float))


def fit_rfm_lightgbm(train: pd.DataFrame) -> dict[str, lgb.Booster]:
    """Return untuned LightGBM boosters on the RFM columns: Tweedie for revenue, binary for churn."""
    matrix = model_matrix(train, RFM_FEATURES, {})
    targets = {
        "clv": ("tweedie", train["label_revenue"].to_numpy(dtype=float)),
        "churn": ("binary", train["label_is_churned"].to_numpy(dtype=float)),
    }
    return {
        name: lgb.train({**RFM_PARAMS, "objective": objective}, lgb.Dataset(matrix, label=label), RFM_ROUNDS)
        for name, (objective, label) in targets.items()
    }


def rfm_lightgbm(boosters: dict[str, lgb.Booster], frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the RFM-only LightGBM revenue and churn probability for a frame."""
    matrix = model_matrix(frame, RFM_FEATURES, {})
    return np.clip(boosters["clv"].predict(matrix), 0.0, None), boosters["churn"].predict(matrix)


def all_baselines(
    train: pd.DataFrame, test: pd.DataFrame, horizon_days: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return every baseline's (revenue, churn probability) on the test rows, RFM LightGBM fitted on train."""
    return {
        "bgnbd_gamma_gamma": btyd(test),
        "lightgbm_rfm": rfm_lightgbm(fit_rfm_lightgbm(train), test),
        "naive_rate": naive_rate(test, horizon_days),
        "persistence": persistence(test, horizon_days),
    }

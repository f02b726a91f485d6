"""Turn a customer_features frame into a model matrix the same way at training and at scoring.

The model reads the mart's columns as they are, plus the outputs of BG/NBD + Gamma-Gamma fitted at each
cutoff on that cutoff's customers (model outputs, not features recomputed from orders).
"""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from ml.btyd import BTYD_FEATURES, btyd_by_cutoff

# The recency, frequency, monetary and tenure columns of the mart: the inputs of the RFM-only baseline.
RFM_FEATURES = ["days_since_last_order", "orders_lifetime", "revenue_lifetime", "days_since_first_order"]


def with_btyd_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Return the frame with the BTYD predictions for the horizon added, fitted separately per cutoff."""
    predictions = btyd_by_cutoff(frame, horizon_days)
    return pd.concat([frame.drop(columns=list(BTYD_FEATURES), errors="ignore"), predictions], axis=1)


def categorical_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    """Return, for every text feature, its sorted distinct values: the levels the model will know."""
    return {
        column: sorted(frame[column].dropna().astype(str).unique().tolist())
        for column in features
        if not is_numeric_dtype(frame[column]) and not is_bool_dtype(frame[column])
    }


def model_matrix(frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]) -> pd.DataFrame:
    """Return the features as numbers, text features as categoricals with the training levels."""
    matrix = pd.DataFrame(index=frame.index)
    for column in features:
        if column in levels:
            values = frame[column].astype("object")
            # a level training never saw is missing (null), as LightGBM treats an unseen category
            values = values.where(values.isin(levels[column]))
            matrix[column] = pd.Categorical(values, categories=levels[column])
        else:
            matrix[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return matrix

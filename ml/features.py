"""Turn a customer_features frame into a model matrix the same way at training and at scoring."""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype


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
            matrix[column] = pd.Categorical(frame[column].astype("object"), categories=levels[column])
        else:
            matrix[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return matrix

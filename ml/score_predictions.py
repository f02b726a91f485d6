"""Pass 1 of scoring over one chunk of customers: the boosters' and BG/NBD's predictions and the reasons.

ml.score streams the mart's chunks through iter_raw_scores and keeps what it yields between its two passes.
A chunk becomes the float matrix LightGBM would make of ml.features.model_matrix's frame (model_input, once
for all boosters), gets the boosters' raw predictions (from their compiled code, ml.compiled, when given),
BG/NBD + Gamma-Gamma's from the date's fit (ml.score_btyd.chunk_btyd) and, unless reasons are switched
off, the top three SHAP reasons for churn and for value (LightGBM's own pred_contrib, ml.explain).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml import compiled as native
from ml import explain
from ml.blend import calibrated_churn
from ml.btyd import BTYD_FEATURES
from ml.btyd_models import BgNbd, GammaGamma
from ml.clv import VALUE_COLUMNS, orders_per_order_day
from ml.compiled import CompiledBooster, prediction_threads
from ml.data import arrow_floats
from ml.features import model_matrix
from ml.score_btyd import chunk_btyd

# Threads of LightGBM's predictions and SHAP contributions: every core (0: OpenMP's count, which
# OMP_NUM_THREADS caps), as training uses (ml.fitting). A prediction is one parallel loop over rows, which two
# threads on the 2-core target ran in 0.6-0.7x the wall time of one, even with other work on the machine
# (docs/benchmarks.md).
PREDICT_THREADS = 0


@dataclass
class RawChunk:
    """Pass 1's outputs for one chunk of customers: raw predictions, reasons, the mart columns rows need.

    `values` holds the VALUE_COLUMNS of the chunk's mart rows; `raw` the boosters' predictions and BG/NBD's
    (btyd_revenue, btyd_churn, btyd_orders: its expected purchases times orders_per_order_day); the
    reasons are None without reasons.
    """

    values: pa.Table
    raw: dict[str, np.ndarray]
    churn_reasons: np.ndarray | None
    value_reasons: np.ndarray | None


def chunk_reasons(
    boosters: dict[str, lgb.Booster],
    matrix: pd.DataFrame | np.ndarray,
    features: list[str],
    calibration: dict[str, Any],
    churn_probability: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the churn and value reasons of a chunk from LightGBM's SHAP contributions (pred_contrib).

    Value reasons come from the booster that ranks revenue: the Tweedie one, or for the hurdle form the
    spend booster with the churn booster's first-order effect on log(1 - p) (ml.explain).
    """
    churn_contrib = explain.contributions(boosters["churn"], matrix, PREDICT_THREADS)
    value_contrib = explain.value_contributions(
        boosters, matrix, calibration, churn_probability, churn_contrib, PREDICT_THREADS
    )
    return (
        explain.join_reasons(explain.top_reasons(churn_contrib, features, "churn")),
        explain.join_reasons(explain.top_reasons(value_contrib, features, "clv")),
    )


def _level_codes(column: pa.ChunkedArray, levels: list[str]) -> np.ndarray:
    """Return each value's position in the training levels as a float, NaN for a null or unseen value."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        codes = pc.index_in(column, value_set=pa.array(levels, type=column.type))
        return pc.cast(codes, pa.float64()).to_numpy(zero_copy_only=False)
    values = column.to_pandas().astype("object")
    codes = pd.Categorical(values.where(values.isin(levels)), categories=levels).codes  # as model_matrix
    return np.where(codes < 0, np.nan, codes)


def model_input(
    table: pa.Table, btyd: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> np.ndarray:
    """Return the (rows x features) float matrix LightGBM makes of ml.features.model_matrix's frame.

    Numbers as float64 (null as NaN), text features as the codes of their training levels (a null or an
    unseen value as NaN), the BTYD features from `btyd` (aligned with the table's rows): LightGBM's own
    conversion of that DataFrame, done once per chunk for all boosters and without building the frame.
    """
    matrix = np.empty((table.num_rows, len(features)))
    for position, column in enumerate(features):
        if column in BTYD_FEATURES:
            matrix[:, position] = btyd[column].to_numpy(dtype=float)
        elif column in levels:
            matrix[:, position] = _level_codes(table.column(column), levels[column])
        else:
            matrix[:, position] = arrow_floats(table.column(column))
    return matrix


def iter_raw_scores(
    chunks: Iterable[pa.Table],
    btyd: tuple[BgNbd, GammaGamma],
    boosters: dict[str, lgb.Booster],
    metadata: dict[str, Any],
    with_reasons: bool = True,
    compiled: dict[str, CompiledBooster] | None = None,
) -> Iterator[RawChunk]:
    """Yield pass 1 over the mart's chunks (Arrow tables): predictions, reasons, value columns.

    `btyd` is the date's fit (fit_date_btyd), predicted for each chunk's rows. `compiled` (ml.compiled)
    predicts instead of LightGBM when given, for the float matrix of model_input.
    """
    calibration = metadata.get("calibration") or {"form": "tweedie"}
    features, levels = metadata["features"], metadata["categorical_levels"]
    horizon_days = int(metadata["horizon_days"])
    as_arrays = native.same_category_order(boosters, features, levels)
    threads = prediction_threads()
    for table in chunks:
        matched = chunk_btyd(table, btyd, horizon_days)
        if as_arrays:
            matrix = model_input(table, matched, features, levels)
        else:  # boosters with other category orders: LightGBM recodes model_matrix's frame itself
            frame = table.drop_columns([c for c in BTYD_FEATURES if c in table.column_names]).to_pandas()
            frame[list(BTYD_FEATURES)] = matched[list(BTYD_FEATURES)].to_numpy(dtype=float)
            matrix = model_matrix(frame, features, levels)
        if as_arrays and compiled:
            raw = {name: compiled[name].predict(matrix, threads) for name in boosters}
        else:
            raw = {name: boosters[name].predict(matrix, num_threads=PREDICT_THREADS) for name in boosters}
        raw["btyd_revenue"] = matched["btyd_revenue"].to_numpy(dtype=float)
        purchases = matched["btyd_expected_purchases"].to_numpy(dtype=float)  # days with an order
        raw["btyd_churn"] = np.exp(-purchases)
        # predicted_orders counts orders: a wholesale buyer's day of five free orders is five
        raw["btyd_orders"] = purchases * orders_per_order_day(table)
        if with_reasons:
            churn_reasons, value_reasons = chunk_reasons(
                boosters, matrix, features, calibration, calibrated_churn(raw, calibration)
            )
        else:
            churn_reasons = value_reasons = None
        yield RawChunk(table.select(list(VALUE_COLUMNS)), raw, churn_reasons, value_reasons)

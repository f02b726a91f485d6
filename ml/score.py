"""Score every customer at the scoring date with the champion and publish the rows to scores.customer_scores.

Scoring reads the feature mart a chunk of customers at a time, and what it keeps between its two passes
waits in DuckDB, which spills to disk beyond CVW_DUCKDB_MEMORY_LIMIT, so memory holds one chunk (and the
BG/NBD fit's sample, at most about CVW_TRAIN_MAX_CUSTOMERS rows) whatever the number of customers:
1. BG/NBD + Gamma-Gamma are fitted as at training: on the date's customers in the model's training sample
   (all of them below CVW_TRAIN_MAX_CUSTOMERS; never more than about that many; ml.score_btyd's
   fit_date_btyd reads only their five input columns). One query then streams the date's rows in
   customer_id order, only the columns the model, BG/NBD and the score rows use, as Arrow chunks
   (ml.publish_scores.iter_arrow_chunks). Each chunk gets its BG/NBD + Gamma-Gamma predictions from the
   date's fit (chunk_btyd), becomes the float matrix LightGBM would make of ml.features.model_matrix's
   frame (model_input, once for all boosters), gets the boosters' raw predictions (from their compiled
   code, ml.compiled, for dates of COMPILE_MIN_ROWS customers or more) and, unless reasons are switched
   off, the top three SHAP reasons for churn and for value (LightGBM's own pred_contrib).
   Each chunk is blended at once (calibrated churn, the CLV blend) and kept in a temporary table of the
   warehouse connection (keep_pass1; DuckDB spills it to disk beyond its memory limit), with the two sums
   that set the blend's total over all the date's customers, as in training.
2. The kept chunks are read back one at a time, their revenue scaled to that total, and the score rows are
   built and written in one transaction (ml.publish_scores), which also sets tiers and actions against the
   whole date. The orders booster's orders are scaled to their total over the date the same way
   (ml.calibration.combine_orders); a model saved before that booster predicts revenue / average order
   value, and BG/NBD's expected purchases, days with an order, times the customer's orders per such day
   are kept with each row for its customers whose average order value is 0 (ml.clv.expected_orders).
A mart whose feature columns or their kinds (number, text) differ from the champion's is refused before
anything is written.
Where the time goes at 200k and 1M customers: docs/benchmarks.md, "Scoring and training speed".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.settings import get_settings
from include.unfinished import SCORING_MARTS, require_finished_marts
from include.warehouse import connect, scoring_date
from ml import compiled as native
from ml import explain
from ml.artifacts import load_champion, version_dir
from ml.btyd import (
    BTYD_FEATURES,
)
from ml.btyd_models import BgNbd, GammaGamma
from ml.calibration import calibrated_churn, fit_revenue_scale, unscaled_blend, unscaled_orders
from ml.clv import VALUE_COLUMNS, orders_per_order_day
from ml.compiled import CompiledBooster, prediction_threads
from ml.data import arrow_floats, arrow_strings, date_customers, require_mart_columns
from ml.feature_contract import check_feature_compatibility, mart_feature_types
from ml.features import model_matrix
from ml.publish_scores import DEFAULT_CHUNK_SIZE, build_score_chunk, iter_arrow_chunks, publish_scores
from ml.score_btyd import BTYD_INPUT_COLUMNS, chunk_btyd, fit_date_btyd

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


# Pass 1's rows, kept in the warehouse connection (not in memory) until pass 2 reads them back chunk by chunk.
PASS1_TABLE = "score_pass1"


def scoring_columns(features: list[str]) -> list[str]:
    """Return the mart columns scoring reads per chunk: id, the model's mart features, BTYD inputs, values."""
    mart_features = (column for column in features if column not in BTYD_FEATURES)
    wanted = ["customer_id", *mart_features, *BTYD_INPUT_COLUMNS, *VALUE_COLUMNS]
    return list(dict.fromkeys(wanted))


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


def keep_pass1(
    con: duckdb.DuckDBPyConnection, chunks: Iterable[RawChunk], calibration: dict[str, Any]
) -> tuple[float, float | None]:
    """Write pass 1's blended chunks to the connection's temporary table PASS1_TABLE; return the scales of
    revenue and of the orders booster's orders (None for a model without that booster).

    Each chunk is blended on its own (ml.calibration.unscaled_blend, unscaled_orders); only the totals the
    scales need are summed across chunks, so memory holds one chunk however many customers the date has.
    """
    con.execute(
        f"""
        create or replace temporary table {PASS1_TABLE} (
            chunk integer, position integer, customer_id varchar, revenue_lifetime double,
            avg_order_value double, orders_lifetime bigint, order_days_lifetime bigint,
            days_since_first_order bigint, days_since_last_order bigint, revenue double, churn double,
            btyd_orders double, orders double, churn_reasons varchar, value_reasons varchar
        )
        """
    )
    total_source = total_revenue = orders_source = total_orders = 0.0
    with_orders = False
    for number, chunk in enumerate(chunks):
        revenue, churn, total = unscaled_blend(chunk.raw, calibration)
        total_source += float(np.sum(total))
        total_revenue += float(np.sum(revenue))
        count = chunk.values.num_rows
        booster_orders = unscaled_orders(chunk.raw, calibration)
        orders = np.full(count, np.nan)
        if booster_orders is not None:
            with_orders = True
            orders, source = booster_orders
            orders_source += float(np.sum(source))
            total_orders += float(np.sum(orders))
        none = pa.repeat(pa.scalar("", pa.string()), count)  # without reasons
        columns = {
            "chunk": pa.repeat(pa.scalar(number, pa.int32()), count),
            "position": pa.array(np.arange(count, dtype=np.int32)),
            **{name: chunk.values.column(name) for name in VALUE_COLUMNS},
            "revenue": revenue,
            "churn": churn,
            "btyd_orders": np.asarray(chunk.raw["btyd_orders"], dtype=float),
            "orders": orders,
            "churn_reasons": none if chunk.churn_reasons is None else arrow_strings(chunk.churn_reasons),
            "value_reasons": none if chunk.value_reasons is None else arrow_strings(chunk.value_reasons),
        }
        con.register("pass1_chunk", pa.table(columns))
        try:
            con.execute(f"insert into {PASS1_TABLE} by name select * from pass1_chunk")
        finally:
            con.unregister("pass1_chunk")
    scale = fit_revenue_scale(np.array([total_source]), np.array([total_revenue]))
    orders_scale = fit_revenue_scale(np.array([orders_source]), np.array([total_orders]))
    return scale, orders_scale if with_orders else None


def score_rows(
    con: duckdb.DuckDBPyConnection,
    scales: tuple[float, float | None],
    metadata: dict[str, Any],
    version: str,
    as_of_date: date,
) -> Iterator[pa.Table]:
    """Yield pass 2: the score rows of the date, one pass-1 chunk at a time, its revenue and the orders
    booster's orders times their scales (keep_pass1; revenue / average order value without the booster).

    Every row of the run gets one scored_at, when pass 2 started: a date scored in many chunks is one scoring.
    """
    settings = get_settings()
    scale, orders_scale = scales
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    [(last,)] = con.execute(f"select max(chunk) from {PASS1_TABLE}").fetchall()  # all: the result is done
    for number in range(0 if last is None else last + 1):
        part = con.sql(
            f"select * from {PASS1_TABLE} where chunk = ? order by position", params=[number]
        ).to_arrow_table()
        orders = None if orders_scale is None else part.column("orders").to_numpy() * orders_scale
        yield build_score_chunk(
            part.select(list(VALUE_COLUMNS)),
            part.column("revenue").to_numpy() * scale,
            part.column("churn").to_numpy(),
            part.column("churn_reasons"),
            part.column("value_reasons"),
            as_of_date,
            int(metadata["horizon_days"]),
            version,
            settings.discount_rate_monthly,
            settings.gross_margin_rate,
            predicted_orders=orders,
            fallback_orders=part.column("btyd_orders").to_numpy(),
            scored_at=scored_at,
        )


def score_customers(
    as_of_date: date | None = None,
    warehouse_path: Path | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    with_reasons: bool = True,
) -> int:
    """Score every customer with an order before the scoring date; return the number of rows written."""
    settings = get_settings()
    version, boosters, metadata = load_champion(settings.artifacts_dir, warehouse_path)
    with connect(warehouse_path) as con:
        require_finished_marts(con, SCORING_MARTS, "score")
        as_of_date = as_of_date or settings.as_of_date or scoring_date(con)
        require_mart_columns(con)
        check_feature_compatibility(
            metadata["features"],
            mart_feature_types(con),
            version,
            derived=BTYD_FEATURES,
            feature_types=metadata.get("feature_types"),  # none in a model saved before: names only
        )
        customers = date_customers(con, as_of_date)
        if customers == 0:
            raise SystemExit(f"marts.customer_features has no customer at {as_of_date}: nothing to score.")
        sample_share = float(metadata.get("training_sample_share", 1.0))
        btyd = fit_date_btyd(
            con,
            as_of_date,
            customers,
            sample_share,
            settings.train_max_customers,
            metadata.get("btyd_parameters"),  # none in a model saved before
            version,
        )
        compiled = native.compiled_for_date(
            version_dir(settings.artifacts_dir, version), boosters, metadata, customers
        )
        chunks = iter_arrow_chunks(con, as_of_date, chunk_size, scoring_columns(metadata["features"]))
        raw = iter_raw_scores(chunks, btyd, boosters, metadata, with_reasons, compiled)
        scales = keep_pass1(con, raw, metadata.get("calibration") or {"form": "tweedie"})
        rows = score_rows(con, scales, metadata, version, as_of_date)
        return publish_scores(con, as_of_date, version, rows)

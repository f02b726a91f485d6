"""Score every customer at the scoring date with the champion and publish the rows to scores.customer_scores.

Scoring reads the feature mart a chunk of customers at a time, and what it keeps between its two passes
waits in DuckDB, which spills to disk beyond CVW_DUCKDB_MEMORY_LIMIT, so memory holds one chunk (and the
BG/NBD fit's sample, at most about CVW_TRAIN_MAX_CUSTOMERS rows) whatever the number of customers:
1. BG/NBD + Gamma-Gamma are fitted as at training: on the date's customers in the model's training sample
   (all of them below CVW_TRAIN_MAX_CUSTOMERS; never more than about that many; ml.score_btyd's
   fit_date_btyd reads only their five input columns). One query then streams the date's rows in
   customer_id order, only the columns the model, BG/NBD and the score rows use, as Arrow chunks
   (ml.publish_scores.iter_arrow_chunks). Each chunk (ml.score_predictions) gets its BG/NBD + Gamma-Gamma
   predictions from the date's fit (chunk_btyd), becomes the float matrix LightGBM would make of
   ml.features.model_matrix's frame (model_input, once for all boosters), gets the boosters' raw
   predictions (from their compiled code, ml.compiled, for dates of COMPILE_MIN_ROWS customers or more)
   and, unless reasons are switched off, the top three SHAP reasons for churn and for value (LightGBM's
   own pred_contrib).
   Each chunk is blended at once (calibrated churn, the CLV blend) and kept in a temporary table of the
   warehouse connection (keep_pass1; DuckDB spills it to disk beyond its memory limit), with the two sums
   that set the blend's total over all the date's customers, as in training. When the calibration sets the
   churn probability's level per scored date (below a year of cutoffs: ml.blend.leveled_churn), each
   customer's churn log-odds are kept too and read back alone (8 bytes a customer) to solve that level.
2. The kept chunks are read back one at a time, their revenue scaled to that total, and the score rows are
   built and written in one transaction (ml.publish_scores), which also sets tiers and actions against the
   whole date. The orders booster's orders are scaled to their total over the date the same way
   (ml.blend.combine_orders); a model saved before that booster predicts revenue / average order
   value, and BG/NBD's expected purchases, days with an order, times the customer's orders per such day
   are kept with each row for its customers whose average order value is 0 (ml.clv.expected_orders).
A mart whose feature columns or their kinds (number, text) differ from the champion's is refused before
anything is written.
Where the time goes at 200k and 1M customers: docs/benchmarks.md, "Scoring and training speed".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.special import expit

from include.settings import get_settings
from include.unfinished import SCORING_MARTS, require_finished_marts
from include.warehouse import connect, marts_scoring_date
from ml import compiled as native
from ml.artifacts import load_champion, version_dir
from ml.blend import (
    churn_level,
    churn_log_odds,
    fit_revenue_scale,
    has_churn_level,
    unscaled_blend,
    unscaled_orders,
)
from ml.btyd import (
    BTYD_FEATURES,
)
from ml.clv import VALUE_COLUMNS
from ml.data import arrow_strings, date_customers, require_mart_columns
from ml.feature_contract import check_feature_compatibility, mart_feature_types
from ml.publish_scores import DEFAULT_CHUNK_SIZE, build_score_chunk, iter_arrow_chunks, publish_scores
from ml.score_btyd import BTYD_INPUT_COLUMNS, fit_date_btyd
from ml.score_predictions import RawChunk, iter_raw_scores

# Pass 1's rows, kept in the warehouse connection (not in memory) until pass 2 reads them back chunk by chunk.
PASS1_TABLE = "score_pass1"


def scoring_columns(features: list[str]) -> list[str]:
    """Return the mart columns scoring reads per chunk: id, the model's mart features, BTYD inputs, values."""
    mart_features = (column for column in features if column not in BTYD_FEATURES)
    wanted = ["customer_id", *mart_features, *BTYD_INPUT_COLUMNS, *VALUE_COLUMNS]
    return list(dict.fromkeys(wanted))


def keep_pass1(
    con: duckdb.DuckDBPyConnection, chunks: Iterable[RawChunk], calibration: dict[str, Any]
) -> tuple[float, float | None, float | None]:
    """Write pass 1's blended chunks to the connection's temporary table PASS1_TABLE; return the scales of
    revenue and of the orders booster's orders (None for a model without that booster), and the churn
    probability's level over the date (None unless the calibration sets one: ml.blend.leveled_churn).

    Each chunk is blended on its own (ml.blend.unscaled_blend, unscaled_orders); only the totals the
    scales need are summed across chunks, so memory holds one chunk however many customers the date has.
    The level needs every customer's churn log-odds: they are kept in the table too and read back alone
    (8 bytes a customer) to solve it.
    """
    con.execute(
        f"""
        create or replace temporary table {PASS1_TABLE} (
            chunk integer, position integer, customer_id varchar, revenue_lifetime double,
            avg_order_value double, orders_lifetime bigint, order_days_lifetime bigint,
            days_since_first_order bigint, days_since_last_order bigint, revenue double, churn double,
            btyd_orders double, orders double, churn_log_odds double, churn_reasons varchar,
            value_reasons varchar
        )
        """
    )
    total_source = total_revenue = orders_source = total_orders = 0.0
    with_orders, leveled = False, has_churn_level(calibration)
    btyd_churn_sum, btyd_churn_count = 0.0, 0
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
        log_odds = np.full(count, np.nan)
        if leveled:  # BG/NBD's mean churn over the date, which the level is set to (ml.blend.churn_level)
            log_odds = churn_log_odds(chunk.raw, calibration)
            btyd_churn = np.asarray(chunk.raw["btyd_churn"], dtype=float)
            btyd_churn_sum += float(np.sum(btyd_churn[np.isfinite(btyd_churn)]))
            btyd_churn_count += int(np.isfinite(btyd_churn).sum())
        none = pa.repeat(pa.scalar("", pa.string()), count)  # without reasons
        columns = {
            "chunk": pa.repeat(pa.scalar(number, pa.int32()), count),
            "position": pa.array(np.arange(count, dtype=np.int32)),
            **{name: chunk.values.column(name) for name in VALUE_COLUMNS},
            "revenue": revenue,
            "churn": churn,
            "btyd_orders": np.asarray(chunk.raw["btyd_orders"], dtype=float),
            "orders": orders,
            "churn_log_odds": log_odds,
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
    level = None
    if leveled and btyd_churn_count:
        log_odds = con.sql(f"select churn_log_odds from {PASS1_TABLE} order by chunk, position").fetchnumpy()
        error = calibration["churn_level_error"]
        level = churn_level(log_odds["churn_log_odds"], btyd_churn_sum / btyd_churn_count, error)
    return scale, orders_scale if with_orders else None, level


def score_rows(
    con: duckdb.DuckDBPyConnection,
    scales: tuple[float, float | None, float | None],
    metadata: dict[str, Any],
    version: str,
    as_of_date: date,
) -> Iterator[pa.Table]:
    """Yield pass 2: the score rows of the date, one pass-1 chunk at a time, its revenue and the orders
    booster's orders times their scales (keep_pass1; revenue / average order value without the booster),
    the churn probability sigmoid(log-odds + the date's level) when keep_pass1 solved one.

    Every row of the run gets one scored_at, when pass 2 started: a date scored in many chunks is one scoring.
    """
    settings = get_settings()
    scale, orders_scale, level = scales
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
            part.column("churn").to_numpy()
            if level is None
            else expit(part.column("churn_log_odds").to_numpy() + level),
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
        as_of_date = as_of_date or settings.as_of_date or marts_scoring_date(con)
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

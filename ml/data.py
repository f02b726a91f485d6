"""Read the ML marts into frames: features joined to labels for training, features alone for scoring."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from include.warehouse import require_table

KEY_COLUMNS = ("customer_id", "cutoff_date")
# Columns of marts.customer_features that describe the row rather than the customer: never model inputs.
NON_FEATURE_COLUMNS = frozenset({"customer_id", "cutoff_date", "is_scoring_date"})
LABEL_COLUMNS = ("label_revenue", "label_orders", "label_is_churned")
# The mart's calendar columns: they say when a customer is scored, not who the customer is, so they are never
# a reason (ml.explain) and their drift, one value per cutoff, is not monitored (ml.monitor).
CALENDAR_FEATURES = ("cutoff_month", "days_to_year_end_peak")
# Mart columns the Python code reads by name, not only as model inputs: BG/NBD + Gamma-Gamma's inputs
# (ml.score_btyd.BTYD_INPUT_COLUMNS), the RFM and naive-rate baselines' (ml.features.RFM_FEATURES,
# tenure_days) and what every score row carries (ml.clv.VALUE_COLUMNS). The persistence baseline reads the
# horizon's revenue_<N>d and orders_<N>d as well (persistence_columns).
READ_BY_NAME = (
    "orders_lifetime",
    "revenue_lifetime",
    "days_since_first_order",
    "days_since_last_order",
    "order_days_lifetime",
    "first_order_day_revenue",
    "tenure_days",
    "avg_order_value",
)
# Decimals kept of the marts' floating-point columns. A rebuild of the same data can change sums in their
# last bits (DuckDB adds in parallel, in no fixed order: up to 3e-10 on Online Retail's lifetime revenue),
# which was enough to change the fitted models and their blend weights. Rounded well above that noise and
# far below anything that matters (a hundredth of a cent), the same data gives the same model.
FLOAT_DECIMALS = 4


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return the model inputs among a customer_features frame's columns, in mart order."""
    return [
        column
        for column in frame.columns
        if column not in NON_FEATURE_COLUMNS and column not in LABEL_COLUMNS
    ]


def persistence_columns(horizon_days: int) -> tuple[str, str]:
    """Return the order window columns the persistence baseline reads for a horizon (ml.baselines)."""
    return f"revenue_{horizon_days}d", f"orders_{horizon_days}d"


def require_mart_columns(con: duckdb.DuckDBPyConnection, horizon_days: int | None = None) -> None:
    """Stop with one sentence when marts.customer_features lacks a column the code reads by name.

    With horizon_days (training, evaluation) the persistence baseline's windows are required too. A mart
    that does not exist is left to the callers, whose sentence says to build it.
    """
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'customer_features'"
        ).fetchall()
    }
    wanted = [*READ_BY_NAME, *(persistence_columns(horizon_days) if horizon_days else ())]
    missing = [column for column in wanted if column not in columns]
    if columns and missing:
        raise SystemExit(
            f"marts.customer_features lacks {', '.join(missing)}, which training and scoring read by name "
            "(ml.data.READ_BY_NAME): rebuild it with cvw build --full-refresh (a mart an earlier version "
            'built lacks the columns a later one added: docs/operations.md, "Upgrading a warehouse"), '
            "and if you changed dbt_project/models/marts/ml/customer_features.sql, keep them in it (add a "
            "new column beside one rather than rename it)."
        )


# Hash buckets of the customer sample: a customer is in the sample when hash(customer_id) falls in the
# first `share x SAMPLE_BUCKETS` buckets, so the same customers are sampled at every cutoff and every run.
SAMPLE_BUCKETS = 1_000_000


def in_sample(column: str, sample_share: float) -> tuple[str, list[int]]:
    """Return a SQL condition true for the customers (ids in `column`) of the hash sample of this share,
    and its two parameters: training reads that sample, and scoring fits BG/NBD + Gamma-Gamma on it."""
    return f"hash({column}) % ? < ?", [SAMPLE_BUCKETS, round(sample_share * SAMPLE_BUCKETS)]


def training_sample_share(con: duckdb.DuckDBPyConnection, max_customers: int | None) -> float:
    """Return the share of customers training reads: 1.0, or max_customers over the customers in the marts."""
    if not max_customers:
        return 1.0
    customers = con.execute("select count(distinct customer_id) from marts.customer_features").fetchone()[0]
    return 1.0 if customers <= max_customers else max_customers / customers


def load_training_frame(
    con: duckdb.DuckDBPyConnection, horizon_days: int, sample_share: float = 1.0
) -> pd.DataFrame:
    """Return features at every labelled cutoff joined to their labels for one horizon.

    With sample_share < 1, only a fixed hash sample of customers, the same at every cutoff, is read.
    """
    sampled, sample_parameters = in_sample("features.customer_id", sample_share)
    frame = con.execute(
        f"""
        select
            features.*,
            labels.revenue as label_revenue,
            labels.orders as label_orders,
            labels.is_churned as label_is_churned
        from marts.customer_features as features
        inner join marts.customer_labels as labels
            on features.customer_id = labels.customer_id
            and features.cutoff_date = labels.cutoff_date
        where labels.horizon_days = ?
            and {sampled}
        order by features.cutoff_date, features.customer_id
        """,
        [horizon_days, *sample_parameters],
    ).df()
    if frame.empty:
        raise SystemExit(
            f"No labelled cutoffs for a {horizon_days}-day horizon in marts.customer_labels: "
            "the history is shorter than one cutoff plus the horizon, or the marts were built without "
            f"that horizon; load more history, use a shorter horizon or rebuild with label_horizons "
            f"including {horizon_days}."
        )
    return _with_dates(rounded(frame))


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with its floating-point columns rounded to FLOAT_DECIMALS decimals."""
    floats = frame.select_dtypes(include="floating").columns
    frame[floats] = frame[floats].round(FLOAT_DECIMALS)
    return frame


def rounded_arrow(table: pa.Table) -> pa.Table:
    """Return the Arrow table with its floating-point columns rounded as `rounded` rounds a frame.

    Scoring reads the mart as Arrow: the same rounding as training keeps both on the same inputs. Nulls
    stay null (numpy's rounding of the values, the null mask kept).
    """
    for index, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            column = table.column(index).combine_chunks()
            values = np.round(column.to_numpy(zero_copy_only=False), FLOAT_DECIMALS)
            array = pa.array(values, type=field.type, mask=column.is_null().to_numpy(zero_copy_only=False))
            table = table.set_column(index, field, array)
    return table


def arrow_floats(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return a numeric Arrow column as float64 numbers, a null as NaN."""
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def arrow_strings(values: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Return text values as an Arrow string column (Arrow columns as they are, without a copy)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def date_customers(con: duckdb.DuckDBPyConnection, as_of_date: date) -> int:
    """Return how many customers the feature mart holds at the date."""
    [(customers,)] = con.execute(
        "select count(*) from marts.customer_features where cutoff_date = ?", [as_of_date]
    ).fetchall()
    return int(customers)


def feature_cutoffs(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Return every cutoff date of marts.customer_features, oldest first."""
    require_table(con, "marts", "customer_features", "run the dbt build (cvw build)")
    rows = con.execute("select distinct cutoff_date from marts.customer_features order by 1").fetchall()
    return [pd.Timestamp(row[0]).date() for row in rows]


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the frame with cutoff_date as a Python-comparable datetime64 column."""
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"])
    return frame

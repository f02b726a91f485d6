"""BG/NBD + Gamma-Gamma for a scoring date: fitted once on the date's sample, predicted chunk by chunk.

The model reads BTYD predictions as features (ml.btyd.BTYD_FEATURES), so scoring fits BG/NBD and
Gamma-Gamma on the date as training fitted them on each cutoff: on the customers of the model's hash sample,
read from the mart and rounded as training reads it (ml.data). ml.score predicts every chunk's rows with the
fit (chunk_btyd).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ml.btyd import (
    MIN_FIT_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    btyd_from_parameters,
    btyd_inputs,
    fit_btyd,
    identified_fit,
    predict_btyd,
    repeat_customers,
)
from ml.btyd_models import BgNbd, GammaGamma
from ml.data import arrow_floats, in_sample, rounded_arrow

# The mart columns BG/NBD + Gamma-Gamma read (ml.btyd.btyd_inputs)
BTYD_INPUT_COLUMNS = (
    "order_days_lifetime",
    "days_since_first_order",
    "days_since_last_order",
    "revenue_lifetime",
    "first_order_day_revenue",
)


def fit_date_btyd(
    con: duckdb.DuckDBPyConnection,
    as_of_date: date,
    customers: int,
    sample_share: float = 1.0,
    max_fit_customers: int | None = None,
    stored: dict[str, Any] | None = None,
    version: str = "the champion",
) -> tuple[BgNbd, GammaGamma]:
    """Return BG/NBD and Gamma-Gamma fitted on the date's customers (`customers` of them) as training did.

    Training fits them on the customers of its hash sample (sample_share, the model's
    training_sample_share; all when 1). With max_fit_customers (CVW_TRAIN_MAX_CUSTOMERS), the fit reads at
    most about that many customers of the date, the sample training would take of them: a smaller share
    of the same hash sample (the customers of a smaller share are among those of a larger one), for a model
    trained on fewer customers than the date has. Seven parameters fitted on 200,000 customers barely move
    with more, and the fit was most of the time scoring took at 1M customers otherwise (docs/benchmarks.md).
    Only the sampled customers' inputs are read; every customer is predicted chunk by chunk (chunk_btyd).
    A date whose sample is too small to fit them on (ml.btyd.identified_fit: an early date of one or two
    customers, a share below 1) is fitted on all its customers: fitted on no customer, BG/NBD's parameters
    were NaN, and so was every customer's churn and revenue. The sample bounds the fit's cost; it never
    decides whether there is a fit. A date too small even so (fewer than MIN_FIT_CUSTOMERS customers, or
    MIN_REPEAT_CUSTOMERS with a repeat purchase of positive value) gets the parameters the model's training
    fitted on its test cutoff (`stored`, the metadata's btyd_parameters); a model saved without them
    (`version`) stops scoring such a date with one sentence.
    """
    if max_fit_customers and customers > max_fit_customers:
        sample_share = min(sample_share, max_fit_customers / customers)
    inputs = btyd_inputs(_btyd_frame(rounded_arrow(_date_btyd_inputs(con, as_of_date, sample_share))))
    if not identified_fit(inputs) and sample_share < 1.0:
        inputs = btyd_inputs(_btyd_frame(rounded_arrow(_date_btyd_inputs(con, as_of_date, 1.0))))
    if identified_fit(inputs):
        return fit_btyd(inputs)  # rounded as training reads the mart
    if stored is not None:
        return btyd_from_parameters(stored)
    plural = "s" * (len(inputs) != 1)
    raise SystemExit(
        f"BG/NBD + Gamma-Gamma, whose predictions the model reads, cannot be fitted at {as_of_date}: "
        f"{len(inputs)} customer{plural}, {repeat_customers(inputs)} with a repeat purchase of positive "
        f"value (at least {MIN_FIT_CUSTOMERS} and {MIN_REPEAT_CUSTOMERS} are needed), and model version "
        f"{version} was saved without the parameters it fitted in training, which a newer training "
        "stores: score a later date, or train again (cvw train) to score this one."
    )


def _date_btyd_inputs(con: duckdb.DuckDBPyConnection, as_of_date: date, sample_share: float) -> pa.Table:
    """Return the BTYD_INPUT_COLUMNS of the date's customers in the hash sample of a share, by customer_id."""
    sampled, sample_parameters = in_sample("customer_id", sample_share)
    return con.sql(
        f"""
        select {", ".join(BTYD_INPUT_COLUMNS)}
        from marts.customer_features
        where cutoff_date = ? and {sampled}
        order by customer_id
        """,
        params=[as_of_date, *sample_parameters],
    ).to_arrow_table()


def chunk_btyd(table: pa.Table, fitted: tuple[BgNbd, GammaGamma], horizon_days: int) -> pd.DataFrame:
    """Return the BTYD predictions of a chunk's mart rows (BTYD_INPUT_COLUMNS), in the chunk's order."""
    return predict_btyd(btyd_inputs(_btyd_frame(table)), *fitted, horizon_days)


def _btyd_frame(table: pa.Table) -> pd.DataFrame:
    """Return the BTYD_INPUT_COLUMNS of an Arrow table as a frame of floats."""
    return pd.DataFrame({column: arrow_floats(table.column(column)) for column in BTYD_INPUT_COLUMNS})

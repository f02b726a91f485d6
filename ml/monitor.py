"""Drift: PSI of features and scores against training (ml.feature_drift). Backtests, the other half of
monitoring, are ml.backtests'; ml.monitor_champion runs both.

PSI = sum over bins of (a - e) x ln(a / e), with e and a the shares of the training (expected) and scoring
(actual) rows in each bin. Numeric columns get `bins` quantile bins of the training values (duplicate edges
merged; a bin is [lower edge, upper edge), the outer bins open-ended); text columns one bin per training
level plus one for unseen levels; every column one more bin for nulls. An empty bin's share counts as
EPSILON so the logarithm stays finite. Status: PSI < 0.1 "stable", 0.1 <= PSI < 0.25 "moderate",
PSI >= 0.25 "significant" (the usual rule of thumb: investigate at 0.1, retrain at 0.25).

The training distribution is kept as a JSON-serialisable `reference` (reference_distribution), saved with
the model; scoring counts rows into its bins chunk by chunk (bin_counts, summed) and takes psi_from_counts.
Scores are monitored the same way under their own names (churn_probability, predicted_revenue). Build the
reference from one training snapshot (the rows and predictions of the test cutoff), comparable to a scoring
date, and leave out the calendar features (monitored_columns), which take one value per cutoff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from include.warehouse import transaction
from ml.data import CALENDAR_FEATURES

EPSILON = 1e-4
DEFAULT_BINS = 10
PSI_THRESHOLDS = ((0.1, "stable"), (0.25, "moderate"))
SIGNIFICANT = "significant"

FEATURE_DRIFT_DDL = """
create table if not exists ml.feature_drift (
    run_at timestamp not null,
    as_of_date date not null,
    model_version varchar not null,
    feature varchar not null,
    psi double not null,
    status varchar not null,
    primary key (as_of_date, model_version, feature)
)
"""


def monitored_columns(features: Sequence[str]) -> list[str]:
    """Return the features whose drift means something: all but CALENDAR_FEATURES."""
    return [feature for feature in features if feature not in CALENDAR_FEATURES]


def _reference_column(values: pd.Series, bins: int) -> dict[str, Any]:
    """Return the bins of one training column: quantile edges (numeric) or levels (text)."""
    if is_numeric_dtype(values) and not is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        present = numbers[~np.isnan(numbers)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if present.size else []
        return {"kind": "numeric", "edges": [float(edge) for edge in edges]}
    return {"kind": "categorical", "levels": sorted(values.dropna().astype(str).unique().tolist())}


def _bin_index(entry: Mapping[str, Any], values: pd.Series) -> tuple[np.ndarray, int]:
    """Return each value's bin number under a reference entry, and the number of bins (the last is null)."""
    if entry["kind"] == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        edges = np.asarray(entry["edges"], dtype=float)
        index = np.searchsorted(edges, numbers, side="right")
        n_bins = len(edges) + 2
        return np.where(np.isnan(numbers), n_bins - 1, index), n_bins
    levels = pd.Index(entry["levels"])
    index = levels.get_indexer(values.astype("object").astype(str))
    n_bins = len(levels) + 2  # levels, unseen level, null
    return np.where(values.isna().to_numpy(), n_bins - 1, np.where(index < 0, n_bins - 2, index)), n_bins


def bin_counts(reference: Mapping[str, Mapping[str, Any]], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return the row count in each reference bin of every reference column of the frame (add over chunks)."""
    counts = {}
    for column, entry in reference.items():
        if column in frame.columns:
            index, n_bins = _bin_index(entry, frame[column])
            counts[column] = np.bincount(index, minlength=n_bins)
    return counts


def reference_distribution(
    frame: pd.DataFrame, columns: Sequence[str], bins: int = DEFAULT_BINS
) -> dict[str, dict[str, Any]]:
    """Return the JSON-serialisable training reference: per column its bins and training shares."""
    reference = {}
    for column in columns:
        entry = _reference_column(frame[column], bins)
        counts = bin_counts({column: entry}, frame)[column]
        entry["shares"] = (counts / max(counts.sum(), 1)).tolist()
        reference[column] = entry
    return reference


def psi_from_shares(expected: np.ndarray, actual: np.ndarray, epsilon: float = EPSILON) -> float:
    """Return the population stability index of two share vectors over the same bins."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e, a = np.where(e == 0, epsilon, e), np.where(a == 0, epsilon, a)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_from_counts(
    reference: Mapping[str, Mapping[str, Any]], counts: Mapping[str, np.ndarray], epsilon: float = EPSILON
) -> dict[str, float]:
    """Return the PSI of every counted column against its reference shares."""
    return {
        column: psi_from_shares(reference[column]["shares"], count / max(count.sum(), 1), epsilon)
        for column, count in counts.items()
    }


def psi(
    expected: np.ndarray, actual: np.ndarray, bins: int = DEFAULT_BINS, epsilon: float = EPSILON
) -> float:
    """Return the PSI of `actual` against `expected` values, with quantile bins of `expected`."""
    reference = reference_distribution(pd.DataFrame({"x": expected}), ["x"], bins)
    return psi_from_counts(reference, bin_counts(reference, pd.DataFrame({"x": actual})), epsilon)["x"]


def drift_status(value: float) -> str:
    """Return "stable", "moderate" or "significant" for a PSI value."""
    for upper, status in PSI_THRESHOLDS:
        if value < upper:
            return status
    return SIGNIFICANT


def write_feature_drift(
    con: duckdb.DuckDBPyConnection,
    as_of_date: date,
    model_version: str,
    psi_by_column: Mapping[str, float],
    run_at: datetime | None = None,
    kept: Sequence[str] = (),
) -> int:
    """Replace the drift rows of the date in one transaction; return the rows.

    A date's drift is that of its latest monitoring run, against the model it names: the rows of another
    model for the date (the one that scored it before a new champion re-scored it) go. The model's rows of
    the `kept` columns stay as an earlier run measured them (features the marts no longer hold at the date).
    """
    run_at = run_at or datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (run_at, as_of_date, model_version, column, float(value), drift_status(value))
        for column, value in psi_by_column.items()
    ]
    con.execute("create schema if not exists ml")
    con.execute(FEATURE_DRIFT_DDL)
    with transaction(con):
        con.execute(
            "delete from ml.feature_drift where as_of_date = ? "
            "and not (model_version = ? and list_contains(?::varchar[], feature))",
            [as_of_date, model_version, [column for column in kept if column not in psi_by_column]],
        )
        if rows:
            con.executemany("insert into ml.feature_drift values (?, ?, ?, ?, ?, ?)", rows)
    return len(rows)

"""One scoring date's drift against the champion's training, counted from the warehouse chunk by chunk.

ml.monitor_champion runs it with the backtests (`cvw monitor`); ml.monitor holds the reference and the PSI.
The rows of `marts.customer_features` at the date and the champion's rows of `scores.customer_scores` are
counted into the reference's bins `chunk_rows` at a time, so memory stays bounded at any shop size, and the
PSI of each column goes to `ml.feature_drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import duckdb
import numpy as np

from ml.data import rounded
from ml.monitor import SIGNIFICANT, bin_counts, drift_status, psi_from_counts, write_feature_drift

SCORES_TABLE = "scores.customer_scores"
FEATURES_TABLE = "marts.customer_features"
SCORE_COLUMNS = ("churn_probability", "predicted_revenue")
CHUNK_ROWS = 50_000


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Return the column names of a table, in table order."""
    query = (
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position"
    )
    return [row[0] for row in con.execute(query, [schema, table]).fetchall()]


def count_into_bins(
    con: duckdb.DuckDBPyConnection,
    reference: Mapping[str, Mapping[str, Any]],
    table: str,
    where: str,
    parameters: list,
    chunk_rows: int = CHUNK_ROWS,
    as_training_reads: bool = False,
) -> tuple[dict[str, np.ndarray], int]:
    """Return the bin counts of the table's reference columns over the rows `where` selects, and the rows.

    `table` and `where` are constants of this module; the columns are the reference's names that the
    table has (an allow-list from the catalog), quoted. Rows are read `chunk_rows` at a time. With
    as_training_reads (the feature mart), floats are rounded as training and scoring read them
    (ml.data.rounded): the reference's edges are rounded values, and 2/3 must fall where 0.6667 fell.
    """
    schema, name = table.split(".")
    columns = [column for column in _table_columns(con, schema, name) if column in reference]
    if not columns:
        return {}, 0
    selected = ", ".join('"' + column.replace('"', '""') + '"' for column in columns)
    query = f"select {selected} from {table} where {where}"
    batches = con.sql(query, params=parameters).to_arrow_reader(chunk_rows)
    totals = {column: np.zeros(0, dtype=np.int64) for column in columns}
    rows = 0
    for batch in batches:
        frame = rounded(batch.to_pandas()) if as_training_reads else batch.to_pandas()
        rows += len(frame)
        for column, counts in bin_counts({c: reference[c] for c in columns}, frame).items():
            totals[column] = counts if not len(totals[column]) else totals[column] + counts
    return (totals if rows else {}), rows


def drift(
    con: duckdb.DuckDBPyConnection,
    reference: Mapping[str, Mapping[str, Any]],
    as_of_date: date,
    model_version: str,
    run_at: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Write the PSI of the date's features and the model's scores against the reference; return a summary."""
    feature_reference = {k: v for k, v in reference.items() if k not in SCORE_COLUMNS}
    score_reference = {k: v for k, v in reference.items() if k in SCORE_COLUMNS}
    feature_counts, feature_rows = count_into_bins(
        con,
        feature_reference,
        FEATURES_TABLE,
        "cutoff_date = ?",
        [as_of_date],
        chunk_rows,
        as_training_reads=True,
    )
    score_counts, score_rows = count_into_bins(
        con,
        score_reference,
        SCORES_TABLE,
        "as_of_date = ? and model_version = ?",
        [as_of_date, model_version],
        chunk_rows,
    )
    # the date's scores by a model the champion replaced (a rollback or promotion since): not measured
    scored_by = [] if score_rows else _other_scoring_models(con, as_of_date)
    psi = psi_from_counts(reference, {**feature_counts, **score_counts})
    # marts built for a later day hold no feature row of the date: its features' drift, measured when they
    # did, cannot be measured again, so a run that measures the scores alone keeps those rows
    kept = sorted(feature_reference) if not feature_rows else []
    written = write_feature_drift(con, as_of_date, model_version, psi, run_at, kept) if psi else 0
    statuses = {column: drift_status(value) for column, value in psi.items()}
    return {
        "feature_rows": feature_rows,
        "score_rows": score_rows,
        "drift_rows": written,
        "psi": {column: round(value, 6) for column, value in sorted(psi.items())},
        "moderate": sorted(c for c, s in statuses.items() if s == "moderate"),
        "significant": sorted(c for c, s in statuses.items() if s == SIGNIFICANT),
        "not_monitored": sorted(set(reference) - set(psi)),
        "scored_by_other_models": scored_by,
    }


def _other_scoring_models(con: duckdb.DuckDBPyConnection, as_of_date: date) -> list[str]:
    """Return the model versions whose scores the score table holds at the date."""
    query = f"select distinct model_version from {SCORES_TABLE} where as_of_date = ? order by 1"
    return [version for (version,) in con.execute(query, [as_of_date]).fetchall()]

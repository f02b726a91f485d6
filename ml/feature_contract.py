"""Whether marts.customer_features still holds what a model learnt from: the same columns, read the same way.

Training refuses a mart feature no model can learn from (require_learnable_features); scoring, the gate's
re-scoring and `cvw models` compare a saved model's features and their types with the mart's
(feature_differences, check_feature_compatibility), so a mart an analyst changed is never scored by a model
that would read it otherwise than it learnt.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from ml.data import NON_FEATURE_COLUMNS

# DuckDB types the model reads as numbers (ml.features.model_matrix: numbers and booleans as float64); a
# change among them (INTEGER to DOUBLE) changes nothing the model sees, a change to or from text does.
NUMBER_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT "
    "FLOAT DOUBLE DECIMAL BOOLEAN".split()
)
INPUT_KINDS = ("number", "text")  # how a model reads a mart column (_input_kind); any other is refused


def mart_feature_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Return each feature column of marts.customer_features (not the keys) and its DuckDB type, in order."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'customer_features' order by ordinal_position"
    ).fetchall()
    if not rows:
        raise SystemExit("marts.customer_features does not exist: run the dbt build first (cvw build).")
    return {name: data_type for name, data_type in rows if name not in NON_FEATURE_COLUMNS}


def _input_kind(data_type: str) -> str:
    """Return how the model reads a column of a DuckDB type: "number", "text", or the type itself."""
    base = data_type.split("(")[0].strip().upper()
    if base in NUMBER_TYPES:
        return "number"
    return "text" if base in ("VARCHAR", "ENUM") else base


def require_learnable_features(mart_types: dict[str, str]) -> None:
    """Stop with one sentence when a feature of the mart is neither a number nor text (a DATE, a TIMESTAMP).

    A date read as text is a category of one level per day: the days of a later scoring date are levels
    training never saw, which the model reads as missing, and the column's drift is always significant.
    """
    other = [f"{name} ({kind})" for name, kind in mart_types.items() if _input_kind(kind) not in INPUT_KINDS]
    if other:
        raise SystemExit(
            f"marts.customer_features has {', '.join(other)}, which a model cannot learn from: a feature is "
            "a number or text, so give a date as days before the cutoff (as days_since_last_order does), "
            "then rebuild (cvw build --full-refresh) and train."
        )


def feature_differences(
    model_features: list[str],
    mart_columns: list[str] | dict[str, str],
    derived: Iterable[str] = (),
    feature_types: dict[str, str] | None = None,
) -> str | None:
    """Return how the mart differs from the model's features ("lacks a and has new b"), None when it does not.

    `derived` names model inputs computed in Python from mart columns (e.g. ml.btyd.BTYD_FEATURES): the
    mart is not expected to have them. With the mart's types (`mart_columns` as column -> DuckDB type,
    mart_feature_types) and the model's (`feature_types`, saved at training), a feature the model reads
    otherwise than it learnt (a number now text, text now a number) differs too; a model saved before
    its types were is compared by name only.
    """
    mart = [column for column in mart_columns if column not in NON_FEATURE_COLUMNS]
    model_features = [column for column in model_features if column not in set(derived)]
    missing = [column for column in model_features if column not in set(mart)]
    extra = [column for column in mart if column not in set(model_features)]
    retyped = []
    if feature_types and isinstance(mart_columns, dict):
        retyped = [
            f"{column} as {mart_columns[column]} (the model learnt {feature_types[column]})"
            for column in model_features
            if column in mart_columns
            and column in feature_types
            and _input_kind(mart_columns[column]) != _input_kind(feature_types[column])
        ]
    parts = []
    if missing:
        parts.append(f"lacks {', '.join(missing)}")
    if extra:
        parts.append(f"has new {', '.join(extra)}")
    if retyped:
        parts.append(f"has {', '.join(retyped)}")
    return " and ".join(parts) or None


def check_feature_compatibility(
    model_features: list[str],
    mart_columns: list[str] | dict[str, str],
    model_version: str = "the champion",
    derived: Iterable[str] = (),
    feature_types: dict[str, str] | None = None,
) -> None:
    """Return None when the mart has exactly the model's features; raise SystemExit naming the difference.

    The difference is feature_differences': a column the mart lacks, a new one, one of another kind.
    """
    differences = feature_differences(model_features, mart_columns, derived, feature_types)
    if differences:
        raise SystemExit(
            f"marts.customer_features no longer matches model {model_version}: the mart {differences}; "
            "retrain (cvw train) after changing the mart, or rebuild the mart the model was trained on."
        )

"""Score history keyed by (as_of_date, customer_id, model_version), the latest-scores view, chunked reading.

Every scored date keeps its rows in scores.customer_scores; re-scoring a date replaces all of that date's
rows (whichever model wrote them) in one transaction, so a date always holds one model's complete scores.

Scoring in chunks keeps memory bounded: iter_chunks reads the feature mart a chunk at a time (keyset
pagination on customer_id, so each read is a small query and writes may run between reads on the same
connection); build_score_chunk turns one chunk's predictions into score rows; publish_scores writes every
chunk of one as_of_date in one transaction and then sets value_tier and action, which rank
customers against the whole date, from (customer_id, discounted_clv, risk_band) read back from the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd

from ml import actions, clv
from ml.registry import ensure_registry

SCORES_DDL = """
create table if not exists scores.customer_scores (
    as_of_date date not null,
    customer_id varchar not null,
    model_version varchar not null,
    horizon_days integer not null,
    churn_probability double not null,
    predicted_revenue double not null,
    predicted_orders double not null,
    discounted_clv double not null,
    historic_revenue double not null,
    avg_days_between_orders double,
    expected_next_order_date date,
    value_tier varchar,
    risk_band varchar not null,
    action varchar,
    churn_reasons varchar not null,
    value_reasons varchar not null,
    scored_at timestamp not null,
    primary key (as_of_date, customer_id, model_version)
)
"""
# The rows of the latest scoring date (one model scores a date: the last one that scored it).
LATEST_VIEW_SQL = """
create or replace view scores.customer_scores_latest as
select scores.*
from scores.customer_scores as scores
where scores.as_of_date = (select max(latest.as_of_date) from scores.customer_scores as latest)
"""
# Columns build_score_chunk returns, in table order; value_tier and action are set by publish_scores.
CHUNK_COLUMNS = (
    "as_of_date",
    "customer_id",
    "model_version",
    "horizon_days",
    "churn_probability",
    "predicted_revenue",
    "predicted_orders",
    "discounted_clv",
    "historic_revenue",
    "avg_days_between_orders",
    "expected_next_order_date",
    "risk_band",
    "churn_reasons",
    "value_reasons",
    "scored_at",
)
DEFAULT_CHUNK_SIZE = 50_000


def ensure_score_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create scores.customer_scores, ml.model_registry and the scores.customer_scores_latest view.

    A score table of the first release (one row per customer and date, without CLV, reasons or actions)
    is kept as scores.customer_scores_legacy and a new one is started.
    """
    con.execute("create schema if not exists scores")
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'scores' and table_name = 'customer_scores'"
        ).fetchall()
    }
    if columns and "discounted_clv" not in columns:
        con.execute("drop view if exists scores.customer_scores_latest")
        con.execute("alter table scores.customer_scores rename to customer_scores_legacy")
        print("scores.customer_scores had the first release's columns: kept as scores.customer_scores_legacy.")
    con.execute(SCORES_DDL)
    ensure_registry(con)
    con.execute(LATEST_VIEW_SQL)


def iter_chunks(
    con: duckdb.DuckDBPyConnection, as_of_date: date, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[pd.DataFrame]:
    """Yield the customer_features rows at one cutoff, chunk_size at a time, ordered by customer_id."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    last_id: str | None = None
    while True:
        chunk = con.execute(
            """
            select * from marts.customer_features
            where cutoff_date = ? and (? is null or customer_id > ?)
            order by customer_id
            limit ?
            """,
            [as_of_date, last_id, last_id, chunk_size],
        ).df()
        if chunk.empty:
            return
        chunk["cutoff_date"] = pd.to_datetime(chunk["cutoff_date"])
        last_id = str(chunk["customer_id"].iloc[-1])
        yield chunk
        if len(chunk) < chunk_size:
            return


def build_score_chunk(
    features: pd.DataFrame,
    predicted_revenue: np.ndarray,
    churn_probability: np.ndarray,
    churn_reasons: Sequence[str],
    value_reasons: Sequence[str],
    as_of_date: date,
    horizon_days: int,
    model_version: str,
    discount_rate_monthly: float = clv.DEFAULT_DISCOUNT_RATE_MONTHLY,
    gross_margin_rate: float = clv.DEFAULT_GROSS_MARGIN_RATE,
    predicted_orders: np.ndarray | None = None,
    predicted_margin: np.ndarray | None = None,
    risk_thresholds: tuple[float, float] = actions.RISK_THRESHOLDS,
) -> pd.DataFrame:
    """Return the CHUNK_COLUMNS score rows of one chunk of customer_features and its model outputs.

    The reasons are one "; "-joined string per customer (ml.explain.join_reasons of top_reasons).
    """
    rows = clv.customer_value_fields(
        features,
        predicted_revenue,
        churn_probability,
        as_of_date,
        horizon_days,
        discount_rate_monthly,
        gross_margin_rate,
        predicted_orders,
        predicted_margin,
    )
    rows["as_of_date"] = pd.Timestamp(as_of_date)
    rows["model_version"] = model_version
    rows["horizon_days"] = horizon_days
    rows["risk_band"] = actions.risk_bands(rows["churn_probability"].to_numpy(), risk_thresholds)
    rows["churn_reasons"] = np.asarray(churn_reasons, dtype=object)
    rows["value_reasons"] = np.asarray(value_reasons, dtype=object)
    rows["scored_at"] = datetime.now(UTC).replace(tzinfo=None)
    return rows[list(CHUNK_COLUMNS)]


def _assign_tiers_and_actions(con: duckdb.DuckDBPyConnection, as_of_date: date, model_version: str) -> None:
    """Set value_tier and action of one (as_of_date, model_version) from the whole date's CLV ranks."""
    held = con.execute(
        "select customer_id, discounted_clv, risk_band from scores.customer_scores "
        "where as_of_date = ? and model_version = ?",
        [as_of_date, model_version],
    ).fetchnumpy()
    tiers = actions.value_tiers(held["discounted_clv"], held["customer_id"])
    assigned = pd.DataFrame(
        {
            "customer_id": np.asarray(held["customer_id"], dtype=object),
            "value_tier": tiers,
            "action": actions.recommended_actions(tiers, held["risk_band"]),
        }
    )
    con.register("assigned_tiers", assigned)
    try:
        con.execute(
            """
            update scores.customer_scores as history
            set value_tier = assigned_tiers.value_tier, action = assigned_tiers.action
            from assigned_tiers
            where history.customer_id = assigned_tiers.customer_id
                and history.as_of_date = ? and history.model_version = ?
            """,
            [as_of_date, model_version],
        )
    finally:
        con.unregister("assigned_tiers")


def publish_scores(
    con: duckdb.DuckDBPyConnection, as_of_date: date, model_version: str, chunks: Iterable[pd.DataFrame]
) -> int:
    """Replace the as_of_date's score rows by the chunks of one model in one transaction; return rows."""
    ensure_score_tables(con)
    columns = ", ".join(CHUNK_COLUMNS)
    written = 0
    con.execute("begin transaction")
    try:
        con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of_date])
        for chunk in chunks:
            if (
                set(chunk["model_version"]) - {model_version}
                or (chunk["as_of_date"] != pd.Timestamp(as_of_date)).any()
            ):
                raise ValueError(
                    f"a score chunk holds rows of another date or model than {as_of_date}, {model_version}"
                )
            con.register("score_chunk", chunk)
            try:
                con.execute(
                    f"insert into scores.customer_scores ({columns}) select {columns} from score_chunk"
                )
            finally:
                con.unregister("score_chunk")
            written += len(chunk)
        _assign_tiers_and_actions(con, as_of_date, model_version)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return written

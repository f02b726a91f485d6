"""Score history keyed by (as_of_date, customer_id, model_version) (ml.score_tables), chunked reading.

Every scored date keeps its rows in scores.customer_scores; re-scoring a date replaces all of that date's
rows (whichever model wrote them) in one transaction, so a date always holds one model's complete scores.

Scoring in chunks keeps memory bounded: iter_arrow_chunks streams the feature mart's rows of one date from
one query, on a cursor of its own (so writes may run on the connection between chunks), re-cut to
chunk_size rows. build_score_chunk turns one chunk's predictions into score rows; publish_scores stages
every chunk of one as_of_date in a temporary table and writes them in one transaction with value_tier and
action, which rank customers against the whole date, computed in the same SQL statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from include.warehouse import transaction
from ml import actions, clv
from ml.data import arrow_strings, rounded_arrow
from ml.rfm_snapshot import keep_rfm
from ml.score_tables import ensure_score_tables

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


def mart_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the columns of marts.customer_features in table order (empty when there is no such table)."""
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'customer_features' order by ordinal_position"
    ).fetchall()
    return [name for (name,) in rows]


def _rebatched(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """Yield the reader's rows as tables of exactly `rows` rows (the last one shorter)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held, reader.schema)
            yield table.slice(0, rows)
            held, count = table.slice(rows).to_batches(), count - rows
    if count:
        yield pa.Table.from_batches(held, reader.schema)


def iter_arrow_chunks(
    con: duckdb.DuckDBPyConnection,
    as_of_date: date,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    columns: Sequence[str] | None = None,
) -> Iterator[pa.Table]:
    """Yield the customer_features rows at one cutoff as Arrow tables of chunk_size rows, by customer_id.

    Floating-point values are rounded to ml.data.FLOAT_DECIMALS decimals, as training reads them.

    One query streams the date (DuckDB hands it over in batches of at most a row group, re-cut here to
    chunk_size) on a cursor of its own, so writes may run on `con` between chunks. `columns` (default all)
    must be columns of the mart: they are checked against it before they are put into the query.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    selected = "*"
    if columns is not None:
        unknown = sorted(set(columns) - set(mart_columns(con)))
        if unknown:
            raise ValueError(f"marts.customer_features has no column {', '.join(unknown)}")
        selected = ", ".join('"' + column.replace('"', '""') + '"' for column in columns)
    cursor = con.cursor()
    try:
        reader = cursor.sql(
            f"select {selected} from marts.customer_features where cutoff_date = ? order by customer_id",
            params=[as_of_date],
        ).to_arrow_reader(chunk_size)
        for table in _rebatched(reader, chunk_size):
            yield rounded_arrow(table)  # as training reads the mart (ml.data.FLOAT_DECIMALS)
    finally:
        cursor.close()


def build_score_chunk(
    features: pa.Table,
    predicted_revenue: np.ndarray,
    churn_probability: np.ndarray,
    churn_reasons: Sequence[str] | pa.Array | pa.ChunkedArray,
    value_reasons: Sequence[str] | pa.Array | pa.ChunkedArray,
    as_of_date: date,
    horizon_days: int,
    model_version: str,
    discount_rate_monthly: float = clv.DEFAULT_DISCOUNT_RATE_MONTHLY,
    gross_margin_rate: float = clv.DEFAULT_GROSS_MARGIN_RATE,
    predicted_orders: np.ndarray | None = None,
    predicted_margin: np.ndarray | None = None,
    risk_thresholds: tuple[float, float] = actions.RISK_THRESHOLDS,
    fallback_orders: np.ndarray | None = None,
    scored_at: datetime | None = None,
) -> pa.Table:
    """Return the CHUNK_COLUMNS score rows of one chunk of customer_features and its model outputs.

    `features` holds the mart's ml.clv.VALUE_COLUMNS; fallback_orders (BG/NBD's expected purchases) are
    the predicted orders of customers whose average order value is 0 or missing (ml.clv.expected_orders).
    The reasons are one "; "-joined string per customer (ml.explain.join_reasons of top_reasons). Built
    in Arrow, the text columns are never Python strings on the way to DuckDB. `scored_at` (UTC, naive) is
    when the scoring run started, the same for all its chunks; now if not given.
    A prediction that is NaN or infinite stops scoring with one sentence (require_finite): the score
    columns are NOT NULL, and a NaN would pass that constraint and be tiered in its sort order.
    """
    require_finite(as_of_date, predicted_revenue=predicted_revenue, churn_probability=churn_probability)
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
        fallback_orders,
    )
    count = rows.num_rows
    bands = actions.risk_bands(rows.column("churn_probability").to_numpy(), risk_thresholds)
    columns = {
        "as_of_date": pa.repeat(pa.scalar(as_of_date, pa.date32()), count),
        "model_version": pa.repeat(pa.scalar(model_version, pa.string()), count),
        "horizon_days": pa.repeat(pa.scalar(horizon_days, pa.int32()), count),
        "risk_band": pa.array(bands, type=pa.string()),
        "churn_reasons": arrow_strings(churn_reasons),
        "value_reasons": arrow_strings(value_reasons),
        "scored_at": pa.repeat(
            pa.scalar(scored_at or datetime.now(UTC).replace(tzinfo=None), pa.timestamp("us")), count
        ),
    }
    return pa.table({name: columns[name] if name in columns else rows.column(name) for name in CHUNK_COLUMNS})


def require_finite(as_of_date: date, **predictions: np.ndarray) -> None:
    """Return None when every prediction is a finite number; else stop naming the first column that is not."""
    for name, values in predictions.items():
        bad = int(np.count_nonzero(~np.isfinite(np.asarray(values, dtype=float))))
        if bad:
            raise SystemExit(
                f"{bad} customers of {as_of_date} got a {name} that is not a number (NaN or infinite): "
                "nothing was written; retrain the model (cvw train) on the current marts and score again."
            )


# The staged rows of one date, written with value_tier and action in one statement: the tier from the rank
# of each customer's discounted CLV over the whole date (ties broken by customer_id) as ml.actions.value_tiers
# ranks, the action from the (tier, band) cells of ml.actions.ACTIONS, registered as action_cells; the tier
# cut points are bound parameters. The ranks are computed on the two columns they need and joined back by
# customer_id: ranking the full rows sorted every reason string too (0.5 s more at 1M customers). Rows go in
# customer_id order, as a date's rows are read back (backtests, the serving copy).
WRITE_STAGED_SQL = """
insert into scores.customer_scores ({columns}, value_tier, action)
with ranks as (
    select
        customer_id,
        row_number() over (order by discounted_clv desc, customer_id) / count(*) over () as rank_share
    from score_stage
),

tiered as (
    select
        score_stage.*,
        case {tier_cases} else ? end as value_tier
    from score_stage
    inner join ranks on score_stage.customer_id = ranks.customer_id
)

select {tiered_columns}, tiered.value_tier, action_cells.action
from tiered
inner join action_cells
    on tiered.value_tier = action_cells.value_tier and tiered.risk_band = action_cells.risk_band
order by tiered.customer_id
"""


def _write_staged(con: duckdb.DuckDBPyConnection) -> int:
    """Write the rows of score_stage to scores.customer_scores with their tier and action; return rows."""
    cut_points = actions.TIER_CUT_POINTS[:-1]
    query = WRITE_STAGED_SQL.format(
        columns=", ".join(CHUNK_COLUMNS),
        tiered_columns=", ".join(f"tiered.{column}" for column in CHUNK_COLUMNS),
        tier_cases=" ".join("when ranks.rank_share <= ? then ?" for _ in cut_points),
    )
    parameters = [value for cut_point in cut_points for value in cut_point] + [actions.TIER_CUT_POINTS[-1][1]]
    cells = pa.table(
        {
            "value_tier": [tier for tier, _ in actions.ACTIONS],
            "risk_band": [band for _, band in actions.ACTIONS],
            "action": list(actions.ACTIONS.values()),
        }
    )
    con.register("action_cells", cells)
    try:
        [(written,)] = con.execute(query, parameters).fetchall()
    finally:
        con.unregister("action_cells")
    return int(written)


def _stage_columns(con: duckdb.DuckDBPyConnection) -> str:
    """Return the column definitions of CHUNK_COLUMNS as scores.customer_scores declares them.

    The stage is declared column by column, not made by `create table ... as select ... limit 0`: DuckDB
    2.0.0 loses the rows of a bulk insert (a row group, 122,880 rows, or more) into a table made that way
    in the same transaction, while count(*) still counts them.
    """
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'scores' and table_name = 'customer_scores'"
        ).fetchall()
    )
    return ", ".join(f"{column} {types[column]}" for column in CHUNK_COLUMNS)


def publish_scores(
    con: duckdb.DuckDBPyConnection, as_of_date: date, model_version: str, chunks: Iterable[pa.Table]
) -> int:
    """Replace the as_of_date's score rows by the chunks of one model in one transaction; return rows.

    The chunks are staged in a temporary table, refused when it holds a customer twice (the table's key,
    ml.score_tables.SCORES_DDL); the date's rows, whichever model wrote them, are deleted, and the staged
    rows written with their tier and action in one statement. The date's RFM rows are kept in
    scores.customer_rfm in the same transaction (ml.rfm_snapshot).
    """
    ensure_score_tables(con)
    columns = ", ".join(CHUNK_COLUMNS)
    staged = 0
    with transaction(con):
        con.execute(f"create or replace temporary table score_stage ({_stage_columns(con)})")
        for chunk in chunks:
            if not (
                pc.all(pc.equal(chunk.column("model_version"), model_version)).as_py()
                and pc.all(pc.equal(chunk.column("as_of_date"), pa.scalar(as_of_date))).as_py()
            ):
                raise ValueError(
                    f"a score chunk holds rows of another date or model than {as_of_date}, {model_version}"
                )
            con.register("score_chunk", chunk)
            try:
                con.execute(f"insert into score_stage ({columns}) select {columns} from score_chunk")
            finally:
                con.unregister("score_chunk")
            staged += chunk.num_rows
        [(repeated,)] = con.execute(
            "select count(*) - count(distinct customer_id) from score_stage"
        ).fetchall()
        if repeated:
            raise ValueError(
                f"the score chunks of {as_of_date}, {model_version} hold {repeated} rows of a customer "
                "already in them: a date holds one row per customer"
            )
        con.execute("delete from scores.customer_scores where as_of_date = ?", [as_of_date])
        written = _write_staged(con)
        if written != staged:
            raise ValueError(f"risk bands must be in {actions.BANDS}: {staged - written} score rows are not")
        keep_rfm(con, as_of_date)  # the date's RFM rows, from the marts it was scored from
        con.execute("drop table score_stage")
    return written

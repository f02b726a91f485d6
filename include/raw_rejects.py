"""A file's rejected rows in `raw._rejects`: each with its data row number in the file, the row as the
file held it, and the reason, so rows read = rows loaded + rows rejected."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from include.mapping import bound, quote

# Validation numbers the parsed rows 1, 2, ... (_row_number); a skipped malformed line shifts the rows after
# it, so the parsed row p is the file's data row p + (malformed lines m_k, the k-th, with m_k - k < p).
REJECTS = """
insert into raw._rejects (
    file_name, table_name, row_number, raw_values, reason, rejected_at, sha256, order_id
)
with malformed as (
    select data_row - row_number() over (order by data_row) as rows_parsed_before from _cvw_malformed
)
select $file_name, $table_name,
    checked._row_number + (
        select count(*) from malformed where malformed.rows_parsed_before < checked._row_number
    ),
    to_json(delivered._cvw_values)::varchar, checked._reason, $loaded_at, $sha256, {order_id}
from {checked} as checked
inner join (
    select row_number() over () as _row_number, {values} as _cvw_values from _cvw_file as _cvw_row
) as delivered on delivered._row_number = checked._row_number
where checked._reason is not null
union all
select $file_name, $table_name, data_row, to_json({{'line': csv_line}})::varchar, reason, $loaded_at, $sha256,
    null
from _cvw_malformed
order by 3
"""


def _row_as_delivered(con: duckdb.DuckDBPyConnection) -> str:
    """Return the SQL of a staged row as raw._rejects' raw_values keeps it: every column as the file held it,
    a floating-point NaN or infinity as the text "nan" or "inf" (JSON has no such numbers: DuckDB wrote
    NaN, which strict JSON readers, PostgreSQL's and JavaScript's among them, refuse)."""
    fields = []
    for name, sql_type, *_ in con.execute("describe _cvw_file").fetchall():
        column = f"_cvw_row.{quote(name)}"
        if sql_type in ("FLOAT", "DOUBLE"):
            finite = f"isfinite({column}) or {column} is null"
            column = f"case when {finite} then to_json({column}) else to_json({column}::varchar) end"
        fields.append(f"{quote(name)} := {column}")
    return f"struct_pack({', '.join(fields)})"


def write_rejects(
    con: duckdb.DuckDBPyConnection,
    checked: str,
    table: str,
    path: Path,
    sha256: str,
    loaded_at: datetime,
    order_column: str | None = None,
) -> dict[str, int]:
    """Copy the rows of `checked` that have a `_reason` to raw._rejects with the file's row; return counts.

    order_column: the column of `checked` holding the order a row was part of, kept as the reject's
    order_id (validation then rejects the order's lines as lines of a rejected order); None for a table
    without one."""
    order_id = "null" if order_column is None else f"cast(checked.{quote(order_column)} as varchar)"
    sql = REJECTS.format(checked=checked, values=_row_as_delivered(con), order_id=order_id)
    params = {"file_name": path.name, "table_name": table, "loaded_at": loaded_at, "sha256": sha256}
    written = con.execute(sql, bound(sql, params)).fetchone()[0]
    query = f"""
        select reason, count(*) from (
            select _reason as reason from {checked} where _reason is not null
            union all
            select reason from _cvw_malformed
        ) group by 1 order by 2 desc, 1
    """
    rejects = dict(con.execute(query).fetchall())
    if written != sum(rejects.values()):
        raise RuntimeError(
            f"{path.name}: {sum(rejects.values())} rows rejected but {written} written to "
            "raw._rejects: the load is rolled back; report this as a bug."
        )
    return rejects

"""Preset for UCI Online Retail II (Chen 2019, CC BY 4.0): invoice lines → orders, lines, customers, products.

Each input row is one invoice line. include.presets.online_retail_lines decides which lines load and
the reason each other one is rejected to raw._rejects; include.presets.online_retail_tables turns the loaded
lines into orders and lines, and adds the customers and products not in the warehouse yet.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from include.file_staging import stage_file
from include.ingest import (
    FileLoad,
    already_loaded,
    drop_staged,
    log_load,
    rows_read,
    sha256_of,
)
from include.presets.online_retail_lines import check_lines, columns, stage_lines
from include.presets.online_retail_tables import insert
from include.raw_rejects import write_rejects

NAME = "online-retail-ii"
FILES = ("online_retail_ii_2009-12_2010-12.parquet", "online_retail_2010-12_2011-12.parquet")


def default_files(directory: Path) -> list[Path]:
    """Return the two published files in the directory, oldest first (the second's overlap is rejected)."""
    return [Path(directory) / name for name in FILES]


def load_file(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> FileLoad:
    """Load one Online Retail II file: lines, orders, new customers and products; reject the other lines."""
    sha256 = sha256_of(path)
    if already_loaded(con, "order_items", sha256):
        return FileLoad(path.name, "order_items", sha256, 0, True)
    stage_lines(con, columns(stage_file(con, path), path.name), loaded_at)
    check_lines(con)
    added = insert(con, path, loaded_at)
    rejects = write_rejects(con, "_cvw_checked", "order_items", path, sha256, loaded_at, "invoice")
    read = rows_read(con)
    con.execute("drop table _cvw_lines")
    drop_staged(con)
    lines = added.pop("order_items")
    rejected = sum(rejects.values())
    load = FileLoad(path.name, "order_items", sha256, lines, False, read, rejected, rejects, added)
    return log_load(con, load, loaded_at)

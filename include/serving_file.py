"""What the serving copy's path must be before a publish writes it, and the DuckDB config it is written
with: each refusal is one sentence naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import duckdb

from include.folders import file_in_the_way

# Database names a serving file must not get, and why
RESERVED_DATABASE_NAMES = {
    "bi": "makes bi.customer_value ambiguous in every reader's query (DuckDB asks for bi.bi.customer_value)",
    "warehouse": "is the name publish attaches the warehouse under while it copies",
}


def serving_file_config(serving: Path, warehouse: Path, storage_version: str) -> dict[str, str]:
    """Return the config that writes the serving copy; stop in one sentence when its path cannot hold it."""
    # the new copy is renamed over the serving path: over the warehouse, it would replace every table
    if serving.exists() and serving.samefile(warehouse):
        raise SystemExit(
            f"The serving copy {serving} is the warehouse itself, which publish would replace by the copy: "
            "set CVW_SERVING to another file, such as serving.duckdb beside the warehouse."
        )
    if serving.is_dir():
        raise SystemExit(
            f"The serving copy {serving} is a folder: set CVW_SERVING to a file, such as "
            f"{serving / 'serving.duckdb'}."
        )
    file = file_in_the_way(serving.parent)
    if file:
        raise SystemExit(
            f"The serving copy {serving} cannot be made: {file} is a file, not a folder; set CVW_SERVING "
            "to a path in a folder."
        )
    # DuckDB names a file's database after its name up to the first dot, the temporary file's too
    database = serving.name.lstrip(".").split(".")[0].lower()
    if database in RESERVED_DATABASE_NAMES:
        raise SystemExit(
            f"The serving copy {serving} would open as a database named {database}, which "
            f"{RESERVED_DATABASE_NAMES[database]}: set CVW_SERVING to a file of another name, such as "
            f"{serving.with_name('serving.duckdb')}."
        )
    return serving_config(storage_version)


def serving_config(storage_version: str) -> dict[str, str]:
    """Return the DuckDB config that writes the serving copy in a storage format DuckDB knows.

    DuckDB 2.0 writes its own newest format by default, which the DuckDB of a BI driver (DBeaver, Metabase,
    an ODBC or JDBC build of 1.x) refuses to open; the serving copy is written in the format of
    CVW_SERVING_STORAGE_VERSION (default v1.0.0: read by DuckDB 1.0 and every later release).
    """
    config = {"storage_compatibility_version": storage_version}
    try:
        duckdb.connect(":memory:", config=config).close()
    except duckdb.InvalidInputException:
        raise SystemExit(
            f"CVW_SERVING_STORAGE_VERSION={storage_version!r} is not a DuckDB storage version: set the "
            "oldest DuckDB release your BI tools run, such as v1.0.0 (the default), or latest."
        ) from None
    return config

"""`cvw import`: load your own CSV or Parquet files into a raw table through a column mapping, or a known
data set through a preset, validated, with every rejected row kept in raw._rejects and its reason.

  cvw import --table orders exports/orders_*.csv --map order_id=OrderNo --map customer_id=Client \\
      --map ordered_at=Date --map amount=Total --date-format '%d/%m/%Y %H:%M'
  cvw import --mapping mappings/orders.yaml exports/orders_2024.csv
  cvw import --mapping mappings/orders.yaml exports/orders_2024.csv --dry-run   # try it: nothing is written
  cvw import --preset online-retail-ii                      # the files in CVW_ONLINE_RETAIL_DIR
  cvw import --preset online-retail-ii data/online_retail_ii_2009-12_2010-12.parquet

All files of one command load in one transaction; a file already loaded (same content) is skipped.
The contract, the rules and the mapping file format: docs/data-contract.md.
"""

from __future__ import annotations

import argparse
import glob
import sys
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path

import duckdb

from include.ingest import FileLoad, Loader, describe, load_files, load_table_file
from include.mapping import Mapping, build_mapping, parse_pairs, quote, read_mapping_file
from include.presets import PRESETS
from include.raw_schema import RAW_TABLES
from include.settings import get_settings

PREVIEW_ROWS = 5  # a dry run's rows shown of each file


def expand(patterns: list[str]) -> list[Path]:
    """Return the files named by paths and glob patterns, each pattern's matches sorted by name.

    A path that names an existing file is that file, even with a glob's characters in its name
    (`orders[2024].csv`, which as a pattern matches orders0.csv to orders4.csv).
    """
    files: list[Path] = []
    for pattern in patterns:
        pattern = str(Path(pattern).expanduser())
        if glob.has_magic(pattern) and not Path(pattern).is_file():
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise ValueError(f"No file matches {pattern!r}: check the pattern.")
            files += [Path(match) for match in matches]
        else:
            files.append(Path(pattern))
    return files


def _announced(loader: Loader) -> Loader:
    """Return the loader, printing the file's name to stderr before it starts (a large file takes seconds)."""

    def load(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> FileLoad:
        print(f"loading {path} ...", file=sys.stderr, flush=True)
        return loader(con, path, loaded_at)

    return load


def _previewed(loader: Loader, table: str) -> Loader:
    """Return the loader, keeping the first rows each file loaded, as the contract reads them (a dry run)."""

    def load(con: duckdb.DuckDBPyConnection, path: Path, loaded_at: datetime) -> FileLoad:
        done = loader(con, path, loaded_at)
        if done.skipped or not done.rows_loaded:
            return done
        columns = ", ".join(quote(column.name) for column in RAW_TABLES[table])
        rows = con.execute(
            f"select {columns} from raw.{quote(table)} where _source_file = ? and _loaded_at = ? "
            f"order by rowid limit {PREVIEW_ROWS}",
            [path.name, loaded_at],
        ).df()
        # the columns the file gave (or a constant or default did): the others are empty in every row
        return replace(done, preview=rows.dropna(axis="columns", how="all").to_string(index=False))

    return load


def import_table(
    mapping: Mapping,
    files: list[Path],
    warehouse: Path | None = None,
    allow_updates: bool = False,
    reload: bool = False,
    dry_run: bool = False,
) -> list[FileLoad]:
    """Load files into the mapping's raw table in one transaction; return what happened to each file.

    A dry run rolls the loads back, and each file's load keeps its first rows as they would have loaded.
    """
    loader = _announced(partial(load_table_file, mapping=mapping, allow_updates=allow_updates, reload=reload))
    if dry_run:
        loader = _previewed(loader, mapping.table)
    return load_files([(path, loader) for path in files], warehouse, dry_run)


def _mapping(args: argparse.Namespace) -> Mapping:
    """Return the mapping the command line describes: the YAML file, overridden by the flags."""
    return build_mapping(
        args.table[0] if args.table else None,
        columns=parse_pairs(args.map, "--map"),
        date_format=args.date_format,
        constants=parse_pairs(args.constant, "--constant"),
        defaults=parse_pairs(args.default, "--default"),
        base=read_mapping_file(args.mapping) if args.mapping else None,
        decimal_separator=args.decimal_separator,
        thousands_separator=args.thousands_separator,
        currency_symbol=args.currency_symbol,
        guest_customers=args.guest_customer,
    )


def import_preset(
    name: str, files: list[Path], warehouse: Path | None = None, dry_run: bool = False
) -> list[FileLoad]:
    """Load a preset data set's files (its default files when none are given); return the loads.

    A dry run rolls them back."""
    if name not in PRESETS:
        raise ValueError(f"There is no preset {name!r}: choose one of {', '.join(PRESETS)}.")
    preset = PRESETS[name]
    files = files or preset.default_files()
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise ValueError(
            f"{', '.join(missing)} not found: give the preset's files as arguments, "
            "or set CVW_ONLINE_RETAIL_DIR to the folder that holds them."
        )
    loader = _announced(preset.load_file)
    return load_files([(path, loader) for path in files], warehouse, dry_run)


def _parser() -> argparse.ArgumentParser:
    """Return the argument parser of `cvw import`."""
    parser = argparse.ArgumentParser(
        prog="cvw import",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--table",
        nargs="+",
        action="append",
        metavar=("TABLE", "FILE"),
        help="raw table, then the files or glob patterns to load into it (.csv or .parquet); "
        "one table per call",
    )
    parser.add_argument(
        "--preset",
        nargs="+",
        metavar=("NAME", "FILE"),
        help=f"a known data set ({', '.join(PRESETS)}), then its files (default: settings)",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="files to load, with --mapping")
    parser.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE.yaml",
        help="YAML: table, columns {contract: source}, date_format, decimal_separator, thousands_separator, "
        "currency_symbol, guest_customer, constants, defaults",
    )
    parser.add_argument(
        "--map",
        action="append",
        metavar="CONTRACT=SOURCE",
        help="read contract column CONTRACT from the file's column SOURCE (repeatable)",
    )
    parser.add_argument(
        "--constant",
        action="append",
        metavar="CONTRACT=VALUE",
        help="the same value for every row (repeatable)",
    )
    parser.add_argument(
        "--default",
        action="append",
        metavar="CONTRACT=VALUE",
        help="value where the file's is empty (repeatable)",
    )
    parser.add_argument(
        "--date-format",
        metavar="FORMAT",
        help="strptime format of text timestamps, e.g. '%%d/%%m/%%Y %%H:%%M' (default: ISO)",
    )
    parser.add_argument(
        "--decimal-separator",
        choices=(".", ","),
        help="decimal mark of text numbers: ',' for 12,50 (a point in them is then no number) (default: '.')",
    )
    parser.add_argument(
        "--thousands-separator",
        metavar="CHAR",
        help="separator of digit groups in text numbers: ',' for 1,234.50, '.' for 1.234,50 (with "
        "--decimal-separator ','), ' ' or \"'\"; groups must be of three digits (default: none)",
    )
    parser.add_argument(
        "--currency-symbol",
        metavar="SYMBOL",
        help="currency symbol or code text numbers may carry before or after them, e.g. '$' for $12.50, "
        "'€' for 12,50 € (a number with another one is rejected) (default: none)",
    )
    parser.add_argument(
        "--guest-customer",
        action="append",
        metavar="ID",
        help="a customer_id that stands for no customer, e.g. 0 where the export writes 0 for a guest "
        "checkout: such orders are rejected as guest checkouts (counted, kept out of the customer marts), "
        "such events load as an anonymous visitor's (repeatable)",
    )
    parser.add_argument(
        "--allow-updates",
        action="store_true",
        help="load a row whose key is loaded already with other values as its newer version "
        "(a status change, a correction) instead of rejecting it",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="validate files whose content was loaded before again instead of skipping them: rows loaded "
        "then are rejected as duplicates, rows rejected then get another chance (order lines whose orders "
        "have arrived since)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and count as a load would, show each file's first rows as they would load, then "
        "write nothing: try a mapping or a date format first",
    )
    parser.add_argument("--warehouse", type=Path, default=get_settings().warehouse_path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Import files into the warehouse's raw schema from the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.table and len(args.table) > 1:  # argparse would keep the last and drop the others silently
        parser.error(
            "give --table once per call: import orders first, then the tables that refer to them "
            "(or put every file in the landing folder and run `cvw ingest`)."
        )
    args.table = args.table[0] if args.table else None
    if args.preset:
        if any(
            (
                args.table,
                args.mapping,
                args.map,
                args.constant,
                args.default,
                args.date_format,
                args.decimal_separator,
                args.thousands_separator,
                args.currency_symbol,
                args.guest_customer,
                args.allow_updates,
                args.reload,
            )
        ):
            parser.error("--preset takes only its files, --warehouse and --dry-run.")
        name, patterns = args.preset[0], [*args.preset[1:], *args.files]
    elif args.table or args.mapping:
        patterns = [*(args.table or [])[1:], *args.files]
        if not patterns:
            parser.error("give the files to load after --table TABLE, or after the options with --mapping.")
    else:
        parser.error("say what to import: --table TABLE FILE..., --mapping FILE.yaml FILE..., --preset NAME.")
    try:
        files = expand(patterns)
        if args.preset:
            loads = import_preset(name, files, args.warehouse, args.dry_run)
        else:
            mapping = _mapping(args)
            loads = import_table(
                mapping, files, args.warehouse, args.allow_updates, args.reload, args.dry_run
            )
    except ValueError as error:
        raise SystemExit(str(error)) from None
    for load in loads:
        print(describe(load, preset=bool(args.preset)))
    if args.dry_run:
        print(f"dry run: rolled back, nothing was loaded into {args.warehouse}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

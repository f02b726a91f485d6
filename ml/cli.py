"""`cvw`: the command line of the customer-value warehouse; each verb is one step of the pipeline."""

from __future__ import annotations

import argparse
import sys
from datetime import date


def _date(value: str) -> date:
    """Parse an ISO date for argparse, with a message that names the format."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    """Dispatch one verb; return the process exit code."""
    parser = argparse.ArgumentParser(prog="cvw", description=__doc__.split(":")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("generate", help="write a synthetic shop to the landing folder", add_help=False)
    verbs.add_parser("ingest", help="load landing files into the raw schema", add_help=False)
    verbs.add_parser(
        "import", help="import CSV/Parquet files into a raw table (mapping or preset)", add_help=False
    )
    build = verbs.add_parser("build", help="dbt build: staging, marts and their tests")
    build.add_argument("--as-of-date", type=_date, default=None)
    train = verbs.add_parser("train", help="train and evaluate the CLV and churn models out of time")
    train.add_argument("--horizon-days", type=int, default=None)
    score = verbs.add_parser("score", help="write scores.customer_scores for the scoring date")
    score.add_argument("--as-of-date", type=_date, default=None)
    verbs.add_parser("pipeline", help="run the DAGs through Airflow (dag.test)", add_help=False)
    top = verbs.add_parser("top", help="print the top customers by predicted revenue")
    top.add_argument("--limit", type=int, default=10)
    sql = verbs.add_parser("sql", help="run one read-only SQL query on the warehouse and print the result")
    sql.add_argument("query")
    args, rest = parser.parse_known_args(argv)

    if args.verb == "generate":
        from include.synthetic import main as generate

        return generate(rest)
    if args.verb == "ingest":
        from include.ingest import main as ingest

        return ingest(rest)
    if args.verb == "import":
        from include.importer import main as import_files

        return import_files(rest)
    if args.verb == "pipeline":
        from include.run_dags import main as pipeline

        return pipeline(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.verb == "build":
        from include.dbt import dbt_build

        dbt_build(as_of_date=args.as_of_date)
    elif args.verb == "train":
        from ml.train import format_metrics, train_models

        print(format_metrics(train_models(horizon_days=args.horizon_days)))
    elif args.verb == "score":
        from ml.score import score_customers

        print(f"wrote {score_customers(as_of_date=args.as_of_date)} score rows")
    elif args.verb == "sql":
        from include.warehouse import connect

        with connect(read_only=True) as con:
            print(con.sql(args.query))
    elif args.verb == "top":
        from ml.report import print_summary

        print_summary(limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

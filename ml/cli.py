"""`cvw`: the command line of the customer-value warehouse; each verb is one step of the pipeline."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from ml.arguments import whole_number

POSITIVE = whole_number(1)  # counts and sizes of at least 1


def _date(value: str) -> date:
    """Parse an ISO date for argparse, with a message that names the format."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    """Dispatch one verb; return the process exit code. A failed dbt command ends in run_dbt's sentence."""
    from include.dbt import DbtFailed

    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # a closed pipe raises here, not in the interpreter's last flush, past the handler
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except DbtFailed as error:  # a dbt node or dbt itself failed (cvw build, score's scratch build, publish)
        raise SystemExit(str(error)) from None
    except KeyboardInterrupt:
        return _interrupted()
    except RuntimeError as error:
        if str(error) != "Query interrupted":  # DuckDB's answer to Ctrl-C in the middle of a query
            raise
        return _interrupted()


def _pipe_closed() -> int:
    """Stop writing to a stdout whose reader left (`cvw top | head`); return the shell's code for SIGPIPE."""
    # Python's recipe (the signal module's docs, "Note on SIGPIPE"): point stdout at devnull, so the
    # interpreter's last flush of what is still buffered does not raise again
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, as a shell reports a command whose reader closed the pipe


def _interrupted() -> int:
    """Say in one sentence that Ctrl-C stopped the command and what to do; return the shell's code for it."""
    print(
        'cvw: interrupted. Run the command again; docs/operations.md ("A run killed halfway") says what a '
        "command stopped halfway leaves.",
        file=sys.stderr,
    )
    return 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped


def _dispatch(argv: list[str] | None) -> int:
    """Parse the command line and run its verb; return the process exit code."""
    parser = argparse.ArgumentParser(prog="cvw", description=__doc__.split(": ", 1)[1])
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("generate", help="write a synthetic shop to the landing folder", add_help=False)
    verbs.add_parser("ingest", help="load landing files into the raw schema", add_help=False)
    verbs.add_parser(
        "import", help="import CSV/Parquet files into a raw table (mapping or preset)", add_help=False
    )
    build = verbs.add_parser("build", help="dbt build: staging, marts and their tests")
    build.add_argument("--as-of-date", type=_date, default=None)
    build.add_argument(
        "--full-refresh", action="store_true", help="rebuild the incremental models from all raw data"
    )
    build.add_argument(
        "--test-every-row",
        action="store_true",
        help="test every row, not only the cutoffs and raw rows this build brought",
    )
    train = verbs.add_parser("train", help="train and evaluate the CLV and churn models out of time")
    train.add_argument("--horizon-days", type=POSITIVE, default=None)
    score = verbs.add_parser("score", help="write scores.customer_scores for the scoring date")
    score.add_argument("--as-of-date", type=_date, default=None)
    score.add_argument("--chunk-size", type=POSITIVE, help="customers per chunk (memory bound)")
    score.add_argument("--no-reasons", action="store_true", help="skip the SHAP reasons (faster)")
    verbs.add_parser(
        "evaluate",
        help="model vs every baseline at one cutoff (--cutoff DATE --horizon DAYS)",
        add_help=False,
    )
    report = verbs.add_parser("report", help="re-render a training run's HTML report")
    report.add_argument(
        "version", nargs="?", default=None, help="model version or evaluation JSON (default: champion)"
    )
    report.add_argument("--out", type=Path, default=None, help="HTML file (default: beside the evaluation)")
    publish = verbs.add_parser("publish", help="rebuild the BI serving copy and swap it in atomically")
    publish.add_argument(
        "--as-of-date", type=_date, default=None, help="scoring date to publish (default: the latest scored)"
    )
    verbs.add_parser(
        "monitor", help="drift of the scoring date and backtests of past scoring dates", add_help=False
    )
    verbs.add_parser("pipeline", help="run the DAGs through Airflow (dag.test)", add_help=False)
    verbs.add_parser(
        "models",
        help="list the registered model versions, promote one by hand (rollback), prune old ones' artifacts",
        add_help=False,
    )
    top = verbs.add_parser("top", help="print the top customers by discounted CLV")
    top.add_argument("--limit", type=POSITIVE, default=10)
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
    if args.verb == "evaluate":
        from ml.evaluate import main as evaluate

        return evaluate(rest)
    if args.verb == "pipeline":
        from include.run_dags import main as pipeline

        return pipeline(rest)
    if args.verb == "monitor":
        from ml.monitor_champion import main as monitor

        return monitor(rest)
    if args.verb == "models":
        from ml.models import main as models

        return models(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.verb == "build":
        from include.dbt import dbt_build
        from include.warehouse import wait_until_writable

        wait_until_writable()  # as the transform DAG does: a notebook's open connection makes it wait
        every_row = args.test_every_row
        dbt_build(as_of_date=args.as_of_date, full_refresh=args.full_refresh, test_every_row=every_row)
    elif args.verb == "train":
        from ml.train import format_metrics, train_models

        print(format_metrics(train_models(horizon_days=args.horizon_days)))
    elif args.verb == "score":
        from include.scoring import score_as_of

        scoring = {"with_reasons": not args.no_reasons}
        if args.chunk_size:
            scoring["chunk_size"] = args.chunk_size
        # as the score DAG scores: a date other than the marts' gets marts of its own (in a scratch copy)
        scored = score_as_of(args.as_of_date, **scoring)
        print(f"wrote {scored['rows']} score rows as of {scored['as_of_date']} (marts: {scored['marts']})")
    elif args.verb == "report":
        from ml.champion import rerender_report

        print(f"wrote {rerender_report(args.version, args.out)}")
    elif args.verb == "publish":
        from include.publish import describe_snapshot, publish_serving

        print(describe_snapshot(publish_serving(args.as_of_date)))
    elif args.verb == "sql":
        from include.warehouse_sql import read_only_query

        print(read_only_query(args.query))
    elif args.verb == "top":
        from ml.top import print_summary

        print_summary(limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

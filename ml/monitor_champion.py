"""One monitoring run of the champion: drift of a scoring date against training, and backtests.

    cvw monitor [--as-of-date YYYY-MM-DD] [--json] [--recompute-backtests]   (python -m ml.monitor_champion)

Drift (ml.monitor_drift): the champion's metadata keeps the training distribution (`drift_reference`,
ml.monitor). The rows of the feature mart at the scoring date (`marts.customer_features`, cutoff_date =
as_of_date) and the champion's scores of that date (`scores.customer_scores`) are counted into its bins
chunk by chunk, so memory stays bounded at any shop size; the PSI of each column goes to `ml.feature_drift`
(replacing that date's rows, but for the features' rows of a date the marts no longer hold). Reference
columns the warehouse does not store (model outputs computed while scoring, such as the BG/NBD features)
are listed as not monitored. A champion trained before drift references existed
has none: the run says so and only backtests.

Backtests: ml.run_backtests on `scores.customer_scores`: every scored date and model whose horizon has
elapsed, each against what its customers did in the horizon it was scored for (`marts.score_outcomes`;
none yet is a normal outcome, not an error). A backtest is kept while its scores and its window's orders
(`marts.score_outcome_windows`) are unchanged, so a run computes only new and changed windows;
`--recompute-backtests` computes them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from include.warehouse import first_order_at, has_table
from ml.backtests import OUTCOMES_VIEW, WINDOWS_VIEW, run_backtests
from ml.btyd import BTYD_FEATURES
from ml.monitor_drift import CHUNK_ROWS, FEATURES_TABLE, SCORE_COLUMNS, SCORES_TABLE, drift


def latest_scored_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """Return the latest as_of_date of the score table, or None when it is empty."""
    return con.execute(f"select max(as_of_date) from {SCORES_TABLE}").fetchall()[0][0]


def monitor_champion(
    con: duckdb.DuckDBPyConnection,
    model_version: str,
    metadata: Mapping[str, Any],
    as_of_date: date | None = None,
    run_at: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    recompute_backtests: bool = False,
) -> dict[str, Any]:
    """Run drift (when the metadata has a reference) and backtests for one model; return what was found.

    Backtests unchanged since the last run are kept (ml.backtests.run_backtests); recompute_backtests
    computes every one again (after a change to how they are computed).
    """
    if not has_table(con, "scores", "customer_scores"):
        raise SystemExit(f"The warehouse has no {SCORES_TABLE} yet: run the score DAG before monitoring.")
    horizon_days = int(metadata["horizon_days"])
    as_of_date = as_of_date or latest_scored_date(con)
    summary: dict[str, Any] = {
        "model_version": model_version,
        "horizon_days": horizon_days,
        "as_of_date": as_of_date.isoformat() if as_of_date else None,
    }
    reference = metadata.get("drift_reference")
    if not reference:
        summary["drift"] = f"model {model_version} has no drift reference (trained before it was kept)"
    elif as_of_date is None:
        summary["drift"] = f"{SCORES_TABLE} is empty: no scoring date to compare with training"
    else:
        unmeasurable = _nothing_to_measure(con, as_of_date, model_version)
        summary["drift"] = unmeasurable or drift(
            con, reference, as_of_date, model_version, run_at, chunk_rows
        )
        if not unmeasurable:
            summary["retraining"] = _what_a_retrain_would_add(con, metadata)
    unready = _outcomes_unready(con)
    if unready:  # ml.backtests is left as it is
        summary["backtests"] = unready
    else:
        backtests = run_backtests(con, SCORES_TABLE, run_at, recompute=recompute_backtests)
        summary["backtests_recomputed"] = int(backtests["recomputed"].sum())
        summary["backtests"] = [
            {
                "as_of_date": row.as_of_date.isoformat()
                if hasattr(row.as_of_date, "isoformat")
                else str(row.as_of_date),
                "model_version": row.model_version,
                "customers": int(row.customers),
                **{  # how far off the totals, and the expected next order dates, were
                    name: None if value is None or np.isnan(value) else round(float(value), 6)
                    for name, value in (
                        ("revenue_bias", row.revenue_bias),
                        ("orders_bias", row.orders_bias),
                        ("next_order_mdae_days", row.next_order_mdae_days),
                        ("next_order_early_share", row.next_order_early_share),
                        ("next_order_by_date_share", row.next_order_by_date_share),
                    )
                },
                "is_out_of_time": None if row.is_out_of_time is None else bool(row.is_out_of_time),
            }
            for row in backtests.itertuples()
        ]
    return summary


def _nothing_to_measure(con: duckdb.DuckDBPyConnection, as_of_date: date, model_version: str) -> str | None:
    """Return why the date has neither feature rows nor the champion's scores to measure, else None.

    Either alone is measured (the features' drift does not depend on which model scored); with neither, a
    drift of no rows would write nothing and still read as a run that measured.
    """
    features = f"select exists (select 1 from {FEATURES_TABLE} where cutoff_date = ?)"
    scores = f"select exists (select 1 from {SCORES_TABLE} where as_of_date = ? and model_version = ?)"
    if con.execute(features, [as_of_date]).fetchone()[0]:
        return None
    if con.execute(scores, [as_of_date, model_version]).fetchone()[0]:
        return None
    first = first_order_at(con)
    if first is not None and as_of_date <= first.date():  # a build and a scoring both refuse such a date
        return (
            f"{FEATURES_TABLE} holds no row at {as_of_date} and the champion {model_version} scored no "
            f"customer there: the date is not after the first order ({first.date()}), so no build or scoring "
            "can give it rows; give a later date"
        )
    return (
        f"{FEATURES_TABLE} holds no row at {as_of_date} and the champion {model_version} scored no customer "
        f"there: build the marts as of that date (cvw build --as-of-date {as_of_date}) or score it with the "
        f"champion (cvw score --as-of-date {as_of_date}) to measure it"
    )


def _what_a_retrain_would_add(
    con: duckdb.DuckDBPyConnection, metadata: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Return the champion's newest cutoff and the labelled cutoffs after it, or None when either is unknown.

    A retrain learns from every cutoff whose horizon has labels (ml.train's refit cutoffs), so one with none
    after the champion's newest would learn from the same cutoffs: drift against it is not a reason to
    retrain then, but the gap between that cutoff and the scoring date.
    """
    learnt = metadata.get("refit_cutoffs") or metadata.get("train_cutoffs")
    if not learnt or not has_table(con, "marts", "customer_labels"):
        return None
    newest = max(date.fromisoformat(str(cutoff)[:10]) for cutoff in learnt)
    newer = con.execute(
        "select distinct cutoff_date from marts.customer_labels where horizon_days = ? and cutoff_date > ? "
        "order by cutoff_date",
        [int(metadata["horizon_days"]), newest],
    ).fetchall()
    return {
        "champion_newest_cutoff": newest.isoformat(),
        "newer_labelled_cutoffs": [row[0].isoformat() for row in newer],
    }


def _outcomes_unready(con: duckdb.DuckDBPyConnection) -> str | None:
    """Return why the outcome views cannot be backtested from yet, or None when they can.

    dbt builds marts.score_outcomes and marts.score_outcome_windows empty while the score table does not
    exist (the first transform, before any scoring); until the next build they would show no outcome, and
    backtesting from them would delete every backtest. A warehouse built before a view existed lacks it.
    """
    for relation in (OUTCOMES_VIEW, WINDOWS_VIEW):
        schema, view = relation.split(".")
        found = con.execute(
            "select sql from duckdb_views() where schema_name = ? and view_name = ?", [schema, view]
        ).fetchone()
        if found is None:
            return f"{relation} does not exist yet: the next dbt build (cvw build, transform) makes it"
        if SCORES_TABLE.split(".")[1] not in found[0]:
            return (
                f"{relation} was built before the first scores: the next dbt build (cvw build, "
                "transform) points it at them"
            )
    return None


def monitor(
    as_of_date: date | None = None, warehouse_path: Path | None = None, recompute_backtests: bool = False
) -> dict[str, Any]:
    """Monitor the champion on the warehouse at a date (default: the latest scored); return the summary."""
    from include.scoring import refuse_a_future_date
    from include.settings import get_settings
    from include.unfinished import MONITORING_MARTS, require_finished_marts
    from include.warehouse import connect
    from ml.artifacts import load_champion

    # a mistyped year: its drift advice would name a build and a scoring that both refuse the date
    refuse_a_future_date(
        as_of_date,
        f"{as_of_date}",
        lambda latest: (
            f"no date after {latest} can be scored, so there is nothing to monitor there. Give a "
            "scored date, or none for the latest."
        ),
    )
    settings = get_settings()
    version, _, metadata = load_champion(settings.artifacts_dir, warehouse_path)
    with connect(warehouse_path) as con:
        require_finished_marts(con, MONITORING_MARTS, "monitor")
        return monitor_champion(con, version, metadata, as_of_date, recompute_backtests=recompute_backtests)


def describe(summary: Mapping[str, Any]) -> str:
    """Return one line per finding of a monitoring summary, for logs and the terminal."""
    lines = [
        f"model {summary['model_version']}, {summary['horizon_days']}-day horizon, "
        f"scoring date {summary['as_of_date'] or '(none)'}"
    ]
    found = summary["drift"]
    if isinstance(found, str):
        lines.append(f"drift: skipped, {found}")
    else:
        lines.append(
            f"drift: {len(found['psi'])} columns over {found['feature_rows']} feature rows and "
            f"{found['score_rows']} score rows; moderate: {', '.join(found['moderate']) or 'none'}; "
            f"significant: {', '.join(found['significant']) or 'none'}"
        )
        absent = found["not_monitored"]
        others = found.get("scored_by_other_models")
        if others and set(SCORE_COLUMNS) & set(absent):  # the champion's scores of the date, not stored
            lines.append(
                f"not monitored, as {', '.join(others)} scored that date, not the champion: "
                f"{', '.join(c for c in absent if c in SCORE_COLUMNS)} (score the date with the champion: "
                f"cvw score --as-of-date {summary['as_of_date']})"
            )
            absent = [column for column in absent if column not in SCORE_COLUMNS]
        features = [column for column in absent if column not in (*SCORE_COLUMNS, *BTYD_FEATURES)]
        if features and not found["feature_rows"]:  # a date scored from marts built for it in a scratch copy
            lines.append(
                f"not monitored, marts.customer_features holds no row at that date: its {len(features)} "
                f"features (cvw build --as-of-date {summary['as_of_date']} builds the marts for it; --json "
                "names them)"
            )
            absent = [column for column in absent if column not in features]
        if absent:  # a model output computed while scoring, or a feature the mart dropped
            lines.append("not monitored, not in the warehouse at that date: " + ", ".join(absent))
        retraining = summary.get("retraining")
        if found["significant"] and retraining:
            lines.append(_retrain_advice(retraining, summary["as_of_date"], summary["horizon_days"]))
    if isinstance(summary["backtests"], str):
        lines.append(f"backtests: skipped, {summary['backtests']}")
    else:
        dates = sorted({row["as_of_date"] for row in summary["backtests"]})
        recomputed = summary["backtests_recomputed"]
        lines.append(
            f"backtests: {len(summary['backtests'])} rows"
            + (f" ({', '.join(dates)}); {recomputed} computed by this run, "
               f"{len(summary['backtests']) - recomputed} unchanged since the run that computed them"
               if dates else " (no scored date's horizon has elapsed yet)")
        )  # fmt: skip
        rows = summary["backtests"]
        in_sample = sorted({row["as_of_date"] for row in rows if row["is_out_of_time"] is False})
        if in_sample:
            lines.append(
                f"backtests in sample ({', '.join(in_sample)}): the model that scored them learnt from "
                "outcomes of their windows, so they flatter it (is_out_of_time false)"
            )
    return "\n".join(lines)


def _retrain_advice(retraining: Mapping[str, Any], as_of_date: str, horizon_days: int) -> str:
    """Return whether a retrain would learn from anything the champion did not, for significant drift."""
    newest, newer = retraining["champion_newest_cutoff"], retraining["newer_labelled_cutoffs"]
    if newer:
        count, span = (
            ("1 cutoff", newer[0])
            if len(newer) == 1
            else (f"{len(newer)} cutoffs", f"{newer[0]} to {newer[-1]}")
        )
        return (
            f"significant drift, and the marts hold {horizon_days}-day labels at {count} after the "
            f"champion's newest ({newest}): {span}; retrain (cvw train; under Airflow, trigger train)"
        )
    gap = (date.fromisoformat(as_of_date) - date.fromisoformat(newest)).days
    return (
        f"significant drift, but a retrain would learn from the same cutoffs: the champion's newest "
        f"({newest}) is the newest whose {horizon_days}-day horizon has labels. The drift is what changed "
        f"in the {gap} days from it to the scoring date (older customers, another season); retrain once a "
        "later cutoff's horizon has ended and the marts are built"
    )


def main(argv: list[str] | None = None) -> int:
    """Monitor the champion from the command line; print the summary."""
    from ml.cli import _date as iso_date  # the other verbs' sentence for a date that is not one

    parser = argparse.ArgumentParser(prog="cvw monitor", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--as-of-date", type=iso_date, default=None, help="scoring date (default: the latest)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--recompute-backtests",
        action="store_true",
        help="compute every backtest again, not only new windows and those whose scores or orders changed",
    )
    args = parser.parse_args(argv)
    summary = monitor(args.as_of_date, recompute_backtests=args.recompute_backtests)
    print(json.dumps(summary, indent=2) if args.json else describe(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

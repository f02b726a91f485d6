"""Time the monitor's backtests on a large synthetic shop with many past scoring dates; print a table.

    .venv/bin/python bench/monitor_backtests.py --customers 100000 --dates 52 [--work-dir DIR]

A monitoring run backtests each scored (date, model, horizon) of scores.customer_scores whose horizon has
elapsed, one date at a time, from the dbt view marts.score_outcomes (ml.backtests.run_backtests), and keeps
a backtest while its scores and its window's orders (marts.score_outcome_windows) are unchanged. This times
the runs as the score history grows: a shop of `--customers` customers is generated, ingested and
built for its scoring date only (as bench/score_speed.py builds it); `--dates` weekly scoring dates ending
91 days before the as-of date are written to the score table, one row per customer with a completed order
before the date (the scores are a hash of the customer: the backtests' values do not matter here, their
work does); the views are rebuilt over them, and run_backtests runs four times: the first run (every date
new), a run with nothing changed, a run after one more date is scored (the day's usual work), and a run
that recomputes every date (`recompute`, what each run did before backtests were kept). Wall-clock
seconds of one run each: a benchmark, never a test. Figures are cut, never rounded up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.figures import cut  # noqa: E402
from bench.score_speed import _build_scoring_date_only, _cvw, _environment, _has_marts  # noqa: E402
from include.dbt import run_dbt  # noqa: E402
from ml.backtests import run_backtests  # noqa: E402
from ml.score_tables import ensure_score_tables  # noqa: E402

HORIZON_DAYS = 90
SCORES = """
insert into scores.customer_scores by name
select
    cast(? as date) as as_of_date, customer_id, 'bench' as model_version, {horizon} as horizon_days,
    (hash(customer_id) % 1000) / 1000.0 as churn_probability,
    (hash(customer_id || 'r') % 50000) / 100.0 as predicted_revenue,
    1.0 as predicted_orders, 0.0 as discounted_clv, 0.0 as historic_revenue, 'low' as risk_band,
    '' as churn_reasons, '' as value_reasons, current_timestamp as scored_at
from intermediate.int_orders_valued
where not is_cancelled
group by customer_id
having min(ordered_at) < cast(? as timestamp)
"""


def main(argv: list[str] | None = None) -> int:
    """Build the shop (or reuse --work-dir's), write the score history, time two backtest runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--dates", type=int, default=52, help="weekly scoring dates with an elapsed horizon")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the shop is kept (default: temp)")
    args = parser.parse_args(argv)
    root = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    shop = root / f"monitor{args.customers}"
    env = _environment(shop, args.customers)
    warehouse = shop / "warehouse.duckdb"
    if not _has_marts(warehouse):
        for verb in ("generate", "ingest"):
            _cvw(env, verb)
        _build_scoring_date_only(env)
    os.environ["CVW_WAREHOUSE"] = str(warehouse)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    with duckdb.connect(str(warehouse)) as con:
        ensure_score_tables(con)
        con.execute("delete from scores.customer_scores")
        con.execute("drop table if exists ml.backtests")
        (as_of,) = con.execute("select max(data_end_date) from intermediate.int_cutoff_spine").fetchone()
        last = as_of - timedelta(days=HORIZON_DAYS + 1)
        for week in range(1, args.dates):
            day = last - timedelta(weeks=week)
            con.execute(SCORES.format(horizon=HORIZON_DAYS), [day, day])
    # the views were built before the score table existed (empty): the transform's next build points them
    # there
    run_dbt(["build", "--select", "score_outcomes", "score_outcome_windows"], warehouse_path=warehouse)
    timings = {}
    with duckdb.connect(str(warehouse)) as con:
        for run in ("first", "unchanged", "one new date", "recompute all"):
            if run == "one new date":
                con.execute(SCORES.format(horizon=HORIZON_DAYS), [last, last])
            started = time.monotonic()
            backtests = run_backtests(con, recompute=run == "recompute all")
            timings[run] = (time.monotonic() - started, int(backtests["recomputed"].sum()))
        (rows,) = con.execute("select count(*) from scores.customer_scores").fetchone()
    print(f"commit {commit}, {os.cpu_count()} cores; {args.customers:,} customers, as-of date {as_of}")
    print(f"{rows:,} score rows over {args.dates} scoring dates; {len(backtests)} backtests")
    print("| run | dates computed | seconds |")
    print("|---|---|---|")
    for run, (seconds, computed) in timings.items():
        print(f"| {run} | {computed} | {cut(seconds)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

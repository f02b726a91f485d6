"""The model against every baseline on UCI Online Retail II at the two reference settings; appends the tables
to docs/benchmarks.md.

    .venv/bin/python bench/evaluate_online_retail.py [--no-write] [--keep DIR] [--dbt-project-dir DIR]
        [--no-backtest] [--variants preset guest-as-customer]

For each data variant, in a temporary folder: import the two Parquet files of the data set with the
project's preset (`cvw import online-retail-ii`), build the marts with dbt (label horizons 90, 180 and 365
days; cutoffs 2011-06-11 and 2011-09-09 added to the monthly spine through the dbt var
`extra_cutoff_dates`), then run ml.evaluate at 2011-09-09 with a 90-day horizon and at 2011-06-11 with 180
days: the model and every baseline fitted and scored by the project on the same customers in the same run.

Variants:
- `preset`: the project's import, which rejects lines without a customer (the 2010-2011 file writes 0 there);
- `guest-as-customer`: the same, except that the 2010-2011 file's customer 0 is kept as one customer, which is
  how the README's reference table was computed (its BG/NBD + Gamma-Gamma figures are reproduced only then).

Each "beats" verdict carries the 95% paired bootstrap interval of the difference (model minus BG/NBD + GG,
1,000 resamples of the test customers: `cvw evaluate --bootstrap 1000`): an interval holding zero says
this data set cannot tell the two apart on that metric.

The preset variant is also backtested: the same evaluation at every monthly cutoff with a full split, to
show whether one configuration holds beyond the two reference dates.

Data: UCI Machine Learning Repository, "Online Retail II" (Daqing Chen, 2019), CC BY 4.0.
A benchmark, not a test: it writes a table and gates nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

DATA_DIR = Path("/work/shared/data/online_retail_ii")
FILES = ("online_retail_ii_2009-12_2010-12.parquet", "online_retail_2010-12_2011-12.parquet")
GUEST_FILE = "online_retail_2010-12_2011-12.parquet"  # writes 0 where the customer is unknown
GUEST_CUSTOMER_ID = 99999  # not an id of the data set
SETTINGS = ((date(2011, 9, 9), 90), (date(2011, 6, 11), 180))
DBT_VARS = {"label_horizons": [90, 180, 365], "extra_cutoff_dates": [str(c) for c, _ in SETTINGS]}
# README reference (BG/NBD + Gamma-Gamma with lifetimes): Spearman, normalized Gini, top-10% capture,
# aggregate bias, churn ROC-AUC
REFERENCE = {
    (date(2011, 9, 9), 90): (0.574, 0.864, 0.686, -0.39, 0.801),
    (date(2011, 6, 11), 180): (0.627, 0.889, 0.702, -0.22, 0.808),
}
BOOTSTRAP_RESAMPLES = 1000
HEADLINE = ["revenue_spearman", "revenue_normalized_gini", "revenue_top10_capture", "revenue_aggregate_bias"]
COLUMNS = {
    "revenue_spearman": "Spearman",
    "revenue_normalized_gini": "norm. Gini",
    "revenue_top10_capture": "top-10% capture",
    "revenue_aggregate_bias": "aggregate bias",
    "revenue_decile_mape": "decile MAPE",
    "revenue_mae": "MAE",
    "revenue_rmse": "RMSE",
    "churn_roc_auc": "churn ROC-AUC",
    "churn_pr_auc": "churn PR-AUC",
    "churn_brier": "churn Brier",
    "churn_lift_at_10": "churn lift@10%",
}
MODEL_ORDER = ["model", "bgnbd_gamma_gamma", "lightgbm_rfm", "naive_rate", "persistence"]


@contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """Set one environment variable for the block (nothing when value is None)."""
    previous = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if value is not None:
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def _files(folder: Path, guest_as_customer: bool) -> list[Path]:
    """Return the files to import: the originals, or copies whose guest lines carry one customer id."""
    if not guest_as_customer:
        return [DATA_DIR / name for name in FILES]
    copy = folder / GUEST_FILE
    with duckdb.connect() as con:
        relation = con.read_parquet(str(DATA_DIR / GUEST_FILE))
        guest = f'case when "CustomerID" = 0 then {GUEST_CUSTOMER_ID} else "CustomerID" end'
        relation = relation.project(f'* replace ({guest} as "CustomerID")')
        relation.write_parquet(str(copy))
    return [DATA_DIR / FILES[0], copy]


def build_warehouse(folder: Path, guest_as_customer: bool, dbt_project_dir: str | None) -> Path:
    """Import the data set into a new warehouse in the folder and build its marts; return its path."""
    from include.dbt import run_dbt
    from include.importer import import_preset

    warehouse = folder / "warehouse.duckdb"
    import_preset("online-retail-ii", _files(folder, guest_as_customer), warehouse)
    with _environment("CVW_DBT_PROJECT_DIR", dbt_project_dir):
        run_dbt(["seed"], warehouse_path=warehouse, dbt_vars=DBT_VARS)
        run_dbt(["run"], warehouse_path=warehouse, dbt_vars=DBT_VARS)
    return warehouse


def evaluate_variant(
    guest_as_customer: bool, keep: Path | None, dbt_project_dir: str | None, backtests: bool
) -> tuple[list[dict], list[str]]:
    """Return, per reference setting, the wide metrics table, the model description and the seconds taken;
    and the backtests at every monthly cutoff as Markdown when asked."""
    from ml.evaluate import run
    from ml.evaluation_views import describe, wide

    variant = "guest-as-customer" if guest_as_customer else "preset"
    with tempfile.TemporaryDirectory() as scratch:
        folder = (keep / variant) if keep else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        warehouse = build_warehouse(folder, guest_as_customer, dbt_project_dir)
        build_seconds = time.monotonic() - started
        results = []
        for cutoff, horizon in SETTINGS:
            started = time.monotonic()
            table = run(cutoff, horizon, warehouse, bootstrap=BOOTSTRAP_RESAMPLES)
            intervals = table.attrs["intervals"].query("baseline == 'bgnbd_gamma_gamma'")
            results.append(
                {
                    "variant": variant,
                    "cutoff": cutoff,
                    "horizon": horizon,
                    "table": wide(table),
                    "intervals": intervals.set_index("metric")[["low", "high"]],
                    "bias_interval": tuple(
                        table.attrs["bias_intervals"].set_index("model").loc["model", ["low", "high"]]
                    ),
                    "customers": int(table["customers"].iloc[0]),
                    "model": describe(table.attrs["calibration"]),
                    "seconds": time.monotonic() - started,
                    "build_seconds": build_seconds,
                }
            )
        tables = []
        if backtests:
            for horizon in sorted({h for _, h in SETTINGS}):
                started = time.monotonic()
                table = backtest(warehouse, horizon)
                title = f"Backtest, {variant}, {horizon}-day horizon ({time.monotonic() - started:.0f} s)"
                tables.append(backtest_markdown(table, title))
    return results, tables


def _cell(metric: str, value: float) -> str:
    """Return one metric formatted for the Markdown table."""
    if metric == "revenue_aggregate_bias":
        return f"{value:+.1%}"
    if metric in ("revenue_mae", "revenue_rmse"):
        return f"{value:,.0f}"
    return f"{value:.3f}"


def markdown(result: dict) -> str:
    """Return the Markdown table of one setting: every model and baseline, then the README reference."""
    table = result["table"]
    header = ["model", *COLUMNS.values()]
    lines = [
        f"**{result['cutoff']}, {result['horizon']}-day horizon** ({result['variant']}; "
        f"{result['customers']:,} existing customers; evaluation with its {BOOTSTRAP_RESAMPLES:,}-resample "
        f"bootstrap {result['seconds']:.0f} s). "
        f"{result['model']}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name in [m for m in MODEL_ORDER if m in table.index]:
        cells = [_cell(metric, table.loc[name, metric]) for metric in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    reference = REFERENCE[(result["cutoff"], result["horizon"])]
    ref_cells = [f"{reference[0]:.3f}", f"{reference[1]:.3f}", f"{reference[2]:.3f}", f"{reference[3]:+.0%}"]
    ref_cells += ["", "", "", f"{reference[4]:.3f}", "", "", ""]
    lines.append("| README reference: BG/NBD + GG (lifetimes) | " + " | ".join(ref_cells) + " |")
    return "\n".join(lines)


def verdict(result: dict) -> str:
    """Return one line: does the model beat the project's BG/NBD + GG on the four headline metrics?"""
    table = result["table"]
    checks = []
    for metric in [*HEADLINE[:3], "churn_roc_auc"]:
        model, baseline = table.loc["model", metric], table.loc["bgnbd_gamma_gamma", metric]
        outcome = "beats" if model > baseline else "does not beat"
        low, high = result["intervals"].loc[metric]
        checks.append(
            f"{COLUMNS[metric]} {outcome} ({model:.4f} vs {baseline:.4f}; difference 95% in "
            f"[{low:+.4f}, {high:+.4f}])"
        )
    bias = table.loc["model", "revenue_aggregate_bias"]
    low, high = result["bias_interval"]
    checks.append(
        f"bias {'within' if abs(bias) <= 0.10 else 'outside'} ±10% ({bias:+.1%}; 95% in "
        f"[{low:+.1%}, {high:+.1%}])"
    )
    return f"- {result['cutoff']}, {result['horizon']} d ({result['variant']}): " + "; ".join(checks) + "."


def backtest(warehouse: Path, horizon: int) -> pd.DataFrame:
    """Return model and BG/NBD + GG headline metrics at every labelled cutoff that has a full split."""
    from include.warehouse import connect
    from ml.btyd_total import total_source
    from ml.data import load_training_frame
    from ml.evaluate import evaluate_cutoff
    from ml.evaluation_views import wide
    from ml.fitting import prepare_frame, split_cutoffs

    with connect(warehouse, read_only=True) as con:
        frame = load_training_frame(con, horizon)
    frame, features = prepare_frame(frame, horizon)
    rows = []
    for cutoff in sorted(frame["cutoff_date"].unique()):
        try:
            split = split_cutoffs(list(frame["cutoff_date"].unique()), cutoff, horizon)
        except SystemExit:
            continue
        _, table, _ = evaluate_cutoff(frame[frame["cutoff_date"] <= cutoff], features, cutoff, horizon)
        metrics = wide(table).loc[["model", "bgnbd_gamma_gamma"], [*HEADLINE, "churn_roc_auc"]]
        row = {
            "cutoff": cutoff.date(),
            "horizon": horizon,
            "refit_cutoffs": len(split.refit),
            "year_of_cutoffs": total_source(split.refit) == "tweedie",  # the rule training applies
        }
        for name, label in (("model", "model"), ("bgnbd_gamma_gamma", "btyd")):
            row |= {f"{label} {COLUMNS[m]}": metrics.loc[name, m] for m in metrics.columns}
        rows.append(row)
    return pd.DataFrame(rows)


def backtest_markdown(table: pd.DataFrame, title: str) -> str:
    """Return a backtest as a Markdown table (model / BG/NBD + GG per metric) with a summary line."""
    names = [*(COLUMNS[m] for m in HEADLINE[:3]), "churn ROC-AUC"]
    beats = pd.concat([table[f"model {n}"] > table[f"btyd {n}"] for n in names], axis=1).all(axis=1)
    bias = "aggregate bias"
    mature = table["year_of_cutoffs"]
    on_mature = (
        f"{table.loc[mature, f'model {bias}'].abs().mean():.1%} vs "
        f"{table.loc[mature, f'btyd {bias}'].abs().mean():.1%} at the {int(mature.sum())} refitted on a year "
        "of cutoffs or more"
        if mature.any()
        else "no test cutoff had a year of refit cutoffs"
    )
    lines = [
        f"{title}: the model beats BG/NBD + GG on all four of Spearman, Gini, top-10% capture and churn "
        f"ROC-AUC at {int(beats.sum())} of {len(table)} test cutoffs; mean |aggregate bias| "
        f"{table[f'model {bias}'].abs().mean():.1%} (model) vs {table[f'btyd {bias}'].abs().mean():.1%} "
        f"(BG/NBD + GG); {on_mature}.",
        "",
        "| test cutoff | refit cutoffs | "
        + " | ".join(f"{n} (model / BG/NBD)" for n in [*names, bias])
        + " |",
        "|" + "---|" * (len(names) + 3),
    ]
    for row in table.to_dict(orient="records"):
        cells = [f"{row[f'model {n}']:.3f} / {row[f'btyd {n}']:.3f}" for n in names]
        cells.append(f"{row[f'model {bias}']:+.1%} / {row[f'btyd {bias}']:+.1%}")
        lines.append(f"| {row['cutoff']} | {row['refit_cutoffs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    """Return a one-line description of this machine."""
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    python = platform.python_version()
    return f"{os.cpu_count()} cores, {memory_gb:.0f} GB, {platform.machine()}, Python {python}"


def commit() -> str:
    """Return the short commit of the working tree, marked when it has uncommitted changes."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True)
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    """Run both variants at both settings, print the tables and append them to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--keep", type=Path, default=None, help="keep the warehouses in this folder")
    parser.add_argument(
        "--dbt-project-dir", default=None, help="dbt project to build with (default: the repo's)"
    )
    parser.add_argument("--variants", nargs="+", default=["preset", "guest-as-customer"])
    parser.add_argument(
        "--no-backtest", action="store_true", help="skip the backtest at every cutoff of the preset variant"
    )
    args = parser.parse_args(argv)

    results, backtests = [], []
    for variant in args.variants:
        wanted = variant == "preset" and not args.no_backtest
        found, tables = evaluate_variant(
            variant == "guest-as-customer", args.keep, args.dbt_project_dir, wanted
        )
        results += found
        backtests += tables
    pd.set_option("display.width", 200)
    section = [
        f"### Model vs baselines on Online Retail II, {datetime.now(UTC):%Y-%m-%d}, commit {commit()}",
        f"Machine: {machine()}. Command: `.venv/bin/python bench/evaluate_online_retail.py`"
        + (f" --dbt-project-dir {args.dbt_project_dir}" if args.dbt_project_dir else "")
        + f". Marts built in {results[0]['build_seconds']:.0f} s per variant (import + dbt seed/run).",
        "",
        *[verdict(result) for result in results],
        "",
    ]
    for result in results:
        section += [markdown(result), ""]
    for table in backtests:
        section += [table, ""]
    text = "\n".join(section)
    print(text)
    if not args.no_write:
        path = REPO_ROOT / "docs" / "benchmarks.md"
        path.write_text(path.read_text().rstrip("\n") + "\n\n" + text)
        print(f"appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

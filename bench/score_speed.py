"""Time scoring on a large synthetic shop, with and without the SHAP reasons; append the table to the docs.

    .venv/bin/python bench/score_speed.py --customers 200000

A champion is trained on a 5,000-customer shop (the demo's size); a second shop of `--customers` customers
is generated, ingested and built for its scoring date only (dbt var spine_months = 0); then `ml.score`
scores every customer of that date with the champion, once without reasons and once with them, writing
scores.customer_scores each time (the replace-by-date transaction included: the second run replaces the
first run's rows of the same model in place). Each scoring run is a child process of its own, so its peak
resident memory (ru_maxrss from wait4: the high-water mark of the whole run, not the resident set after
it) and its CPU seconds are that run's alone; the wall time is of `score_customers` in the child (imports
and start-up left out). `--breakdown` adds a third run without reasons under cProfile and reports where
its time goes. `--work-dir` keeps the shops, so a later run at the same size skips generating them.
Wall-clock seconds of one run each, on a machine others may share (the 1-minute load average before and
after each run is reported with it): a benchmark, never a test. Figures are cut, never rounded up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.figures import cut  # noqa: E402
from include.warehouse import has_table  # noqa: E402

TRAINING_CUSTOMERS = 5_000
# What the child process runs: score once, print wall seconds and rows as JSON (optionally a profile).
CHILD = """
import cProfile, json, pstats, sys, time
from pathlib import Path
from ml.score import score_customers
warehouse, chunk_size, with_reasons = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
profile = cProfile.Profile() if sys.argv[4] == "1" else None
started = time.monotonic()
if profile:
    profile.enable()
written = score_customers(warehouse_path=warehouse, chunk_size=chunk_size, with_reasons=with_reasons)
seconds = time.monotonic() - started
stages = {}
if profile:
    profile.disable()
    for (path, _, name), row in pstats.Stats(profile).stats.items():
        if path.startswith(sys.path[0]) or "lightgbm" in path or "btyd" in path:
            stages[f"{Path(path).stem}.{name}"] = max(stages.get(f"{Path(path).stem}.{name}", 0.0), row[3])
print(json.dumps({"written": written, "seconds": seconds, "stages": stages}))
"""
# Where a run's time goes: (label, profiled function); nested entries are parts of the ones above them.
STAGES = (
    ("BG/NBD + Gamma-Gamma fitted on the date's training sample (its rows read)", "score_btyd.fit_date_btyd"),
    ("of which the two maximum-likelihood fits", "btyd.fit_btyd"),
    ("compiling the boosters, or reading their code compiled by an earlier run", "compiled.compile_boosters"),
    ("pass 1 over the chunks, blended and kept in a temporary table", "score.keep_pass1"),
    ("of which reading the mart (one streamed query, Arrow)", "publish_scores.iter_arrow_chunks"),
    ("of which the BG/NBD + Gamma-Gamma predictions of each chunk", "score_btyd.chunk_btyd"),
    ("of which the LightGBM matrix", "score_predictions.model_input"),
    ("of which LightGBM predict (every booster; dates under ml.compiled.COMPILE_MIN_ROWS)", "basic.predict"),
    ("of which the compiled boosters' predict (every booster)", "compiled.predict"),
    ("building the score rows (pass 2)", "score.score_rows"),
    ("writing: stage, delete, insert with tiers and actions, commit", "publish_scores.publish_scores"),
    ("of which the one insert statement with tiers and actions", "publish_scores._write_staged"),
)


def _cvw(env: dict[str, str], *args: str) -> None:
    """Run one `cvw` verb in a subprocess with the given environment."""
    subprocess.run(
        [sys.executable, "-m", "ml.cli", *args], cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def _environment(root: Path, customers: int) -> dict[str, str]:
    """Return the environment of a shop in its own data folder."""
    return {
        **os.environ,
        "CVW_DATA_DIR": str(root),
        "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
        "CVW_SYNTHETIC_CUSTOMERS": str(customers),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def _build_scoring_date_only(env: dict[str, str]) -> None:
    """Build the marts for the scoring date alone (no monthly cutoffs: scoring reads only that date)."""
    # unit tests pin the default vars (the spine's among them), so they are left out of this build
    code = (
        "from include.dbt import run_dbt; "
        "run_dbt(['build', '--exclude', 'test_type:unit'], dbt_vars={'spine_months': 0})"
    )
    command = [sys.executable, "-c", code]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def _has_marts(warehouse: Path) -> bool:
    """Return whether the warehouse file holds a feature mart (a shop kept by an earlier run)."""
    if not warehouse.exists():
        return False
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return has_table(con, "marts", "customer_features")


def prepare(root: Path, customers: int) -> tuple[dict[str, str], Path]:
    """Return the scoring environment (the champion's artifacts) and the scoring shop's warehouse."""
    train_root, score_root = root / "train", root / f"score{customers}"
    train_env = _environment(train_root, TRAINING_CUSTOMERS)
    if not (train_root / "artifacts" / "models" / "champion.json").exists():
        for verb in ("generate", "ingest", "build", "train"):
            _cvw(train_env, verb)
    score_env = _environment(score_root, customers)
    if not _has_marts(score_root / "warehouse.duckdb"):
        for verb in ("generate", "ingest"):
            _cvw(score_env, verb)
        _build_scoring_date_only(score_env)
    return {**score_env, "CVW_ARTIFACTS_DIR": train_env["CVW_ARTIFACTS_DIR"]}, score_root / "warehouse.duckdb"


def score_once(
    env: dict[str, str], warehouse: Path, chunk_size: int, with_reasons: bool, breakdown: bool = False
) -> dict[str, object]:
    """Return one scoring run's rows, wall and CPU seconds, peak resident memory and load average."""
    load_before = os.getloadavg()[0]
    args = [str(warehouse), str(chunk_size), "1" if with_reasons else "0", "1" if breakdown else "0"]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"scoring {warehouse} failed with exit code {child.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute("select count(*) from scores.customer_scores").fetchall()[0][0]
    return {
        "customers": result["written"],
        "stored": stored,
        "reasons": with_reasons,
        "seconds": result["seconds"],
        "per_second": result["written"] / result["seconds"],
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_gb": usage.ru_maxrss / 1024**2,  # kilobytes on Linux
        "load": (load_before, os.getloadavg()[0]),
        "stages": result["stages"],
    }


def report(args: argparse.Namespace, rows: list[dict[str, object]], started: datetime) -> str:
    """Return the Markdown section of one benchmark run."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    memory_gb = psutil.virtual_memory().total / 1024**3
    customers = rows[0]["customers"]
    lines = [
        "",
        f"### Scoring speed, {started:%Y-%m-%d %H:%M} UTC, commit {commit}, {customers:,} customers",
        f"Machine: {os.cpu_count()} cores, {memory_gb:.0f} GB. Command: `.venv/bin/python "
        f"bench/score_speed.py --customers {args.customers} --chunk-size {args.chunk_size}` (champion "
        f"trained on {TRAINING_CUSTOMERS:,} customers; chunks of {args.chunk_size:,}). Wall seconds of "
        "`score_customers`; CPU seconds and peak resident memory (ru_maxrss) of the scoring process, imports "
        "included.",
        "",
        "| SHAP reasons | wall time | customers per second | CPU time | peak resident memory | "
        "1-min load before, after |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        assert row["stored"] == row["customers"], row
        lines.append(
            f"| {'yes' if row['reasons'] else 'no'} | {cut(row['seconds'])} s | "
            f"{cut(row['per_second'], 0)} | {cut(row['cpu_seconds'])} s | {cut(row['peak_gb'], 2)} GB | "
            f"{row['load'][0]:.2f}, {row['load'][1]:.2f} |"
        )
    without = rows[0]
    with_reasons = next((row for row in rows if row["reasons"]), None)
    if with_reasons is not None:
        lines.append(
            f"\nThe reasons cost {cut(with_reasons['seconds'] - without['seconds'])} s more "
            f"({cut(with_reasons['seconds'] / without['seconds'], 1)}x the wall time without them, "
            f"{cut(with_reasons['cpu_seconds'] / without['cpu_seconds'], 1)}x the CPU time)."
        )
    if args.breakdown:
        profiled = rows[-1]
        lines += [
            "",
            "Where the time of a third run without reasons goes (under cProfile: "
            f"{cut(profiled['seconds'])} s, load {profiled['load'][0]:.2f} before, "
            f"{profiled['load'][1]:.2f} after):",
            "",
            "| stage | seconds | share |",
            "|---|---|---|",
        ]
        for label, name in STAGES:
            seconds = profiled["stages"].get(name, 0.0)
            share = cut(100 * seconds / profiled["seconds"], 0)
            lines.append(f"| {label} | {cut(seconds, 2)} | {share}% |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and append its table to docs/benchmarks.md (or the --out file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--breakdown", action="store_true", help="profile a third run without reasons")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the shops here (default: temp)")
    parser.add_argument(
        "--skip-reasons", action="store_true", help="no run with reasons (5-11 minutes at 1M customers)"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        env, warehouse = prepare(args.work_dir or Path(folder), args.customers)
        runs = (False,) if args.skip_reasons else (False, True)
        rows = [score_once(env, warehouse, args.chunk_size, with_reasons) for with_reasons in runs]
        if args.breakdown:
            rows.append(score_once(env, warehouse, args.chunk_size, False, breakdown=True))
    text = report(args, rows, started)
    print(text)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

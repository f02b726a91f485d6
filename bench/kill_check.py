"""Kill a writing `cvw` verb at many moments and check that every write is all-or-nothing and safe to retry.

For each delay, the state before the command (a folder holding `data/` and `artifacts/`) is copied to one
fixed work folder, the verb runs there as a subprocess in its own process group, and the group gets the
signal (SIGKILL: the OOM killer, a power loss; SIGTERM: what Airflow sends) after the delay. Then:

* the warehouse opens, and each of its tables equals the state before the command or the state after an
  uninterrupted run (row count and an order-free checksum of its columns, volatile ones left out: `*_at`
  timestamps, model versions and the texts that name them);
* the serving copy is the old or the new complete snapshot;
* the model registry and the artifacts folder agree (pointer, registered versions, their files; the folders
  of versions `cvw models prune` marked are noted, and a re-run must leave none);
* the files left in the data folder are listed (temporary files, scratch copies, write-ahead logs);
* the same command then runs to its end, and the final state equals the uninterrupted run's.

    python bench/kill_check.py --state /tmp/h-crash/states/scored --work /tmp/h-crash/work/publish \\
        --delays 0.5,2,5,10 -- publish

The first run in a work folder is the reference (uninterrupted); its fingerprint is kept in the work folder.
Prints one line per trial and ends with "N passed, N failed".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
# columns that differ between two complete runs: when a row was written, the model version, texts naming it
VOLATILE_NAMES = {
    "model_version",
    "version",
    "evaluation_id",
    "reason",
    "gate_reason",
    "git_commit",
    "library_versions",
}
VOLATILE_TIMES = {
    "_loaded_at",
    "_replaced_at",
    "loaded_at",
    "rejected_at",
    "run_at",
    "scored_at",
    "trained_at",
}
VOLATILE_TIMES |= {"updated_at", "evaluated_at", "published_at"}
# times compared only as set or empty: `cvw models prune` marks a version pruned at another time each run
VOLATILE_WHEN_SET = {"pruned_at"}
# hidden names of folders being deleted: a pruned version's (ml.retention), a dead training's (ml.artifacts)
DELETING = (".pruned-", ".abandoned-")
Fingerprint = dict[str, object]
# the dbt models a build selected and has not finished (dbt_project/macros/unfinished_models.sql): a build
# killed halfway may leave models of the old build beside the new one's only when it lists them there
UNFINISHED, UNFINISHED_KEY = "intermediate.unfinished_models", "(unfinished)"
# tables the models' hooks write as they build (a row per model), read by no step: a killed build leaves
# them part old, part new
BUILD_BOOKKEEPING = {"intermediate.incremental_watermarks", "intermediate.incremental_model_inputs"}


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[str]:
    """Return the checksummed expressions of a table's columns: volatile columns left out, doubles rounded."""
    rows = con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [database, schema, table],
    ).fetchall()
    expressions = []
    for name, data_type in rows:
        if name in VOLATILE_NAMES or name in VOLATILE_TIMES:
            continue
        quoted = '"' + name.replace('"', '""') + '"'
        if name in VOLATILE_WHEN_SET:
            quoted = f"({quoted} is null)"
        elif data_type.upper() in ("DOUBLE", "FLOAT", "REAL"):
            # a parallel sum differs in its last bits from run to run; scaled by an irrational factor, a value
            # (often k/2^n cents) lies far from a rounding boundary, so rounding hides those bits
            quoted = f"round({quoted} * 0.7071067811865476, 5)"
        expressions.append(quoted)
    return expressions


def database_fingerprint(path: Path) -> dict[str, list[int]] | str:
    """Return {schema.table: [rows, checksum]} of a DuckDB file, opened read-write as the next run would;
    "missing" when there is no file, or the error's first line when it does not open."""
    if not path.exists():
        return "missing"
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
        return f"does not open: {str(error).splitlines()[0]}"
    try:
        database = con.execute("select current_database()").fetchone()[0]
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = ? order by 1, 2",
            [database],
        ).fetchall()
        result: dict[str, list[int]] = {}
        for schema, table in tables:
            if f"{schema}.{table}" == UNFINISHED:  # compared as the relations it lists
                listed = con.execute(f"select relation_name from {UNFINISHED} order by 1").fetchall()
                result[UNFINISHED_KEY] = [len(listed), ",".join(name for (name,) in listed)]
                continue
            columns = _columns(con, database, schema, table)
            row_hash = f"hash({', '.join(columns)})" if columns else "0"
            count, checksum = con.execute(
                f'select count(*), coalesce(sum({row_hash}::hugeint), 0)::varchar from "{schema}"."{table}"'
            ).fetchone()
            result[f"{schema}.{table}"] = [count, checksum]
        views = con.execute(
            "select schema_name || '.' || view_name from duckdb_views() "
            "where database_name = ? and not internal order by 1",
            [database],
        ).fetchall()
        result["(views)"] = [len(views), ",".join(name for (name,) in views)]
        return result
    finally:
        con.close()


def artifacts_state(artifacts: Path, warehouse: Path) -> tuple[dict[str, object], list[str], list[str]]:
    """Return a summary of the registry and the artifacts folder, the ways the two disagree, and the folders
    of pruned versions still there and the hidden ones being deleted (an interrupted prune leaves them)."""
    models = artifacts / "models"
    folders = sorted(p.name for p in models.iterdir() if p.is_dir()) if models.exists() else []
    pointer_file = models / "champion.json"
    pointer = json.loads(pointer_file.read_text())["version"] if pointer_file.exists() else None
    registered: dict[str, str] = {}
    pruned: set[str] = set()
    if warehouse.exists():
        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                columns = {
                    name
                    for (name,) in con.execute(
                        "select column_name from duckdb_columns() "
                        "where schema_name = 'ml' and table_name = 'model_registry'"
                    ).fetchall()
                }
                if columns:
                    is_pruned = "pruned_at is not null" if "pruned_at" in columns else "false"
                    rows = con.execute(
                        f"select distinct model_version, status, {is_pruned} from ml.model_registry"
                    ).fetchall()
                    registered = {version: status for version, status, _ in rows}
                    pruned = {version for version, _, gone in rows if gone}
        except duckdb.Error as error:
            return {"error": str(error).splitlines()[0]}, [f"registry unreadable: {error}"], []
    problems = []
    for version in set(registered) - pruned:  # a pruned version's folder is gone, or going
        folder = models / version
        if not (folder / "metadata.json").exists():
            problems.append(f"registered version {version} has no metadata.json")
        else:
            names = json.loads((folder / "metadata.json").read_text()).get("models", [])
            missing = [n for n in names if not (folder / f"{n}.txt").exists()]
            if missing:
                problems.append(f"registered version {version} lacks boosters {missing}")
    if pointer is not None:
        if not (models / pointer / "metadata.json").exists():
            problems.append(f"champion pointer names {pointer}, which has no metadata.json")
        if registered and registered.get(pointer) != "champion":
            problems.append(f"champion pointer names {pointer}, registered as {registered.get(pointer)!r}")
        if pointer in pruned:
            problems.append(f"champion pointer names {pointer}, which the registry calls pruned")
    champions = [v for v, s in registered.items() if s == "champion"]
    if champions and champions != [pointer]:
        problems.append(f"registry champion {champions} but pointer {pointer}")
    leftovers = [f for f in folders if f in pruned or f.startswith(DELETING)]
    folders = [f for f in folders if f not in leftovers]
    orphans = [f for f in folders if f not in registered]
    summary = {
        "registered": len(registered),
        "pruned": len(pruned),
        "folders": len(folders),
        "orphan_folders": len(orphans),
        "has_pointer": pointer is not None,
        "statuses": sorted(registered.values()),
    }
    return summary, problems, leftovers


def stray_files(data: Path) -> list[str]:
    """Return the files and folders of the data folder besides the warehouse, serving copy and landing."""
    expected = {"warehouse.duckdb", "serving.duckdb", "landing", "imports"}
    return sorted(p.name for p in data.iterdir() if p.name not in expected) if data.exists() else []


def fingerprint(work: Path) -> Fingerprint:
    """Return everything compared between runs: warehouse, serving copy, registry and artifacts, strays."""
    data = work / "data"
    warehouse = data / "warehouse.duckdb"
    artifacts, problems, deleting = artifacts_state(work / "artifacts", warehouse)
    return {
        "warehouse": database_fingerprint(warehouse),
        "serving": database_fingerprint(data / "serving.duckdb"),
        "artifacts": artifacts,
        "problems": problems,
        "deleting": deleting,
        "strays": stray_files(data),
    }


def environment(work: Path) -> dict[str, str]:
    """Return the environment of a run in the work folder."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CVW_DATA_DIR": str(work / "data"),
        "CVW_ARTIFACTS_DIR": str(work / "artifacts"),
        "OMP_NUM_THREADS": "1",
        "CVW_DBT_PROJECT_DIR": str(work / "dbt_project"),  # its own target/: checks may run side by side
    }


def _wait_for(process: subprocess.Popen, work: Path, pattern: str) -> bool:
    """Wait until a path matching the glob pattern appears under the work folder; False if the run ended."""
    while process.poll() is None:
        if any(work.glob(pattern)):
            return True
        time.sleep(0.005)
    return False


def run(
    work: Path, verb: list[str], delay: float | None, sig: int, after: str | None = None
) -> tuple[bool, int, str]:
    """Run the verb in the work folder; signal its process group after `delay` seconds (None: never),
    counted from the start, or from when a path matching the glob `after` appears.

    Return whether it ended on its own, its exit code, and the last lines it printed."""
    log = work / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ml.cli", *verb],
            cwd=REPO,
            env=environment(work),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if after is not None and delay is not None:
                _wait_for(process, work, after)  # a run that ended first ends the wait below at once
            code = process.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, sig)
            code = process.wait()
            finished = False
    lines = log.read_text(errors="replace").strip().splitlines()
    return finished, code, " | ".join(lines[-3:])[-600:]


def fresh_copy(state: Path, work: Path) -> None:
    """Make the work folder an exact copy of the state folder (data/ and artifacts/)."""
    for part in ("data", "artifacts"):
        shutil.rmtree(work / part, ignore_errors=True)
        if (state / part).exists():
            shutil.copytree(state / part, work / part, symlinks=True)


def matches(kind: str, now: Fingerprint, before: Fingerprint, after: Fingerprint) -> list[str]:
    """Return the parts of `now` that equal neither `before` nor `after` (per table for the warehouse)."""
    differences = []
    if before[kind] == "missing" and now[kind] == {"(views)": [0, ""]}:
        return []  # a warehouse created empty by a load killed before its commit: as good as none
    if isinstance(now[kind], dict) and isinstance(before[kind], dict) and isinstance(after[kind], dict):
        names = set(now[kind]) | set(before[kind]) | set(after[kind])
        whole_before = now[kind] == before[kind]
        whole_after = now[kind] == after[kind]
        if not (whole_before or whole_after):
            # the record lists whatever the build had not finished; the bookkeeping, rows of finished and
            # unfinished models
            for name in sorted(names - BUILD_BOOKKEEPING - {UNFINISHED_KEY}):
                got, old, new = (now[kind].get(name), before[kind].get(name), after[kind].get(name))
                if got != old and got != new:
                    differences.append(f"{kind} {name}: {got} (before {old}, after {new})")
            if not differences:
                mixed_old = sorted(
                    n for n in names if now[kind].get(n) == before[kind].get(n) != after[kind].get(n)
                )
                mixed_new = sorted(
                    n for n in names if now[kind].get(n) == after[kind].get(n) != before[kind].get(n)
                )
                # old tables beside new ones are refused by every reader while the record lists them
                listed = set(str((now[kind].get(UNFINISHED_KEY) or [0, ""])[1]).split(","))
                unlisted = [n for n in mixed_old if n not in listed | BUILD_BOOKKEEPING | {UNFINISHED_KEY}]
                if unlisted:
                    differences.append(
                        f"{kind} mixes before {mixed_old} and after {mixed_new}, and {UNFINISHED} does not "
                        f"list {unlisted}"
                    )
    elif now[kind] not in (before[kind], after[kind]):
        differences.append(f"{kind}: {now[kind]} (before {before[kind]}, after {after[kind]})")
    return differences


def main(argv: list[str] | None = None) -> int:
    """Run the trials of one verb; return 0 when every trial passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, required=True, help="folder with data/ and artifacts/ before")
    parser.add_argument("--work", type=Path, required=True, help="fixed folder the runs happen in")
    parser.add_argument("--delays", default="0.2,0.5,1,2,3,5,8,12,17,23,30,40,55,75")
    parser.add_argument("--signal", default="KILL", choices=("KILL", "TERM", "INT"))
    parser.add_argument("--after", help="count the delays from when a path matching this glob appears")
    parser.add_argument(
        "--adds-a-version",
        action="store_true",
        help="the verb adds a model version each run (train): a re-run after a complete run is not compared, "
        "and a version folder left unregistered is counted, not failed",
    )
    parser.add_argument("verb", nargs="+", help="the cvw verb and its arguments (after --)")
    args = parser.parse_args(argv)
    sig = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}[args.signal]
    args.work.mkdir(parents=True, exist_ok=True)
    if not (args.work / "dbt_project").exists():
        shutil.copytree(
            REPO / "dbt_project", args.work / "dbt_project", ignore=shutil.ignore_patterns("target")
        )
    reference = args.work / "reference.json"
    fresh_copy(args.state, args.work)
    before = fingerprint(args.work)
    if reference.exists():
        after = json.loads(reference.read_text())
    else:
        fresh_copy(args.state, args.work)
        started = time.monotonic()
        finished, code, tail = run(args.work, args.verb, None, sig)
        print(f"reference run: exit {code} in {time.monotonic() - started:.1f} s: {tail}")
        after = fingerprint(args.work)
        reference.write_text(json.dumps(after, indent=1))
    passed = failed = 0
    for delay in [float(d) for d in args.delays.split(",")]:
        fresh_copy(args.state, args.work)
        finished, code, tail = run(args.work, args.verb, delay, sig, args.after)
        if finished:
            print(f"{delay:>5} s: finished on its own (exit {code}); stopping the trials")
            break
        now = fingerprint(args.work)
        faults = matches("warehouse", now, before, after) + matches("serving", now, before, after)
        faults += [f"registry/artifacts: {p}" for p in now["problems"]]
        if now["deleting"]:
            print(f"        note: folders left to delete: {now['deleting']}")
        if args.adds_a_version:
            orphans = now["artifacts"].get("orphan_folders", 0) - before["artifacts"].get("orphan_folders", 0)
            now["artifacts"] = {**now["artifacts"], "orphan_folders": before["artifacts"]["orphan_folders"]}
            now["artifacts"]["folders"] -= orphans
            if orphans:
                print(f"        note: {orphans} version folder(s) left unregistered")
        if now["artifacts"] not in (before["artifacts"], after["artifacts"]):
            faults.append(
                f"artifacts {now['artifacts']} (before {before['artifacts']}, after {after['artifacts']})"
            )
        if args.adds_a_version and now["warehouse"] == after["warehouse"]:
            passed, failed = passed + (not faults), failed + bool(faults)
            print(f"{delay:>5} s: {'FAIL' if faults else 'ok'} killed after it completed (exit {code})")
            for fault in faults:
                print(f"        - {fault}")
            continue
        retry_finished, retry_code, retry_tail = run(args.work, args.verb, None, sig)
        final = fingerprint(args.work)
        if retry_code != 0:
            faults.append(f"re-run exit {retry_code}: {retry_tail}")
        for kind in ("warehouse", "serving"):
            if final[kind] != after[kind]:
                faults += [f"after re-run, {d}" for d in matches(kind, final, after, after)]
        if isinstance(final["warehouse"], dict) and isinstance(after["warehouse"], dict):
            left, done = final["warehouse"].get(UNFINISHED_KEY), after["warehouse"].get(UNFINISHED_KEY)
            if left != done:
                faults.append(f"after re-run, {UNFINISHED} lists {left} (uninterrupted {done})")
        faults += [f"after re-run, registry/artifacts: {p}" for p in final["problems"]]
        if final["deleting"] != after["deleting"]:
            faults.append(f"after re-run, folders left to delete: {final['deleting']}")
        if args.adds_a_version:
            final["artifacts"] = {
                **final["artifacts"],
                "orphan_folders": after["artifacts"]["orphan_folders"],
            }
            final["artifacts"]["folders"] = final["artifacts"]["registered"]
        if final["artifacts"] != after["artifacts"]:
            faults.append(
                f"after re-run, artifacts {final['artifacts']} (uninterrupted {after['artifacts']})"
            )
        if final["strays"] != after["strays"]:
            faults.append(f"after re-run, stray files {final['strays']} (uninterrupted {after['strays']})")
        state = (
            "before"
            if now["warehouse"] == before["warehouse"]
            else "after"
            if now["warehouse"] == after["warehouse"]
            else "other"
        )
        status = "FAIL" if faults else "ok"
        passed, failed = passed + (not faults), failed + bool(faults)
        print(
            f"{delay:>5} s: {status} killed (exit {code}); warehouse={state}; strays={now['strays']}; "
            f"last: {tail[-160:]}"
        )
        for fault in faults:
            print(f"        - {fault}")
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

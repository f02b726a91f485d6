"""Which date a DAG run scores, whether a model needs training, and scoring a date from marts built for it.

Scores for date D are computed from features as of D, so they need marts built for D. The warehouse's
marts are built for one date (the latest, unless transform was given `as_of_date`). Scoring that date
reads them directly. Scoring another date (a backfill, or an explicit `as_of_date`) builds the marts for
D in a scratch copy of the warehouse, scores there, and copies D's score rows back in one transaction:
the warehouse's marts stay as they were, and every date gets exactly the rows a fresh build for it gives.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from include.processes import host_hash, process_alive
from include.settings import get_settings

# Runs that stand for a point in time score as of their logical date; manual and asset-triggered runs
# score the marts' date unless the `as_of_date` param says otherwise.
DATED_RUN_TYPES = frozenset({"scheduled", "backfill"})
# Runs that retrain a model that exists: the weekly schedule, and a person asking for it. Not a backfill: a
# model learns from the marts as they are now, whatever the run's date, so each backfilled week would fit
# the same model again and gate it against its twin.
RETRAIN_RUN_TYPES = frozenset({"scheduled", "manual"})
# Score tables keyed by as_of_date that a scratch scoring copies back (ml/publish_scores.py writes them).
DATED_SCORE_TABLES = ("customer_scores", "customer_rfm")
# A scratch copy's folder beside the warehouse: .scratch-<host>_<pid>_<random>, <host> a hash of the host
# name (hexadecimal: no "_", whatever the name holds), so a later scoring can tell the copy of a process
# that died (killed, out of memory) from one another process is building in.
SCRATCH_PREFIX = ".scratch-"


def run_type_name(run_type: object) -> str:
    """Return a DAG run type as its plain value ("scheduled", "backfill", ...), from an enum or a string."""
    return str(getattr(run_type, "value", run_type))


def parse_as_of_date(value: str | None) -> date | None:
    """Return the date in a YYYY-MM-DD param, None when empty; raise one sentence when it is not a date."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"as_of_date={text!r} is not a date: write it as YYYY-MM-DD or leave it empty."
        ) from None


def run_as_of_date(param: str | None, run_type: object, logical_date: datetime | None) -> str:
    """Return the date a run scores as YYYY-MM-DD, or "" for the marts' own date."""
    explicit = parse_as_of_date(param)
    if explicit is not None:
        return explicit.isoformat()
    if run_type_name(run_type) in DATED_RUN_TYPES and logical_date is not None:
        return logical_date.date().isoformat()
    return ""


def latest_scoring_date(now: datetime | None = None) -> date:
    """Return the latest date that can be scored at `now` (default: the clock): midnight after the data.

    Scores as of D read the data strictly before D's midnight. The importer keeps timestamps up to
    FUTURE_TOLERANCE (14 hours) ahead of UTC, for a shop east of UTC that delivers its local times without a
    zone, and the marts' default date is the day after the last order; so the latest date is the day after
    (now in UTC + 14 hours): tomorrow (UTC), or the day after from 10:00 UTC. Any date those rules let the
    marts default to can also be asked for by name.
    """
    from include.validation import FUTURE_TOLERANCE

    utc_now = (now or datetime.now(UTC)).astimezone(UTC)
    return (utc_now + FUTURE_TOLERANCE).date() + timedelta(days=1)


def refuse_a_future_date(as_of_date: date | None, subject: str, consequence: Callable[[date], str]) -> None:
    """Return None when a date is None or can be scored (latest_scoring_date); else stop in one sentence.

    The sentence is "<subject> is in the future: <consequence>", the consequence given the latest date there
    is: what the verb would do with the date (a build, a scoring, a monitoring) and the fix, in its words.
    """
    latest = latest_scoring_date()
    if as_of_date is not None and as_of_date > latest:
        raise SystemExit(f"{subject} is in the future: {consequence(latest)}")


def champion_exists(artifacts_dir: Path | None = None, warehouse_path: Path | None = None) -> bool:
    """Return whether a champion model has been promoted: the pointer names one, or ml.model_registry does.

    A pointer deleted by hand while the registry names a champion counts: the score and monitor DAGs then
    fail with the sentence that restores it (ml.artifacts.require_champion) instead of skipping unseen.
    """
    from ml.artifacts import champion_version
    from ml.registry import registered_champion

    if champion_version(artifacts_dir or get_settings().artifacts_dir) is not None:
        return True
    return registered_champion(warehouse_path) is not None


def marts_as_of_date(warehouse_path: Path | None = None, *, wait: bool = False) -> date | None:
    """Return the scoring date the marts were built for, or None when the feature mart does not exist yet.

    `wait`: wait while another process writes the warehouse (include.warehouse.connect_when_free), for a
    reader whose failure throws work away (the dbt build's task, which reads it once dbt has ended).
    """
    import duckdb

    from include.warehouse import connect, connect_when_free, marts_scoring_date

    path = Path(warehouse_path or get_settings().warehouse_path)
    if not path.exists():
        return None
    with connect_when_free(path, read_only=True) if wait else connect(path, read_only=True) as con:
        try:
            return marts_scoring_date(con)
        except (duckdb.CatalogException, SystemExit):
            return None


def should_train(run_type: object, has_champion: bool, marts_date: date | None) -> tuple[bool, str]:
    """Return (train?, why): train when marts exist and there is no champion, or on a weekly/manual run."""
    if marts_date is None:
        return False, "no marts yet: transform builds them from the raw tables first"
    if not has_champion:
        return True, "no champion model yet"
    if run_type_name(run_type) in RETRAIN_RUN_TYPES:
        return True, f"{run_type_name(run_type)} run: retrain on the marts as of {marts_date}"
    if run_type_name(run_type) == "backfill":
        return False, f"a backfill run would retrain on today's marts ({marts_date}), not on its own date's"
    return False, f"a champion exists and this {run_type_name(run_type)} run is not the weekly retrain"


def _host_prefix() -> str:
    """Return the prefix of this host's scratch folders: SCRATCH_PREFIX, a hash of the host name, "_"."""
    return f"{SCRATCH_PREFIX}{host_hash()}_"


def _scratch_prefix() -> str:
    """Return the prefix of this process's scratch folders (host and process id)."""
    return f"{_host_prefix()}{os.getpid()}_"


def remove_abandoned_scratch(folder: Path) -> list[Path]:
    """Remove the scratch copies in the folder whose process has died; return them.

    A scoring killed outright skips its clean-up and leaves a whole copy of the warehouse. Only copies of
    this host are judged (a process id means nothing on another host, e.g. another container sharing the
    volume), and only when their process no longer runs: a `cvw score` building in one is left alone.
    """
    host = _host_prefix()
    removed = []
    for path in sorted(folder.glob(f"{host}*")):
        pid = path.name[len(host) :].split("_", 1)[0]
        if path.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _checkpointed_copy(source: Path, target: Path) -> None:
    """Copy a DuckDB file after folding its write-ahead log into it, so the copy is complete.

    The connection holds the file until the copy ends: copied after it closed, another process could write
    the file mid-copy and tear the copy (include.warehouse_file.copy_held). It waits while another process
    holds the file (include.warehouse.connect_when_free), as the copy back does: a `cvw sql` or a notebook
    open on the warehouse as the scoring began failed it at once.
    """
    from include.warehouse import connect_when_free
    from include.warehouse_file import copy_held

    with connect_when_free(source) as con:
        con.execute("checkpoint")
        copy_held(source, target)


def _copy_scores_back(warehouse: Path, scratch: Path, as_of_date: date) -> None:
    """Replace the as-of date's rows of every dated score table of the warehouse by the scratch copy's.

    It waits while another process holds the warehouse (include.warehouse.connect_when_free): failing on the
    lock threw away the copy, its dbt build and the scoring, minutes in a large shop.
    """
    from include.warehouse import connect_when_free, has_table, transaction
    from ml.score_tables import ensure_score_tables

    with connect_when_free(warehouse) as con:
        ensure_score_tables(con)
        con.execute("attach ? as scratch (read_only)", [str(scratch)])
        present = [
            name
            for name in DATED_SCORE_TABLES
            if has_table(con, "scores", name, database="scratch", views=False)
        ]
        with transaction(con):
            for table in present:  # allow-listed names
                quoted = f'"{table}"'
                source = f"scratch.scores.{quoted}"
                con.execute(f"delete from scores.{quoted} where as_of_date = ?", [as_of_date])
                con.execute(
                    f"insert into scores.{quoted} by name from {source} where as_of_date = ?",
                    [as_of_date],
                )
        con.execute("detach scratch")


def score_as_of(
    as_of_date: date | None = None, warehouse_path: Path | None = None, **scoring: Any
) -> dict[str, object]:
    """Score every eligible customer as of a date; return date and row count.

    The date defaults to CVW_AS_OF_DATE, else the marts' date. A date other than the marts' gets marts of
    its own, built in a scratch copy of the warehouse. `scoring` goes to ml.score.score_customers
    (chunk_size, with_reasons).
    """
    from include.dbt import dbt_build, refuse_a_build_without_data
    from ml.artifacts import require_champion
    from ml.score import score_customers

    settings = get_settings()
    warehouse = Path(warehouse_path or settings.warehouse_path)
    # CVW_AS_OF_DATE names the date to score, as it names the marts' date: marts built before it was set
    # (for another date) were scored silently under their own date, as the latest
    named = "" if as_of_date is not None or settings.as_of_date is None else " (CVW_AS_OF_DATE)"
    as_of_date = as_of_date or settings.as_of_date
    # a mistyped year (2062) would be scored from no data at all and become the published latest date
    refuse_a_future_date(
        as_of_date,
        f"{as_of_date}{named}",
        lambda latest: (
            "scores as of a date read the data strictly before it, which does not exist yet. "
            f"Score a date up to {latest}."
        ),
    )
    marts_date = marts_as_of_date(warehouse)
    if marts_date is None:
        raise SystemExit(f"{warehouse} has no feature mart yet: run the transform DAG before scoring.")
    if as_of_date is None:
        # CVW_AS_OF_DATE=2062-01-01 (or transform's param) builds marts for it: the same mistyped year
        refuse_a_future_date(
            marts_date,
            f"The marts are built for {marts_date}, which",
            lambda latest: (
                "its scores would read data that does not exist yet. Rebuild them for a date up "
                f"to {latest} (check CVW_AS_OF_DATE, or the transform's as_of_date), or score one with "
                "--as-of-date."
            ),
        )
    for path in remove_abandoned_scratch(warehouse.parent):
        print(f"removed {path.name}, the scratch copy of a scoring whose process died")
    if as_of_date is None or as_of_date == marts_date:
        rows = score_customers(as_of_date=marts_date, warehouse_path=warehouse, **scoring)
        return {"as_of_date": marts_date.isoformat(), "rows": rows, "marts": "warehouse"}
    # no champion to score with, or a date the marts would hold no customer at (on or before the first
    # order), stopped only after the copy and its dbt build (minutes in a large shop)
    refuse_a_build_without_data(warehouse, as_of_date, wait=True)
    require_champion(settings.artifacts_dir, warehouse)
    with tempfile.TemporaryDirectory(prefix=_scratch_prefix(), dir=warehouse.parent) as folder:
        scratch = Path(folder) / warehouse.name  # same file name: dbt-duckdb names the catalog after it
        _checkpointed_copy(warehouse, scratch)
        dbt_build(warehouse_path=scratch, as_of_date=as_of_date)
        rows = score_customers(as_of_date=as_of_date, warehouse_path=scratch, **scoring)
        _copy_scores_back(warehouse, scratch, as_of_date)
    return {"as_of_date": as_of_date.isoformat(), "rows": rows, "marts": f"built for {as_of_date}"}

"""A scoring killed outright leaves its scratch copy of the warehouse; the next removes it, and only it."""

import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from include.scoring import (
    SCRATCH_PREFIX,
    _checkpointed_copy,
    _host_prefix,
    _scratch_prefix,
    remove_abandoned_scratch,
)


def _dead_pid() -> int:
    """Return the id of a process of this host that has ended."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)  # fmt: skip
    return int(finished.stdout)


def test_a_host_name_with_an_underscore_cannot_pass_for_another_hosts(monkeypatch) -> None:
    # .scratch-<name>_ of host "a" was a prefix of host "a_99"'s folders, whose 99 it read as a process id
    monkeypatch.setattr(socket, "gethostname", lambda: "a")
    short = _host_prefix()
    monkeypatch.setattr(socket, "gethostname", lambda: "a_99")
    assert not _host_prefix().startswith(short)
    assert _host_prefix()[len(SCRATCH_PREFIX) : -1].isalnum()


def _folder(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    (path / "warehouse.duckdb").write_bytes(b"a copy")
    return path


def test_only_the_scratch_copies_of_dead_processes_of_this_host_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    host = _host_prefix()
    abandoned = _folder(tmp_path, f"{host}{dead}_k3j2")
    ours = _folder(tmp_path, f"{_scratch_prefix()}x8f1")  # a scoring of this process, building
    # another host (a container sharing the volume): its ids mean nothing here
    other_host = _folder(tmp_path, f"{SCRATCH_PREFIX}0123456789ab_{dead}_q1")
    unrelated = _folder(tmp_path, "scratch-notes")
    assert _scratch_prefix() == f"{host}{os.getpid()}_"
    assert remove_abandoned_scratch(tmp_path) == [abandoned]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in (ours, other_host, unrelated)
    )


def test_scoring_the_marts_own_date_removes_them_too(tmp_path: Path, monkeypatch) -> None:
    # a host that only ever scores the marts' date kept a killed backfill's copy for ever
    import include.scoring
    import ml.score

    abandoned = _folder(tmp_path, f"{_host_prefix()}{_dead_pid()}_a1")
    monkeypatch.setattr(include.scoring, "marts_as_of_date", lambda warehouse: date(2025, 3, 1))
    monkeypatch.setattr(ml.score, "score_customers", lambda **kwargs: 7)
    scored = include.scoring.score_as_of(warehouse_path=tmp_path / "warehouse.duckdb")
    assert scored == {"as_of_date": "2025-03-01", "rows": 7, "marts": "warehouse"}
    assert not abandoned.exists()


def test_a_date_in_the_future_is_refused_before_anything_is_built(tmp_path: Path, monkeypatch) -> None:
    # `cvw score --as-of-date 2062-01-01` (for 2026) scored everyone from no data and was published as latest
    import include.scoring

    def never(*args, **kwargs):
        raise AssertionError("nothing is read or built for a future date")

    monkeypatch.setattr(include.scoring, "marts_as_of_date", never)
    latest = include.scoring.latest_scoring_date()
    with pytest.raises(SystemExit) as refused:
        include.scoring.score_as_of(latest + timedelta(days=1), warehouse_path=tmp_path / "w.duckdb")
    assert str(refused.value) == (
        f"{latest + timedelta(days=1)} is in the future: scores as of a date read the data strictly before "
        f"it, which does not exist yet. Score a date up to {latest}."
    )


@pytest.mark.parametrize(
    ("now", "latest"),
    [
        (datetime(2026, 11, 30, 9, 59, 59, tzinfo=UTC), date(2026, 12, 1)),  # tomorrow
        # from 10:00 UTC the importer keeps a naive local time of UTC+14 from 1 December: the marts default
        # to 2 December, which must not be refused when named
        (datetime(2026, 11, 30, 10, 0, tzinfo=UTC), date(2026, 12, 2)),
        (datetime(2024, 2, 28, 23, 0, tzinfo=UTC), date(2024, 3, 1)),  # past 29 February
        (datetime(2024, 12, 31, 12, 0, tzinfo=UTC), date(2025, 1, 2)),  # over the year's end
        # the same instant told in another zone gives the same date
        (datetime(2026, 11, 30, 3, 0, tzinfo=ZoneInfo("America/Los_Angeles")), date(2026, 12, 2)),
        (datetime(2026, 11, 30, 23, 0, tzinfo=ZoneInfo("Pacific/Kiritimati")), date(2026, 12, 1)),
    ],
)
def test_the_latest_scoring_date_is_the_day_after_the_latest_time_an_import_keeps(now, latest) -> None:
    import include.scoring

    assert include.scoring.latest_scoring_date(now) == latest


def _marts_built_for(path: Path, as_of_date: date, first_order: date = date(2024, 1, 1)) -> None:
    """Write a warehouse whose feature mart was built for the date (its scoring cutoff) from orders since
    `first_order`."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        columns = "customer_id varchar, cutoff_date date, is_scoring_date boolean"
        con.execute(f"create table marts.customer_features ({columns})")
        con.execute("insert into marts.customer_features values ('c1', ?, true)", [as_of_date])
        con.execute("create schema raw")
        con.execute(
            "create table raw.orders as select 'o1' as order_id, ? :: timestamp as ordered_at", [first_order]
        )


def test_marts_built_for_a_future_date_are_not_scored_by_default(tmp_path: Path, monkeypatch) -> None:
    # CVW_AS_OF_DATE=2062-01-01 built marts for 2062 and `cvw score` scored them, published as the latest
    # date, while `cvw score --as-of-date 2062-01-01` was refused
    import include.scoring

    monkeypatch.delenv("CVW_AS_OF_DATE", raising=False)  # the setting unset since, or transform's param
    warehouse = tmp_path / "warehouse.duckdb"
    _marts_built_for(warehouse, date(2062, 1, 1))
    latest = include.scoring.latest_scoring_date()
    with pytest.raises(SystemExit) as refused:
        include.scoring.score_as_of(warehouse_path=warehouse)
    assert str(refused.value) == (
        "The marts are built for 2062-01-01, which is in the future: its scores would read data that does "
        f"not exist yet. Rebuild them for a date up to {latest} (check CVW_AS_OF_DATE, or the transform's "
        "as_of_date), or score one with --as-of-date."
    )


def test_cvw_as_of_date_is_the_date_scored_by_default_and_named_when_refused(
    tmp_path: Path, monkeypatch
) -> None:
    # marts built for 2025-01-01, then CVW_AS_OF_DATE set: the setting's date is the one scored (here one in
    # the future, refused before anything is built), not the marts' date under the setting's nose
    import include.scoring

    warehouse = tmp_path / "warehouse.duckdb"
    _marts_built_for(warehouse, date(2025, 1, 1))
    monkeypatch.setenv("CVW_AS_OF_DATE", "2062-01-01")
    latest = include.scoring.latest_scoring_date()
    with pytest.raises(SystemExit) as refused:
        include.scoring.score_as_of(warehouse_path=warehouse)
    assert str(refused.value) == (
        "2062-01-01 (CVW_AS_OF_DATE) is in the future: scores as of a date read the data strictly before it, "
        f"which does not exist yet. Score a date up to {latest}."
    )
    with pytest.raises(SystemExit) as named:  # a date given by name is not the setting's
        include.scoring.score_as_of(date(2062, 1, 2), warehouse_path=warehouse)
    assert str(named.value).startswith("2062-01-02 is in the future: ")


def test_another_date_without_a_champion_is_refused_before_the_copy_and_its_build(
    tmp_path: Path, monkeypatch
) -> None:
    # `cvw score --as-of-date D` with no champion (or an incomplete one) copied the warehouse and ran dbt on
    # the copy, minutes in a large shop, before saying there was no model to score with
    warehouse = tmp_path / "warehouse.duckdb"
    _marts_built_for(warehouse, date(2025, 1, 1))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert _refusal_before_the_copy_and_its_build(warehouse, monkeypatch) == (
        f"No champion model in {tmp_path / 'artifacts' / 'models'}: train one first (make demo or cvw train)."
    )


def test_another_date_before_the_first_order_is_refused_before_the_copy_and_its_build(
    tmp_path: Path, monkeypatch
) -> None:
    # a backfill of a day before the shop's first order copied the warehouse before dbt refused the date
    warehouse = tmp_path / "warehouse.duckdb"
    _marts_built_for(warehouse, date(2025, 1, 1), first_order=date(2024, 12, 1))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert _refusal_before_the_copy_and_its_build(warehouse, monkeypatch) == (
        "The as-of date 2024-12-01 is not after the first order (2024-12-01): the marts would hold no "
        "customer. Choose a later date."
    )


def test_a_champion_whose_pointer_was_deleted_is_not_skipped_and_is_named_with_how_to_restore_it(
    tmp_path: Path, monkeypatch
) -> None:
    # the score and monitor DAGs skipped unseen ("No champion model yet") and `cvw score` said to train one,
    # while ml.model_registry named a champion and only its pointer file had been deleted by hand
    import duckdb

    import include.scoring
    from ml import registry_table

    warehouse = tmp_path / "warehouse.duckdb"
    _marts_built_for(warehouse, date(2025, 1, 1))
    artifacts = tmp_path / "artifacts"
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    assert not include.scoring.champion_exists()
    with duckdb.connect(str(warehouse)) as con:
        registry_table.ensure_registry(con)
        con.execute(
            "insert into ml.model_registry (model_version, task, horizon_days, cutoffs, features, "
            "feature_hash, params, metrics, baseline_metrics, library_versions, git_commit, trained_at, "
            "status, reason, updated_at) values "
            "('v1', 'clv', 90, '', '', '', '', '{}', '{}', '', '', now(), 'retired', '', now()), "
            "('v2', 'clv', 90, '', '', '', '', '{}', '{}', '', '', now(), 'champion', '', now())"
        )
    assert include.scoring.champion_exists()
    assert _refusal_before_the_copy_and_its_build(warehouse, monkeypatch) == (
        f"ml.model_registry names model version v2 champion, but its pointer "
        f"{artifacts / 'models' / 'champion.json'} is missing: restore it with cvw models promote v2 "
        "--reason TEXT."
    )


def _refusal_before_the_copy_and_its_build(warehouse: Path, monkeypatch) -> str:
    """Return the sentence `cvw score --as-of-date 2024-12-01` stops with, having copied and built nothing."""
    import include.dbt
    import include.scoring

    def never(*args, **kwargs):
        raise AssertionError("nothing is copied or built for a date that cannot be scored")

    monkeypatch.setattr(include.scoring, "_checkpointed_copy", never)
    monkeypatch.setattr(include.dbt, "dbt_build", never)
    with pytest.raises(SystemExit) as refused:
        include.scoring.score_as_of(date(2024, 12, 1), warehouse_path=warehouse)
    return str(refused.value)


# a writer in another process: adds a table to the warehouse, or fails on the lock
WRITER = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('create table other as select 1')"


def _orders_warehouse(path: Path) -> None:
    """Write a warehouse of 100,001 orders, the last one only in its write-ahead log."""
    with duckdb.connect(str(path)) as con:
        con.execute("create table orders as select range as order_id from range(100000)")
        con.execute("set checkpoint_threshold = '1TB'")
        con.execute("insert into orders values (100000)")


def _write(warehouse: Path) -> subprocess.CompletedProcess:
    """Return the finished run of a process that tries to write a table into the warehouse."""
    return subprocess.run([sys.executable, "-c", WRITER, str(warehouse)], capture_output=True, text=True)


def test_the_scratch_copy_keeps_the_warehouse_locked_until_it_is_whole(tmp_path: Path) -> None:
    # the copy began once its connection had closed: another process could write the file mid-copy (a
    # torn copy, built and scored from); the copy's target here is a pipe, which holds it mid-copy
    warehouse, pipe = tmp_path / "warehouse.duckdb", tmp_path / "copy.pipe"
    _orders_warehouse(warehouse)
    os.mkfifo(pipe)
    failed: list[BaseException] = []

    def copy() -> None:
        try:
            _checkpointed_copy(warehouse, pipe)
        except BaseException as error:  # the reader below must not wait for ever
            failed.append(error)
            pipe.open("wb").close()

    copying = threading.Thread(target=copy)
    copying.start()
    with pipe.open("rb") as reader:
        head = reader.read(4096)
        writer = _write(warehouse)
        copied = head + reader.read()
    copying.join()
    assert failed == []
    assert writer.returncode == 1 and "Could not set lock on file" in writer.stderr
    copy_file = tmp_path / "copy.duckdb"
    copy_file.write_bytes(copied)
    with duckdb.connect(str(copy_file), read_only=True) as con:
        assert con.execute("select count(*), max(order_id) from orders").fetchall() == [(100001, 100000)]
        assert con.execute("select count(*) from duckdb_tables()").fetchall() == [(1,)]


def test_a_connection_held_by_the_scoring_process_keeps_its_lock_after_the_copy(tmp_path: Path) -> None:
    # the copy opened and closed a descriptor of the file of its own, which drops every POSIX record lock
    # the process holds on it: a notebook's connection then shared the warehouse with a writer
    warehouse = tmp_path / "warehouse.duckdb"
    _orders_warehouse(warehouse)
    with duckdb.connect(str(warehouse)) as notebook:
        _checkpointed_copy(warehouse, tmp_path / "copy.duckdb")
        writer = _write(warehouse)
        assert writer.returncode == 1 and "Could not set lock on file" in writer.stderr
        assert notebook.execute("select count(*) from orders").fetchall() == [(100001,)]
    with duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from orders").fetchall() == [(100001,)]


SCORE_ROW = (
    "insert into scores.customer_scores values (date '2025-03-01', ?, 'v1', 90, 0.5, 10.0, 1.0, 9.0, 20.0, "
    "30.0, date '2025-04-01', 'high', 'medium', 'nurture', '[]', '[]', timestamp '2025-03-01 06:00:00')"
)


def test_the_scores_of_a_scratch_build_wait_for_a_reader_of_the_warehouse_to_let_go(
    tmp_path: Path, hold_warehouse
) -> None:
    # a reader that held the warehouse as the date's scores were copied back failed the scoring on the lock,
    # after the copy, its dbt build and the scoring (minutes in a large shop): all of it thrown away
    from include.scoring import _copy_scores_back
    from ml.score_tables import ensure_score_tables

    warehouse, scratch = tmp_path / "warehouse.duckdb", tmp_path / "scratch" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_score_tables(con)
    scratch.parent.mkdir()
    scratch.write_bytes(warehouse.read_bytes())
    with duckdb.connect(str(scratch)) as con:
        for customer in ("C1", "C2"):
            con.execute(SCORE_ROW, [customer])
    reader = hold_warehouse(warehouse, read_only=True, seconds=3)  # a `cvw sql`, a notebook
    _copy_scores_back(warehouse, scratch, date(2025, 3, 1))
    assert reader.wait(timeout=30) == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select as_of_date, customer_id from scores.customer_scores order by 2").fetchall()
    assert rows == [(date(2025, 3, 1), "C1"), (date(2025, 3, 1), "C2")]


def test_the_scratch_copy_waits_for_a_reader_of_the_warehouse_to_let_go(
    tmp_path: Path, hold_warehouse
) -> None:
    # the copy connected once: a `cvw sql` or a notebook holding the warehouse as a scoring of another date
    # began failed it on the lock at once, where the copy back at its end waits
    warehouse = tmp_path / "warehouse.duckdb"
    _orders_warehouse(warehouse)
    reader = hold_warehouse(warehouse, read_only=True, seconds=3)
    _checkpointed_copy(warehouse, tmp_path / "copy.duckdb")  # the reader is gone once it returns
    assert reader.wait(timeout=30) == 0
    with duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), max(order_id) from orders").fetchall() == [(100001, 100000)]


def test_a_scratch_copy_of_a_warehouse_held_past_the_wait_is_one_sentence(
    tmp_path: Path, monkeypatch, hold_warehouse
) -> None:
    import include.warehouse

    monkeypatch.setattr(include.warehouse, "LOCK_WAIT_SECONDS", 2)
    warehouse = tmp_path / "warehouse.duckdb"
    _orders_warehouse(warehouse)
    hold_warehouse(warehouse, read_only=True)  # until the test ends
    with pytest.raises(SystemExit) as stopped:
        _checkpointed_copy(warehouse, tmp_path / "copy.duckdb")
    assert str(stopped.value).startswith(f"The warehouse {warehouse} stayed locked by another process for ")
    assert str(stopped.value).endswith(
        "close the connection that holds it (BI tools read the serving copy instead), then run again."
    )
    assert not (tmp_path / "copy.duckdb").exists()

"""The `cvw` command line passes its flags on to the step it runs."""

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.dbt import DbtFailed
from ml import cli


def test_build_passes_the_date_full_refresh_and_every_row_to_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    import include.dbt

    calls = []
    monkeypatch.setattr(include.dbt, "dbt_build", lambda **kwargs: calls.append(kwargs))
    cli.main(["build", "--as-of-date", "2024-06-01", "--full-refresh"])
    cli.main(["build", "--test-every-row"])
    cli.main(["build"])
    assert calls == [
        {"as_of_date": date(2024, 6, 1), "full_refresh": True, "test_every_row": False},
        {"as_of_date": None, "full_refresh": False, "test_every_row": True},
        {"as_of_date": None, "full_refresh": False, "test_every_row": False},
    ]


def test_a_build_testing_every_row_gives_dbt_the_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import include.dbt

    commands = []
    monkeypatch.setattr(include.dbt, "refuse_a_build_without_data", lambda *args, **kwargs: None)
    run = lambda args, **kwargs: commands.append((args, kwargs["dbt_vars"]))  # noqa: E731
    monkeypatch.setattr(include.dbt, "run_dbt", run)
    warehouse = tmp_path / "warehouse.duckdb"
    include.dbt.dbt_build(warehouse, date(2024, 6, 1), test_every_row=True)
    include.dbt.dbt_build(warehouse, date(2024, 6, 1))
    assert commands == [
        (["build", "--exclude", "tag:bi"], {"as_of_date": "2024-06-01", "test_every_row": True}),
        (["build", "--exclude", "tag:bi"], {"as_of_date": "2024-06-01"}),
    ]


def test_a_malformed_date_is_refused_with_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["build", "--as-of-date", "01/06/2024"])
    assert "'01/06/2024' is not a date; use YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("verb", "option"), [("monitor", "--as-of-date"), ("evaluate", "--cutoff")], ids=["monitor", "evaluate"]
)
def test_the_verbs_with_their_own_parser_refuse_a_malformed_date_with_the_format(
    verb: str, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # a day that does not exist, as a user types it for a backfill: the sentence says how to write one
    with pytest.raises(SystemExit) as stopped:
        cli.main([verb, option, "2025-02-30"])
    assert stopped.value.code == 2
    assert "'2025-02-30' is not a date; use YYYY-MM-DD" in capsys.readouterr().err


def _warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *statements: str) -> Path:
    """Return a warehouse file made by `statements`, set as the settings' warehouse."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)
    monkeypatch.setenv("CVW_WAREHOUSE", str(path))
    return path


def test_sql_runs_queries_and_refuses_whatever_could_write(tmp_path, monkeypatch, capsys) -> None:
    warehouse = _warehouse(tmp_path, monkeypatch, "create table t as select 41 + 1 as answer")
    other = tmp_path / "other.duckdb"
    assert cli.main(["sql", "select answer from t"]) == 0
    assert "42" in capsys.readouterr().out
    refused = {
        # a read-only connection let COPY overwrite the warehouse file itself with one line of text
        f"copy (select 'gone') to '{warehouse}' (format csv, header false)": "not COPY",
        f"attach '{other}' as other (read_only false)": "not ATTACH",
        "create table x as select 1": "not CREATE",
        "select 1; set enable_external_access = true": "not SET",
        f"select * from read_csv('{other}')": "cvw sql: Permission Error",  # no file but the warehouse
        "selec 1": "cvw sql: Parser Error",
    }
    for query, sentence in refused.items():
        with pytest.raises(SystemExit, match=sentence):
            cli.main(["sql", query])
    assert not other.exists()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select answer from t").fetchall() == [(42,)]
    # DuckDB reports a PIVOT as MULTI: still a query
    assert cli.main(["sql", "pivot t on answer using count(*)"]) == 0
    assert "42" in capsys.readouterr().out


def test_sql_leaves_the_other_connections_of_the_process_as_they_were(tmp_path, monkeypatch) -> None:
    # external access and the configuration lock hold for a whole DuckDB instance: set on the process's
    # shared one, they broke a notebook's next read_parquet and every later connect() (its memory_limit)
    from include.warehouse import connect
    from include.warehouse_sql import read_only_query

    _warehouse(tmp_path, monkeypatch, "create table t as select 1 as a")
    parquet = tmp_path / "t.parquet"
    with connect(read_only=True) as notebook:
        assert "1" in read_only_query("select a from t")
        assert "1" in read_only_query("select a from t")
        notebook.execute("set memory_limit = '1GB'")
        notebook.execute(f"copy (select 2 as b) to '{parquet}'")  # not the warehouse: a file of its own
        assert notebook.execute(f"select b from read_parquet('{parquet}')").fetchall() == [(2,)]


# publish opened the warehouse with duckdb itself: DuckDB's lock error came out as a traceback
@pytest.mark.parametrize("verb", [["sql", "select a from t"], ["publish"]], ids=["sql", "publish"])
def test_a_warehouse_in_use_by_another_process_is_one_sentence(
    tmp_path, monkeypatch, verb, hold_warehouse
) -> None:
    warehouse = _warehouse(tmp_path, monkeypatch, "create table t as select 1 as a")
    hold_warehouse(warehouse)  # read-write, until the test ends
    with pytest.raises(SystemExit, match=r"The warehouse .* is in use by another process \(.*lock.*\)"):
        cli.main(verb)


def test_a_failed_dbt_build_of_publish_or_score_is_its_sentence(tmp_path, monkeypatch) -> None:
    import include.publish
    import include.scoring

    _warehouse(
        tmp_path, monkeypatch, "create schema scores",
        "create table scores.customer_scores as select date '2025-12-15' as as_of_date",
    )  # fmt: skip
    monkeypatch.setenv("CVW_SERVING", str(tmp_path / "serving.duckdb"))
    failed = (
        "`dbt build --select tag:bi` failed on 1 node(s): test.cvw.unique_customer_value (Got 2 results)."
    )

    def run_dbt(*args, **kwargs):
        raise DbtFailed(failed)

    monkeypatch.setattr(include.publish, "run_dbt", run_dbt)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["publish"])
    assert str(stopped.value) == failed
    assert not (tmp_path / "serving.duckdb").exists()

    def score_as_of(as_of_date, **scoring):
        raise DbtFailed(failed)

    monkeypatch.setattr(include.scoring, "score_as_of", score_as_of)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["score", "--as-of-date", "2025-12-15"])
    assert str(stopped.value) == failed


def test_build_refuses_a_warehouse_without_orders_or_a_date_before_them(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "missing.duckdb"
    monkeypatch.setenv("CVW_WAREHOUSE", str(missing))
    with pytest.raises(SystemExit, match="does not exist"):
        cli.main(["build"])
    assert not missing.exists()  # dbt would have created it, then failed on every staging model
    _warehouse(tmp_path, monkeypatch, "create schema raw", "create table raw.orders (ordered_at timestamp)")
    with pytest.raises(SystemExit, match="holds no orders yet: load them first"):
        cli.main(["build"])
    _warehouse(tmp_path, monkeypatch, "insert into raw.orders values ('2024-03-05 10:00')")
    # the build would pass and leave every mart empty; an earlier date that a newer version replaced is
    # no order staging reads
    _warehouse(
        tmp_path, monkeypatch, "alter table raw.orders add column _replaced_at timestamp",
        "insert into raw.orders values ('2024-01-01 10:00', '2024-04-01 10:00')",
    )  # fmt: skip
    with pytest.raises(SystemExit, match=r"2024-03-05 is not after the first order \(2024-03-05\)"):
        cli.main(["build", "--as-of-date", "2024-03-05"])


def test_verbs_on_a_warehouse_not_built_yet_name_the_step_to_run(tmp_path, monkeypatch) -> None:
    # right after cvw ingest: raw data, no marts, no scores
    _warehouse(tmp_path, monkeypatch, "create schema raw", "create table raw.orders (ordered_at timestamp)")
    with pytest.raises(SystemExit, match=r"no scores.customer_scores yet: score the customers \(cvw score\)"):
        cli.main(["top"])
    from ml.evaluate import main as evaluate

    with pytest.raises(SystemExit, match=r"no marts.customer_features yet: run the dbt build \(cvw build\)"):
        evaluate(["--cutoff", "2024-01-01", "--horizon", "90"])


def test_score_scores_a_date_as_the_score_dag_does(monkeypatch, capsys) -> None:
    # a date that is not the marts' gets marts of its own in a scratch copy (include.scoring.score_as_of);
    # the command used to score only dates that were cutoffs of the warehouse's marts
    import include.scoring

    calls = []

    def score_as_of(as_of_date, **scoring):
        calls.append((as_of_date, scoring))
        return {"as_of_date": "2025-12-15", "rows": 7, "marts": "built for 2025-12-15"}

    monkeypatch.setattr(include.scoring, "score_as_of", score_as_of)
    cli.main(["score", "--as-of-date", "2025-12-15", "--chunk-size", "1000", "--no-reasons"])
    cli.main(["score"])
    assert calls == [
        (date(2025, 12, 15), {"with_reasons": False, "chunk_size": 1000}),
        (None, {"with_reasons": True}),
    ]
    assert "wrote 7 score rows as of 2025-12-15 (marts: built for 2025-12-15)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["score", "--chunk-size", "0"], ["train", "--horizon-days", "0"], ["top", "--limit", "-1"]]
)
def test_counts_below_one_are_refused_not_replaced_by_the_default(argv, capsys) -> None:
    # train --horizon-days 0 trained and promoted a 90-day champion
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert "is not at least 1" in capsys.readouterr().err


def test_monitor_passes_its_flags_to_the_monitoring_run(monkeypatch, capsys) -> None:
    import ml.monitor_champion

    calls = []

    def monitor(as_of_date=None, recompute_backtests=False):
        calls.append((as_of_date, recompute_backtests))
        return {"model_version": "v1", "horizon_days": 90, "as_of_date": "2025-03-01", "drift": "none kept",
                "backtests": "not yet"}  # fmt: skip

    monkeypatch.setattr(ml.monitor_champion, "monitor", monitor)
    assert cli.main(["monitor", "--as-of-date", "2025-03-01", "--recompute-backtests"]) == 0
    assert cli.main(["monitor", "--json"]) == 0
    assert calls == [(date(2025, 3, 1), True), (None, False)]
    out = capsys.readouterr().out
    assert "drift: skipped, none kept\nbacktests: skipped, not yet" in out
    assert '"as_of_date": "2025-03-01"' in out


def test_train_for_a_horizon_the_marts_have_no_labels_of_says_so(tmp_path, monkeypatch) -> None:
    # another horizon than the marts' labels was "too little data ... or use a shorter horizon", advice
    # no longer history could follow
    from tests.ml.test_enough_data import _marts

    with duckdb.connect(str(_warehouse(tmp_path, monkeypatch))) as con:
        _marts(con)  # labels of 30 and 90 days, as a build with CVW_HORIZON_DAYS=30 makes them
    monkeypatch.delenv("CVW_HORIZON_DAYS", raising=False)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train", "--horizon-days", "180"])
    assert str(stopped.value) == (
        "The marts have no 180-day labels (a build makes 90, 365): set CVW_HORIZON_DAYS=180 and rebuild "
        "them (cvw build) to train for 180 days."
    )
    with pytest.raises(SystemExit, match=r"^The persistence baseline needs revenue_45d and orders_45d"):
        cli.main(["train", "--horizon-days", "45"])
    with pytest.raises(SystemExit, match=r"^Too little data to train: only 3 customers"):
        cli.main(["train", "--horizon-days", "30"])  # labels the marts hold: what is missing is data


def test_train_after_setting_a_horizon_the_marts_were_built_without_says_to_rebuild(
    tmp_path, monkeypatch
) -> None:
    # CVW_HORIZON_DAYS=180 set after a build with 90-day labels only: a year of monthly cutoffs is history
    # enough, yet training said "too little data ... load a longer history or use a shorter horizon"
    _warehouse(
        tmp_path,
        monkeypatch,
        "create schema marts",
        "create table marts.customer_features as select 'A' as customer_id, "
        "cutoff_date::date as cutoff_date, 400 as days_since_first_order, 5 as orders_lifetime "
        "from range(date '2024-01-01', date '2025-02-01', interval 1 month) as t(cutoff_date)",
        "create table marts.customer_labels as select customer_id, cutoff_date, 90 as horizon_days "
        "from marts.customer_features where cutoff_date <= date '2024-10-01'",
    )
    monkeypatch.setenv("CVW_HORIZON_DAYS", "180")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train"])
    assert str(stopped.value) == (
        "The marts have no 180-day labels, though 7 of their cutoffs are 180 days or more before the latest "
        "(2025-01-01): they were built without that horizon; rebuild them (cvw build) to train for 180 days."
    )


@pytest.mark.parametrize(
    "interrupt",
    [RuntimeError("Query interrupted"), KeyboardInterrupt()],
    ids=["in a duckdb query", "in python"],
)
def test_ctrl_c_is_one_sentence_and_the_shells_exit_code(
    interrupt: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ctrl-C printed a traceback. DuckDB answers it in the middle of a query with RuntimeError("Query
    # interrupted"); elsewhere Python raises KeyboardInterrupt. (Sending a real SIGINT into a running query
    # here was flaky: one that lands before DuckDB starts looking for it waits for the query's end.)
    import ml.top

    def interrupted(limit: int) -> None:
        raise interrupt

    monkeypatch.setattr(ml.top, "print_summary", interrupted)
    assert cli.main(["top"]) == 130
    assert capsys.readouterr().err.splitlines() == [
        'cvw: interrupted. Run the command again; docs/operations.md ("A run killed halfway") says what a '
        "command stopped halfway leaves."
    ]


def test_a_runtime_error_other_than_an_interrupt_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml.top

    def failed(limit: int) -> None:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(ml.top, "print_summary", failed)
    with pytest.raises(RuntimeError, match="a real bug"):
        cli.main(["top"])


def _cpu_seconds(pid: int) -> float:
    """Return the CPU time a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a process's CPU time from /proc")
def test_ctrl_c_stops_a_long_cvw_sql_query(tmp_path: Path) -> None:
    # `cvw sql` prints a relation, and DuckDB does not look for Ctrl-C while it renders one: a long query
    # ran to its end. Sent once the query is running (the process has used 3 s of CPU, far more than its
    # start-up), SIGINT now ends it within seconds with the one sentence and exit code 130.
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    query = "select count(*) from range(30000000000) as a where a.range * 7 % 11 = 3"  # minutes of work
    env = {**os.environ, "CVW_WAREHOUSE": str(warehouse)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ml.cli", "sql", query],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _cpu_seconds(process.pid) < 3.0:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert (process.returncode, out) == (130, "")
    assert err.splitlines() == [
        'cvw: interrupted. Run the command again; docs/operations.md ("A run killed halfway") says what a '
        "command stopped halfway leaves."
    ]


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    # `cvw models | head -1`, `cvw top --limit 500 | head`: the reader leaves before the output's end, and
    # cvw ended in a BrokenPipeError traceback (and "Exception ignored ... BrokenPipeError" at exit)
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    env = {**os.environ, "CVW_WAREHOUSE": str(warehouse)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ml.cli", "sql", "select 1 as x"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # the reader is gone before cvw writes a line
    err = process.stderr.read()
    assert (process.wait(timeout=60), err) == (141, "")

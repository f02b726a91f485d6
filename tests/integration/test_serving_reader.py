"""A BI reader querying the serving file while it is republished sees only complete snapshots, and no error.

A hand-made warehouse holds scores of two dates with different customer counts, and RFM, features and
customers with the marts' column types. One process publishes the serving copy again and again,
alternating the two dates (include/publish.py, as the publish DAG does: dbt builds the bi marts for the
date, then they are copied); another process opens the serving file read-only in a loop, as a BI tool
does, and records every answer.
Every answer must be one whole snapshot: one date, exactly that date's customers, matching bi.snapshot.
And a BI driver built on an older DuckDB (1.0.0, installed by uv beside the test) opens the copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.publish import publish_serving
from ml.score_tables import ensure_score_tables

REPO_ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = {date(2025, 6, 1): 30_000, date(2025, 7, 1): 36_000}  # eligible customers per scoring date
PUBLISHES = 6
TIME_LIMIT_SECONDS = 300  # a bound on the wait: each publish runs a dbt build

PUBLISHER = """
import sys, time
from datetime import date
from pathlib import Path
from include.publish import publish_serving
dates = [date.fromisoformat(text) for text in sys.argv[3:]]
for number in range(int(sys.argv[2])):
    folder = Path(sys.argv[1])
    publish_serving(dates[number % len(dates)], folder / "warehouse.duckdb", folder / "serving.duckdb")
    time.sleep(0.2)
"""

READER = """
import json, sys, time
from pathlib import Path
import duckdb
serving, stop, deadline = Path(sys.argv[1]), Path(sys.argv[2]), time.monotonic() + float(sys.argv[3])
answers, errors = [], []
while not stop.exists() and time.monotonic() < deadline:
    try:
        with duckdb.connect(str(serving), read_only=True) as con:
            dates = con.execute(
                "select as_of_date::varchar, count(*) from bi.customer_value group by 1 order by 1"
            ).fetchall()
            snapshot = con.execute("select as_of_date::varchar, customers from bi.snapshot").fetchall()
            summary = con.execute("select sum(customers) from bi.segment_summary").fetchall()[0][0]
        answers.append({"dates": dates, "snapshot": snapshot, "summary": summary})
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}")
print(json.dumps({"answers": answers, "errors": errors}))
"""


def _make_warehouse(path: Path) -> None:
    """Write a warehouse with scores, RFM and features of every customer at each date of CUSTOMERS, and
    the customers' profile."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        ensure_score_tables(con)  # the score table as ml.score writes it
        con.execute(
            """
            create table marts.customer_rfm (
                customer_id varchar, as_of_date date, recency_days bigint, frequency bigint,
                monetary double, r_score integer, f_score integer, m_score integer, rfm_segment varchar
            )
            """
        )
        con.execute(
            """
            create table marts.customer_features (
                customer_id varchar, cutoff_date date, is_scoring_date boolean
            )
            """
        )
        con.execute(
            """
            create table marts.dim_customers as
            select printf('C%07d', i) as customer_id, cast(null as timestamp) as signed_up_at,
                ['North', 'South'][i % 2 + 1] as region, '25-34' as age_band, 'search' as acquisition_channel,
                timestamp '2023-01-01' + to_days(cast(i % 500 as integer)) as first_order_at
            from range($customers) as t(i)
            """,
            {"customers": max(CUSTOMERS.values())},
        )
        for as_of, customers in CUSTOMERS.items():
            parameters = {"as_of": as_of, "customers": customers}
            con.execute(
                """
                insert into scores.customer_scores by name
                select printf('C%07d', i) as customer_id, $as_of as as_of_date, 'v1' as model_version,
                    90 as horizon_days, (i % 100) / 100 as churn_probability, i % 997 as predicted_revenue,
                    (i % 997) / 10 as predicted_orders, (i % 997) * 0.39 as discounted_clv,
                    i % 2000 as historic_revenue, ['high', 'medium', 'low'][i % 3 + 1] as value_tier,
                    ['low', 'medium', 'high'][i % 3 + 1] as risk_band, 'nurture' as action,
                    'days since last order ↑ risk' as churn_reasons,
                    'orders lifetime ↑ value' as value_reasons,
                    timestamp '2025-07-01 06:00:00' as scored_at
                from range($customers) as t(i)
                """,
                parameters,
            )
            con.execute(
                """
                insert into marts.customer_rfm
                select printf('C%07d', i), $as_of, i % 365, i % 12 + 1, i % 2000, i % 5 + 1, i % 4 + 1,
                    i % 3 + 1, ['Champions', 'Loyal', 'At Risk', 'Hibernating'][i % 4 + 1]
                from range($customers) as t(i)
                """,
                parameters,
            )
            con.execute(
                """
                insert into marts.customer_features
                select printf('C%07d', i), $as_of, true
                from range($customers) as t(i)
                """,
                parameters,
            )


def test_readers_see_only_complete_snapshots_while_the_serving_copy_is_republished(tmp_path: Path) -> None:
    _make_warehouse(tmp_path / "warehouse.duckdb")
    env = {**os.environ, "CVW_DATA_DIR": str(tmp_path), "CVW_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    dates = [str(day) for day in CUSTOMERS]
    publish_once = [sys.executable, "-c", PUBLISHER, str(tmp_path), "1", dates[0]]
    subprocess.run(publish_once, cwd=REPO_ROOT, env=env, check=True)  # the file BI tools connect to exists

    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path / "serving.duckdb"), str(stop), str(TIME_LIMIT_SECONDS)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    try:
        publisher = subprocess.run(
            [sys.executable, "-c", PUBLISHER, str(tmp_path), str(PUBLISHES), *dates[1:], dates[0]],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT_SECONDS,
        )
        assert publisher.returncode == 0, publisher.stderr[-3000:]
    finally:
        stop.touch()
        output, _ = reader.communicate(timeout=60)
    result = json.loads(output)
    answers = result["answers"]

    assert result["errors"] == []
    assert len(answers) > PUBLISHES, "the reader must query many times while the file is replaced"
    expected = {str(day): customers for day, customers in CUSTOMERS.items()}
    for answer in answers:
        ((as_of, rows),) = answer["dates"]  # one date per snapshot, never a mix
        assert rows == expected[as_of]
        assert answer["snapshot"] == [[as_of, rows]]
        assert answer["summary"] == rows
    seen = {answer["dates"][0][0] for answer in answers}
    assert seen == set(expected), "both dates' snapshots were read"
    assert time.monotonic() - started < TIME_LIMIT_SECONDS
    assert not list(tmp_path.glob(".serving.duckdb.*")), "a temporary file was left behind"


OLD_READER = """
import json, sys
import duckdb
try:
    with duckdb.connect(sys.argv[1], read_only=True) as con:
        rows = con.execute("select count(*), sum(predicted_revenue) from bi.customer_value").fetchall()[0]
        snapshot = con.execute("select as_of_date::varchar, customers from bi.snapshot").fetchall()[0]
    print(json.dumps({"version": duckdb.__version__, "rows": list(rows), "snapshot": list(snapshot)}))
except duckdb.Error as error:
    print(json.dumps({"version": duckdb.__version__, "error": str(error)}))
"""


def _read_with_duckdb(version: str, serving: Path) -> dict:
    """Return what a BI driver's DuckDB of an older release reads from the serving copy, or its error."""
    uv = REPO_ROOT / ".tools" / "bin" / "uv"  # the Makefile installs it; the registry is reachable in CI
    assert uv.exists(), f"{uv} is missing: run `make install` first"
    command = [str(uv), "run", "--quiet", "--isolated", "--no-project", "--with", f"duckdb=={version}"]
    command += ["python", "-c", OLD_READER, str(serving)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_a_bi_driver_of_duckdb_1_0_opens_the_serving_copy_unless_the_newest_format_is_asked_for(
    tmp_path: Path, monkeypatch
) -> None:
    # DuckDB 2.0 wrote the serving copy in its own format, which DuckDB 1.x refuses to open
    _make_warehouse(tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("CVW_SERVING_STORAGE_VERSION", raising=False)
    as_of, customers = date(2025, 7, 1), CUSTOMERS[date(2025, 7, 1)]
    serving = tmp_path / "serving.duckdb"
    publish_serving(as_of, tmp_path / "warehouse.duckdb", serving)
    with duckdb.connect(str(serving), read_only=True) as con:
        storage = con.execute("select tags['storage_version'] from duckdb_databases() where not internal")
        assert storage.fetchall() == [("v1.0.0+",)]
        revenue = con.execute("select sum(predicted_revenue) from bi.customer_value").fetchall()[0][0]

    read = _read_with_duckdb("1.0.0", serving)
    assert read == {"version": "1.0.0", "rows": [customers, revenue], "snapshot": [str(as_of), customers]}

    monkeypatch.setenv("CVW_SERVING_STORAGE_VERSION", "latest")
    publish_serving(as_of, tmp_path / "warehouse.duckdb", serving)
    refused = _read_with_duckdb("1.0.0", serving)
    assert "rows" not in refused and "version number" in refused["error"]


def test_a_storage_version_duckdb_does_not_know_stops_publish_before_it_builds_anything(
    tmp_path: Path, monkeypatch
) -> None:
    _make_warehouse(tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("CVW_SERVING_STORAGE_VERSION", "1.0")
    with pytest.raises(SystemExit) as stopped:
        publish_serving(None, tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb")
    assert str(stopped.value) == (
        "CVW_SERVING_STORAGE_VERSION='1.0' is not a DuckDB storage version: set the oldest DuckDB release "
        "your BI tools run, such as v1.0.0 (the default), or latest."
    )
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        schemas = con.execute("select schema_name from duckdb_schemas() where schema_name = 'bi'").fetchall()
    assert schemas == [] and not (tmp_path / "serving.duckdb").exists()

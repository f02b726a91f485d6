"""End to end: a tiny generated shop runs through real Airflow (dag.test), real dbt and a real DuckDB file.

The DAGs run as `make demo` runs them (include/run_dags.py): set-up (metadata DB, writer pool, dbt manifest),
then ingest → transform (Cosmos) → train → score → monitor → publish, one DAG after another.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 600  # above the trainer's minimum of 500 customers


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Generate a shop and run ingest → transform → train → score through Airflow; return the paths."""
    root = tmp_path_factory.mktemp("pipeline")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CVW_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CVW_LANDING_DIR": str(root / "landing"),
        "CVW_ARTIFACTS_DIR": str(root / "artifacts"),
        "CVW_SERVING": str(root / "serving.duckdb"),
        "CVW_DBT_MANIFEST": str(root / "dbt" / "manifest.json"),
        "DBT_TARGET_PATH": str(root / "dbt" / "target"),
        "DBT_LOG_PATH": str(root / "dbt" / "logs"),
        "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        return result

    run("ml.cli", "generate", "--customers", str(CUSTOMERS), "--seed", "3", "--out", env["CVW_LANDING_DIR"])
    run("include.run_dags")
    paths = {"warehouse": Path(env["CVW_WAREHOUSE"]), "serving": Path(env["CVW_SERVING"])}
    return {"env": env, "run": run, **paths}


def _eligible_customers(con: duckdb.DuckDBPyConnection, as_of) -> int:
    """Count customers with a completed order before the date, straight from the raw tables."""
    return con.execute(
        """
        select count(distinct customer_id) from raw.orders
        where coalesce(status, 'completed') <> 'cancelled' and ordered_at < ?
        """,
        [as_of],
    ).fetchone()[0]


def test_scores_cover_exactly_the_customers_with_an_order_before_the_date(pipeline_run: dict) -> None:
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        as_of, rows, customers = con.execute(
            "select max(as_of_date), count(*), count(distinct customer_id) from scores.customer_scores"
        ).fetchone()
        last_order = con.execute("select max(ordered_at)::date from raw.orders").fetchone()[0]
        eligible = _eligible_customers(con, as_of)
    assert (as_of - last_order).days == 1  # scoring date defaults to the day after the last order
    assert rows == customers == eligible
    assert 0 < eligible <= CUSTOMERS


def test_scores_are_probabilities_revenues_and_known_tiers(pipeline_run: dict) -> None:
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        bad = con.execute(
            """
            select count(*) from scores.customer_scores
            where churn_probability not between 0 and 1
                or predicted_revenue < 0
                or value_tier not in ('high', 'medium', 'low')
                or model_version is null
            """
        ).fetchone()[0]
        tiers = dict(
            con.execute("select value_tier, count(*) from scores.customer_scores group by 1").fetchall()
        )
        distinct_probabilities = con.execute(
            "select count(distinct round(churn_probability, 6)) from scores.customer_scores"
        ).fetchone()[0]
    assert bad == 0
    total = sum(tiers.values())
    assert tiers["high"] == int(total * 0.10) or tiers["high"] == int(total * 0.10) + 1
    assert distinct_probabilities > 10  # a real model, not a constant


def test_publish_served_the_latest_scores_with_their_rfm_segment(pipeline_run: dict) -> None:
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        as_of, rows = con.execute(
            "select as_of_date, count(*) from scores.customer_scores group by 1 order by 1 desc limit 1"
        ).fetchall()[0]
    with duckdb.connect(str(pipeline_run["serving"]), read_only=True) as con:
        served = con.execute(
            "select count(*), min(as_of_date), max(as_of_date), count(rfm_segment) from bi.customer_value"
        ).fetchall()[0]
        summarized = con.execute("select sum(customers) from bi.segment_summary").fetchall()[0][0]
        metrics = {row[0] for row in con.execute("select metric from bi.model_performance").fetchall()}
    assert served == (rows, as_of, as_of, rows)  # every customer has a segment: marts and scores agree
    assert summarized == rows
    assert "churn_roc_auc" in metrics


def test_the_walk_publishes_after_monitor_so_the_serving_copy_holds_what_monitor_wrote(
    pipeline_run: dict,
) -> None:
    # publish ran before monitor: a scheduler publishes again on monitor's update, the walk did not, so the
    # backtests monitor wrote reached BI tools only with the next day's publish
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        (monitored,) = con.execute("select max(run_at) from ml.feature_drift").fetchone()
    with duckdb.connect(str(pipeline_run["serving"]), read_only=True) as con:
        (published,) = con.execute("select published_at from bi.snapshot").fetchone()
    assert monitored is not None
    assert published > monitored


def test_every_column_of_the_serving_copy_is_documented_for_bi_users(pipeline_run: dict) -> None:
    doc = (REPO_ROOT / "docs" / "bi.md").read_text()
    with duckdb.connect(str(pipeline_run["serving"]), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'bi' order by all"
        ).fetchall()
    assert {table for table, _ in columns} == {
        "customer_value",
        "segment_summary",
        "model_performance",
        "snapshot",
    }
    assert [(table, column) for table, column in columns if f"`{column}`" not in doc] == []


def test_every_example_of_the_bi_guide_runs_on_the_serving_copy(pipeline_run: dict) -> None:
    # an analyst copies them into a BI tool: one that fails, or names a column the marts do not have, is
    # found here rather than by them
    doc = (REPO_ROOT / "docs" / "bi.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", doc, re.S)
    programs = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert (len(queries), len(programs)) == (9, 1)
    with duckdb.connect(str(pipeline_run["serving"]), read_only=True) as con:
        failed = []
        for query in queries:
            for statement in [part for part in query.split(";") if part.strip()]:
                try:
                    con.execute(statement).fetchall()
                except duckdb.Error as error:
                    failed.append(f"{statement.strip()[:60]}: {error}")
    assert failed == []
    for program in programs:  # it opens the file itself, by the path the guide gives
        exec(program.replace("data/serving.duckdb", str(pipeline_run["serving"])), {})


def test_rerunning_the_score_dag_replaces_the_date_instead_of_duplicating(pipeline_run: dict) -> None:
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        before = con.execute("select count(*), min(scored_at) from scores.customer_scores").fetchone()
    pipeline_run["run"]("include.run_dags", "score")
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        after = con.execute("select count(*), min(scored_at) from scores.customer_scores").fetchone()
    assert after[0] == before[0]
    assert after[1] > before[1]


def test_the_champion_was_evaluated_out_of_time(pipeline_run: dict) -> None:
    import json

    models = Path(pipeline_run["env"]["CVW_ARTIFACTS_DIR"]) / "models"
    version = json.loads((models / "champion.json").read_text())["version"]
    metadata = json.loads((models / version / "metadata.json").read_text())
    test_cutoff = date.fromisoformat(metadata["test_cutoff"])
    horizon = timedelta(days=metadata["horizon_days"])
    assert metadata["train_cutoffs"], "no training cutoff"
    # out of time: every training label window closes before the test cutoff's features begin
    assert all(date.fromisoformat(c) + horizon <= test_cutoff for c in metadata["train_cutoffs"])
    assert set(metadata["out_of_time_metrics"]) >= {"revenue_mae", "revenue_spearman", "churn_roc_auc"}
    assert metadata["out_of_time_metrics"]["churn_roc_auc"] > 0.6


def test_each_model_task_of_the_transform_run_got_its_compiled_sql(pipeline_run: dict) -> None:
    # Cosmos reads a model's compiled SQL from the temporary project's target folder, whatever
    # DBT_TARGET_PATH the deployment sets (this test sets one outside the project)
    airflow_db = Path(pipeline_run["env"]["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(airflow_db) as db:
        keys = {key for (key,) in db.execute("select key from xcom where dag_id = 'transform'")}
    compiled = {key for key in keys if key.endswith("_compiled_sql")}
    assert "model__customer_value__customer_features_compiled_sql" in compiled
    with duckdb.connect(str(pipeline_run["warehouse"]), read_only=True) as con:
        models = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts') "
            "and table_name not in ('incremental_watermarks', 'incremental_model_inputs', "
            "'unfinished_models', 'untested_models', 'rfm_segment_map')"
        ).fetchall()[0][0]
    assert len(compiled) == models


def test_a_second_transform_run_parses_partially_and_still_loads_the_seed(pipeline_run: dict) -> None:
    # Cosmos copies the project to a new temporary folder per build and re-points the cached partial parse
    # at it; pointed at the first build's folder (gone), dbt-duckdb would fail to load the seed.
    log = Path(pipeline_run["env"]["DBT_LOG_PATH"]) / "dbt.log"
    pipeline_run["run"]("include.run_dags", "transform")  # fails if any dbt node failed
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    builds = [e["info"]["invocation_id"] for e in events if e["info"]["name"] == "MainReportArgs"]
    assert len(builds) == 2  # the pipeline's build and this one, each one dbt process in the producer
    first, second = ([e["info"]["name"] for e in events if e["info"]["invocation_id"] == b] for b in builds)
    assert "UnableToPartialParse" in first  # nothing cached yet: a full parse
    assert "PartialParsingEnabled" in second and "UnableToPartialParse" not in second
    assert second.count("LogSeedResult") == 1

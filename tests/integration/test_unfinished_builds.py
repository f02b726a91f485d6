"""A dbt build that fails or is killed halfway leaves its models recorded as unfinished, and every step that
reads the marts refuses them, naming them, since when and the fix, until a build passes.

dbt commits one model at a time: without the record, training after a build whose events failed their test
read customer_labels of the new build beside customer_features of the old one (dbt skipped it), without a
word. Real dbt on a small generated shop, a real failing test and a real kill -9 of `cvw build`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from include.dbt import DbtFailed, dbt_build, run_dbt
from include.ingest import load_landing
from include.synthetic import write_shop

REPO_ROOT = Path(__file__).resolve().parents[2]
# the models a build left unfinished when stg_shop__events failed its not_null test: the view itself (built,
# its test failed) and every model dbt skipped downstream of it; the order models built
EVENTS_AND_DOWNSTREAM = [
    "intermediate.int_customer_active_day_spans",
    "intermediate.int_events_sessionized",
    "intermediate.int_order_items_aggregated_to_cutoffs",
    "intermediate.int_orders_aggregated_to_cutoffs",
    "intermediate.int_sessions_aggregated_to_cutoffs",
    "marts.customer_features",
    "marts.customer_labels",
    "marts.customer_rfm",
    "marts.dim_customers",
    "marts.fct_sessions",
    "staging.stg_shop__events",
]
# a page view the shop delivers late, in the session given
LATE_EVENT = (
    "insert into raw.events (event_id, session_id, event_type, event_at, _source_file, _loaded_at) "
    "values ('E-late', ?, 'page_view', timestamp '2025-12-30 10:00', 'late', now())"
)
FIX = "run `cvw build` again (under Airflow, trigger transform), then cvw"


def unfinished(path: Path) -> list[tuple[str, datetime]]:
    """Return the record's rows (relation, marked at), sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        query = "select relation_name, marked_at from intermediate.unfinished_models order by 1"
        return con.execute(query).fetchall()


def refusal(verb: str, relations: list[str], since: datetime) -> str:
    """Return the sentence a step refuses unfinished marts with, all left by one build."""
    named = relations[0] if len(relations) == 1 else f"{', '.join(relations[:-1])} and {relations[-1]}"
    return (
        f"cvw {verb} reads {named}, which the dbt build that started at {since:%Y-%m-%d %H:%M:%S} UTC left "
        "unfinished (a build that fails or is stopped halfway leaves the marts holding rows of two builds): "
        f"{FIX} {verb}."
    )


def buyers_before(path: Path, day: date) -> int:
    """Return the customers with a completed raw order before the day: the rows a scoring of it writes."""
    with duckdb.connect(str(path), read_only=True) as con:
        query = (
            "select count(distinct customer_id) from raw.orders "
            "where _replaced_at is null and status = 'completed' and ordered_at < ?"
        )
        return con.execute(query, [day]).fetchone()[0]


def quick_training(warehouse: Path) -> dict:
    """Train a quick model on the warehouse (20 rounds, one thread: what it scores does not matter here)."""
    from ml import baselines, fitting, train

    with pytest.MonkeyPatch.context() as patch:
        quick = {name: ({**params, "num_threads": 1}, 20) for name, (params, _) in fitting.BOOSTERS.items()}
        patch.setattr(fitting, "BOOSTERS", quick)
        patch.setitem(baselines.RFM_PARAMS, "num_threads", 1)
        patch.setattr(baselines, "RFM_ROUNDS", 20)
        return train.train_models(warehouse_path=warehouse, horizon_days=90, min_customers=100)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (a warehouse of a small shop built by a passing build, the artifacts of a champion on it)."""
    root = tmp_path_factory.mktemp("unfinished")
    warehouse, artifacts = root / "warehouse.duckdb", root / "artifacts"
    write_shop(root / "landing", customers=300, seed=3)
    load_landing(root / "landing", warehouse)
    dbt_build(warehouse_path=warehouse)
    assert unfinished(warehouse) == []  # a passing build finishes every model it selected
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
        quick_training(warehouse)
    return warehouse, artifacts


@pytest.fixture()
def warehouse(built: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a copy of the built warehouse, set as the settings' warehouse, with the champion's artifacts."""
    source, artifacts = built
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(source, path)
    shutil.copytree(artifacts, tmp_path / "artifacts")
    monkeypatch.setenv("CVW_WAREHOUSE", str(path))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CVW_SERVING", str(tmp_path / "serving.duckdb"))
    monkeypatch.delenv("CVW_AS_OF_DATE", raising=False)
    return path


def test_a_build_whose_test_failed_is_refused_by_every_reader_until_a_build_passes(warehouse: Path) -> None:
    from include.publish import publish_serving
    from include.scoring import score_as_of
    from ml.evaluate import load_evaluation_frame
    from ml.monitor_champion import monitor
    from ml.top import print_summary

    score_as_of(with_reasons=False)  # scores, for the readers of scores below
    with duckdb.connect(str(warehouse)) as con:
        # a late delivery: an order, and an event without its session, which fails stg_shop__events' test
        con.execute(
            "insert into raw.orders (order_id, customer_id, ordered_at, amount, status, _source_file, "
            "_loaded_at) select 'O-late', min(customer_id), timestamp '2025-12-30 10:00', 50, 'completed', "
            "'late', now() from raw.orders"
        )
        con.execute(LATE_EVENT, [None])
    started = datetime.now(UTC).replace(tzinfo=None)
    with pytest.raises(DbtFailed, match="not_null_stg_shop__events_session_id"):
        dbt_build(warehouse_path=warehouse)
    record = unfinished(warehouse)
    assert [relation for relation, _ in record] == EVENTS_AND_DOWNSTREAM
    [since] = {marked for _, marked in record}  # one build marked them all, when it started
    assert started.replace(microsecond=0) <= since <= datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(warehouse), read_only=True) as con:  # fct_orders built: the late order is in it
        late = con.execute("select count(*) from marts.fct_orders where order_id = 'O-late'").fetchone()
    assert late == (1,)

    reads = {
        "train": ["marts.customer_features", "marts.customer_labels"],
        "evaluate": ["marts.customer_features", "marts.customer_labels"],
        "score": ["marts.customer_features", "marts.customer_rfm"],
        "monitor": ["marts.customer_features"],  # its outcome views, over the orders, were built
        "publish": ["marts.customer_features", "marts.customer_rfm", "marts.dim_customers"],
        "top": ["marts.customer_rfm"],
    }
    steps = {
        "train": lambda: quick_training(warehouse),
        "evaluate": lambda: load_evaluation_frame(warehouse, date(2025, 6, 1), 90),
        "score": lambda: score_as_of(with_reasons=False),
        "monitor": lambda: monitor(warehouse_path=warehouse),
        "publish": lambda: publish_serving(),
        "top": lambda: print_summary(),
    }
    for verb, step in steps.items():
        with pytest.raises(SystemExit) as refused:
            step()
        assert str(refused.value) == refusal(verb, reads[verb], since), verb

    with duckdb.connect(str(warehouse)) as con:  # the shop sends the event again, with its session
        con.execute("update raw.events set _replaced_at = now() where event_id = 'E-late'")
        con.execute(LATE_EVENT, ["S-late"])
    # built alone, the feature mart stays unfinished: the models it reads are still the failed build's
    run_dbt(["run", "--select", "customer_features"], warehouse_path=warehouse)
    assert unfinished(warehouse) == record
    dbt_build(warehouse_path=warehouse)
    assert unfinished(warehouse) == []
    assert quick_training(warehouse)["horizon_days"] == 90
    scored = score_as_of(with_reasons=False)
    assert scored["rows"] == buyers_before(warehouse, date.fromisoformat(scored["as_of_date"]))
    assert monitor(warehouse_path=warehouse)["as_of_date"] == scored["as_of_date"]


def stop_build(how: signal.Signals) -> tuple[int, list[str]]:
    """Run `cvw build`, send it the signal as its first incremental model is committed; return its exit code
    and the lines it printed."""
    build = subprocess.Popen(
        [sys.executable, "-m", "ml.cli", "build"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # as from a terminal: a pytest-xdist worker ignores SIGINT, and a child inherits an ignored signal
        # (Python then installs no KeyboardInterrupt for it, and the build ran to its end)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: list[str] = []
    signalled = False
    for line in build.stdout:
        if " OK created sql incremental model " in line and not signalled:
            build.send_signal(how)
            signalled = True
        lines.append(line.rstrip("\n"))
    build.stdout.close()
    return build.wait(timeout=60), lines


def selected_by_cvw_build() -> list[str]:
    """Return the names of the models cvw build selects: the project's models but the bi marts, publish's."""
    models = REPO_ROOT / "dbt_project" / "models"
    return sorted(path.stem for path in models.rglob("*.sql") if "bi" not in path.relative_to(models).parts)


def test_ctrl_c_in_a_build_is_the_interrupt_sentence_and_leaves_every_model_unfinished(
    warehouse: Path,
) -> None:
    # dbt caught Ctrl-C and returned it as a failure: cvw build ended with "`dbt build --exclude tag:bi`
    # failed before running its nodes: " (it had run 60) and exit code 1, not 130
    code, lines = stop_build(signal.SIGINT)
    assert code == 130
    assert lines[-1] == (
        'cvw: interrupted. Run the command again; docs/operations.md ("A run killed halfway") says what a '
        "command stopped halfway leaves."
    )
    assert not [line for line in lines if "failed before running its nodes" in line]
    assert sorted(relation.split(".")[1] for relation, _ in unfinished(warehouse)) == selected_by_cvw_build()


def test_a_killed_build_leaves_every_model_it_selected_unfinished(warehouse: Path) -> None:
    from include.scoring import score_as_of

    code, _ = stop_build(signal.SIGKILL)
    assert code == -signal.SIGKILL
    record = unfinished(warehouse)
    assert sorted(relation.split(".")[1] for relation, _ in record) == selected_by_cvw_build()
    [since] = {marked for _, marked in record}
    with pytest.raises(SystemExit) as refused:
        quick_training(warehouse)
    assert str(refused.value) == refusal("train", ["marts.customer_features", "marts.customer_labels"], since)
    with pytest.raises(SystemExit) as refused:
        score_as_of(with_reasons=False)
    assert str(refused.value) == refusal("score", ["marts.customer_features", "marts.customer_rfm"], since)

    # another date is scored from marts built for it in a scratch copy, which its own build finishes
    other = date(2025, 7, 1)
    scored = score_as_of(other, with_reasons=False)
    rows = buyers_before(warehouse, other)
    assert scored == {"as_of_date": "2025-07-01", "rows": rows, "marts": "built for 2025-07-01"}
    assert unfinished(warehouse) == record  # the warehouse's marts stay as the killed build left them


def test_a_model_renamed_or_deleted_since_a_build_listed_it_leaves_the_list_with_the_next_build(
    warehouse: Path,
) -> None:
    from include.scoring import score_as_of

    # rows the start hook wrote for a killed build of an earlier version of the project: customer_rfm was
    # then named customer_rfm_legacy (with the alias customer_rfm), and int_orders_deduplicated, since
    # deleted, existed. No model of today's project has either id, so no build finished them: listed
    # forever, the first kept scoring refusing marts.customer_rfm after every passing build
    since = datetime(2026, 11, 1, 4, 0)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into intermediate.unfinished_models values "
            "('model.customer_value.customer_rfm_legacy', 'marts.customer_rfm', ?, 'killed'), "
            "('model.customer_value.int_orders_deduplicated', 'intermediate.int_orders_deduplicated', ?, "
            "'killed')",
            [since, since],
        )
    with pytest.raises(SystemExit) as refused:
        score_as_of(with_reasons=False)
    assert str(refused.value) == refusal("score", ["marts.customer_rfm"], since)

    # a run that does not finish customer_rfm, the model that builds the renamed one's relation now, keeps
    # that row; the deleted model's relation is built by no model, and its row goes
    run_dbt(["run", "--select", "stg_shop__orders"], warehouse_path=warehouse)
    assert unfinished(warehouse) == [("marts.customer_rfm", since)]
    dbt_build(warehouse_path=warehouse)
    assert unfinished(warehouse) == []
    scored = score_as_of(with_reasons=False)
    assert scored["rows"] == buyers_before(warehouse, date.fromisoformat(scored["as_of_date"]))

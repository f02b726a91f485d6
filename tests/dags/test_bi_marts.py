"""The BI marts in the warehouse (dbt tag `bi`, built by each publish): empty before any scoring, then
one row per customer of the latest scoring date, per segment and tier, and per evaluation or backtest metric;
and a publish serves exactly their rows for the date it publishes.

The warehouse is the hand-made shop of tests/integration/test_dbt_build.py, built by real dbt, with score
and model tables written here in the schemas ml/publish_scores.py, ml/evaluation_table.py and
ml/backtests.py use.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from include.dbt import run_dbt
from include.publish import publish_serving
from ml.backtests import BACKTESTS_DDL
from ml.rfm_snapshot import CUSTOMER_RFM_DDL

SHOP = Path(__file__).resolve().parents[1] / "integration" / "test_dbt_build.py"
LATEST, EARLIER = date(2024, 10, 1), date(2024, 9, 1)
SCORED = datetime(2024, 10, 1, 6)
UNSCORED = "unscored.duckdb"  # a copy of the module's warehouse as the plain build left it


def _shop():
    """Return the module that writes and builds the hand-made shop."""
    spec = importlib.util.spec_from_file_location("hand_made_shop", SHOP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _score(as_of: date, customer: str, tier: str, churn: float, revenue: float) -> tuple:
    return (
        as_of,
        customer,
        "v1",
        90,
        churn,
        revenue,
        1.0,
        revenue * 0.4,
        50.0,
        30.0,
        None,
        tier,
        "low",
        "keep",
        "[]",
        "[]",
        SCORED,
    )


def _write_scores_and_model_tables(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema scores")
        con.execute(
            """
            create table scores.customer_scores (
                as_of_date date, customer_id varchar, model_version varchar, horizon_days integer,
                churn_probability double, predicted_revenue double, predicted_orders double,
                discounted_clv double, historic_revenue double, avg_days_between_orders double,
                expected_next_order_date date, value_tier varchar, risk_band varchar, action varchar,
                churn_reasons varchar, value_reasons varchar, scored_at timestamp,
                primary key (as_of_date, customer_id, model_version)
            )
            """
        )
        con.executemany(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            [
                _score(LATEST, "c1", "high", 0.1, 90.0),
                _score(LATEST, "c2", "medium", 0.5, 30.0),
                _score(LATEST, "c3", "low", 0.7, 10.0),
                _score(EARLIER, "c1", "high", 0.2, 80.0),  # an older date: not the latest
            ],
        )
        con.execute("create schema ml")
        con.execute(
            """
            create table ml.evaluations as
            select * from (values
                ('e1', timestamp '2024-10-01 05:00', date '2024-07-01', 90, 'model', 'churn_roc_auc', 0.8, 3),
                ('e1', timestamp '2024-10-01 05:00', date '2024-07-01', 90, 'model', 'revenue_mae', 12.5, 3)
            ) as t(evaluation_id, evaluated_at, cutoff_date, horizon_days, model, metric, value, customers)
            """
        )
        con.execute(BACKTESTS_DDL)
        con.execute(
            "insert into ml.backtests values "
            "(?, 'v1', 90, ?, 2, 170.0, 150.0, 0.1333, 10.0, 1.0, 0.3, 0.5, null, null, null, true, "
            "2.5, 2.0, 0.25, 0.75, 2, 6.5, 0.5, 3, 0.6667)",
            [EARLIER, datetime(2024, 10, 1, 7)],
        )


def _scored_copy(warehouse: Path, folder: Path) -> tuple[Path, Path]:
    """Return a scored copy of the unscored warehouse in the folder, and a serving path beside it."""
    copy = Path(shutil.copy(warehouse.with_name(UNSCORED), folder / "warehouse.duckdb"))
    _write_scores_and_model_tables(copy)
    return copy, folder / "serving.duckdb"


def _count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchall()[0][0]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse built by a plain `dbt build` before any scoring (the BI marts come out empty)."""
    shop = _shop()
    path = tmp_path_factory.mktemp("bi") / "warehouse.duckdb"
    shop.create_raw_warehouse(path)
    shop.build(path)
    shutil.copy(path, path.with_name(UNSCORED))  # for tests that score a warehouse of their own
    return path


def test_before_scoring_a_plain_build_makes_the_bi_marts_empty_not_failed(warehouse: Path) -> None:
    counts = {
        table: _count(warehouse, f"bi.{table}")
        for table in ("customer_value", "segment_summary", "model_performance")
    }
    assert counts == {"customer_value": 0, "segment_summary": 0, "model_performance": 0}


def test_score_outcomes_label_each_date_whose_horizon_has_elapsed(warehouse: Path, tmp_path: Path) -> None:
    # The monitor backtests from this view. customer_labels holds only the spine's cutoffs, so a scoring
    # date in mid-month (the usual kind: the day after the last order) was never backtested.
    copy, _ = _scored_copy(warehouse, tmp_path)
    assert _count(copy, "marts.score_outcomes") == 0  # built before any score existed: empty, not failed
    mid_month, month_start, too_recent = date(2024, 6, 5), date(2024, 7, 1), date(2024, 8, 1)
    with duckdb.connect(str(copy)) as con:
        con.executemany(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            [_score(day, customer, "low", 0.5, 10.0)
             for day in (mid_month, month_start, too_recent) for customer in ("c1", "c2", "c3")],
        )  # fmt: skip
    run_dbt(["build", "--select", "score_outcomes", "score_outcome_windows"], warehouse_path=copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        windows = con.execute(
            "select as_of_date, horizon_days, horizon_end_date from marts.score_outcome_windows order by 1"
        ).fetchall()
        outcomes = con.execute(
            "select as_of_date, customer_id, horizon_end_date, orders, revenue, margin, is_churned "
            "from marts.score_outcomes order by as_of_date, customer_id"
        ).fetchall()
        labels = con.execute(
            "select cutoff_date, customer_id, horizon_end_date, orders, revenue, margin, is_churned "
            "from marts.customer_labels where cutoff_date = ? and horizon_days = 90 order by customer_id",
            [month_start],
        ).fetchall()
    # [06-05, 09-03): c1's o4 (revenue 20, margin 12, a unit returned) and o5 (50, margin 20); c3's o8 came
    # on 06-01, before it. 08-01's window ends 10-30, after the as-of date 10-01, and so do those of the
    # dates _scored_copy wrote (09-01, 10-01).
    assert [row for row in outcomes if row[0] == mid_month] == [
        (mid_month, "c1", date(2024, 9, 3), 2, 70.0, 32.0, False),
        (mid_month, "c2", date(2024, 9, 3), 0, 0.0, 0.0, True),
        (mid_month, "c3", date(2024, 9, 3), 0, 0.0, 0.0, True),
    ]
    # a month start is labelled exactly as customer_labels labels it: one definition
    assert [row for row in outcomes if row[0] == month_start] == labels and len(labels) == 3
    assert {row[0] for row in outcomes} == {mid_month, month_start}
    assert windows == [(mid_month, 90, date(2024, 9, 3)), (month_start, 90, date(2024, 9, 29))]
    # the first order each window counts, which the backtests compare expected_next_order_date with: o4
    # (06-10) after 06-05, o5 (08-05) after 07-01; once o4 is cancelled, o5 is c1's first after 06-05 too
    first_orders = (
        "select as_of_date, first_order_date from marts.score_outcomes where customer_id = ? order by 1"
    )
    with duckdb.connect(str(copy)) as con:
        assert con.execute(first_orders, ["c1"]).fetchall() == [
            (mid_month, date(2024, 6, 10)),
            (month_start, date(2024, 8, 5)),
        ]
        assert {row[1] for row in con.execute(first_orders, ["c2"]).fetchall()} == {None}
        con.execute("update intermediate.int_orders_valued set is_cancelled = true where order_id = 'o4'")
        assert con.execute(first_orders, ["c1"]).fetchall() == [
            (mid_month, date(2024, 8, 5)),
            (month_start, date(2024, 8, 5)),
        ]


def test_a_windows_fingerprint_changes_with_its_orders_only(warehouse: Path, tmp_path: Path) -> None:
    # The monitor keeps a backtest while its window's fingerprint holds: it must change when an order in the
    # window changes, and only then.
    copy, _ = _scored_copy(warehouse, tmp_path)
    mid_month, month_start = date(2024, 6, 5), date(2024, 7, 1)  # windows to 09-03 and to 09-29
    with duckdb.connect(str(copy)) as con:
        con.executemany(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            [_score(day, "c1", "low", 0.5, 10.0) for day in (mid_month, month_start)],
        )
    run_dbt(["build", "--select", "score_outcome_windows"], warehouse_path=copy)

    def fingerprints(con: duckdb.DuckDBPyConnection) -> dict[date, str]:
        query = "select as_of_date, orders_fingerprint from marts.score_outcome_windows"
        return dict(con.execute(query).fetchall())

    with duckdb.connect(str(copy)) as con:
        before = fingerprints(con)
        # o4 (06-10) is in the mid-month window only; o6 (02-01) in neither
        con.execute("update intermediate.int_orders_valued set revenue = revenue + 1 where order_id = 'o6'")
        untouched = fingerprints(con)
        con.execute("update intermediate.int_orders_valued set revenue = revenue + 1 where order_id = 'o4'")
        revalued = fingerprints(con)
        con.execute("update intermediate.int_orders_valued set margin = margin + 1 where order_id = 'o4'")
        remargined = fingerprints(con)
        con.execute("update intermediate.int_orders_valued set is_cancelled = true where order_id = 'o5'")
        cancelled = fingerprints(con)  # o5 (08-05) is in both
    assert len(set(before.values())) == 2 and "0" not in before.values()
    assert untouched == before
    assert revalued[month_start] == before[month_start] and revalued[mid_month] != before[mid_month]
    assert remargined[month_start] == revalued[month_start] and remargined[mid_month] != revalued[mid_month]
    assert all(cancelled[day] != remargined[day] for day in (mid_month, month_start))


def test_after_scoring_the_bi_build_serves_the_latest_date(warehouse: Path, tmp_path: Path) -> None:
    warehouse, _ = _scored_copy(warehouse, tmp_path)  # the module's warehouse stays unscored for the others
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        value = con.execute(
            """
            select customer_id, as_of_date, value_tier, rfm.rfm_segment = value.rfm_segment, region,
                tenure_days
            from bi.customer_value as value
            left join marts.customer_rfm as rfm using (customer_id, as_of_date)
            order by customer_id
            """
        ).fetchall()
        profile = con.execute(
            "select customer_id, region, tenure_days from marts.customer_features where cutoff_date = ? "
            "and customer_id in ('c1', 'c2', 'c3') order by 1",
            [LATEST],
        ).fetchall()
        summary = con.execute(
            "select count(*), sum(customers), sum(predicted_revenue), sum(predicted_clv) "
            "from bi.segment_summary"
        ).fetchall()[0]
        performance = con.execute(
            "select source, count(*), count(distinct metric) from bi.model_performance group by 1 order by 1"
        ).fetchall()
        bias = con.execute(
            "select model_version, cutoff_date, metric, value, customers from bi.model_performance "
            "where source = 'backtest' and metric in ('revenue_bias', 'orders_bias') order by metric desc"
        ).fetchall()
        next_order = con.execute(
            "select metric, value, customers from bi.model_performance "
            "where source = 'backtest' and metric like 'next_order%' order by metric"
        ).fetchall()
    assert [row[:4] for row in value] == [
        ("c1", LATEST, "high", True),
        ("c2", LATEST, "medium", True),
        ("c3", LATEST, "low", True),
    ]
    assert [(row[0], row[4], row[5]) for row in value] == profile
    # tenure counts from sign-up or first order, whichever came first: c1 signed up 01-01 (first order 01-10),
    # c2 has no sign-up (first order 02-01), c3 signed up 04-01 (first order 05-31)
    assert [(row[0], row[5]) for row in value] == [("c1", 274), ("c2", 243), ("c3", 183)]
    assert summary == (3, 3, 130.0, pytest.approx(52.0))  # one tier each: three (segment, tier) rows
    assert performance == [("backtest", 17, 17), ("evaluation", 2, 2)]
    assert bias == [("v1", EARLIER, "revenue_bias", 0.1333, 2), ("v1", EARLIER, "orders_bias", 0.25, 2)]
    # the expected next order date of the 2 customers who ordered: 6.5 days off (median), half of them early;
    # of the 3 shown a date, two thirds ordered by it
    assert next_order == [
        ("next_order_by_date_share", 0.6667, 2),
        ("next_order_customers", 2.0, 2),
        ("next_order_dated_customers", 3.0, 2),
        ("next_order_early_share", 0.5, 2),
        ("next_order_mdae_days", 6.5, 2),
    ]


def test_the_profile_has_the_feature_marts_values_and_outlives_its_columns(
    warehouse: Path, tmp_path: Path
) -> None:
    # customer_value took region, age_band, acquisition_channel and tenure_days from customer_features, whose
    # SQL the analysts own: a column dropped there broke the BI mart only at the next publish. It reads them
    # from dim_customers now (tenure_days by the feature mart's macro, as of the served date), with the values
    # the feature mart holds at that date: the latest, and a monthly cutoff.
    copy, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.executemany(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            [_score(EARLIER, customer, "low", 0.5, 10.0) for customer in ("c2", "c3")],
        )
    profile = "customer_id, region, age_band, acquisition_channel, tenure_days"
    served = {}
    for day in (EARLIER, LATEST):
        run_dbt(["build", "--select", "tag:bi"], warehouse_path=copy, dbt_vars={"bi_as_of_date": str(day)})
        served[day] = _rows(copy, f"select {profile} from bi.customer_value order by 1")[1]
        with duckdb.connect(str(copy), read_only=True) as con:
            query = f"select {profile} from marts.customer_features where cutoff_date = ? order by 1"
            features = con.execute(query, [day]).fetchall()
        assert served[day] == features and len(features) == 3, day
    assert served[LATEST] == [
        ("c1", "North", "25-34", "search", 274),
        ("c2", "South", "35-44", "social", 243),
        ("c3", "North", "18-24", "email", 183),
    ]

    # an analyst drops the profile from the feature mart: the BI mart builds, with the same rows
    with duckdb.connect(str(copy)) as con:
        for column in ("region", "age_band", "acquisition_channel", "tenure_days"):
            con.execute(f"alter table marts.customer_features drop column {column}")
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=copy)
    assert _rows(copy, f"select {profile} from bi.customer_value order by 1")[1] == served[LATEST]


def _rows(path: Path, query: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        result = con.execute(query)
        return [column[0] for column in result.description], result.fetchall()


def test_a_publish_serves_the_dbt_bi_marts_of_the_date_it_publishes(warehouse: Path, tmp_path: Path) -> None:
    """include/publish.py builds the bi marts for the published date (var bi_as_of_date) and copies them: the
    serving copy holds their columns and rows, for an earlier date and then for the latest (the default)."""
    warehouse, serving = _scored_copy(warehouse, tmp_path)
    queries = {
        "customer_value": "select * from bi.customer_value order by customer_id",
        "segment_summary": "select * from bi.segment_summary order by rfm_segment, value_tier",
        # the serving copy adds the champion's metrics from its metadata file, when there is a champion
        "model_performance": "select * from bi.model_performance where source <> 'champion_out_of_time' "
        "order by source, model, metric, cutoff_date",
    }
    everyone = [(customer, LATEST) for customer in ("c1", "c2", "c3")]
    for as_of_date, served in ((EARLIER, [("c1", EARLIER)]), (None, everyone)):
        snapshot = publish_serving(as_of_date, warehouse_path=warehouse, serving_path=serving)

        assert (snapshot["as_of_date"], snapshot["customers"]) == (served[0][1], len(served))
        assert _rows(serving, "select customer_id, as_of_date from bi.customer_value order by 1")[1] == served
        for table, query in queries.items():
            published, built = _rows(serving, query), _rows(warehouse, query)
            assert published[0] == built[0], table
            assert published[1] == built[1], table
        performance = _rows(serving, queries["model_performance"])[1]
        assert len(performance) == 19  # 17 backtest metrics and 2 evaluation metrics


def test_cvw_publish_serves_the_date_it_is_given_and_says_what_it_served(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # it printed the snapshot as a Python dict, and had no --as-of-date where the publish DAG has the param
    from ml import cli

    warehouse, serving = _scored_copy(warehouse, tmp_path)
    monkeypatch.setenv("CVW_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CVW_SERVING", str(serving))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert cli.main(["publish", "--as-of-date", EARLIER.isoformat()]) == 0
    [(marts_date, customers)] = _rows(serving, "select marts_as_of_date, customers from bi.snapshot")[1]
    assert customers == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"published the scores of {EARLIER} (1 customers, model v1; marts built as of {marts_date}) "
        f"to {serving}"
    )


def test_a_build_after_publishing_an_older_date_leaves_the_bi_marts_of_that_date(
    warehouse: Path, tmp_path: Path
) -> None:
    # cvw build rebuilt them for the latest date: the warehouse's bi schema disagreed with the serving copy
    from include.dbt import dbt_build

    warehouse, serving = _scored_copy(warehouse, tmp_path)
    publish_serving(EARLIER, warehouse_path=warehouse, serving_path=serving)
    dbt_build(warehouse_path=warehouse)
    query = "select distinct as_of_date from bi.customer_value"
    assert _rows(warehouse, query)[1] == _rows(serving, query)[1] == [(EARLIER,)]


def test_publishing_a_date_without_scores_stops_and_keeps_the_served_snapshot(
    warehouse: Path, tmp_path: Path
) -> None:
    warehouse, serving = _scored_copy(warehouse, tmp_path)
    publish_serving(warehouse_path=warehouse, serving_path=serving)

    with pytest.raises(SystemExit, match="has no scores of 2024-08-01: score that date first"):
        publish_serving(date(2024, 8, 1), warehouse_path=warehouse, serving_path=serving)
    assert _rows(serving, "select as_of_date, customers from bi.snapshot")[1] == [(LATEST, 3)]


def test_a_serving_path_that_is_the_warehouse_stops_and_leaves_the_warehouse_whole(tmp_path: Path) -> None:
    # CVW_SERVING set to the warehouse's path replaced the warehouse by the 1.8 MB serving copy: every raw
    # table, score and registry row was gone (a 112 MB Online Retail II warehouse, 2026-11-30)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table kept as select 1 as x")
    link = tmp_path / "serving.duckdb"
    link.symlink_to(warehouse)
    held = warehouse.read_bytes()

    for serving in (warehouse, link):
        with pytest.raises(SystemExit) as stopped:
            publish_serving(warehouse_path=warehouse, serving_path=serving)
        assert str(stopped.value) == (
            f"The serving copy {serving} is the warehouse itself, which publish would replace by the copy: "
            "set CVW_SERVING to another file, such as serving.duckdb beside the warehouse."
        )
    assert warehouse.read_bytes() == held
    assert sorted(path.name for path in tmp_path.iterdir()) == ["serving.duckdb", "warehouse.duckdb"]


def test_a_serving_path_that_is_a_folder_or_under_a_file_stops_in_one_sentence(
    warehouse: Path, tmp_path: Path
) -> None:
    # a folder got an IsADirectoryError from os.replace after the whole build and copy, a path under a file
    # a FileExistsError from mkdir: tracebacks, not sentences
    warehouse, _ = _scored_copy(warehouse, tmp_path)
    folder, file = tmp_path / "bi", tmp_path / "notes.txt"
    folder.mkdir()
    file.write_text("not a folder")

    with pytest.raises(SystemExit) as stopped:
        publish_serving(warehouse_path=warehouse, serving_path=folder)
    assert str(stopped.value) == (
        f"The serving copy {folder} is a folder: set CVW_SERVING to a file, such as {folder}/serving.duckdb."
    )
    under = file / "copies" / "serving.duckdb"
    with pytest.raises(SystemExit) as stopped:
        publish_serving(warehouse_path=warehouse, serving_path=under)
    assert str(stopped.value) == (
        f"The serving copy {under} cannot be made: {file} is a file, not a folder; set CVW_SERVING to a "
        "path in a folder."
    )
    assert list(folder.iterdir()) == []
    assert file.read_text() == "not a folder"


AMBIGUOUS = "makes bi.customer_value ambiguous in every reader's query (DuckDB asks for bi.bi.customer_value)"
ATTACHED = "is the name publish attaches the warehouse under while it copies"


@pytest.mark.parametrize(
    ("name", "database", "why"),
    [("bi.duckdb", "bi", AMBIGUOUS), ("BI.db", "bi", AMBIGUOUS), ("warehouse.duckdb", "warehouse", ATTACHED)],
)
def test_a_serving_file_named_like_the_schema_or_the_warehouse_alias_stops_in_one_sentence(
    warehouse: Path, tmp_path: Path, name: str, database: str, why: str
) -> None:
    # bi.duckdb failed the copy with "Ambiguous reference to catalog or schema bi" (and no reader could have
    # queried bi.customer_value in it); warehouse.duckdb with "database with name warehouse already exists"
    warehouse, _ = _scored_copy(warehouse, tmp_path)
    serving = tmp_path / "served" / name

    with pytest.raises(SystemExit) as stopped:
        publish_serving(warehouse_path=warehouse, serving_path=serving)
    assert str(stopped.value) == (
        f"The serving copy {serving} would open as a database named {database}, which {why}: set "
        f"CVW_SERVING to a file of another name, such as {serving.with_name('serving.duckdb')}."
    )
    assert not serving.parent.exists()


def _model_metadata(artifacts: Path, version: str, spearman: float) -> None:
    from ml.artifacts import version_dir

    folder = version_dir(artifacts, version)
    folder.mkdir(parents=True)
    metadata = {
        "out_of_time_metrics": {"revenue_spearman": spearman, "test_customers": 3},
        "test_cutoff": "2024-07-01", "horizon_days": 90, "trained_at": "2024-09-30T00:00:00+00:00",
    }  # fmt: skip
    (folder / "metadata.json").write_text(json.dumps(metadata))


def test_the_served_model_performance_is_that_of_the_model_that_made_the_scores(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # v1 scored the published date; v2 became champion since, without scoring yet
    from ml.artifacts import promote_champion

    artifacts = tmp_path / "artifacts"
    _model_metadata(artifacts, "v1", 0.5)
    _model_metadata(artifacts, "v2", 0.9)
    promote_champion(artifacts, "v2")
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
    warehouse, serving = _scored_copy(warehouse, tmp_path)
    publish_serving(warehouse_path=warehouse, serving_path=serving)
    query = (
        "select model_version, metric, value from bi.model_performance "
        "where source = 'champion_out_of_time' order by metric"
    )
    assert _rows(serving, query)[1] == [("v1", "revenue_spearman", 0.5), ("v1", "test_customers", 3.0)]
    assert "Warning" not in capsys.readouterr().out
    flags = "select distinct source, is_out_of_time from bi.model_performance order by 1"
    served = [("backtest", True), ("champion_out_of_time", True), ("evaluation", True)]
    assert _rows(serving, flags)[1] == served

    # `cvw models prune` removed v1's folder: its rows go, and the publish says why
    shutil.rmtree(artifacts / "models" / "v1")
    publish_serving(warehouse_path=warehouse, serving_path=serving)
    assert _rows(serving, query)[1] == []
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"Warning: the folder of model version v1, which scored {LATEST}, is gone from {artifacts} "
        "(`cvw models prune` removes old versions' folders), so bi.model_performance has no "
        "champion_out_of_time rows for it."
    )


def test_a_publish_clears_what_a_killed_publish_or_a_read_write_reader_left_beside_the_file(
    warehouse: Path, tmp_path: Path
) -> None:
    warehouse, serving = _scored_copy(warehouse, tmp_path)
    publish_serving(warehouse_path=warehouse, serving_path=serving)
    # a reader opened the file read-write, wrote and died before a checkpoint: its write-ahead log stays
    died = (
        "import duckdb, os; con = duckdb.connect(os.environ['SERVING']); "
        "con.execute('pragma disable_checkpoint_on_shutdown'); "
        "con.execute('create table main.mine (x int)'); con.execute('insert into main.mine values (1)'); "
        "os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", died], env={**os.environ, "SERVING": str(serving)}, check=True)
    assert serving.with_name("serving.duckdb.wal").exists()
    # and a publish was killed after writing its temporary file
    killed = serving.with_name(".serving.duckdb.0123abcd.tmp")
    killed.write_bytes(b"half a database")
    killed.with_name(killed.name + ".wal").write_bytes(b"its log")

    publish_serving(warehouse_path=warehouse, serving_path=serving)
    assert sorted(path.name for path in tmp_path.iterdir() if "serving" in path.name) == ["serving.duckdb"]
    assert _rows(serving, "select as_of_date, customers from bi.snapshot")[1] == [(LATEST, 3)]


def _marts_warning(printed: str) -> str:
    """Return the text after "Warning: " of the one printed line that speaks of the marts."""
    (line,) = [line for line in printed.splitlines() if line.startswith("Warning: the marts")]
    return line.removeprefix("Warning: ")


def test_the_warning_of_a_date_the_marts_were_not_built_for_names_the_columns_it_left_empty(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The marts are as of 10-01: customer_rfm is of the scoring date only, so the RFM columns of another date
    # are empty. The profile is there whatever the date, from dim_customers: a monthly cutoff of the feature
    # mart (09-01) or no cutoff of theirs (09-15), where it was empty while it came from the feature mart.
    warehouse, serving = _scored_copy(warehouse, tmp_path)
    mid_month = date(2024, 9, 15)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            _score(mid_month, "c1", "high", 0.2, 80.0),
        )
    query = "select customer_id, rfm_segment, region, tenure_days from bi.customer_value"

    publish_serving(EARLIER, warehouse_path=warehouse, serving_path=serving)
    assert _rows(serving, query)[1] == [("c1", None, "North", 244)]
    # the summary's lifetime revenue is the scores' (50.0), not 0 for want of an RFM row
    summary = "select rfm_segment, value_tier, customers, revenue_lifetime from bi.segment_summary"
    assert _rows(serving, summary)[1] == [("unknown", "high", 1, 50.0)]
    warning = _marts_warning(capsys.readouterr().out)
    assert warning.startswith("the marts are as of 2024-10-01, so the RFM columns of 2024-09-01 are empty (")
    assert warning.endswith("score it again (cvw score --as-of-date 2024-09-01) to fill them.")
    assert "profile" not in warning

    publish_serving(mid_month, warehouse_path=warehouse, serving_path=serving)
    assert _rows(serving, query)[1] == [("c1", None, "North", 258)]  # signed up 01-01: 244 days to 09-01
    warning = _marts_warning(capsys.readouterr().out)
    assert warning.startswith("the marts are as of 2024-10-01, so the RFM columns of 2024-09-15 are empty (")
    assert "profile" not in warning


def test_a_date_scored_from_marts_of_its_own_is_served_with_the_rfm_rows_its_scoring_kept(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A date scored in a scratch copy (a backfill, the 06:00 run of a day after a day without orders) kept its
    # RFM rows in scores.customer_rfm (ml/rfm_snapshot.py); marts.customer_rfm, of the marts' date (10-01),
    # has none of that date, and the RFM columns came out empty, every customer 'unknown'.
    warehouse, serving = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(CUSTOMER_RFM_DDL)
        con.execute(
            "insert into scores.customer_rfm values ('c1', ?, 12, 3, 150.0, 5, 4, 4, 'Champions')", [EARLIER]
        )
    query = "select customer_id, rfm_segment, recency_days, frequency, monetary from bi.customer_value"
    summary = "select rfm_segment, value_tier, customers from bi.segment_summary"

    publish_serving(EARLIER, warehouse_path=warehouse, serving_path=serving)
    assert _rows(serving, query)[1] == [("c1", "Champions", 12, 3, 150.0)]
    assert _rows(serving, summary)[1] == [("Champions", "high", 1)]
    assert "Warning: the marts" not in capsys.readouterr().out
    # a date without kept rows (scored before they were kept) still has the marts' own RFM
    publish_serving(LATEST, warehouse_path=warehouse, serving_path=serving)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marts = con.execute(
            "select customer_id, rfm_segment, recency_days, frequency, monetary from marts.customer_rfm "
            "where customer_id in ('c1', 'c2', 'c3') order by 1"
        ).fetchall()
    assert sorted(_rows(serving, query)[1]) == marts
    assert all(row[1] is not None for row in marts)


def test_model_performance_has_a_row_per_evaluation_or_backtest_model_and_metric(
    warehouse: Path, tmp_path: Path
) -> None:
    # A second evaluation of the same cutoff (training again on reloaded data: another evaluation id) and a
    # backtest of a second date: each keeps its rows, told apart by evaluated_at and cutoff_date.
    warehouse, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into ml.evaluations values ('e2', timestamp '2024-10-02 05:00', date '2024-07-01', 90, "
            "'model', 'churn_roc_auc', 0.7, 4)"
        )
        con.execute(
            "insert into ml.backtests values "
            "(?, 'v1', 90, ?, 3, 100.0, 120.0, -0.1667, 8.0, 0.5, 0.2, 0.3, 0.9, null, null, true, "
            "3.0, 4.0, -0.25, 1.0, 2, 3.0, 1.0, 2, 0.5)",
            [date(2024, 6, 5), datetime(2024, 10, 1, 7)],
        )
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    rows = _rows(
        warehouse,
        "select source, model, cutoff_date, metric, value, evaluated_at from bi.model_performance "
        "where metric in ('churn_roc_auc', 'revenue_bias', 'orders_bias') "
        "order by source, cutoff_date, evaluated_at, metric",
    )[1]
    assert rows == [
        ("backtest", "champion", date(2024, 6, 5), "churn_roc_auc", 0.9, datetime(2024, 10, 1, 7)),
        ("backtest", "champion", date(2024, 6, 5), "orders_bias", -0.25, datetime(2024, 10, 1, 7)),
        ("backtest", "champion", date(2024, 6, 5), "revenue_bias", -0.1667, datetime(2024, 10, 1, 7)),
        ("backtest", "champion", EARLIER, "churn_roc_auc", None, datetime(2024, 10, 1, 7)),
        ("backtest", "champion", EARLIER, "orders_bias", 0.25, datetime(2024, 10, 1, 7)),
        ("backtest", "champion", EARLIER, "revenue_bias", 0.1333, datetime(2024, 10, 1, 7)),
        ("evaluation", "model", date(2024, 7, 1), "churn_roc_auc", 0.8, datetime(2024, 10, 1, 5)),
        ("evaluation", "model", date(2024, 7, 1), "churn_roc_auc", 0.7, datetime(2024, 10, 2, 5)),
    ]


def test_model_performance_shows_the_model_version_training_registered_for_its_evaluation(
    warehouse: Path, tmp_path: Path
) -> None:
    # ml.evaluations records the version a training run registered, null for an ad-hoc `cvw evaluate`; the
    # mart showed null for every evaluation, so its rows could not be told apart by model nor joined to it
    from ml.evaluation_table import ensure_evaluations

    warehouse, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        ensure_evaluations(con)  # the table of _scored_copy predates the column, as an old warehouse's does
        con.execute("update ml.evaluations set model_version = 'v1' where evaluation_id = 'e1'")
        con.execute(
            "insert into ml.evaluations values ('e2', timestamp '2024-10-02 05:00', date '2024-07-01', 90, "
            "'model', 'churn_roc_auc', 0.7, 4, null)"
        )
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    rows = _rows(
        warehouse,
        "select model_version, evaluated_at, metric, value from bi.model_performance "
        "where source = 'evaluation' order by evaluated_at, metric",
    )[1]
    assert rows == [
        ("v1", datetime(2024, 10, 1, 5), "churn_roc_auc", 0.8),
        ("v1", datetime(2024, 10, 1, 5), "revenue_mae", 12.5),
        (None, datetime(2024, 10, 2, 5), "churn_roc_auc", 0.7),
    ]


def test_model_performance_hides_the_backtest_of_scores_since_replaced(
    warehouse: Path, tmp_path: Path
) -> None:
    # publish and monitor both follow the scores: a publish before the monitor's run served the backtest of
    # a date's former scores (another model's, or the same model's before a re-scoring) as the current one
    warehouse, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from ml.backtests")
        backtest = (
            "insert into ml.backtests values "
            "(?, ?, 90, ?, 1, 1, 1, 0, 0, 1, 0.5, 0.5, 0.5, ?, ?, null, 1, 1, 0, 0, 1, 0, 0, 1, 0)"
        )
        computed = datetime(2024, 10, 1, 7)
        con.execute(backtest, [EARLIER, "v1", computed, SCORED, "7"])  # of the scores there now
        con.execute(backtest, [EARLIER, "v0", computed, SCORED, "7"])  # the model before: re-scored since
        con.execute(backtest, [LATEST, "v1", computed, datetime(2024, 9, 30), "7"])  # re-scored since
        con.execute(backtest, [date(2024, 6, 5), "v1", computed, None, None])  # kept before scored_at was
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    shown = _rows(
        warehouse,
        "select distinct cutoff_date, model_version from bi.model_performance where source = 'backtest' "
        "order by 1",
    )[1]
    assert shown == [(date(2024, 6, 5), "v1"), (EARLIER, "v1")]


def test_model_performance_says_which_backtests_are_out_of_time(warehouse: Path, tmp_path: Path) -> None:
    # a past date backfilled by a champion trained later on its outcomes was served as a backtest like any
    # other, flattering the model: the monitor's flag (ml.backtests.out_of_time) now reaches BI
    warehouse, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        backtest = (
            "insert into ml.backtests values "
            "(?, ?, 90, ?, 1, 1, 1, 0, 0, 1, 0.5, 0.5, 0.5, ?, ?, ?, 1, 1, 0, 0, 1, 0, 0, 1, 0)"
        )
        computed = datetime(2024, 10, 1, 7)
        con.execute("delete from ml.backtests")
        con.execute(backtest, [EARLIER, "v1", computed, SCORED, "7", False])  # v1 learnt its outcomes
        con.execute(backtest, [date(2024, 6, 5), "v1", computed, None, None, True])
        con.execute(backtest, [date(2024, 5, 5), "v1", computed, None, None, None])  # v1 not registered
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    query = (
        "select source, cutoff_date, is_out_of_time, count(*) from bi.model_performance "
        "group by all order by 1, 2"
    )
    assert _rows(warehouse, query)[1] == [
        ("backtest", date(2024, 5, 5), None, 17),
        ("backtest", date(2024, 6, 5), True, 17),
        ("backtest", EARLIER, False, 17),
        ("evaluation", date(2024, 7, 1), True, 2),
    ]


def test_model_performance_builds_from_a_backtests_table_made_before_the_flag(
    warehouse: Path, tmp_path: Path
) -> None:
    warehouse, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table ml.backtests drop column is_out_of_time")  # as the monitor made it before
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    query = "select source, is_out_of_time, count(*) from bi.model_performance group by all order by 1"
    assert _rows(warehouse, query)[1] == [("backtest", None, 17), ("evaluation", True, 2)]


def test_model_performance_builds_from_a_backtests_table_made_before_the_orders_metrics(
    warehouse: Path, tmp_path: Path
) -> None:
    # the monitor's next run adds the columns and recomputes the rows (ml.backtests): until then the mart
    # serves the revenue and churn metrics it has, not a failed build
    from ml.backtests import NEXT_ORDER_COLUMNS, ORDERS_COLUMNS

    warehouse, _ = _scored_copy(warehouse, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        for column in [*ORDERS_COLUMNS, *NEXT_ORDER_COLUMNS]:  # as the monitor made it before
            con.execute(f"alter table ml.backtests drop column {column}")
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    query = "select metric, value from bi.model_performance where source = 'backtest' order by 1"
    assert _rows(warehouse, query)[1] == [
        ("churn_roc_auc", None),
        ("predicted_churn_rate", 0.3),
        ("predicted_revenue", 170.0),
        ("realized_churn_rate", 0.5),
        ("realized_revenue", 150.0),
        ("revenue_bias", 0.1333),
        ("revenue_mae", 10.0),
        ("revenue_spearman", 1.0),
    ]


def test_model_performance_builds_from_a_backtests_table_made_before_the_next_order_metrics(
    warehouse: Path, tmp_path: Path
) -> None:
    from ml.backtests import NEXT_ORDER_COLUMNS

    warehouse, _ = _scored_copy(warehouse, tmp_path)
    query = (
        "select count(*), count(*) filter (metric like 'orders%'), "
        "count(*) filter (metric like 'next_order%') from bi.model_performance where source = 'backtest'"
    )
    dated = ["next_order_dated_customers", "next_order_by_date_share"]
    with duckdb.connect(str(warehouse)) as con:
        for column in dated:  # as the monitor made it before the next order date was a median
            con.execute(f"alter table ml.backtests drop column {column}")
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    assert _rows(warehouse, query)[1] == [(15, 2, 3)]
    with duckdb.connect(str(warehouse)) as con:
        for column in set(NEXT_ORDER_COLUMNS) - set(dated):  # as the monitor made it before them
            con.execute(f"alter table ml.backtests drop column {column}")
    run_dbt(["build", "--select", "tag:bi"], warehouse_path=warehouse)
    assert _rows(warehouse, query)[1] == [(12, 2, 0)]


def test_the_bi_exposure_depends_on_the_bi_marts_bi_tools_read() -> None:
    # The dashboard exposure still named what BI read before the bi marts existed (the scores with the RFM,
    # customer, order and session marts): dbt's lineage showed neither the tables dashboards query nor that
    # an edit to a bi mart reaches them, and listed marts no dashboard reads.
    import yaml

    models = Path(__file__).resolve().parents[2] / "dbt_project" / "models"
    exposures = yaml.safe_load((models / "marts" / "core" / "_core__exposures.yml").read_text())["exposures"]
    bi_marts = yaml.safe_load((models / "marts" / "bi" / "_bi__models.yml").read_text())["models"]
    [dashboard] = [exposure for exposure in exposures if exposure["type"] == "dashboard"]
    assert sorted(dashboard["depends_on"]) == sorted(f"ref('{model['name']}')" for model in bi_marts)
    assert len(bi_marts) == 3


def test_a_publish_copies_within_the_memory_limit_of_every_warehouse_connection(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The copy reads and sorts bi.customer_value, the warehouse's largest table, through a connection of its
    # own: it took DuckDB's default limit (80% of the machine) where CVW_DUCKDB_MEMORY_LIMIT bounds dbt and
    # every other connection to the warehouse, so a publish could outgrow a container others' steps fit in.
    from include import publish

    warehouse, serving = _scored_copy(warehouse, tmp_path)
    monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", "123MB")
    limits = []
    copy = publish._copy

    def recording_copy(con: duckdb.DuckDBPyConnection, *args: object) -> dict[str, object]:
        limits.append(con.execute("select current_setting('memory_limit')").fetchall()[0][0])
        return copy(con, *args)

    monkeypatch.setattr(publish, "_copy", recording_copy)
    publish_serving(warehouse_path=warehouse, serving_path=serving)
    with duckdb.connect() as con:
        con.execute("set memory_limit = '123MB'")
        expected = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    assert limits == [expected]

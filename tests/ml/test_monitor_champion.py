"""A monitoring run counts a scoring date into the champion's training bins and backtests its horizon.

The warehouse is a hand-made DuckDB file with the score table's schema; the reference bins are written by
hand so every PSI is known: shares equal to training give 0, and the others are computed below.
"""

import math
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from ml import monitor
from ml.artifacts import promote_champion, save_model_version
from ml.data import rounded
from ml.monitor_champion import describe, monitor_champion
from ml.monitor_champion import monitor as monitor_warehouse
from ml.monitor_drift import count_into_bins

EPS = monitor.EPSILON
AS_OF = date(2025, 4, 1)
REFERENCE = {
    # 1 | 3, 4 | 6 of the date's customers fall into (<2, [2, 5), >=5): the training shares, PSI 0
    "orders_lifetime": {"kind": "numeric", "edges": [2.0, 5.0], "shares": [0.25, 0.5, 0.25, 0.0]},
    # north x3 and one null against half north, half south
    "region": {"kind": "categorical", "levels": ["north", "south"], "shares": [0.5, 0.5, 0.0, 0.0]},
    # a model output computed while scoring: the warehouse does not store it
    "btyd_expected_orders": {"kind": "numeric", "edges": [1.0], "shares": [0.5, 0.5, 0.0]},
    "churn_probability": {"kind": "numeric", "edges": [0.5], "shares": [0.5, 0.5, 0.0]},
    # two of four below 10 against 30% in training
    "predicted_revenue": {"kind": "numeric", "edges": [10.0], "shares": [0.3, 0.7, 0.0]},
}
REGION_PSI = (
    (0.75 - 0.5) * math.log(0.75 / 0.5)
    + (EPS - 0.5) * math.log(EPS / 0.5)
    + (0.25 - EPS) * math.log(0.25 / EPS)
)
REVENUE_PSI = (0.5 - 0.3) * math.log(0.5 / 0.3) + (0.5 - 0.7) * math.log(0.5 / 0.7)
METADATA = {"horizon_days": 90, "models": [], "drift_reference": REFERENCE}
SCORE_OUTCOMES_VIEW = """
    create or replace view marts.score_outcomes as
    select outcomes.* from marts.score_outcome_rows as outcomes
    semi join scores.customer_scores as scores using (customer_id, as_of_date, horizon_days)
"""
SCORE_OUTCOME_WINDOWS_VIEW = """
    create or replace view marts.score_outcome_windows as
    select windows.* from marts.score_window_rows as windows
    semi join scores.customer_scores as scores using (as_of_date, horizon_days)
"""

SCORE_COLUMNS = """
    as_of_date date, customer_id varchar, model_version varchar, horizon_days integer,
    churn_probability double, predicted_revenue double, predicted_orders double, discounted_clv double,
    historic_revenue double, avg_days_between_orders double, expected_next_order_date date,
    value_tier varchar, risk_band varchar, action varchar, churn_reasons varchar, value_reasons varchar,
    scored_at timestamp, primary key (as_of_date, customer_id, model_version)
"""


def _score(as_of: date, customer: str, version: str, churn: float, revenue: float) -> tuple:
    return (
        as_of,
        customer,
        version,
        90,
        churn,
        revenue,
        1.0,
        revenue,
        50.0,
        30.0,
        as_of,
        "low",
        "low",
        "keep",
        "[]",
        "[]",
        datetime(2025, 4, 1, 6),
    )


@pytest.fixture()
def warehouse(tmp_path) -> str:
    """A warehouse file: features and scores at 2025-03-01 (model v0) and 2025-04-01 (v1), 90-day labels."""
    path = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create schema marts")
        con.execute("create schema scores")
        con.execute(
            """
            create table marts.customer_features as
            select * from (values
                ('A', date '2025-04-01', true, 1, 'north', 4), ('B', date '2025-04-01', true, 3, 'north', 4),
                ('C', date '2025-04-01', true, 4, 'north', 4), ('D', date '2025-04-01', true, 6, null, 4),
                ('A', date '2025-03-01', false, 9, 'west', 3), ('B', date '2025-03-01', false, 9, 'west', 3)
            ) as t(customer_id, cutoff_date, is_scoring_date, orders_lifetime, region, cutoff_month)
            """
        )
        con.execute(f"create table scores.customer_scores ({SCORE_COLUMNS})")
        con.executemany(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            [
                _score(AS_OF, "A", "v1", 0.2, 5.0),
                _score(AS_OF, "B", "v1", 0.4, 8.0),
                _score(AS_OF, "C", "v1", 0.6, 12.0),
                _score(AS_OF, "D", "v1", 0.8, 20.0),
                _score(date(2025, 3, 1), "A", "v0", 0.9, 100.0),
                _score(date(2025, 3, 1), "B", "v0", 0.1, 0.0),
            ],
        )
        con.execute(
            """
            create table marts.score_outcome_rows as
            select * from (values
                ('A', date '2025-03-01', 90, 4, 40.0, false, date '2025-03-11'),
                ('B', date '2025-03-01', 90, 0, 0.0, true, null),
                ('A', date '2025-03-01', 30, 1, 5.0, false, date '2025-03-11')
            ) as t(customer_id, as_of_date, horizon_days, orders, revenue, is_churned, first_order_date)
            """
        )
        con.execute(
            """
            create table marts.score_window_rows as
            select * from (values (date '2025-03-01', 90, '12'), (date '2025-03-01', 30, '7'))
                as t(as_of_date, horizon_days, orders_fingerprint)
            """
        )
        # as dbt's views: they read the score table (the outcomes of scored customers, the scored windows)
        con.execute(SCORE_OUTCOMES_VIEW)
        con.execute(SCORE_OUTCOME_WINDOWS_VIEW)
    return path


def test_drift_of_the_latest_scored_date_has_the_hand_computed_psi_per_column(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        summary = monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))
        rows = con.execute(
            "select as_of_date, model_version, feature, psi, status from ml.feature_drift order by feature"
        ).fetchall()
    assert summary["as_of_date"] == "2025-04-01"
    drift = summary["drift"]
    assert (drift["feature_rows"], drift["score_rows"], drift["drift_rows"]) == (4, 4, 4)
    assert drift["moderate"] == ["predicted_revenue"]
    assert drift["significant"] == ["region"]
    assert drift["not_monitored"] == ["btyd_expected_orders"]
    names = ("churn_probability", "orders_lifetime", "predicted_revenue", "region")
    assert [row[:3] for row in rows] == [(AS_OF, "v1", name) for name in names]
    psi = {row[2]: row[3] for row in rows}
    assert psi["churn_probability"] == 0.0 and psi["orders_lifetime"] == 0.0
    assert REVENUE_PSI == pytest.approx(0.16946, abs=1e-5)
    assert psi["predicted_revenue"] == pytest.approx(REVENUE_PSI)
    assert psi["region"] == pytest.approx(REGION_PSI)
    assert [row[4] for row in rows] == ["stable", "stable", "moderate", "significant"]


def test_backtests_cover_the_champions_horizon_on_dates_with_labels(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        summary = monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))
        monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))  # a re-run replaces rows
        stored = con.execute(
            "select as_of_date, model_version, horizon_days, customers, predicted_revenue, realized_revenue "
            "from ml.backtests"
        ).fetchall()
        drift_rows = con.execute("select count(*) from ml.feature_drift").fetchall()[0][0]
    assert summary["backtests"] == [
        # v0 is not in the warehouse's registry: whether it learnt from these outcomes is unknown
        {
            "as_of_date": "2025-03-01",
            "model_version": "v0",
            "customers": 2,
            "revenue_bias": 1.5,
            "orders_bias": -0.5,  # 1 + 1 predicted against A's 4
            # A, the one who ordered, was expected on the scoring date and first ordered 10 days later
            "next_order_mdae_days": 10.0,
            "next_order_early_share": 0.0,
            "next_order_by_date_share": 0.0,  # both were expected on it, neither had ordered by its end
            "is_out_of_time": None,
        }
    ]
    assert stored == [(date(2025, 3, 1), "v0", 90, 2, 100.0, 40.0)]
    assert drift_rows == 4


def test_a_re_scored_date_keeps_no_backtest_or_drift_of_the_model_before(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))
        # a new champion re-scores both dates: publishing keeps one model's scores per date
        con.execute("update scores.customer_scores set model_version = 'v2'")
        monitor_champion(con, "v2", METADATA, run_at=datetime(2025, 4, 3))
        backtests = con.execute("select as_of_date, model_version from ml.backtests").fetchall()
        drift = con.execute("select distinct as_of_date, model_version from ml.feature_drift").fetchall()
        # labels gone (the marts rebuilt as of an earlier date): so is the backtest
        con.execute("delete from marts.score_window_rows")
        monitor_champion(con, "v2", METADATA, run_at=datetime(2025, 4, 4))
        left = con.execute("select count(*) from ml.backtests").fetchone()[0]
    assert backtests == [(date(2025, 3, 1), "v2")]
    assert drift == [(AS_OF, "v2")]
    assert left == 0


def test_monitoring_a_date_again_after_the_marts_moved_on_keeps_its_features_drift(warehouse: str) -> None:
    # The marts were built for a later day since AS_OF was monitored: they hold no feature row of AS_OF any
    # more, so a second run there measures the scores only. The features' PSIs of the first run are the
    # only ones the date can have; they stay, and the scores' are replaced.
    with duckdb.connect(warehouse) as con:
        monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))
        first = con.execute("select feature, psi, run_at from ml.feature_drift order by feature").fetchall()
        con.execute("delete from marts.customer_features where cutoff_date = ?", [AS_OF])
        rescored = "update scores.customer_scores set predicted_revenue = 20.0 where as_of_date = ?"
        con.execute(rescored, [AS_OF])
        drift = monitor_champion(con, "v1", METADATA, as_of_date=AS_OF, run_at=datetime(2025, 4, 9))["drift"]
        rows = con.execute(
            "select feature, psi, run_at from ml.feature_drift where as_of_date = ? and model_version = 'v1' "
            "order by feature",
            [AS_OF],
        ).fetchall()
    assert (drift["feature_rows"], drift["score_rows"], drift["drift_rows"]) == (0, 4, 2)
    assert [row[0] for row in rows] == ["churn_probability", "orders_lifetime", "predicted_revenue", "region"]
    assert rows[1] == first[1] and rows[3] == first[3]  # the features': as the first run measured them
    assert rows[0] == ("churn_probability", 0.0, datetime(2025, 4, 9))
    # every score now above 10 against 70% of training: the new run's PSI, not the first one's
    revenue_psi = (EPS - 0.3) * math.log(EPS / 0.3) + (1.0 - 0.7) * math.log(1.0 / 0.7)
    assert rows[2][0] == "predicted_revenue" and rows[2][1] == pytest.approx(revenue_psi)
    assert rows[2][2] == datetime(2025, 4, 9)


def test_counting_one_row_at_a_time_gives_the_same_psi(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        whole = monitor_champion(con, "v1", METADATA)["drift"]["psi"]
        one_by_one = monitor_champion(con, "v1", METADATA, chunk_rows=1)["drift"]["psi"]
    assert one_by_one == whole
    assert set(whole) == {"churn_probability", "orders_lifetime", "predicted_revenue", "region"}


def test_features_are_binned_as_training_read_them_so_the_same_rows_do_not_drift(tmp_path) -> None:
    # training rounds floats to ml.data.FLOAT_DECIMALS and takes its quantile edges from those values: an
    # edge at 0.6667 for a third of the customers at 2/3. Unrounded, 2/3 < 0.6667 would change bins.
    values = [1 / 3] * 3 + [2 / 3] * 3 + [1.0] * 3
    frame = pd.DataFrame({"share": values})
    reference = monitor.reference_distribution(rounded(frame.copy()), ["share"], bins=2)
    assert reference["share"]["edges"] == [0.6667]  # the median
    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create schema marts")
        con.execute("create table marts.customer_features (cutoff_date date, share double)")
        con.executemany("insert into marts.customer_features values (?, ?)", [(AS_OF, v) for v in values])
        counts, rows = count_into_bins(con, reference, "marts.customer_features", "cutoff_date = ?", [AS_OF],
                                       as_training_reads=True)  # fmt: skip
    assert rows == 9
    assert monitor.psi_from_counts(reference, counts) == {"share": 0.0}


def test_the_log_lists_what_is_not_monitored_a_feature_the_mart_dropped_among_them(warehouse: str) -> None:
    # an analyst drops region from the mart: the champion's drift went on without it, and the log, which
    # the docs say lists what is not monitored, said only "3 columns"
    with duckdb.connect(warehouse) as con:
        con.execute("alter table marts.customer_features drop column region")
        summary = monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))
    assert summary["drift"]["not_monitored"] == ["btyd_expected_orders", "region"]
    assert describe(summary).splitlines()[1:3] == [
        "drift: 3 columns over 4 feature rows and 4 score rows; moderate: predicted_revenue; "
        "significant: none",
        "not monitored, not in the warehouse at that date: btyd_expected_orders, region",
    ]


def test_an_earlier_date_counts_its_own_rows_and_only_the_models_scores(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        drift = monitor_champion(con, "v1", METADATA, as_of_date=date(2025, 3, 1))["drift"]
    # the features of 2025-03-01 are counted; its scores are v0's, not the champion's, so they are not
    assert (drift["feature_rows"], drift["score_rows"]) == (2, 0)
    assert drift["not_monitored"] == ["btyd_expected_orders", "churn_probability", "predicted_revenue"]
    assert drift["significant"] == ["orders_lifetime", "region"]  # 9 orders twice, two unseen regions


def test_the_log_says_the_scores_of_a_date_another_model_scored_are_not_the_champions(warehouse: str) -> None:
    # `cvw models promote` and then `cvw monitor` of a date the model before scored: the log said the
    # scores were "not in the warehouse at that date", which they are, by another model
    with duckdb.connect(warehouse) as con:
        summary = monitor_champion(con, "v1", METADATA, as_of_date=date(2025, 3, 1))
    assert summary["drift"]["scored_by_other_models"] == ["v0"]
    assert describe(summary).splitlines()[2:4] == [
        "not monitored, as v0 scored that date, not the champion: churn_probability, predicted_revenue "
        "(score the date with the champion: cvw score --as-of-date 2025-03-01)",
        "not monitored, not in the warehouse at that date: btyd_expected_orders",
    ]


def test_the_log_counts_the_features_of_a_date_the_marts_hold_no_row_of_instead_of_naming_each(
    warehouse: str,
) -> None:
    # a backfilled date, scored from marts built for it in a scratch copy: the log named every feature of
    # the model (60 in the demo) as "not in the warehouse at that date", once per backfilled day
    with duckdb.connect(warehouse) as con:
        con.executemany(
            "insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
            [_score(date(2025, 3, 15), "A", "v1", 0.2, 5.0), _score(date(2025, 3, 15), "B", "v1", 0.8, 20.0)],
        )
        summary = monitor_champion(con, "v1", METADATA, as_of_date=date(2025, 3, 15))
    assert summary["drift"]["not_monitored"] == ["btyd_expected_orders", "orders_lifetime", "region"]
    assert describe(summary).splitlines()[1:3] == [
        "drift: 2 columns over 0 feature rows and 2 score rows; moderate: predicted_revenue; "
        "significant: none",
        "not monitored, marts.customer_features holds no row at that date: its 3 features (cvw build "
        "--as-of-date 2025-03-15 builds the marts for it; --json names them)",
    ]


def test_a_date_with_neither_features_nor_the_champions_scores_skips_drift_saying_why(warehouse: str) -> None:
    # 2025-03-15 was scored by v0 from marts built for it in a scratch copy: nothing of v1's to measure there
    with duckdb.connect(warehouse) as con:
        con.execute("insert into scores.customer_scores values (" + ", ".join(["?"] * 17) + ")",
                    _score(date(2025, 3, 15), "A", "v0", 0.5, 1.0))  # fmt: skip
        summary = monitor_champion(con, "v1", METADATA, as_of_date=date(2025, 3, 15))
        drift_tables = con.execute(
            "select count(*) from information_schema.tables where table_name = 'feature_drift'"
        ).fetchone()[0]
    assert summary["drift"] == (
        "marts.customer_features holds no row at 2025-03-15 and the champion v1 scored no customer there: "
        "build the marts as of that date (cvw build --as-of-date 2025-03-15) or score it with the champion "
        "(cvw score --as-of-date 2025-03-15) to measure it"
    )
    assert "drift: skipped, marts.customer_features holds no row" in describe(summary)
    assert drift_tables == 0 and [row["customers"] for row in summary["backtests"]] == [2]


def test_a_date_on_or_before_the_first_order_skips_drift_without_advising_a_build_that_refuses_it(
    warehouse: str,
) -> None:
    # `cvw monitor --as-of-date 2000-01-01` advised `cvw build --as-of-date 2000-01-01` and `cvw score
    # --as-of-date 2000-01-01`, which both refuse a date not after the first order
    with duckdb.connect(warehouse) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.orders as select * from (values ('o1', timestamp '2025-03-15 09:30:00'), "
            "('o2', timestamp '2025-04-02 10:00:00')) as t(order_id, ordered_at)"
        )
        summary = monitor_champion(con, "v1", METADATA, as_of_date=date(2025, 3, 15))
    assert summary["drift"] == (
        "marts.customer_features holds no row at 2025-03-15 and the champion v1 scored no customer there: "
        "the date is not after the first order (2025-03-15), so no build or scoring can give it rows; give a "
        "later date"
    )


def test_a_model_without_a_drift_reference_still_backtests(warehouse: str) -> None:
    older = {"horizon_days": 90, "models": []}
    with duckdb.connect(warehouse) as con:
        summary = monitor_champion(con, "v0", older)
        drift_tables = con.execute(
            "select count(*) from information_schema.tables where table_name = 'feature_drift'"
        ).fetchall()[0][0]
    assert summary["drift"] == "model v0 has no drift reference (trained before it was kept)"
    assert [row["customers"] for row in summary["backtests"]] == [2]
    assert drift_tables == 0


def test_nothing_to_backtest_is_an_empty_list_not_a_failure(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        con.execute("delete from marts.score_window_rows")
        summary = monitor_champion(con, "v1", METADATA)
        backtest_rows = con.execute("select count(*) from ml.backtests").fetchall()[0][0]
    assert summary["backtests"] == [] and backtest_rows == 0
    assert summary["drift"]["drift_rows"] == 4


def test_outcomes_not_pointed_at_the_scores_yet_leave_the_backtests_as_they_were(warehouse: str) -> None:
    # the first dbt build ran before any score: the view is empty, not reading the score table. Backtests
    # replace ml.backtests, so running them from it would have deleted every backtest.
    with duckdb.connect(warehouse) as con:
        monitor_champion(con, "v1", METADATA)
        con.execute(
            "create or replace view marts.score_outcomes as select cast(null as date) as as_of_date, "
            "cast(null as varchar) as customer_id, cast(null as integer) as horizon_days, "
            "cast(null as double) as revenue, cast(null as boolean) as is_churned where 1 = 0"
        )
        placeholder = monitor_champion(con, "v1", METADATA)
        kept = con.execute("select count(*) from ml.backtests").fetchone()[0]
        con.execute("drop view marts.score_outcomes")
        missing = monitor_champion(con, "v1", METADATA)
    assert placeholder["backtests"].startswith("marts.score_outcomes was built before the first scores")
    assert missing["backtests"].startswith("marts.score_outcomes does not exist yet")
    assert kept == 1
    assert "backtests: skipped, marts.score_outcomes was built" in describe(placeholder)


def test_monitor_reads_the_champion_from_the_artifacts_folder(warehouse: str, tmp_path, monkeypatch) -> None:
    artifacts = tmp_path / "artifacts"
    save_model_version(artifacts, "v1", {}, METADATA)
    promote_champion(artifacts, "v1")
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
    summary = monitor_warehouse(warehouse_path=warehouse)
    assert (summary["model_version"], summary["as_of_date"]) == ("v1", "2025-04-01")
    assert summary["drift"]["significant"] == ["region"]
    assert len(summary["backtests"]) == 1


def test_a_warehouse_without_scores_is_refused_with_one_sentence(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con, pytest.raises(SystemExit, match="score DAG"):
        monitor_champion(con, "v1", METADATA)


def test_a_backtest_of_outcomes_the_scoring_model_learnt_from_is_reported_in_sample(warehouse: str) -> None:
    # v0, trained on the cutoff 2025-01-01 (its 90-day window runs to 2025-03-31), scored 2025-03-01: the
    # backtest of that date measures it on outcomes it learnt from, and the run says so
    from ml.registry import register_model

    with duckdb.connect(warehouse) as con:
        metadata = {"version": "v0", "horizon_days": 90, "features": ["orders_lifetime"], "git_commit": "abc"}
        register_model(con, {**metadata, "refit_cutoffs": ["2025-01-01"]}, "retired", "test")
        summary = monitor_champion(con, "v1", METADATA, run_at=datetime(2025, 4, 2))
    assert [row["is_out_of_time"] for row in summary["backtests"]] == [False]
    assert describe(summary).splitlines()[-1] == (
        "backtests in sample (2025-03-01): the model that scored them learnt from outcomes of their windows, "
        "so they flatter it (is_out_of_time false)"
    )


def test_monitoring_a_date_in_the_future_is_one_sentence(tmp_path) -> None:
    # `cvw monitor --as-of-date 2062-01-01` (a mistyped year) summarised it and advised building and scoring
    # it, which both refuse a future date
    from include.scoring import latest_scoring_date

    with pytest.raises(SystemExit) as refused:
        monitor_warehouse(date(2062, 1, 1), warehouse_path=tmp_path / "warehouse.duckdb")
    assert str(refused.value) == (
        f"2062-01-01 is in the future: no date after {latest_scoring_date()} can be scored, so there is "
        "nothing to monitor there. Give a scored date, or none for the latest."
    )


@pytest.mark.parametrize(
    ("refit_cutoffs", "advice"),
    [
        (
            ["2024-12-01", "2025-01-01"],
            "significant drift, but a retrain would learn from the same cutoffs: the champion's newest "
            "(2025-01-01) is the newest whose 90-day horizon has labels. The drift is what changed in the 90 "
            "days from it to the scoring date (older customers, another season); retrain once a later "
            "cutoff's horizon has ended and the marts are built",
        ),
        (
            ["2024-11-01", "2024-12-01"],
            "significant drift, and the marts hold 90-day labels at 1 cutoff after the champion's newest "
            "(2024-12-01): 2025-01-01; retrain (cvw train; under Airflow, trigger train)",
        ),
    ],
)
def test_significant_drift_says_whether_a_retrain_would_learn_from_newer_labels(
    warehouse: str, refit_cutoffs: list[str], advice: str
) -> None:
    # Online Retail II scored 2011-12-10 by a champion that learnt up to 2011-09-01, the newest cutoff whose
    # 90 days had labels: tenure_days drifted significantly, and a retrain, the advice, gave the same model
    with duckdb.connect(warehouse) as con:
        con.execute(
            """
            create table marts.customer_labels as
            select * from (values ('A', date '2024-12-01', 90), ('A', date '2025-01-01', 90),
                ('B', date '2025-02-01', 30)) as t(customer_id, cutoff_date, horizon_days)
            """
        )
        metadata = {**METADATA, "refit_cutoffs": refit_cutoffs}
        summary = monitor_champion(con, "v1", metadata, run_at=datetime(2025, 4, 2))
    assert summary["drift"]["significant"] == ["region"]
    newer = [] if refit_cutoffs[-1] == "2025-01-01" else ["2025-01-01"]
    assert summary["retraining"] == {
        "champion_newest_cutoff": refit_cutoffs[-1],
        "newer_labelled_cutoffs": newer,
    }
    assert advice in describe(summary).splitlines()


def test_without_labels_or_the_champions_cutoffs_no_retrain_advice_is_given(warehouse: str) -> None:
    with duckdb.connect(warehouse) as con:
        summary = monitor_champion(con, "v1", {**METADATA, "refit_cutoffs": ["2025-01-01"]})
    assert summary["retraining"] is None
    assert not [line for line in describe(summary).splitlines() if "retrain" in line]

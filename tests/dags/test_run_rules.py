"""Which date a run scores and whether a run trains: the rules the score and train DAGs follow."""

from datetime import UTC, date, datetime

import pytest

from include.scoring import parse_as_of_date, run_as_of_date, should_train

LOGICAL = datetime(2024, 5, 17, 6, 0, tzinfo=UTC)


def test_an_explicit_as_of_date_wins_over_the_logical_date() -> None:
    assert run_as_of_date("2024-03-02", "scheduled", LOGICAL) == "2024-03-02"
    assert run_as_of_date(" 2024-03-02 ", "manual", None) == "2024-03-02"


def test_scheduled_and_backfill_runs_score_as_of_their_logical_date() -> None:
    assert run_as_of_date("", "scheduled", LOGICAL) == "2024-05-17"
    assert run_as_of_date("", "backfill", datetime(2024, 4, 1, 6, tzinfo=UTC)) == "2024-04-01"


def test_run_types_count_whether_airflow_passes_an_enum_or_its_value() -> None:
    from airflow.sdk.api.datamodels._generated import DagRunType  # what a task's dag_run.run_type holds

    assert run_as_of_date("", DagRunType.BACKFILL, LOGICAL) == "2024-05-17"
    assert should_train(DagRunType.SCHEDULED, True, date(2024, 5, 1))[0] is True
    assert should_train(DagRunType.ASSET_TRIGGERED, True, date(2024, 5, 1))[0] is False


def test_manual_and_asset_triggered_runs_score_the_marts_date() -> None:
    assert run_as_of_date("", "manual", LOGICAL) == ""
    assert run_as_of_date("", "asset_triggered", None) == ""
    assert run_as_of_date(None, "backfill", None) == ""  # a run without a logical date has no date of its own


def test_an_impossible_date_is_refused_with_one_sentence() -> None:
    assert parse_as_of_date("") is None
    assert parse_as_of_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(ValueError, match="2024-02-30.*YYYY-MM-DD"):
        parse_as_of_date("2024-02-30")


@pytest.mark.parametrize(
    ("run_type", "has_champion", "marts_date", "trains"),
    [
        ("asset_triggered", False, date(2024, 5, 1), True),  # fresh install: the first champion
        ("asset_triggered", True, date(2024, 5, 1), False),  # new data, champion in place: score only
        ("scheduled", True, date(2024, 5, 1), True),  # the weekly retrain
        ("manual", True, date(2024, 5, 1), True),  # someone asked for it
        ("backfill", True, date(2024, 5, 1), False),  # each past week would fit today's marts again
        ("backfill", False, date(2024, 5, 1), True),  # but a backfill still makes the first champion
        ("scheduled", False, None, False),  # nothing to learn from before transform ran
        ("manual", True, None, False),
    ],
)
def test_train_runs_weekly_on_request_and_whenever_no_champion_exists(
    run_type: str, has_champion: bool, marts_date: date | None, trains: bool
) -> None:
    decision, reason = should_train(run_type, has_champion, marts_date)
    assert decision is trains
    assert reason

"""Which dates publish refuses before it builds anything, each in a sentence whose advice can be followed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from include.publish import publish_serving
from include.scoring import latest_scoring_date


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a warehouse whose first order is on 2025-01-10 and whose scores are of 2025-06-01."""
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        for schema in ("raw", "scores"):
            con.execute(f"create schema {schema}")
        con.execute(
            "create table raw.orders as select * from (values ('o1', timestamp '2025-01-10 08:00:00'), "
            "('o2', timestamp '2025-05-20 17:30:00')) as t(order_id, ordered_at)"
        )
        con.execute("create table scores.customer_scores as select date '2025-06-01' as as_of_date")
    return path


@pytest.mark.parametrize(
    ("as_of_date", "refusal"),
    [
        # it said "score that date first" of dates cvw score refuses: a mistyped year, a date before the data
        (
            date(2062, 1, 1),
            "2062-01-01 is in the future: no date after {latest} can be scored, so there is nothing to "
            "publish there. Give a scored date, or none for the latest.",
        ),
        (
            date(2025, 1, 10),
            "scores.customer_scores has no scores of 2025-01-10, and none can be made: the date is not after "
            "the first order (2025-01-10). Give a later date, or none for the latest.",
        ),
        (date(2025, 7, 1), "scores.customer_scores has no scores of 2025-07-01: score that date first."),
    ],
)
def test_a_date_without_scores_says_whether_it_can_be_scored(
    warehouse: Path, tmp_path: Path, as_of_date: date, refusal: str
) -> None:
    serving = tmp_path / "serving.duckdb"
    with pytest.raises(SystemExit) as refused:
        publish_serving(as_of_date, warehouse_path=warehouse, serving_path=serving)
    assert str(refused.value) == refusal.format(latest=latest_scoring_date())
    assert not serving.exists()

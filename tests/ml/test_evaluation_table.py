"""ml.evaluations keeps the rows of a table made before a column was added, and ids a registered version's
evaluation apart from an ad-hoc one of the same data."""

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ml import evaluation_table


def test_an_evaluations_table_made_before_model_version_gets_it_and_keeps_its_rows(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema ml")
        con.execute(
            """
            create table ml.evaluations (
                evaluation_id varchar not null, evaluated_at timestamp not null, cutoff_date date not null,
                horizon_days integer not null, model varchar not null, metric varchar not null, value double,
                customers integer not null, primary key (evaluation_id, model, metric)
            )
            """
        )  # as the first release made it
        con.execute(
            "insert into ml.evaluations values ('old', timestamp '2024-01-02 03:00', date '2023-10-01', 90, "
            "'model', 'churn_roc_auc', 0.75, 300)"
        )
        metrics = pd.DataFrame(
            {"model": ["model"], "metric": ["churn_roc_auc"], "value": [0.8], "customers": [400]}
        )
        labels = pd.DataFrame({"label_revenue": [1.0, 2.0]})
        table = evaluation_table.with_evaluation_keys(
            metrics, date(2024, 1, 1), 90, labels, model_version="v2"
        )
        assert evaluation_table.store(con, table) == 1
        rows = con.execute(
            "select evaluation_id, cutoff_date, value, customers, model_version from ml.evaluations "
            "order by evaluated_at"
        ).fetchall()
    assert rows == [
        ("old", date(2023, 10, 1), 0.75, 300, None),
        (table["evaluation_id"].iloc[0], date(2024, 1, 1), 0.8, 400, "v2"),
    ]
    ad_hoc = evaluation_table.evaluation_id(date(2024, 1, 1), 90, labels)
    assert table["evaluation_id"].iloc[0] != ad_hoc  # a registered version's evaluation has an id of its own

"""The refusal of marts dbt builds left unfinished names each mart read, the build that left it, the fix."""

from datetime import datetime

import duckdb
import pytest

from include.unfinished import TRAINING_MARTS, require_finished_marts, unfinished_marts

ROWS = [  # (model, relation, the start of the build that left it unfinished)
    ("model.customer_value.customer_labels", "marts.customer_labels", datetime(2026, 11, 30, 6, 0, 5)),
    ("model.customer_value.customer_features", "marts.customer_features", datetime(2026, 11, 29, 6, 0, 1)),
    ("model.customer_value.fct_sessions", "marts.fct_sessions", datetime(2026, 11, 29, 6, 0, 1)),
]


def test_marts_two_builds_left_are_named_with_each_build_and_others_are_not(tmp_path) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert unfinished_marts(con, TRAINING_MARTS) == []  # a warehouse built before the record: none
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.unfinished_models "
            "(model_id varchar, relation_name varchar, marked_at timestamp, invocation_id varchar)"
        )
        con.executemany("insert into intermediate.unfinished_models values (?, ?, ?, 'x')", ROWS)
        with pytest.raises(SystemExit) as refused:
            require_finished_marts(con, TRAINING_MARTS, "train")
        assert str(refused.value) == (
            "cvw train reads marts.customer_features, which the dbt build that started at "
            "2026-11-29 06:00:01 UTC left unfinished and marts.customer_labels, which the one that started "
            "at 2026-11-30 06:00:05 UTC left unfinished (a build that fails or is stopped halfway leaves the "
            "marts holding rows of two builds): run `cvw build` again (under Airflow, trigger transform), "
            "then cvw train."
        )
        con.execute("delete from intermediate.unfinished_models where relation_name like 'marts.customer_%'")
        require_finished_marts(con, TRAINING_MARTS, "train")  # fct_sessions is not read: no refusal
        assert unfinished_marts(con, ["marts.fct_sessions"]) == [("marts.fct_sessions", ROWS[2][2])]

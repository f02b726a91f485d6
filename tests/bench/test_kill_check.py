"""bench/kill_check.py compares a killed `cvw models prune` with the runs before and after it."""

import shutil

import duckdb

from bench.kill_check import artifacts_state, database_fingerprint
from ml import cli
from tests.ml.test_models_cli import history  # noqa: F401 (a fixture: v1..v7, v5 the champion)


def test_pruned_versions_agree_with_the_registry_and_their_time_is_not_compared(history) -> None:  # noqa: F811
    path, artifacts = history
    before = database_fingerprint(path)
    assert cli.main(["models", "prune", "--keep", "2", "--keep-champions", "1"]) == 0  # v1, v2, v4 go
    after, problems, left = artifacts_state(artifacts, path)
    assert (after, problems, left) == (
        {
            "registered": 7,
            "pruned": 3,
            "folders": 4,
            "orphan_folders": 0,
            "has_pointer": True,
            "statuses": ["challenger-rejected"] * 4 + ["champion", "retired", "retired"],
        },
        [],
        [],
    )
    # another run prunes at another time: the same registry, whose rows differ from before only in pruned_at
    pruned = database_fingerprint(path)
    with duckdb.connect(str(path)) as con:
        con.execute("update ml.model_registry set pruned_at = pruned_at - interval 1 day")
    assert database_fingerprint(path) == pruned
    assert pruned["ml.model_registry"] != before["ml.model_registry"]
    # killed after the registry's commit: a pruned version's folder renamed, another's not yet, and a dead
    # training's folder renamed before its deletion
    for name in (".pruned-v4", "v2", ".abandoned-20250108T000000Z-dead"):
        shutil.copytree(artifacts / "models" / "v3", artifacts / "models" / name)
    assert artifacts_state(artifacts, path) == (
        after,
        [],
        [".abandoned-20250108T000000Z-dead", ".pruned-v4", "v2"],
    )


def test_a_registry_made_before_pruning_is_read(history) -> None:  # noqa: F811
    path, artifacts = history
    with duckdb.connect(str(path)) as con:
        con.execute("alter table ml.model_registry drop column pruned_at")
    summary, problems, left = artifacts_state(artifacts, path)
    assert (summary["registered"], summary["pruned"], summary["folders"], problems, left) == (7, 0, 7, [], [])


def test_a_build_killed_halfway_passes_only_while_the_record_lists_its_old_models(tmp_path) -> None:
    # dbt commits one model at a time: a killed build leaves marts.b of the old build beside marts.a of the
    # new one, which the readers refuse only while intermediate.unfinished_models lists marts.b
    from bench.kill_check import matches

    def warehouse(name: str, a: int, b: int, listed: list[str] | None) -> dict:
        path = tmp_path / f"{name}.duckdb"
        with duckdb.connect(str(path)) as con:
            con.execute("create schema marts; create schema intermediate")
            con.execute(f"create table marts.a as select {a} as x; create table marts.b as select {b} as x")
            if listed is not None:
                con.execute("create table intermediate.unfinished_models (relation_name varchar)")
                for relation in listed:
                    con.execute("insert into intermediate.unfinished_models values (?)", [relation])
        return {"warehouse": database_fingerprint(path)}

    before, after = warehouse("before", 1, 1, []), warehouse("after", 2, 2, [])
    listed = warehouse("listed", 2, 1, ["marts.a", "marts.b"])
    assert matches("warehouse", listed, before, after) == []
    unlisted = warehouse("unlisted", 2, 1, ["marts.a"])
    assert matches("warehouse", unlisted, before, after) == [
        "warehouse mixes before ['marts.b'] and after ['marts.a'], and intermediate.unfinished_models does "
        "not list ['marts.b']"
    ]
    assert matches("warehouse", warehouse("unrecorded", 2, 1, None), before, after) == [
        "warehouse mixes before ['marts.b'] and after ['marts.a'], and intermediate.unfinished_models does "
        "not list ['marts.b']"
    ]

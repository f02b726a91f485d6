"""`cvw models` lists the registry and rolls the champion back by hand, registry and pointer together."""

import json
import re
import shutil
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pytest

from ml import cli, models, registry, registry_table
from ml.artifacts import load_champion, save_model_version
from tests.ml.test_registry import CHAMPION, _CommitFails, _metadata

BETTER = {"clv": {"spearman": 0.6}, "churn": {"roc_auc": 0.81}}


def _boosters() -> dict[str, lgb.Booster]:
    """Return two tiny boosters, enough for load_champion to read them back."""
    rng = np.random.default_rng(0)
    x, params = rng.uniform(0, 1, (40, 2)), {"verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    return {
        "clv": lgb.train({**params, "objective": "regression"}, lgb.Dataset(x, x[:, 0]), 3),
        "churn": lgb.train({**params, "objective": "binary"}, lgb.Dataset(x, x[:, 1] > 0.5), 3),
    }


def _gated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, measured: dict[str, dict], promoted: set[str]
) -> tuple[Path, Path]:
    """Return (warehouse, artifacts) where each version, in order, was saved and gated as it came.

    `measured` gives each version's holdout metrics; the gate must promote exactly those in `promoted`.
    """
    path, artifacts = tmp_path / "w.duckdb", tmp_path / "artifacts"
    monkeypatch.setenv("CVW_WAREHOUSE", str(path))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
    boosters = _boosters()
    with duckdb.connect(str(path)) as con:
        for version, metrics in measured.items():
            metadata = _metadata(version, metrics)
            save_model_version(artifacts, version, boosters, metadata)
            assert registry.promote_or_reject(con, artifacts, metadata)[0] == (version in promoted)
    return path, artifacts


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Return (warehouse, artifacts) where v1 was champion, then v2 was promoted through the gate."""
    return _gated(tmp_path, monkeypatch, {"v1": CHAMPION, "v2": BETTER}, {"v1", "v2"})


def _state(path: Path, artifacts: Path) -> tuple[list[tuple], str]:
    """Return every registry row and the pointer file's text."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select * from ml.model_registry order by model_version, task").fetchall()
    return rows, (artifacts / "models" / "champion.json").read_text()


def test_promote_by_hand_rolls_the_champion_back_in_the_registry_and_the_pointer(warehouse, capsys) -> None:
    path, artifacts = warehouse
    assert cli.main(["models", "promote", "v1", "--reason", "drift alarms on v2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "v1 is the champion now, promoted by hand without the gate; v2 is retired.",
        "                         v1 (now)  v2 (before)",
        "  test_cutoff          2024-02-01   2024-02-01",
        "  horizon_days                 90           90",
        "  clv spearman             0.5000       0.6000",
        "  clv normalized_gini           -            -",
        "  churn roc_auc            0.8000       0.8100",
        "Scores change only when scoring runs next: run `cvw score` or trigger the score DAG (this command "
        "sends no champion_model event).",
    ]
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select distinct model_version, status, reason from ml.model_registry order by 1"
        ).fetchall()
    assert rows == [
        ("v1", "champion", "promoted by hand: drift alarms on v2"),
        ("v2", "retired", "replaced by v1 by hand: drift alarms on v2"),
    ]
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v1"}
    version, boosters, metadata = load_champion(artifacts)
    assert (version, sorted(boosters), metadata["metrics"]) == ("v1", ["churn", "clv"], CHAMPION)


def _another_horizon(path: Path, artifacts: Path) -> None:
    """Save and register v3, a rejected 365-day model."""
    save_model_version(artifacts, "v3", _boosters(), {**_metadata("v3", BETTER), "horizon_days": 365})
    with duckdb.connect(str(path)) as con:
        metadata = {**_metadata("v3", BETTER), "horizon_days": 365}
        registry.register_model(con, metadata, registry_table.REJECTED, "rejected")


def _mart(path: Path, artifacts: Path, upgraded: bool = True) -> None:
    """Create the feature mart: the features v1 and v2 learnt, and two an upgrade added (d403a4c's)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.customer_features (customer_id varchar, cutoff_date date, "
            "is_scoring_date boolean, orders_90d double, noise double)"
        )
        if upgraded:
            con.execute("alter table marts.customer_features add column order_days_lifetime bigint")
            con.execute("alter table marts.customer_features add column first_order_day_revenue double")


@pytest.mark.parametrize(
    ("argv", "prepare", "refusal"),
    [
        (
            ["v9", "--reason", "x"],
            None,
            "Model version v9 is not in ml.model_registry: `cvw models` lists the versions there.",
        ),
        (["v2", "--reason", "x"], None, "Model version v2 is already the champion: nothing changed."),
        (
            ["v1", "--reason", "x"],
            lambda path, artifacts: (artifacts / "models" / "v1" / "clv.txt").unlink(),
            "Model version v1 cannot score: {artifacts}/models/v1 lacks clv.txt; restore the folder or "
            "promote another version.",
        ),
        (
            ["v1", "--reason", "x"],
            lambda path, artifacts: shutil.rmtree(artifacts / "models" / "v1"),
            "Model version v1 cannot score: {artifacts}/models/v1 lacks metadata.json; restore the folder "
            "or promote another version.",
        ),
        (
            ["v1", "--reason", "x"],
            _mart,  # v1 and v2 were trained before the upgrade: neither can score the rebuilt mart
            "Model version v1 cannot score marts.customer_features as it is now: the mart has new "
            "order_days_lifetime, first_order_day_revenue; promote a version trained on the mart as it is "
            "(cvw models lists them), or train one (cvw train).",
        ),
        (
            ["v3", "--reason", "x"],
            _another_horizon,
            "Model version v3 predicts 365 days and the champion v2 90: scores of both horizons would mix in "
            "the score history and its backtests; pass --horizon-change to switch horizons on purpose.",
        ),
        (
            ["v1", "--reason", "  "],
            None,
            "The reason is empty: say why this version is promoted by hand (the registry keeps it).",
        ),
    ],
)
def test_a_refused_promotion_changes_nothing(warehouse, argv, prepare, refusal) -> None:
    path, artifacts = warehouse
    if prepare is not None:
        prepare(path, artifacts)
    before = _state(path, artifacts)
    with pytest.raises(SystemExit) as raised:
        cli.main(["models", "promote", *argv])
    assert str(raised.value) == refusal.format(artifacts=artifacts)
    assert _state(path, artifacts) == before


def test_a_version_that_learnt_the_mart_s_features_is_promoted(warehouse, capsys) -> None:
    path, artifacts = warehouse
    _mart(path, artifacts, upgraded=False)
    cli.main(["models", "promote", "v1", "--reason", "drift alarms on v2"])
    assert capsys.readouterr().out.startswith("v1 is the champion now")
    assert load_champion(artifacts)[0] == "v1"


def test_a_horizon_change_is_promoted_when_asked_for(warehouse, capsys) -> None:
    path, artifacts = warehouse
    _another_horizon(path, artifacts)
    cli.main(["models", "promote", "v3", "--reason", "yearly planning", "--horizon-change"])
    assert capsys.readouterr().out.startswith("v3 is the champion now")
    assert load_champion(artifacts)[0] == "v3"


def test_a_promotion_by_hand_whose_commit_fails_leaves_the_pointer_and_the_registry(warehouse) -> None:
    path, artifacts = warehouse
    before = _state(path, artifacts)
    with duckdb.connect(str(path)) as con, pytest.raises(duckdb.IOException):
        models.promote(_CommitFails(con), artifacts, "v1", "drift alarms on v2")
    assert _state(path, artifacts) == before
    assert load_champion(artifacts)[0] == "v2"


def test_models_lists_the_versions_newest_first_with_the_pointer_s_marked(warehouse, capsys) -> None:
    assert cli.main(["models"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "   version  status    horizon  trained_at        test_cutoff  clv spearman  clv normalized_gini  "
        "churn roc_auc  reason",
        "*  v2       champion       90  2025-01-02 00:00  2024-02-01         0.6000                    -  "
        "       0.8100  promoted: clv spearman 0.6000 (champion 0.5000) vs best b...",
        "   v1       retired        90  2025-01-01 00:00  2024-02-01         0.5000                    -  "
        "       0.8000  replaced by v2",
        "* the version the champion pointer names: the one scoring loads",
    ]
    assert cli.main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [sorted(entry) for entry in listed] == [
        sorted(
            ["version", "status", "horizon_days", "trained_at", "test_cutoff", "metrics", "reason"]
            + ["pointer", "updated_at", "pruned_at"]
        )
    ] * 2  # one status and one reason per version: no leftover lists of them
    assert [
        (entry["version"], entry["status"], entry["pointer"], entry["pruned_at"]) for entry in listed
    ] == [
        ("v2", "champion", True, None),
        ("v1", "retired", False, None),
    ]
    assert listed[1]["metrics"] == CHAMPION and listed[1]["reason"] == "replaced by v2"
    assert listed[0]["reason"].endswith("(against champion v1, stored metrics of its own holdout)")


def test_models_json_prints_an_undefined_metric_as_null(tmp_path, monkeypatch, capsys) -> None:
    # a holdout where nobody churned has no ROC-AUC (NaN); --json printed `"roc_auc": NaN`, which
    # JSON.parse, jq and every strict parser refuse
    path, artifacts = tmp_path / "w.duckdb", tmp_path / "artifacts"
    monkeypatch.setenv("CVW_WAREHOUSE", str(path))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
    undefined = {"clv": {"spearman": 0.6}, "churn": {"roc_auc": float("nan"), "brier": 0.0}}
    with duckdb.connect(str(path)) as con:
        save_model_version(artifacts, "v1", _boosters(), _metadata("v1", undefined))
        promoted, reason = registry.promote_or_reject(con, artifacts, _metadata("v1", undefined))
    assert promoted and "churn roc_auc is undefined" in reason  # the first model, promoted although rejected
    assert cli.main(["models", "--json"]) == 0
    printed = capsys.readouterr().out
    listed = json.loads(printed, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert listed[0]["metrics"] == {"clv": {"spearman": 0.6}, "churn": {"roc_auc": None, "brier": 0.0}}


def test_promoting_without_a_warehouse_names_it_and_creates_none(tmp_path, monkeypatch) -> None:
    path = tmp_path / "data" / "warehouse.duckdb"
    monkeypatch.setenv("CVW_WAREHOUSE", str(path))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["models", "promote", "v1", "--reason", "drift alarms"])
    assert str(stopped.value) == (
        f"The warehouse {path} does not exist: load it first with `cvw ingest`, `cvw import` or the demo."
    )
    assert not path.exists() and not path.parent.exists()


# `cvw models prune`: seven versions, v1 champion, v3 then v5 promoted over it, the others rejected
PROMOTED = {"v1": CHAMPION, "v3": BETTER, "v5": {"clv": {"spearman": 0.7}, "churn": {"roc_auc": 0.82}}}
REJECTED = {"clv": {"spearman": 0.1}, "churn": {"roc_auc": 0.6}}  # beats the noise, far below the champion


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Return (warehouse, artifacts) of v1..v7, trained a day apart and gated as they came."""
    versions = [f"v{day}" for day in range(1, 8)]
    return _gated(tmp_path, monkeypatch, {v: PROMOTED.get(v, REJECTED) for v in versions}, set(PROMOTED))


def _folders(artifacts: Path) -> list[str]:
    """Return the names in the models folder, hidden ones included."""
    return sorted(entry.name for entry in (artifacts / "models").iterdir())


def _registry(path: Path) -> dict[str, tuple[str, bool]]:
    """Return {version: (status, pruned)}, checking that both rows of a version agree."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select distinct model_version, status, pruned_at is not null from ml.model_registry"
        ).fetchall()
    assert len(rows) == len({version for version, _, _ in rows})
    return {version: (status, pruned) for version, status, pruned in rows}


def _bytes(folder: Path) -> int:
    """Return the bytes of the files under a folder."""
    return sum(entry.stat().st_size for entry in folder.rglob("*") if entry.is_file())


def _dead_pid() -> int:
    """Return the id of a process that has ended."""
    import subprocess
    import sys

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(ended.stdout)


def test_prune_keeps_the_champion_rollback_targets_newest_and_running_and_removes_the_rest(
    history, capsys
) -> None:
    from include.processes import host_hash
    from ml.artifacts import TRAINING_MARK, new_version
    from ml.retention import size_text

    path, artifacts = history
    running, _ = new_version(artifacts, "running")  # this process's: a training still at work
    dead = artifacts / "models" / "20250108T000000Z-dead"  # a training killed before registering
    save_model_version(artifacts, dead.name, _boosters(), _metadata("v8", BETTER))
    (dead / f"{TRAINING_MARK}{host_hash()}_{_dead_pid()}").touch()
    sizes = {name: _bytes(artifacts / "models" / name) for name in ["v4", "v2", "v1", dead.name]}
    before = _registry(path)

    assert cli.main(["models", "prune", "--keep", "2", "--keep-champions", "1"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"removed the artifacts of 3 model versions from {artifacts}/models; their rows in ml.model_registry "
        "and ml.evaluations stay, marked pruned:",
        f"  v4  challenger-rejected  2025-01-04 00:00  {size_text(sizes['v4'])}",
        f"  v2  challenger-rejected  2025-01-02 00:00  {size_text(sizes['v2'])}",
        f"  v1  retired              2025-01-01 00:00  {size_text(sizes['v1'])}",
        f"removed {dead.name}, the folder of a training whose process died before registering it "
        f"({size_text(sizes[dead.name])})",
        f"{size_text(sum(sizes.values()))} freed.",
        "kept the artifacts of 4 model versions:",
        "  v7  one of the 2 newest (--keep 2)",
        "  v6  one of the 2 newest (--keep 2)",
        "  v5  the champion",
        "  v3  a retired champion, kept for a rollback (--keep-champions 1)",
        f"left {running} alone: a training is at work in it (its .training- mark names a process that runs, "
        "or another host).",
    ]
    assert _folders(artifacts) == sorted(["champion.json", "v3", "v5", "v6", "v7", running])
    assert _registry(path) == {
        version: (status, version in ("v1", "v2", "v4")) for version, (status, _) in before.items()
    }
    assert load_champion(artifacts)[0] == "v5"
    # nothing left to remove: a second run says so, and lists what it keeps
    assert cli.main(["models", "prune", "--keep", "2", "--keep-champions", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"nothing to prune in {artifacts}/models."
    assert _folders(artifacts) == sorted(["champion.json", "v3", "v5", "v6", "v7", running])


def test_prune_keeps_the_versions_that_made_the_latest_scores(history, capsys) -> None:
    # publish reads the metadata of the version that scored the date it publishes
    path, artifacts = history
    with duckdb.connect(str(path)) as con:
        con.execute("create schema scores")
        columns = "as_of_date date, customer_id varchar, model_version varchar"  # those pruning reads
        con.execute(f"create table scores.customer_scores ({columns})")
        con.execute(
            "insert into scores.customer_scores values "
            "('2025-01-02', 'c1', 'v1'), ('2025-01-04', 'c1', 'v3'), ('2025-01-04', 'c2', 'v3')"
        )
    assert cli.main(["models", "prune", "--keep", "0", "--keep-champions", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "kept the artifacts of 2 model versions:",
        "  v5  the champion",
        "  v3  made the latest scores, of 2025-01-04 (publish reads them)",
    ]
    assert _folders(artifacts) == ["champion.json", "v3", "v5"]
    assert [version for version, (_, pruned) in sorted(_registry(path).items()) if pruned] == [
        "v1", "v2", "v4", "v6", "v7"
    ]  # fmt: skip


def test_a_dry_run_changes_nothing_even_on_a_registry_made_before_pruning(history, capsys) -> None:
    from ml.retention import size_text

    path, artifacts = history
    with duckdb.connect(str(path)) as con:
        con.execute("alter table ml.model_registry drop column pruned_at")  # as a registry made before it
    before = _state(path, artifacts), _folders(artifacts)
    sizes = {name: _bytes(artifacts / "models" / name) for name in ["v4", "v2"]}

    assert cli.main(["models", "prune", "--keep", "3", "--dry-run"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"would remove the artifacts of 2 model versions from {artifacts}/models; their rows in "
        "ml.model_registry and ml.evaluations would stay, marked pruned:",
        f"  v4  challenger-rejected  2025-01-04 00:00  {size_text(sizes['v4'])}",
        f"  v2  challenger-rejected  2025-01-02 00:00  {size_text(sizes['v2'])}",
        f"{size_text(sum(sizes.values()))} would be freed; nothing was removed (--dry-run).",
        "would keep the artifacts of 5 model versions:",
        "  v7  one of the 3 newest (--keep 3)",
        "  v6  one of the 3 newest (--keep 3)",
        "  v5  the champion; one of the 3 newest (--keep 3)",
        "  v3  a retired champion, kept for a rollback (--keep-champions 3)",
        "  v1  a retired champion, kept for a rollback (--keep-champions 3)",
    ]
    assert (_state(path, artifacts), _folders(artifacts)) == before
    # the real run adds the column the registry lacks, and removes what the dry run listed
    assert cli.main(["models", "prune", "--keep", "3"]) == 0
    assert _folders(artifacts) == ["champion.json", "v1", "v3", "v5", "v6", "v7"]
    assert {version for version, (_, pruned) in _registry(path).items() if pruned} == {"v2", "v4"}


def test_a_prune_interrupted_halfway_is_finished_by_the_next_run(history, capsys, monkeypatch) -> None:
    path, artifacts = history
    real_rmtree = shutil.rmtree

    def interrupted(folder, *args, **kwargs) -> None:
        # the first folder's deletion stops after one file, as Ctrl-C in the middle of it would
        next(Path(folder).glob("*.txt")).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", interrupted)
    assert cli.main(["models", "prune", "--keep", "2", "--keep-champions", "1"]) == 130
    assert "cvw: interrupted." in capsys.readouterr().err
    # the registry says pruned for the three; v4's folder went to its hidden name, half deleted
    assert {version for version, (_, pruned) in _registry(path).items() if pruned} == {"v1", "v2", "v4"}
    assert _folders(artifacts) == [".pruned-v4", "champion.json", "v1", "v2", "v3", "v5", "v6", "v7"]
    sizes = {name: _bytes(artifacts / "models" / name) for name in [".pruned-v4", "v2", "v1"]}

    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    assert cli.main(["models", "prune", "--keep", "2", "--keep-champions", "1"]) == 0

    from ml.retention import size_text

    assert capsys.readouterr().out.splitlines()[:4] == [
        f"finished removing v4, which an interrupted prune left ({size_text(sizes['.pruned-v4'])})",
        f"finished removing v2, which an interrupted prune left ({size_text(sizes['v2'])})",
        f"finished removing v1, which an interrupted prune left ({size_text(sizes['v1'])})",
        f"{size_text(sum(sizes.values()))} freed.",
    ]
    assert _folders(artifacts) == ["champion.json", "v3", "v5", "v6", "v7"]


def test_a_pruned_version_is_listed_as_pruned_and_its_promotion_refused(history, capsys) -> None:
    from datetime import UTC, datetime

    path, artifacts = history
    assert cli.main(["models", "prune", "--keep", "2", "--keep-champions", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(entry["version"], entry["status"], bool(entry["pruned_at"])) for entry in listed] == [
        ("v7", "challenger-rejected", False),
        ("v6", "challenger-rejected", False),
        ("v5", "champion", False),
        ("v4", "challenger-rejected", True),
        ("v3", "retired", False),
        ("v2", "challenger-rejected", True),
        ("v1", "retired", True),
    ]
    assert cli.main(["models"]) == 0
    statuses = [re.split(r" {2,}", line[3:])[1] for line in capsys.readouterr().out.splitlines()[1:8]]
    assert statuses == [
        "challenger-rejected",
        "challenger-rejected",
        "champion",
        "challenger-rejected, pruned",
        "retired",
        "challenger-rejected, pruned",
        "retired, pruned",
    ]
    before = _state(path, artifacts)
    with pytest.raises(SystemExit) as refused:
        cli.main(["models", "promote", "v1", "--reason", "drift alarms on v5"])
    assert str(refused.value) == (
        f"Model version v1 cannot score: `cvw models prune` removed its artifacts on "
        f"{datetime.now(UTC):%Y-%m-%d}; promote a version `cvw models` does not list as pruned."
    )
    with pytest.raises(
        SystemExit, match=r"or `cvw models prune` removed its folder \(`cvw models` says pruned"
    ):
        cli.main(["report", "v1"])
    assert _state(path, artifacts) == before
    # a rollback target it kept is promoted as before
    assert cli.main(["models", "promote", "v3", "--reason", "drift alarms on v5"]) == 0
    assert load_champion(artifacts)[0] == "v3"


@pytest.mark.parametrize("first", [".training-*", "*.txt"], ids=["the mark first", "a booster first"])
def test_a_prune_killed_removing_an_abandoned_folder_is_finished_by_the_next_run(
    history, capsys, monkeypatch, first
) -> None:
    # whatever order the deletion takes the files in, a kill leaves something the next run removes
    from include.processes import host_hash
    from ml.artifacts import TRAINING_MARK
    from ml.retention import size_text

    _, artifacts = history
    dead = artifacts / "models" / "20250108T000000Z-dead"  # a training killed before registering
    save_model_version(artifacts, dead.name, _boosters(), _metadata("v8", BETTER))
    (dead / f"{TRAINING_MARK}{host_hash()}_{_dead_pid()}").touch()
    real_rmtree = shutil.rmtree

    def killed(folder, *args, **kwargs) -> None:
        next(Path(folder).glob(first)).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed)
    assert cli.main(["models", "prune", "--keep", "7"]) == 130
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    capsys.readouterr()
    # renamed first: the next run finds the folder by that name, with or without its mark
    hidden = artifacts / "models" / f".abandoned-{dead.name}"
    size = size_text(_bytes(hidden))

    assert cli.main(["models", "prune", "--keep", "7"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == [
        f"removed {hidden.name}, the folder of a training whose process died before registering it ({size})",
        f"{size} freed.",
        "kept the artifacts of 7 model versions:",
    ]
    assert _folders(artifacts) == ["champion.json", "v1", "v2", "v3", "v4", "v5", "v6", "v7"]


def test_two_prunes_at_once_both_finish(history) -> None:
    # a cron prune and one typed by hand: the second takes the folders the first is deleting for leftovers
    import os
    import signal
    import subprocess
    import sys
    import time

    _, artifacts = history
    for version in ("v1", "v2", "v4"):  # padded, so the first is still deleting when it is stopped
        for number in range(3000):
            (artifacts / "models" / version / f"padding{number}").touch()
    command = [sys.executable, "-m", "ml.cli", "models", "prune", "--keep", "2", "--keep-champions", "1"]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    first = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while first.poll() is None and not list((artifacts / "models").glob(".pruned-*")):
        time.sleep(0.001)
    first.send_signal(signal.SIGSTOP)  # in the middle of a folder's deletion
    second = subprocess.run(command, env=environment, capture_output=True, text=True)
    first.send_signal(signal.SIGCONT)
    output = first.communicate()[0].decode()

    assert (second.returncode, first.returncode) == (0, 0), second.stderr + output
    assert second.stdout.splitlines()[0].startswith("finished removing ")
    assert output.splitlines()[0].startswith("removed the artifacts of 3 model versions")
    assert _folders(artifacts) == ["champion.json", "v3", "v5", "v6", "v7"]


def test_prune_sizes_and_reasons_read_as_written() -> None:
    # the operator audit saw "1000 kB" for a folder just under a megabyte
    from ml.retention import size_text

    sizes = (999, 999_499, 999_999, 1_000_000, 999_949_999, 999_999_999)
    assert [size_text(n) for n in sizes] == ["1 kB", "999 kB", "1.0 MB", "1.0 MB", "999.9 MB", "1.0 GB"]


def test_a_prune_keeping_one_version_calls_it_the_newest(history, capsys) -> None:
    assert cli.main(["models", "prune", "--keep", "1", "--dry-run"]) == 0
    assert "  v7  the newest (--keep 1)" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("removed", ["metadata.json", "churn.txt"])
def test_a_champion_whose_folder_is_incomplete_stops_scoring_monitoring_and_training_with_a_sentence(
    warehouse: tuple[Path, Path], removed: str
) -> None:
    # the champion's folder deleted or copied in part by hand: cvw score and cvw monitor ended in
    # "FileNotFoundError: ... metadata.json" (or LightGBM's error on the booster), and cvw train after its fit
    from ml.monitor_champion import monitor
    from ml.score import score_customers
    from ml.train import train_models

    _, artifacts = warehouse
    (artifacts / "models" / "v2" / removed).unlink()
    sentence = (
        f"The champion pointer names model version v2, but {artifacts / 'models' / 'v2'} lacks {removed}: "
        "restore the folder, or promote a complete version by hand (cvw models promote VERSION --reason "
        "TEXT; cvw models lists them)."
    )
    for step in (lambda: load_champion(artifacts), monitor, score_customers, train_models):
        with pytest.raises(SystemExit) as stopped:
            step()
        assert stopped.value.code == sentence

"""`cvw models` lists the registry and rolls the champion back by hand, registry and pointer together."""

import json
import shutil
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pytest

from ml import cli, models, registry
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


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Return (warehouse, artifacts) where v1 was champion, then v2 was promoted through the gate."""
    path, artifacts = tmp_path / "w.duckdb", tmp_path / "artifacts"
    monkeypatch.setenv("CVW_WAREHOUSE", str(path))
    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(artifacts))
    boosters = _boosters()
    with duckdb.connect(str(path)) as con:
        for version, measured in (("v1", CHAMPION), ("v2", BETTER)):
            save_model_version(artifacts, version, boosters, _metadata(version, measured))
            assert registry.promote_or_reject(con, artifacts, _metadata(version, measured))[0]
    return path, artifacts


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
        registry.register_model(con, metadata, registry.REJECTED, "rejected")


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
            + ["pointer", "updated_at"]
        )
    ] * 2  # one status and one reason per version: no leftover lists of them
    assert [(entry["version"], entry["status"], entry["pointer"]) for entry in listed] == [
        ("v2", "champion", True),
        ("v1", "retired", False),
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

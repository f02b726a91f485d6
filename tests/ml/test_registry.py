"""The champion gate keeps the champion against a worse challenger; the registry records every decision."""

import json
import math
import re
import shutil
import subprocess

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from ml import metrics, provenance, registry, registry_table
from ml.artifacts import save_model_version

BASELINES = {"clv": {"last_90d_revenue": {"spearman": 0.30}}, "churn": {"recency": {"roc_auc": 0.60}}}
CHAMPION = {"clv": {"spearman": 0.50}, "churn": {"roc_auc": 0.80}}


def test_a_first_model_that_beats_the_baselines_is_promoted() -> None:
    promote, reason = registry.decide_promotion(CHAMPION, None, BASELINES)
    assert promote
    assert reason == (
        "promoted: clv spearman 0.5000 vs best baseline last_90d_revenue 0.3000; "
        "churn roc_auc 0.8000 vs best baseline recency 0.6000"
    )


def test_the_tolerance_allows_a_small_loss_to_the_champion_but_not_a_larger_one() -> None:
    within = {"clv": {"spearman": 0.495}, "churn": {"roc_auc": 0.80}}
    assert registry.decide_promotion(within, CHAMPION, BASELINES, tolerance=0.01)[0]
    worse = {"clv": {"spearman": 0.45}, "churn": {"roc_auc": 0.85}}
    promote, reason = registry.decide_promotion(worse, CHAMPION, BASELINES, tolerance=0.01)
    assert not promote
    assert reason == (
        "rejected: clv spearman 0.4500 (champion 0.5000) is worse than the champion by more than 0.01"
    )


def test_a_model_that_does_not_beat_every_baseline_or_has_no_baseline_is_rejected() -> None:
    baselines = {**BASELINES, "churn": {"recency": {"roc_auc": 0.6}, "frequency": {"roc_auc": 0.82}}}
    promote, reason = registry.decide_promotion(CHAMPION, None, baselines)
    assert (
        not promote and reason == "rejected: churn roc_auc 0.8000 does not beat baseline frequency (0.8200)"
    )
    promote, reason = registry.decide_promotion(CHAMPION, None, {"clv": BASELINES["clv"]})
    assert not promote and reason == "rejected: churn roc_auc has no baseline to beat"


def test_undefined_or_missing_gate_metrics_reject() -> None:
    nan = {"clv": {"spearman": math.nan}, "churn": {"roc_auc": 0.9}}
    assert registry.decide_promotion(nan, None, BASELINES) == (False, "rejected: clv spearman is undefined")
    promote, reason = registry.decide_promotion({"clv": {"spearman": 0.9}}, None, BASELINES)
    assert not promote and reason == "rejected: churn reports none of its gate metrics (roc_auc)"


def test_flat_out_of_time_metrics_split_by_task() -> None:
    flat = {"out_of_time_metrics": {"revenue_spearman": 0.4, "churn_roc_auc": 0.7, "test_customers": 10}}
    assert registry.task_metrics(flat) == {"clv": {"spearman": 0.4}, "churn": {"roc_auc": 0.7}}


def _fit_and_measure(frame: pd.DataFrame, revenue: np.ndarray, churned: np.ndarray) -> tuple[dict, dict]:
    """Fit tiny CLV and churn models on the first 300 rows; return boosters and holdout metrics."""
    params = {"min_data_in_leaf": 5, "num_leaves": 7, "verbose": -1, "seed": 3, "num_threads": 1}
    train, holdout = slice(0, 300), slice(300, None)
    clv = lgb.train({**params, "objective": "regression"}, lgb.Dataset(frame[train], revenue[train]), 30)
    churn = lgb.train({**params, "objective": "binary"}, lgb.Dataset(frame[train], churned[train]), 30)
    true_revenue, true_churn = _targets(frame)
    measured = {
        "clv": {"spearman": metrics.spearman(true_revenue[holdout], clv.predict(frame[holdout]))},
        "churn": {"roc_auc": metrics.roc_auc(true_churn[holdout], churn.predict(frame[holdout]))},
    }
    return {"clv": clv, "churn": churn}, measured


def _targets(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    revenue = 100 * frame["orders_90d"].to_numpy() + frame["noise"].to_numpy()
    return revenue, (frame["orders_90d"].to_numpy() < 0.4).astype(int)


def _metadata(version: str, measured: dict) -> dict:
    baselines = {  # the noise column as a "baseline" prediction
        "clv": {"noise": {"spearman": 0.05}},
        "churn": {"noise": {"roc_auc": 0.52}},
    }
    return {
        "version": version, "models": ["churn", "clv"], "horizon_days": 90,
        "trained_at": f"2025-01-0{version[-1]}T00:00:00+00:00", "features": ["orders_90d", "noise"],
        "cutoffs": ["2024-02-01", "2024-01-01"], "params": {"clv": {"objective": "regression"}},
        "test_cutoff": "2024-02-01", "validation_cutoff": "2023-11-01",
        "metrics": measured, "baseline_metrics": baselines, "git_commit": "abc123",
    }  # fmt: skip


def test_a_challenger_trained_on_shuffled_labels_is_rejected_and_the_champion_stays(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"orders_90d": rng.uniform(0, 1, 400), "noise": rng.uniform(0, 1, 400)})
    revenue, churned = _targets(frame)
    good_boosters, good = _fit_and_measure(frame, revenue, churned)
    shuffled = rng.permutation(400)
    bad_boosters, bad = _fit_and_measure(frame, revenue[shuffled], churned[shuffled])
    assert good["clv"]["spearman"] > 0.9 and good["churn"]["roc_auc"] > 0.9
    assert bad["clv"]["spearman"] < 0.5 and bad["churn"]["roc_auc"] < 0.7

    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    for version, boosters, measured in (("v1", good_boosters, good), ("v2", bad_boosters, bad)):
        save_model_version(artifacts, version, boosters, _metadata(version, measured))
    assert registry.promote_or_reject(con, artifacts, _metadata("v1", good))[0]
    promoted, reason = registry.promote_or_reject(con, artifacts, _metadata("v2", bad))

    assert not promoted
    assert "worse than the champion" in reason and reason.endswith(
        "(against champion v1, stored metrics of its own holdout)"
    )
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v1"}
    rows = con.execute(
        "select model_version, task, status, first_cutoff::varchar, last_cutoff::varchar, git_commit "
        "from ml.model_registry order by 1, 2"
    ).fetchall()
    assert rows == [
        ("v1", "churn", "champion", "2024-01-01", "2024-02-01", "abc123"),
        ("v1", "clv", "champion", "2024-01-01", "2024-02-01", "abc123"),
        ("v2", "churn", "challenger-rejected", "2024-01-01", "2024-02-01", "abc123"),
        ("v2", "clv", "challenger-rejected", "2024-01-01", "2024-02-01", "abc123"),
    ]
    assert registry.current_champion(con) == ("v1", good)


def test_promoting_a_better_model_retires_the_champion_and_moves_the_pointer(tmp_path) -> None:
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    assert registry.promote_or_reject(con, artifacts, _metadata("v1", CHAMPION))[0]
    better = {"clv": {"spearman": 0.6}, "churn": {"roc_auc": 0.81}}
    assert registry.promote_or_reject(con, artifacts, _metadata("v3", better))[0]
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v3"}
    statuses = con.execute(
        "select distinct model_version, status, reason from ml.model_registry where model_version = 'v1'"
    ).fetchall()
    assert statuses == [("v1", "retired", "replaced by v3")]
    # registering a version again replaces its rows instead of duplicating them
    registry.register_model(con, _metadata("v3", better), registry_table.CHAMPION, "re-run")
    assert con.execute("select count(*) from ml.model_registry").fetchone() == (4,)


def test_the_registry_records_the_holdout_and_validation_cutoffs_of_the_metrics(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    registry.register_model(con, _metadata("v1", CHAMPION), registry_table.CHAMPION, "first")
    rows = con.execute(
        "select task, test_cutoff::varchar, validation_cutoff::varchar from ml.model_registry order by task"
    ).fetchall()
    assert rows == [("churn", "2024-02-01", "2023-11-01"), ("clv", "2024-02-01", "2023-11-01")]


BOOSTER_PARAMS = {name: {"objective": objective} for name, objective in
                  (("clv", "tweedie"), ("spend", "gamma"), ("churn", "binary"))}  # fmt: skip
CHURN_CALIBRATION = {"churn_weight": 0.75, "churn": {"method": "platt", "slope": 1.1, "intercept": -0.2}}


def _recorded_params(metadata: dict) -> dict[str, dict]:
    rows = registry_table.registry_rows(metadata, registry_table.CHAMPION, "")
    return {row["task"]: json.loads(row["params"]) for row in rows}


def test_the_params_of_a_hurdle_model_are_those_of_every_booster_and_calibration_its_revenue_reads() -> None:
    calibration = {
        **CHURN_CALIBRATION, "form": "hurdle", "revenue_weight": 0.5, "revenue_total": "tweedie",
        "validation_scores": {"churn_roc_auc": {"1.0": 0.8}}, "validation_total_ratio": 1.2,
    }  # fmt: skip
    metadata = {**_metadata("v1", CHAMPION), "params": BOOSTER_PARAMS, "calibration": calibration}
    revenue = {"form": "hurdle", "revenue_weight": 0.5, "revenue_total": "tweedie"}
    assert _recorded_params(metadata) == {
        "churn": {"boosters": {"churn": BOOSTER_PARAMS["churn"]}, "calibration": CHURN_CALIBRATION},
        "clv": {"boosters": BOOSTER_PARAMS, "calibration": {**revenue, **CHURN_CALIBRATION}},
    }
    # when BG/NBD + Gamma-Gamma set the total, the Tweedie booster makes none of the hurdle's revenue
    btyd_total = {**calibration, "revenue_total": "btyd", "btyd_total_factor": 0.9}
    clv = _recorded_params({**metadata, "calibration": btyd_total})["clv"]
    assert set(clv["boosters"]) == {"churn", "spend"} and clv["calibration"]["btyd_total_factor"] == 0.9


def test_the_params_of_a_tweedie_model_are_the_tweedie_boosters_and_its_blend() -> None:
    calibration = {**CHURN_CALIBRATION, "form": "tweedie", "revenue_weight": 1.0, "revenue_total": "tweedie"}
    metadata = {**_metadata("v1", CHAMPION), "params": BOOSTER_PARAMS, "calibration": calibration}
    assert _recorded_params(metadata)["clv"] == {
        "boosters": {"clv": BOOSTER_PARAMS["clv"]},
        "calibration": {"form": "tweedie", "revenue_weight": 1.0, "revenue_total": "tweedie"},
    }


def test_the_clv_params_of_a_model_with_the_orders_booster_name_it_and_its_orders_factor() -> None:
    calibration = {
        **CHURN_CALIBRATION, "form": "tweedie", "revenue_weight": 1.0, "revenue_total": "btyd",
        "btyd_total_factor": 0.9, "btyd_orders_factor": 1.1,
    }  # fmt: skip
    params = {**BOOSTER_PARAMS, "orders": {"objective": "poisson"}}
    metadata = {**_metadata("v1", CHAMPION), "params": params, "calibration": calibration}
    recorded = _recorded_params(metadata)
    assert recorded["clv"] == {
        "boosters": {"clv": BOOSTER_PARAMS["clv"], "orders": {"objective": "poisson"}},
        "calibration": {
            "form": "tweedie", "revenue_weight": 1.0, "revenue_total": "btyd", "btyd_total_factor": 0.9,
            "btyd_orders_factor": 1.1,
        },
    }  # fmt: skip
    churn = {"boosters": {"churn": BOOSTER_PARAMS["churn"]}, "calibration": CHURN_CALIBRATION}
    assert recorded["churn"] == churn


def test_a_registry_made_before_the_holdout_columns_gets_them_and_keeps_its_rows(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    registry.register_model(con, _metadata("v1", CHAMPION), registry_table.CHAMPION, "first")
    for column in ("test_cutoff", "validation_cutoff"):  # as a warehouse of the first release holds it
        con.execute(f"alter table ml.model_registry drop column {column}")
    registry.register_model(con, _metadata("v2", CHAMPION), registry_table.REJECTED, "second")
    rows = con.execute(
        "select model_version, task, test_cutoff::varchar, validation_cutoff::varchar, reason "
        "from ml.model_registry order by 1, 2"
    ).fetchall()
    assert rows == [
        ("v1", "churn", None, None, "first"),
        ("v1", "clv", None, None, "first"),
        ("v2", "churn", "2024-02-01", "2023-11-01", "second"),
        ("v2", "clv", "2024-02-01", "2023-11-01", "second"),
    ]


def test_git_commit_is_unknown_outside_a_repository_or_without_git(tmp_path, monkeypatch) -> None:
    assert provenance.git_commit(tmp_path) == "unknown"
    commit = provenance.git_commit()
    assert commit == "unknown" or re.fullmatch("[0-9a-f]{40}(-dirty)?", commit)
    monkeypatch.setenv("PATH", str(tmp_path))  # no git program, as in a slim Docker image
    assert provenance.git_commit() == "unknown"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_is_marked_dirty_while_the_code_differs_from_it(tmp_path) -> None:
    def git(*args: str) -> str:
        config = ("-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false")
        done = subprocess.run(["git", *config, *args], cwd=tmp_path, check=True, capture_output=True)
        return done.stdout.decode().strip()

    git("init", "-q")
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "train.py").write_text("ROUNDS = 300\n")
    (tmp_path / "dbt_project").mkdir()
    (tmp_path / "dbt_project" / "dbt_project.yml").write_text("name: shop\n")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "notes.md").write_text("not code\n")
    assert provenance.git_commit(tmp_path) == head
    (tmp_path / "ml" / "train.py").write_text("ROUNDS = 30\n")
    assert provenance.git_commit(tmp_path) == f"{head}-dirty"
    git("add", "ml")  # staged but not committed
    assert provenance.git_commit(tmp_path) == f"{head}-dirty"
    git("commit", "-qm", "second")
    assert provenance.git_commit(tmp_path) == git("rev-parse", "HEAD")
    (tmp_path / "ml" / "features.py").write_text("")  # a new module
    assert provenance.git_commit(tmp_path).endswith("-dirty")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_is_marked_dirty_when_the_dbt_project_is_not_the_commit_s(tmp_path) -> None:
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"

    def git(*args: str) -> str:
        config = ("-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false")
        done = subprocess.run(["git", *config, *args], cwd=checkout, check=True, capture_output=True)
        return done.stdout.decode().strip()

    for project in (
        checkout / "dbt_project",
        checkout / "shops" / "b2b",
        checkout / "data" / "dbt",
        elsewhere,
    ):
        project.mkdir(parents=True)
        (project / "dbt_project.yml").write_text("name: shop\n")
    (checkout / ".gitignore").write_text("data/\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    assert provenance.git_commit(checkout, checkout / "dbt_project") == head
    assert provenance.git_commit(checkout, checkout / "shops" / "b2b") == head  # another project it holds
    # CVW_DBT_PROJECT_DIR outside the checkout, or in a folder git ignores: the commit holds no such SQL
    assert provenance.git_commit(checkout, elsewhere) == f"{head}-dirty"
    assert provenance.git_commit(checkout, checkout / "data" / "dbt") == f"{head}-dirty"
    (checkout / "shops" / "b2b" / "dbt_project.yml").write_text("name: changed\n")
    assert provenance.git_commit(checkout, checkout / "shops" / "b2b") == f"{head}-dirty"
    assert provenance.git_commit(checkout, checkout / "dbt_project") == head  # another project's change


def test_library_versions_name_every_library_training_and_scoring_use() -> None:
    from importlib.metadata import version

    versions = provenance.library_versions()
    assert set(versions) == {"python", *provenance.LIBRARIES}
    assert {"duckdb", "scikit-learn", "lleaves", "llvmlite", "lightgbm"} <= set(versions)
    assert versions["lleaves"] == version("lleaves") and versions["duckdb"] == duckdb.__version__
    assert versions["lightgbm"] == lgb.__version__


def test_metrics_from_an_evaluation_table_split_candidate_and_baselines_by_task() -> None:
    table = pd.DataFrame(
        {
            "model": ["lightgbm_tweedie"] * 3 + ["persistence"] * 3,
            "metric": ["revenue_spearman", "revenue_normalized_gini", "churn_roc_auc"] * 2,
            "value": [0.6, 0.5, 0.8, 0.4, 0.3, 0.7],
        }
    )
    candidate, baselines = registry.metrics_from_evaluation(table, "lightgbm_tweedie")
    assert candidate == {"clv": {"spearman": 0.6, "normalized_gini": 0.5}, "churn": {"roc_auc": 0.8}}
    assert baselines == {
        "clv": {"persistence": {"spearman": 0.4, "normalized_gini": 0.3}},
        "churn": {"persistence": {"roc_auc": 0.7}},
    }
    assert registry.decide_promotion(candidate, None, baselines)[0]


def test_the_champion_re_scored_on_the_candidates_holdout_replaces_its_stored_metrics(tmp_path) -> None:
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    registry.promote_or_reject(
        con, artifacts, _metadata("v1", {"clv": {"spearman": 0.9}, "churn": {"roc_auc": 0.9}})
    )
    candidate = _metadata("v2", {"clv": {"spearman": 0.6}, "churn": {"roc_auc": 0.7}})
    rescored = {"clv": {"spearman": 0.55}, "churn": {"roc_auc": 0.69}}
    promoted, reason = registry.promote_or_reject(con, artifacts, candidate, champion_metrics=rescored)
    assert promoted and reason.endswith("(against champion v1, on this holdout)")


def test_a_first_model_that_fails_the_gate_is_promoted_with_the_failures_recorded(tmp_path) -> None:
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    weak = {"clv": {"spearman": 0.02}, "churn": {"roc_auc": 0.8}}  # loses to the clv baseline (0.05)
    promoted, reason = registry.promote_or_reject(con, artifacts, _metadata("v1", weak))
    assert promoted
    assert reason == (
        "promoted as the first model (no champion to keep), although rejected: "
        "clv spearman 0.0200 does not beat baseline noise (0.0500)"
    )
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v1"}
    assert con.execute("select distinct status from ml.model_registry").fetchall() == [("champion",)]


def test_a_champion_for_another_horizon_is_not_compared_only_the_baselines_judge(tmp_path) -> None:
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    strong = {"clv": {"spearman": 0.9}, "churn": {"roc_auc": 0.9}}
    registry.promote_or_reject(con, artifacts, _metadata("v1", strong))
    # a 365-day model far below the 90-day champion's 90-day metrics, above its own baselines
    weaker = {"clv": {"spearman": 0.3}, "churn": {"roc_auc": 0.6}}
    candidate = {**_metadata("v2", weaker), "horizon_days": 365}
    promoted, reason = registry.promote_or_reject(con, artifacts, candidate)
    assert promoted
    assert reason.endswith(
        "(champion v1 predicts 90 days, this model 365: not comparable, judged against the baselines only)"
    )
    assert "champion 0.9" not in reason
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v2"}


# the reason a 365-day trial v2 stays a challenger of the 90-day champion v1 under CVW_HORIZON_DAYS=90
TRIAL_REJECTED = (
    "rejected: champion v1 predicts 90 days and this model 365, which is not CVW_HORIZON_DAYS (90): "
    "scores would switch horizons; set CVW_HORIZON_DAYS=365 and train again to switch on purpose, or "
    "promote it by hand (cvw models promote v2 --horizon-change); the gate said: promoted: "
)


def test_a_model_for_another_horizon_than_the_setting_stays_a_challenger(tmp_path) -> None:
    # `cvw train --horizon-days 365` as a trial replaced the 90-day champion, and the daily scores switched
    # to 365 days while CVW_HORIZON_DAYS said 90; `cvw models promote` wants --horizon-change for that
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    strong = {"clv": {"spearman": 0.9}, "churn": {"roc_auc": 0.9}}
    registry.promote_or_reject(con, artifacts, _metadata("v1", strong), configured_horizon_days=90)
    trial = {**_metadata("v2", strong), "horizon_days": 365}
    promoted, reason = registry.promote_or_reject(con, artifacts, trial, configured_horizon_days=90)
    assert not promoted
    assert reason.startswith(TRIAL_REJECTED)
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v1"}
    # with the setting changed, the switch is on purpose: the baselines judge it
    v3 = {**_metadata("v3", strong), "horizon_days": 365}
    assert registry.promote_or_reject(con, artifacts, v3, configured_horizon_days=365)[0]
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v3"}


def test_a_trial_for_another_horizon_stays_a_challenger_when_the_champion_cannot_score_the_mart(
    tmp_path,
) -> None:
    # an analyst added a feature (the 90-day champion cannot score the mart) and tried a 365-day model with
    # `cvw train --horizon-days 365`: it became champion, and the daily scores switched to 365 days while
    # CVW_HORIZON_DAYS said 90, with no --horizon-change anywhere
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    strong = {"clv": {"spearman": 0.9}, "churn": {"roc_auc": 0.9}}
    registry.promote_or_reject(con, artifacts, _metadata("v1", strong), configured_horizon_days=90)
    trial = {**_metadata("v2", strong), "horizon_days": 365}
    promoted, reason = registry.promote_or_reject(
        con, artifacts, trial, champion_unfit="has new basket_size", configured_horizon_days=90
    )
    assert not promoted
    assert reason.startswith(TRIAL_REJECTED)
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v1"}
    statuses = "select model_version, status from ml.model_registry where task = 'clv' order by 1"
    assert con.execute(statuses).fetchall() == [("v1", "champion"), ("v2", "challenger-rejected")]
    # a model for the configured horizon replaces the champion that cannot score, whatever the gate says
    weak = {**_metadata("v3", {"clv": {"spearman": 0.1}, "churn": {"roc_auc": 0.5}}), "horizon_days": 90}
    promoted, reason = registry.promote_or_reject(
        con, artifacts, weak, champion_unfit="has new basket_size", configured_horizon_days=90
    )
    assert promoted
    assert reason.startswith(
        "promoted as champion v1 cannot score marts.customer_features as it is now "
        "(the mart has new basket_size), although rejected: "
    )
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v3"}


def test_a_champion_for_another_horizon_is_not_re_scored_on_the_holdout(tmp_path) -> None:
    from ml.champion import champion_on_holdout

    champion = ("v1", {}, {"horizon_days": 365, "features": [], "refit_cutoffs": []})
    assert champion_on_holdout(champion, pd.DataFrame({"x": [1.0]}), "2025-01-01", 90, tmp_path) is None


class _CommitFails:
    """A connection whose COMMIT fails (a full disk, a terminated task): everything else is DuckDB's."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def execute(self, query: str, *args):
        if query.strip().lower() == "commit":
            raise duckdb.IOException("could not write the commit")
        return self._con.execute(query, *args)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


@pytest.mark.parametrize("first", [False, True])
def test_a_promotion_whose_commit_fails_leaves_the_pointer_and_the_registry_as_they_were(
    tmp_path, first: bool
) -> None:
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    if not first:
        registry.promote_or_reject(con, artifacts, _metadata("v1", CHAMPION))
    better = {"clv": {"spearman": 0.6}, "churn": {"roc_auc": 0.81}}
    with pytest.raises(duckdb.IOException):
        registry.promote_or_reject(_CommitFails(con), artifacts, _metadata("v3", better))
    pointer = artifacts / "models" / "champion.json"
    if first:  # no champion before: none after, so the next training run is again the first model
        assert not pointer.exists()
        assert con.execute("select count(*) from ml.model_registry").fetchone() == (0,)
    else:  # the champion that the registry names is the one that scores
        assert json.loads(pointer.read_text()) == {"version": "v1"}
        assert registry.current_champion(con) == ("v1", CHAMPION)


class _InterruptedAsCommitReturns(_CommitFails):
    """A connection whose COMMIT goes through, then is interrupted (Ctrl-C, Airflow's execution_timeout)."""

    def execute(self, query: str, *args):
        result = self._con.execute(query, *args)
        if query.strip().lower() == "commit":
            raise KeyboardInterrupt
        return result


@pytest.mark.parametrize("by_hand", [False, True])
def test_an_interrupt_as_the_promotion_commits_leaves_the_pointer_on_the_registry_s_champion(
    tmp_path, by_hand: bool
) -> None:
    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    better = {"clv": {"spearman": 0.6}, "churn": {"roc_auc": 0.81}}
    for version, measured in (("v1", CHAMPION), ("v3", better)):
        save_model_version(artifacts, version, {}, _metadata(version, measured))
    registry.promote_or_reject(con, artifacts, _metadata("v1", CHAMPION))
    if by_hand:  # v3 registered as rejected, then made champion by hand (cvw models promote)
        registry.register_model(con, _metadata("v3", better), registry_table.REJECTED, "rejected")
    interrupted = _InterruptedAsCommitReturns(con)
    with pytest.raises(KeyboardInterrupt):  # the interrupt itself, not an error of a rollback after it
        if by_hand:
            registry.promote_by_hand(interrupted, artifacts, "v3", "rollback")
        else:
            registry.promote_or_reject(interrupted, artifacts, _metadata("v3", better))
    query = "select distinct model_version, status from ml.model_registry order by 1"
    statuses = con.execute(query).fetchall()
    assert statuses == [("v1", "retired"), ("v3", "champion")]  # the commit went through
    assert json.loads((artifacts / "models" / "champion.json").read_text()) == {"version": "v3"}


def test_an_interrupt_as_a_registration_commits_reaches_the_caller_and_the_rows_stay(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(KeyboardInterrupt):  # not DuckDB's "cannot rollback - no transaction is active"
        registry.register_model(
            _InterruptedAsCommitReturns(con), _metadata("v1", CHAMPION), registry_table.REJECTED, "rejected"
        )
    assert con.execute("select count(*) from ml.model_registry").fetchone() == (2,)  # clv and churn


@pytest.mark.parametrize("commit_fails", [False, True])
def test_the_version_s_evaluation_rows_are_written_with_its_registry_rows_or_not_at_all(
    tmp_path, commit_fails: bool
) -> None:
    from ml.evaluation_table import ensure_evaluations, write_rows

    artifacts, con = tmp_path / "artifacts", duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_evaluations(con)  # the table exists: a failed gate must leave it without the version's rows
    rows = pd.DataFrame(
        {
            "evaluation_id": ["e1", "e1"],
            "evaluated_at": [pd.Timestamp("2025-01-02")] * 2,
            "cutoff_date": [pd.Timestamp("2025-01-01").date()] * 2,
            "horizon_days": [90, 90],
            "model": ["model", "persistence"],
            "metric": ["revenue_spearman"] * 2,
            "value": [0.6, 0.4],
            "customers": [10, 10],
            "model_version": ["v1", "v1"],
        }
    )
    gate = registry.promote_or_reject
    metadata = _metadata("v1", CHAMPION)
    if commit_fails:
        with pytest.raises(duckdb.IOException):
            gate(_CommitFails(con), artifacts, metadata, write_with=lambda c: write_rows(c, rows))
        assert con.execute("select count(*) from ml.model_registry").fetchone() == (0,)
        assert con.execute("select count(*) from ml.evaluations").fetchone() == (0,)
    else:
        assert gate(con, artifacts, metadata, write_with=lambda c: write_rows(c, rows))[0]
        joined = con.execute(
            "select count(*) from ml.evaluations join ml.model_registry using (model_version)"
        ).fetchone()
        assert joined == (4,)  # each of the two evaluation rows joins the version's two rows (churn, clv)


def test_two_trainings_in_one_second_get_two_versions(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the version named the second and the features only: a second training of the same features within the
    # same second took the first's version and overwrote its boosters and metadata in the same folder
    from datetime import UTC, datetime

    from ml import artifacts

    clock = [datetime(2026, 1, 5, 9, 30, 0, 250_000, tzinfo=UTC)]
    slept = []

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock[0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] = datetime(2026, 1, 5, 9, 30, 1, tzinfo=UTC)

    monkeypatch.setattr(artifacts, "datetime", Clock)
    monkeypatch.setattr(artifacts.time, "sleep", sleep)
    first = artifacts.new_version(tmp_path, "abc123")
    second = artifacts.new_version(tmp_path, "abc123")
    assert [version for version, _ in (first, second)] == [
        "20260105T093000Z-abc123",
        "20260105T093001Z-abc123",
    ]
    assert second[1] == datetime(2026, 1, 5, 9, 30, 1, tzinfo=UTC) and slept == [0.75]
    assert sorted(path.name for path in artifacts.models_dir(tmp_path).iterdir()) == [first[0], second[0]]

"""Where a model comes from: the hash of its features, the commit of the code, the library versions.

Training records all three in the model's metadata and the registry (ml.registry); the version's name ends
with the feature hash.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# What a model is made of in the repository: the package, the settings and warehouse code; and the feature
# SQL, the dbt project the settings name (git_commit).
CODE_PATHS = ("ml", "include")
# The libraries (distribution names) a model's predictions depend on, at training and at scoring: the
# boosters, the frames and arrays, the calibration and metrics (scipy, scikit-learn), the warehouse and its
# Arrow reads, and the compiled boosters of large scoring dates (lleaves on llvmlite, ml/compiled.py).
LIBRARIES = (
    "lightgbm",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "duckdb",
    "pyarrow",
    "lleaves",
    "llvmlite",
)


def feature_hash(features: list[str], levels: dict[str, list[str]]) -> str:
    """Return a short hash of the feature list and category levels: a model version's name ends with it."""
    payload = json.dumps({"features": list(features), "levels": levels}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _git(repo_root: Path, *args: str) -> str | None:
    """Return a git command's output in repo_root; None without git, outside a checkout or on an error."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=repo_root, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def git_commit(repo_root: Path = REPO_ROOT, dbt_project_dir: Path | None = None) -> str:
    """Return the HEAD commit, with "-dirty" when the code differs from it, or 'unknown' without a checkout.

    The code is CODE_PATHS, with the dbt project the settings name (CVW_DBT_PROJECT_DIR; default
    dbt_project/): a change there not committed (staged or not, or a new file git does not ignore) marks the
    commit, and so does a status git cannot give; other files (docs, tests) do not. A dbt project the
    commit does not hold - outside the checkout, or inside it but untracked or ignored - marks it too: the
    commit cannot vouch for the SQL that built the features.
    """
    head = (_git(repo_root, "rev-parse", "HEAD") or "").strip()
    if not head:
        return "unknown"
    dbt_project = Path(dbt_project_dir or repo_root / "dbt_project").resolve()
    if not dbt_project.is_relative_to(repo_root.resolve()):
        return f"{head}-dirty"
    dbt_path = str(dbt_project.relative_to(repo_root.resolve()))
    if not _git(repo_root, "ls-files", "--", dbt_path):  # None (an error) or "" (nothing tracked)
        return f"{head}-dirty"
    changes = _git(repo_root, "status", "--porcelain", "--", *CODE_PATHS, dbt_path)
    return head if changes == "" else f"{head}-dirty"


def library_versions() -> dict[str, str]:
    """Return the Python version and the installed version of every library in LIBRARIES."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = package_version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions

"""Importing a DAG file loads no heavy library: they live inside the tasks, so the DAG processor, which
imports every file again and again, stays quick (bench/dag_parse_time.py times it; docs/benchmarks.md).

Checked as the processor parses: a fresh interpreter loads what the processor has loaded before any DAG
file (airflow.dag_processing and the Task SDK), then imports one DAG file, and lists the top-level
packages that import added.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.dag_parse_time import DAG_FILES, DAGS_FOLDER, PROCESSOR_PRELUDE

# what the tasks need and a parse must not load: each takes tenths of a second to seconds to import
HEAVY = {"dbt", "duckdb", "lightgbm", "ml", "numpy", "pandas", "pyarrow", "scipy", "sklearn"}
ADDED = (
    PROCESSOR_PRELUDE
    + """
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("dag_file_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print("ADDED=" + json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - before})))
"""
)


def packages_added_by_import(path: Path) -> set[str]:
    """Return the top-level packages importing the DAG file loads beyond what the processor had loaded."""
    result = subprocess.run(
        [sys.executable, "-c", ADDED, str(path)], capture_output=True, text=True, cwd=DAGS_FOLDER.parent
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("ADDED="))
    return set(json.loads(line.split("=", 1)[1]))


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda path: path.stem)
def test_importing_the_dag_file_loads_no_heavy_library(path: Path) -> None:
    added = packages_added_by_import(path)
    assert "include" in added  # the check sees what the file imports
    assert added & HEAVY == set(), f"{path.name} imports {sorted(added & HEAVY)} at parse time"


def test_a_dag_file_that_imports_a_heavy_library_at_parse_time_is_caught(tmp_path: Path) -> None:
    heavy = tmp_path / "heavy_dag.py"
    heavy.write_text("import pandas  # noqa: F401\nimport include.settings  # noqa: F401\n")
    assert {"include", "pandas"} <= packages_added_by_import(heavy)

"""Settings read the environment once: empty means the default, and a malformed value is one sentence."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from include.settings import REPO_ROOT, get_settings

WHOLE_NUMBERS = ("CVW_HORIZON_DAYS", "CVW_SEED", "CVW_SYNTHETIC_CUSTOMERS", "CVW_TRAIN_MAX_CUSTOMERS")


@pytest.mark.parametrize("name", WHOLE_NUMBERS)
def test_an_empty_whole_number_setting_is_its_default(monkeypatch, name: str) -> None:
    monkeypatch.setenv(name, " ")
    settings = get_settings()
    read = (settings.horizon_days, settings.seed, settings.synthetic_customers, settings.train_max_customers)
    assert read == (90, 42, 5000, 200_000)


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        # a ValueError traceback from int() before, at every verb and at DAG parsing
        ("CVW_HORIZON_DAYS", "90d", "CVW_HORIZON_DAYS='90d' is not a whole number of at least 1: set it"),
        ("CVW_TRAIN_MAX_CUSTOMERS", "0", "CVW_TRAIN_MAX_CUSTOMERS='0' is not a whole number of at least 1"),
        ("CVW_SEED", "-1", "CVW_SEED='-1' is not a whole number of at least 0"),
    ],
)
def test_a_malformed_whole_number_is_one_sentence(monkeypatch, name: str, value: str, sentence: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        get_settings()
    assert str(stopped.value).startswith(sentence)
    monkeypatch.setenv(name, "7")
    assert getattr(get_settings(), name.removeprefix("CVW_").lower()) == 7


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("lots", "Parser Error: Memory must have a number (e.g. 1GB)"),
        ("120%", "Invalid Input Error: Unable to parse valid percentage (input: 120%)"),
    ],
)
def test_a_memory_limit_duckdb_refuses_is_one_sentence(monkeypatch, value: str, reason: str) -> None:
    # it failed dbt's build task in DuckDB's words alone, before any node ran, and every connection after it
    monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", value)
    with pytest.raises(SystemExit) as stopped:
        get_settings()
    assert str(stopped.value) == (
        f"CVW_DUCKDB_MEMORY_LIMIT={value!r} is not a DuckDB memory limit ({reason}): set it like 16GB or 70% "
        "(of this machine's memory), or leave it empty."
    )
    for taken in ("16GB", "1.5 GiB", "70%"):
        monkeypatch.setenv("CVW_DUCKDB_MEMORY_LIMIT", taken)
        assert get_settings().duckdb_memory_limit == taken


def test_a_gross_margin_rate_outside_0_to_1_is_one_sentence_before_dbt_reads_it(monkeypatch) -> None:
    # CVW_GROSS_MARGIN_RATE=40 (meaning 40%) built marts whose margins were 40 x revenue where no unit cost
    # is known; only cvw score refused it, after the build and a training on those margins
    from include.dbt import dbt_environment

    monkeypatch.setenv("CVW_GROSS_MARGIN_RATE", "40")
    with pytest.raises(SystemExit) as stopped:
        dbt_environment(Path("w.duckdb"))
    assert str(stopped.value) == (
        "CVW_GROSS_MARGIN_RATE='40' is not a share from 0 to 1: set it like 0.4 (40% is 0.4) or leave it "
        "empty."
    )
    monkeypatch.setenv("CVW_GROSS_MARGIN_RATE", "1")
    assert dbt_environment(Path("w.duckdb"))["CVW_GROSS_MARGIN_RATE"] == "1.0"


# The Settings field each variable sets; a new variable in include/settings.py must be added here and to the
# README's settings table, or test_the_readme_settings_table_lists_every_setting_with_its_default fails.
FIELDS = {
    "CVW_DATA_DIR": "data_dir",
    "CVW_WAREHOUSE": "warehouse_path",
    "CVW_LANDING_DIR": "landing_dir",
    "CVW_ARTIFACTS_DIR": "artifacts_dir",
    "CVW_AS_OF_DATE": "as_of_date",
    "CVW_HORIZON_DAYS": "horizon_days",
    "CVW_SYNTHETIC_CUSTOMERS": "synthetic_customers",
    "CVW_SEED": "seed",
    "CVW_SERVING": "serving_path",
    "CVW_SERVING_STORAGE_VERSION": "serving_storage_version",
    "CVW_GROSS_MARGIN_RATE": "gross_margin_rate",
    "CVW_DISCOUNT_RATE_MONTHLY": "discount_rate_monthly",
    "CVW_TRAIN_MAX_CUSTOMERS": "train_max_customers",
    "CVW_DUCKDB_MEMORY_LIMIT": "duckdb_memory_limit",
    "CVW_ONLINE_RETAIL_DIR": "online_retail_dir",
    "CVW_DBT_PROJECT_DIR": "dbt_project_dir",
    "CVW_DBT_MANIFEST": "dbt_manifest_path",
    "CVW_ALERT_CONN_ID": "alert_conn_id",
}


def _readme_settings() -> dict[str, str]:
    """Return {variable: its documented default} from the README's settings table ("empty" when none)."""
    section = (REPO_ROOT / "README.md").read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for line in section.splitlines():
        if not line.startswith("| `CVW_"):
            continue
        names, default = (cell.strip() for cell in line.strip("|").split(" | ")[:2])
        names = re.findall(r"`(CVW_[A-Z_]+)`", names)
        defaults = re.findall(r"`([^`]+)`", default) if default.startswith("`") else [default.split(":")[0]]
        documented |= dict(zip(names, defaults[: len(names)], strict=True))
    return documented


def _as_documented(value: object) -> str:
    """Return a setting's default as the README writes it: a path from the repo root, or its text."""
    if value is None or value == "":
        return "empty"
    if isinstance(value, Path):
        return os.path.relpath(value, REPO_ROOT)
    return str(value)


def test_the_readme_settings_table_lists_every_setting_with_its_default(monkeypatch) -> None:
    # CVW_DATA_DIR, CVW_DBT_PROJECT_DIR and three more were read but named in no settings table
    read = set(re.findall(r'"(CVW_[A-Z_]+)"', (REPO_ROOT / "include" / "settings.py").read_text()))
    assert read == set(FIELDS)
    documented = _readme_settings()
    assert sorted(documented) == sorted(FIELDS)
    for name in FIELDS:
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    shown = {name: _as_documented(getattr(settings, field)) for name, field in FIELDS.items()}
    assert documented == shown

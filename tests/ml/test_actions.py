"""Tiers, risk bands and actions follow the documented cut points and table (docs/scores.md agrees)."""

import re
from pathlib import Path

import numpy as np
import pytest

from ml import actions

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scores.md"


def test_value_tiers_put_the_top_tenth_high_the_next_four_tenths_medium_ties_by_id() -> None:
    clv = np.arange(20, 0, -1, dtype=float)
    tiers = actions.value_tiers(clv, np.array([f"C{i:02d}" for i in range(20)]))
    assert tiers.tolist() == ["high"] * 2 + ["medium"] * 8 + ["low"] * 10
    tied = actions.value_tiers(np.zeros(10), np.array([f"C{i}" for i in range(9, -1, -1)]))
    assert tied.tolist() == ["low"] * 5 + ["medium"] * 4 + ["high"]  # C0 ranks first


def test_risk_bands_include_the_lower_threshold_in_the_higher_band() -> None:
    bands = actions.risk_bands(np.array([0.0, 0.3299, 0.33, 0.6599, 0.66, 1.0]))
    assert bands.tolist() == ["low", "low", "medium", "medium", "high", "high"]
    assert actions.risk_bands(np.array([0.2, 0.5]), (0.1, 0.4)).tolist() == ["medium", "high"]
    with pytest.raises(ValueError, match="0 < low < high < 1"):
        actions.risk_bands(np.array([0.5]), (0.7, 0.3))


def test_recommended_actions_read_every_cell_of_the_table() -> None:
    tiers = np.array([tier for tier in actions.TIERS for _ in actions.BANDS])
    bands = np.array([band for _ in actions.TIERS for band in actions.BANDS])
    result = actions.recommended_actions(tiers, bands)
    assert result.tolist() == [actions.ACTIONS[(t, b)] for t, b in zip(tiers, bands, strict=True)]
    assert set(result) == {"retain", "nurture", "upsell", "win back", "let go"}
    with pytest.raises(ValueError):
        actions.recommended_actions(np.array(["gold"]), np.array(["low"]))


def test_assign_actions_combines_rank_band_and_table() -> None:
    clv = np.array([100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0])
    churn = np.array([0.1, 0.5, 0.9, 0.1, 0.5, 0.9, 0.1, 0.5, 0.9, 0.7])
    result = actions.assign_actions(clv, churn, np.array([f"C{i}" for i in range(10)]))
    assert result["value_tier"].tolist() == ["high"] + ["medium"] * 4 + ["low"] * 5
    assert result["action"].tolist() == [
        "upsell", "nurture", "win back", "upsell", "nurture",
        "let go", "nurture", "nurture", "let go", "let go",
    ]  # fmt: skip


def test_the_action_table_in_the_docs_matches_the_code() -> None:
    rows = re.findall(
        r"^\| \*\*(high|medium|low)\*\* value \| (.+?) \| (.+?) \| (.+?) \|$", DOCS.read_text(), re.M
    )
    documented = {
        (tier, band): cell for tier, *cells in rows for band, cell in zip(actions.BANDS, cells, strict=True)
    }
    assert documented == actions.ACTIONS

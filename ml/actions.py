"""Value tiers, churn-risk bands and the recommended action for each (tier, band) cell, all vectorised.

Value tier, by rank of predicted (discounted) CLV over all customers scored at one date, ties broken by
customer id: the top 10% are "high", the next 40% "medium", the rest "low".
Risk band, from the calibrated churn probability p: "low" when p < 0.33, "medium" when 0.33 <= p < 0.66,
"high" when p >= 0.66.
Action: ACTIONS below (the same table is in docs/scores.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TIERS = ("high", "medium", "low")
BANDS = ("low", "medium", "high")
# (upper bound of the rank share, tier): rank share = rank / customers, rank 1 = the highest CLV.
TIER_CUT_POINTS = ((0.10, "high"), (0.50, "medium"), (1.00, "low"))
RISK_THRESHOLDS = (0.33, 0.66)

# value tier x churn-risk band -> action
#   upsell:   valuable or growing and safe - cross-sell, premium range, no discount needed
#   retain:   top customers who may slip - personal outreach, loyalty perks, service first
#   nurture:  small or middling with some life - onboarding, second-order nudges, content
#   win back: mid-value customers likely to lapse - time-limited incentive
#   let go:   low value and likely gone - no paid spend, newsletter only
ACTIONS: dict[tuple[str, str], str] = {
    ("high", "low"): "upsell",
    ("high", "medium"): "retain",
    ("high", "high"): "retain",
    ("medium", "low"): "upsell",
    ("medium", "medium"): "nurture",
    ("medium", "high"): "win back",
    ("low", "low"): "nurture",
    ("low", "medium"): "nurture",
    ("low", "high"): "let go",
}


def value_tiers(predicted_clv: np.ndarray, customer_ids: np.ndarray) -> np.ndarray:
    """Return each customer's value tier from the rank of its predicted CLV (ties broken by customer id)."""
    values = np.asarray(predicted_clv, dtype=float)
    order = np.lexsort((np.asarray(customer_ids).astype(str), -values))
    rank_share = np.empty(len(order))
    rank_share[order] = np.arange(1, len(order) + 1) / max(len(order), 1)
    upper_bounds = [rank_share <= upper for upper, _ in TIER_CUT_POINTS[:-1]]
    return np.select(upper_bounds, [tier for _, tier in TIER_CUT_POINTS[:-1]], TIER_CUT_POINTS[-1][1]).astype(
        object
    )


def risk_bands(
    churn_probability: np.ndarray, thresholds: tuple[float, float] = RISK_THRESHOLDS
) -> np.ndarray:
    """Return "low" below thresholds[0], "high" at or above thresholds[1], else "medium"."""
    low, high = thresholds
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"risk thresholds must satisfy 0 < low < high < 1, not {thresholds}")
    p = np.asarray(churn_probability, dtype=float)
    return np.select([p < low, p >= high], ["low", "high"], "medium").astype(object)


def recommended_actions(tiers: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Return the ACTIONS cell of each (tier, band) pair."""
    tier_index = pd.Index(TIERS).get_indexer(np.asarray(tiers, dtype=object))
    band_index = pd.Index(BANDS).get_indexer(np.asarray(bands, dtype=object))
    if (tier_index < 0).any() or (band_index < 0).any():
        raise ValueError(f"tiers must be in {TIERS} and bands in {BANDS}")
    table = np.array([[ACTIONS[(tier, band)] for band in BANDS] for tier in TIERS], dtype=object)
    return table[tier_index, band_index]


def assign_actions(
    predicted_clv: np.ndarray,
    churn_probability: np.ndarray,
    customer_ids: np.ndarray,
    thresholds: tuple[float, float] = RISK_THRESHOLDS,
) -> pd.DataFrame:
    """Return value_tier, risk_band and action for customers scored together (one row each, input order)."""
    tiers = value_tiers(predicted_clv, customer_ids)
    bands = risk_bands(churn_probability, thresholds)
    return pd.DataFrame(
        {"value_tier": tiers, "risk_band": bands, "action": recommended_actions(tiers, bands)}
    )

"""When BG/NBD + Gamma-Gamma rather than the boosters set the revenue and orders totals (below a year of
refit cutoffs: total_source), and the seasonal factors on their totals then.

ml.fitting records both in the calibration (`revenue_total`, `btyd_total_factor`, `btyd_orders_factor`);
ml.blend applies them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ml.clv import orders_per_order_day
from ml.enough_data import MIN_HISTORY_DAYS

# Below a year of refit cutoffs the boosters have not seen every season (and on a young warehouse the early
# cutoffs' histories are cut short): on real data their totals were off by 25% to 170% (docs/benchmarks.md),
# BG/NBD + Gamma-Gamma's by less, so the total comes from BG/NBD then, and the metadata carries a warning.
# A year is the span the cutoffs cover, not their number: twelve monthly cutoffs, whose first and last are
# 11 months apart (334 days at least; eleven span 306 at most). Counting them would take extra cutoff dates
# or a denser spine for more seasons (docs/benchmarks.md, half-monthly cutoffs).
MIN_REFIT_SPAN = pd.Timedelta(days=334)
# BG/NBD + Gamma-Gamma know no season. When they set the total, it is the mean of their total and of their
# total corrected by their own error at the labelled cutoff one year earlier (the same season): the nearest
# within half a month, and one with MIN_HISTORY_DAYS of orders before it, as BG/NBD fitted on a shorter,
# censored history errs for that reason rather than the season's.
YEAR = pd.Timedelta(days=365)
SEASON_TOLERANCE = pd.Timedelta(days=16)


def btyd_orders(frame: pd.DataFrame) -> np.ndarray:
    """Return BG/NBD's expected orders: its expected purchases (days with an order) x orders per such day."""
    days = pa.table({c: frame[c].to_numpy(dtype=float) for c in ("orders_lifetime", "order_days_lifetime")})
    return frame["btyd_expected_purchases"].to_numpy(dtype=float) * orders_per_order_day(days)


def seasonal_factors(labelled: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, float]:
    """Return the seasonal factors of BG/NBD's revenue and orders totals at a cutoff."""
    labelled = labelled.assign(btyd_orders=btyd_orders(labelled))
    return {
        "btyd_total_factor": seasonal_total_factor(labelled, cutoff),
        "btyd_orders_factor": seasonal_total_factor(labelled, cutoff, "label_orders", "btyd_orders"),
    }


def total_source(refit_cutoffs) -> str:
    """Return which predictions set the total revenue: "tweedie", or "btyd" below a year of cutoffs."""
    cutoffs = pd.to_datetime(pd.Series(list(refit_cutoffs)))
    return "tweedie" if len(cutoffs) and cutoffs.max() - cutoffs.min() >= MIN_REFIT_SPAN else "btyd"


def seasonal_total_factor(
    labelled: pd.DataFrame,
    cutoff: pd.Timestamp,
    actual: str = "label_revenue",
    predicted: str = "btyd_revenue",
) -> float:
    """Return the factor on the BG/NBD + GG total at a cutoff: (1 + actual / predicted a year earlier) / 2.

    `labelled` holds rows whose horizon ended by the cutoff, with their labels; the factor is 1 when none of
    their cutoffs lies within half a month of a year earlier with MIN_HISTORY_DAYS of history. The totals
    are of revenue, or of the columns named (the orders: label_orders and btyd_orders).
    """
    totals = labelled.groupby("cutoff_date").agg(
        actual=(actual, "sum"),
        predicted=(predicted, "sum"),
        history=("days_since_first_order", "max"),
    )
    year_ago = year_earlier_cutoff(totals, cutoff, totals["predicted"] > 0)
    if year_ago is None:
        return 1.0
    return float((1.0 + totals.loc[year_ago, "actual"] / totals.loc[year_ago, "predicted"]) / 2.0)


def year_earlier_cutoff(totals: pd.DataFrame, cutoff: pd.Timestamp, usable: pd.Series) -> pd.Timestamp | None:
    """Return the cutoff of `totals` (indexed by cutoff, with its `history`) nearest a year before `cutoff`,
    among the `usable` ones within half a month of it with MIN_HISTORY_DAYS of history; None when none is.
    """
    distance = (totals.index - (cutoff - YEAR)).to_series(index=totals.index).abs()
    usable = usable & (distance <= SEASON_TOLERANCE) & (totals["history"] >= MIN_HISTORY_DAYS)
    return distance[usable].idxmin() if usable.any() else None


def churn_level_error(labelled: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, float | str]:
    """Return BG/NBD's churn error a year before a cutoff as the calibration records it; {} without one.

    The error is logit(observed churn rate) - logit(BG/NBD's mean P(no purchase)) at the labelled cutoff
    seasonal_total_factor would use (`churn_level_cutoff`); ml.blend.leveled_churn moves BG/NBD's mean churn
    over the scored customers by it to set their churn probability's level. `labelled` holds rows whose
    horizon ended by the cutoff, with their labels. A year-earlier rate of 0 or 1 has no log-odds: {}.
    """
    frame = labelled.assign(btyd_churn=np.exp(-labelled["btyd_expected_purchases"].to_numpy(dtype=float)))
    rates = frame.groupby("cutoff_date").agg(
        observed=("label_is_churned", "mean"),
        predicted=("btyd_churn", "mean"),
        history=("days_since_first_order", "max"),
    )
    inside = rates[["observed", "predicted"]].gt(0).all(axis=1) & rates[["observed", "predicted"]].lt(1).all(
        axis=1
    )
    year_ago = year_earlier_cutoff(rates, cutoff, inside)
    if year_ago is None:
        return {}
    observed, predicted = rates.loc[year_ago, "observed"], rates.loc[year_ago, "predicted"]
    error = np.log(observed / (1 - observed)) - np.log(predicted / (1 - predicted))
    return {"churn_level_error": float(error), "churn_level_cutoff": str(pd.Timestamp(year_ago).date())}


def totals_warning(
    tested: dict[str, Any], champion: dict[str, Any], tested_cutoffs: int, refit_cutoffs: int
) -> str | None:
    """Return the training warning on the totals when the tested model took them from BG/NBD; else None.

    `tested` and `champion` are the two models' calibrations: the tested one refitted on `tested_cutoffs`
    (those whose labels ended by the test cutoff), the champion on `refit_cutoffs` (every labelled one).
    When only the champion's cutoffs span a year, its totals and churn level are its boosters' and the test
    cutoff's bias, decile MAPE and churn Brier are not of them: no test cutoff of the history can be,
    since that needs a year of cutoffs whose labels ended before it.
    """
    if tested.get("revenue_total") != "btyd":
        return None
    if champion.get("revenue_total") == "btyd":
        return (
            f"the model learnt from less than a year of cutoffs ({tested_cutoffs} tested, {refit_cutoffs} "
            "refitted): total revenue comes from BG/NBD + Gamma-Gamma and is unreliable (load more history)"
        )
    return (
        f"the champion learnt from a year of cutoffs ({refit_cutoffs}) and takes its total revenue and churn "
        f"level from its boosters; the tested model, refitted on {tested_cutoffs}, took them from BG/NBD + "
        "Gamma-Gamma, so the test cutoff's bias, decile MAPE and churn Brier are not the champion's. This "
        "history cannot test them out of time (that needs a year of cutoffs whose labels ended before a test "
        "cutoff): the first scoring dates whose horizon has elapsed will (`cvw monitor` backtests)"
    )

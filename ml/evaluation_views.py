"""The long metrics table of ml.evaluate as its readers see it: `cvw evaluate`'s printed table, the training
report's baseline rows (ml.champion), the one-line description of the evaluated model.

A model without a metric's row (a baseline that predicts no orders) is told apart from an undefined metric
(NaN: a holdout without churners): NOT_PREDICTED for the first, nan / n/a for the second.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ml.evaluate import CHURN_METRICS, ORDERS_METRICS, REVENUE_METRICS
from ml.report_html import NOT_PREDICTED

TOTAL_SOURCES = {"tweedie": "the Tweedie booster", "btyd": "BG/NBD + Gamma-Gamma (under a year of cutoffs)"}


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """Return the long metrics table as one row per model and one column per metric, in metric order.

    A model without a metric's row (a baseline that predicts no orders) is NaN there, as an undefined metric
    is: the readers' views (wide_text, wide_records) tell the two apart.
    """
    order = [*REVENUE_METRICS, *ORDERS_METRICS, *CHURN_METRICS]
    pivot = table.pivot(index="model", columns="metric", values="value")
    return pivot[[m for m in order if m in pivot.columns]]


def wide_text(table: pd.DataFrame) -> str:
    """Return the metrics as printed, a row per metric and a column per model: three decimals, "nan" where
    a metric is undefined, NOT_PREDICTED where the model predicts nothing it measures."""
    values = wide(table)
    has_row = wide(table.assign(value=1.0)).notna()
    cells = values.map("{:.3f}".format).where(has_row, NOT_PREDICTED)
    return cells.T.to_string()


def wide_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a row per model (its name, then its metrics to four decimals in wide's order) without the
    metrics it predicts nothing for: the training report's baseline table (ml.report_html)."""
    values = wide(table).round(4)
    has_row = wide(table.assign(value=1.0)).notna()
    return [
        {"model": model, **{m: values.at[model, m] for m in values.columns if has_row.at[model, m]}}
        for model in values.index
    ]


def _seasonal(c: dict) -> str:
    return f" x seasonal factor {c['btyd_total_factor']:.3f}" if "btyd_total_factor" in c else ""


def _churn_level(c: dict) -> str:
    return (
        f"BG/NBD's mean churn moved by its error on {c['churn_level_cutoff']} "
        f"({c['churn_level_error']:+.3f} log-odds)"
    )


def describe(calibration: dict) -> str:
    """Return one line saying what the model is: CLV form, blend weights and where they were chosen."""
    c = calibration
    level = f"; churn level per scored cutoff: {_churn_level(c)}" if "churn_level_error" in c else ""
    return (
        f"model: LightGBM {c['form']} revenue at weight {c['revenue_weight']:g} and churn at "
        f"{c['churn_weight']:g} against BG/NBD + Gamma-Gamma (geometric / log-odds blends), total revenue "
        f"from {TOTAL_SOURCES[c.get('revenue_total', 'tweedie')]}{_seasonal(c)}; chosen and calibrated on "
        f"{c['validation_cutoff']}{level}"
    )


def describe_totals(calibration: dict) -> str:
    """Return where a model's total revenue and churn level come from (the training report's summary)."""
    c = calibration
    source = c.get("revenue_total", "tweedie")
    if "churn_level_error" in c:
        level = _churn_level(c)
    elif source == "btyd":
        level = f"Platt's on {c.get('validation_cutoff', 'its calibration cutoff')}"
    else:
        level = "its churn booster's"
    return f"total revenue from {TOTAL_SOURCES[source]}{_seasonal(c)}, churn level {level}"

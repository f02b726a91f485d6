"""The training report's charts of a holdout: CLV gains and deciles, churn deciles, ROC, PR and reliability.

Each builder takes an evaluation section (ml.report_html) and returns SVG strings drawn by ml.svg_charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from ml.svg_charts import line_chart, thin

DECILES = 10
MODEL, ACTUAL, REFERENCE = "#1f6fb2", "#d9822b", "#8a8a8a"


def _line(name: str, x: Any, y: Any, color: str, **style: bool) -> dict[str, Any]:
    """Return one series of a line chart."""
    return {"name": name, "x": x, "y": y, "color": color, **style}


def _diagonal(name: str = "random") -> dict[str, Any]:
    """Return the dashed y = x reference line."""
    return _line(name, [0, 1], [0, 1], REFERENCE, dashed=True)


def decile_means(
    predicted: np.ndarray, actual: np.ndarray, groups: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the deciles (1 = lowest) that hold customers, and their mean predicted and mean actual.

    A customer's decile is that of their average rank, so tied predictions share one decile: the order
    of tied customers cannot make a model look better calibrated (a constant model has one point). A
    decile without customers (ties, or fewer than `groups` customers) is left out.
    """
    predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    ranks = rankdata(predicted, method="average")
    decile = np.minimum(((ranks - 0.5) * groups / max(len(predicted), 1)).astype(int), groups - 1)
    held = np.unique(decile)
    return (
        held + 1,
        np.array([predicted[decile == d].mean() for d in held]),
        np.array([actual[decile == d].mean() for d in held]),
    )


def gains_curve(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (share of customers, share of actual revenue) by predicted value, highest first.

    The curve has a corner at the end of each group of tied predictions, so it runs straight across the
    group: the order of tied customers cannot flatter or hurt the model.
    """
    predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    order = np.argsort(-predicted, kind="stable")
    ends = np.flatnonzero(np.r_[predicted[order][1:] != predicted[order][:-1], True])
    captured = np.cumsum(actual[order])[ends]
    return np.r_[0.0, (ends + 1) / len(order)], np.r_[0.0, captured / (captured[-1] or 1.0)]


def _deciles_chart(
    title: str, predicted: np.ndarray, actual: np.ndarray, names: tuple[str, str], **axes
) -> str:
    """Return a chart of mean predicted and mean actual per decile of the prediction."""
    deciles, mean_pred, mean_actual = decile_means(predicted, actual, DECILES)
    series = [
        _line(names[0], deciles, mean_pred, MODEL, markers=True),
        _line(names[1], deciles, mean_actual, ACTUAL, markers=True),
    ]
    return line_chart(title, series, x_range=(1, DECILES), x_ticks=np.arange(1, DECILES + 1), **axes)


def titled(title: str, scope: str) -> str:
    """Return a chart title followed by the holdout it shows ("2024-10-01 + 90 days"), when one is given."""
    return f"{title}, {scope}" if scope else title


def clv_charts(section: Mapping[str, Any], scope: str = "") -> list[str]:
    """Return the CLV gains and decile-calibration charts, their titles ending with the holdout's scope."""
    actual = np.asarray(section["actual"], dtype=float)
    predicted = np.asarray(section["predicted"], dtype=float)
    gains = line_chart(
        titled("CLV gains: revenue of the top customers", scope),
        [
            _line("model", *thin(*gains_curve(predicted, actual)), MODEL),
            _line("perfect ranking", *thin(*gains_curve(actual, actual)), ACTUAL, dashed=True),
            _diagonal(),
        ],
        "share of customers (by predicted value)",
        "share of actual revenue",
        y_range=(0.0, 1.0),
        legend="bottom-right",
    )
    calibration = _deciles_chart(
        titled("CLV calibration by decile", scope),
        predicted,
        actual,
        ("mean predicted", "mean actual"),
        x_label="decile of predicted revenue (10 = highest)",
        y_label="revenue per customer",
    )
    return [gains, calibration]


def churn_charts(section: Mapping[str, Any], scope: str = "") -> tuple[list[str], list[str]]:
    """Return the churn decile-calibration, ROC and precision-recall charts, and the ones left out; their
    titles end with the holdout's scope.

    ROC and precision-recall need both classes: on a holdout where every customer churned, or none did,
    they are undefined and left out, with a note.
    """
    label = np.asarray(section["is_churned"], dtype=float).astype(bool)
    prob = np.asarray(section["probability"], dtype=float)
    calibration = _deciles_chart(
        titled("Churn calibration by decile", scope),
        prob,
        label.astype(float),
        ("mean predicted probability", "observed churn rate"),
        x_label="decile of predicted probability (10 = highest)",
        y_label="churn rate",
        y_range=(0.0, 1.0),
    )
    if label.all() or not label.any():
        return [calibration], [
            f"churn ROC and precision-recall curves (every holdout customer has "
            f"is_churned = {int(label[0]) if len(label) else 'nothing'})"
        ]
    fpr, tpr, _ = roc_curve(label, prob)
    roc = line_chart(
        titled(f"Churn ROC (AUC {roc_auc_score(label, prob):.3f})", scope),
        [_line("model", *thin(fpr, tpr), MODEL), _diagonal()],
        "false positive rate",
        "true positive rate",
        y_range=(0.0, 1.0),
        legend="bottom-right",
    )
    precision, recall, _ = precision_recall_curve(label, prob)
    pr = line_chart(
        titled(f"Churn precision-recall (AP {average_precision_score(label, prob):.3f})", scope),
        [
            _line("model", *thin(recall, precision), MODEL),
            _line("churn rate (random)", [0, 1], [label.mean()] * 2, REFERENCE, dashed=True),
        ],
        "recall",
        "precision",
        y_range=(0.0, 1.0),
        legend="bottom-right",
    )
    return [calibration, roc, pr], []


def reliability_chart(rows: Sequence[Mapping[str, Any]], scope: str = "") -> str:
    """Return the chart of each probability bin's observed churn rate against its mean predicted probability.

    `rows` are ml.churn_calibration.reliability_table records; a calibrated model's points lie on the
    diagonal.
    """
    return line_chart(
        titled("Churn reliability by bin", scope),
        [
            _line(
                "observed churn rate",
                [r["mean_predicted"] for r in rows],
                [r["observed_rate"] for r in rows],
                ACTUAL,
                markers=True,
            ),
            _diagonal("perfectly calibrated"),
        ],
        "mean predicted probability of the bin",
        "observed churn rate",
        y_range=(0.0, 1.0),
    )

"""One self-contained HTML report per training run: inline SVG charts and CSS, no script, nothing fetched.

render_report(evaluation, out_path) takes plain data (lists or numpy arrays, all keys optional except that
a chart needs its inputs; a missing section is listed as "not provided"):

    evaluation = {
        "title": "Model 20250101T000000Z-abc123",                # page title
        "summary": {"test cutoff": "2024-10-01", "horizon": "90 days", ...},   # key-value table
        "clv": {"actual": [...], "predicted": [...]},            # holdout revenue per customer, same length
        "churn": {"is_churned": [...], "probability": [...]},    # holdout churn label (0/1) and probability
        "feature_importance": {"clv": {feature: gain}, "churn": {feature: gain}},
        "shap_summary": {"clv": {feature: mean |contribution|}, "churn": {...}},  # mean_abs_contributions
        "drivers_of": {"clv": "Tweedie booster", "churn": "churn booster"},  # said in the drivers' titles
        "baselines": [{"model": "LightGBM", "clv spearman": 0.61, "churn roc_auc": 0.80}, ...],
    }

Charts, in order (CHART_COUNT when everything is given): CLV gains, CLV decile calibration, churn decile
calibration, churn ROC, churn precision-recall, feature importance (CLV, churn), SHAP summary (CLV, churn).
`python -m ml.report_html evaluation.json [--out report.html]` re-renders a report from a saved JSON
(write it with save_evaluation).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from ml.explain import readable_name
from ml.svg_charts import bar_chart, fmt, line_chart, thin

CHART_COUNT = 9
DECILES = 10
TOP_FEATURES = 15
MODEL, ACTUAL, REFERENCE = "#1f6fb2", "#d9822b", "#8a8a8a"
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { padding: 3px 10px; border-bottom: 1px solid #eee; }
th { text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; }
svg { background: #fff; border: 1px solid #e4e4e4; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .title { font-size: 13px; font-weight: 600; } .grid { stroke: #eee; } .axis { stroke: #888; fill: none; }
.missing { color: #a33; }
"""


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


def _clv_charts(section: Mapping[str, Any]) -> list[str]:
    """Return the CLV gains and decile-calibration charts."""
    actual = np.asarray(section["actual"], dtype=float)
    predicted = np.asarray(section["predicted"], dtype=float)
    gains = line_chart(
        "CLV gains: revenue captured by the top customers",
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
        "CLV calibration by decile of predicted revenue",
        predicted,
        actual,
        ("mean predicted", "mean actual"),
        x_label="decile of predicted revenue (10 = highest)",
        y_label="revenue per customer",
    )
    return [gains, calibration]


def _churn_charts(section: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Return the churn decile-calibration, ROC and precision-recall charts, and the ones left out.

    ROC and precision-recall need both classes: on a holdout where every customer churned, or none did,
    they are undefined and left out, with a note.
    """
    label = np.asarray(section["is_churned"], dtype=float).astype(bool)
    prob = np.asarray(section["probability"], dtype=float)
    calibration = _deciles_chart(
        "Churn calibration by decile of predicted probability",
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
        f"Churn ROC curve (AUC {roc_auc_score(label, prob):.3f})",
        [_line("model", *thin(fpr, tpr), MODEL), _diagonal()],
        "false positive rate",
        "true positive rate",
        y_range=(0.0, 1.0),
        legend="bottom-right",
    )
    precision, recall, _ = precision_recall_curve(label, prob)
    pr = line_chart(
        f"Churn precision-recall (average precision {average_precision_score(label, prob):.3f})",
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


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return an HTML table of dict rows, columns in the order of the first row's keys."""
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = [
            f'<td class="num">{"n/a" if v != v else fmt(v)}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{escape(str(v))}</td>"
            for v in (row.get(c, "") for c in columns)
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _metric_cell(value: Any) -> str:
    """Return a baseline-table cell: a number to four decimals (the gate's), n/a when undefined."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{"n/a" if value != value else f"{value:,.4f}"}</td>'
    return f"<td>{escape(str(value))}</td>"


def _baselines_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the baseline table with one row per metric and one column per model, as `cvw evaluate` prints.

    Twelve metric columns ran past the page's right edge, out of sight on screen and cut off in print (the
    churn metrics among them); five model columns fit. Values keep four decimals: at three significant
    digits a model's 0.8504 and a baseline's 0.8496 both read 0.85.
    """
    metrics = list(dict.fromkeys(key for row in rows for key in row if key != "model"))
    head = "<th>metric</th>" + "".join(f"<th>{escape(str(row.get('model', '')))}</th>" for row in rows)
    body = [
        f"<tr><td>{escape(metric)}</td>{''.join(_metric_cell(row.get(metric, '')) for row in rows)}</tr>"
        for metric in metrics
    ]
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _section(title: str, charts: list[str], missing: list[str]) -> str:
    """Return an <h2> section with its charts and a note of the inputs that were not provided."""
    note = f'<p class="missing">Not provided: {escape(", ".join(missing))}.</p>' if missing else ""
    figures = "".join(f"<figure>{chart}</figure>" for chart in charts)
    return f'<h2>{escape(title)}</h2>{note}<div class="charts">{figures}</div>'


def render_html(evaluation: Mapping[str, Any]) -> str:
    """Return the report page of an evaluation dict (see the module docstring)."""
    title = str(evaluation.get("title", "Model evaluation"))
    parts = [f"<h1>{escape(title)}</h1>"]
    if evaluation.get("summary"):
        parts.append(_table([{"": k, "value": v} for k, v in evaluation["summary"].items()]))
    parts.append("<h2>Against the baselines</h2>")
    parts.append(
        _baselines_table(evaluation["baselines"])
        if evaluation.get("baselines")
        else '<p class="missing">Not provided.</p>'
    )
    clv, churn = evaluation.get("clv"), evaluation.get("churn")
    parts.append(_section("Value (CLV)", _clv_charts(clv) if clv else [], [] if clv else ["clv"]))
    parts.append(_section("Churn", *(_churn_charts(churn) if churn else ([], ["churn"]))))
    drivers, missing = [], []
    for key, label, unit in (
        ("feature_importance", "Feature importance", "total gain"),
        ("shap_summary", "SHAP summary", "mean |SHAP contribution|"),
    ):
        for task in ("clv", "churn"):
            values = evaluation.get(key, {}).get(task)
            if values:
                readable = {readable_name(feature): value for feature, value in values.items()}
                of = evaluation.get("drivers_of", {}).get(task)
                chart_title = f"{label}: {task}" + (f" ({of})" if of else "")
                drivers.append(bar_chart(chart_title, readable, unit, TOP_FEATURES))
            else:
                missing.append(f"{key}.{task}")
    parts.append(_section("What drives the models", drivers, missing))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{chr(10).join(parts)}\n</body></html>\n"
    )


def render_report(evaluation: Mapping[str, Any], out_path: Path | str) -> Path:
    """Write the self-contained HTML report of an evaluation dict; return its path."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_html(evaluation), encoding="utf-8")
    return out_path


def _plain(value: Any) -> Any:
    """Return numpy values as JSON-serialisable Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def save_evaluation(evaluation: Mapping[str, Any], path: Path | str) -> Path:
    """Write an evaluation dict (numpy arrays allowed) as JSON that main() can re-render; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(evaluation, default=_plain), encoding="utf-8")
    return path


# What an evaluation holds (the module docstring): a JSON with none of them is another file (metadata.json)
EVALUATION_KEYS = ("title", "summary", "clv", "churn", "feature_importance", "shap_summary", "baselines")


def load_evaluation(path: Path) -> dict[str, Any]:
    """Return the evaluation a JSON file holds; stop with one sentence when it is not valid JSON or not one.

    Rendering another JSON (a model's metadata.json, the champion pointer) would write an empty report over
    the real one beside it.
    """
    try:
        evaluation = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SystemExit(
            f"{path} is not valid JSON ({error}): pass the evaluation.json a training run saved."
        ) from None
    if not isinstance(evaluation, dict) or not any(key in evaluation for key in EVALUATION_KEYS):
        raise SystemExit(
            f"{path} is not a training run's evaluation (it has none of {', '.join(EVALUATION_KEYS)}): pass "
            "the evaluation.json a training run saved, or a model version."
        )
    return evaluation


def main(argv: list[str] | None = None) -> int:
    """Re-render a report from a saved evaluation JSON; return the exit code."""
    parser = argparse.ArgumentParser(prog="cvw report", description="Render a training run's HTML report.")
    parser.add_argument("evaluation", type=Path, help="evaluation JSON written by save_evaluation")
    parser.add_argument(
        "--out", type=Path, default=None, help="HTML file (default: the JSON path with .html)"
    )
    args = parser.parse_args(argv)
    if not args.evaluation.exists():
        raise SystemExit(f"{args.evaluation} does not exist: pass the evaluation JSON a training run saved.")
    evaluation = load_evaluation(args.evaluation)
    out = render_report(evaluation, args.out or args.evaluation.with_suffix(".html"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

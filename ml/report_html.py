"""One self-contained HTML report per training run: inline SVG charts and CSS, no script, nothing fetched.

render_report(evaluation, out_path) takes plain data (lists or numpy arrays, all keys optional except that
a chart needs its inputs; a missing section is listed as "not provided"):

    evaluation = {
        "title": "Model 20250101T000000Z-abc123",                # page title
        "summary": {"test cutoff": "2024-10-01", "horizon": "90 days", ...},   # key-value table
        "clv": {"actual": [...], "predicted": [...]},            # holdout revenue per customer, same length
        "churn": {"is_churned": [...], "probability": [...]},    # holdout churn label (0/1) and probability
        "churn_reliability": [{"probability_range": "0.0-0.1", "customers": 120, "mean_predicted": 0.06,
                               "observed_rate": 0.05}, ...],  # ml.churn_calibration.reliability_table rows
        "feature_importance": {"clv": {feature: gain}, "churn": {feature: gain}},
        "shap_summary": {"clv": {feature: mean |contribution|}, "churn": {...}},  # mean_abs_contributions
        "drivers_of": {"clv": "Tweedie booster", "churn": "churn booster"},  # said in the drivers' titles
        "baselines": [{"model": "LightGBM", "clv spearman": 0.61, "churn roc_auc": 0.80}, ...],
    }

Charts, in order (CHART_COUNT when everything is given): CLV gains, CLV decile calibration, churn decile
calibration, churn ROC, churn precision-recall, churn reliability (those of a holdout: ml.report_charts),
feature importance (CLV, churn), SHAP summary (CLV, churn). The reliability chart has its table beside it.
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

from ml.explain import readable_name
from ml.files import write_atomically
from ml.report_charts import churn_charts, clv_charts, reliability_chart, titled
from ml.svg_charts import bar_chart, fmt

CHART_COUNT = 10
NOT_PREDICTED = "—"  # a baseline-table cell of a metric the model predicts nothing for (a baseline's orders)
TOP_FEATURES = 15
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
    """Return a baseline-table cell: a number to four decimals (the gate's), n/a when undefined, NOT_PREDICTED
    for a metric the model predicts nothing for."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{"n/a" if value != value else f"{value:,.4f}"}</td>'
    if value == NOT_PREDICTED:  # in the numbers' column, aligned as they are
        return f'<td class="num">{NOT_PREDICTED}</td>'
    return f"<td>{escape(str(value))}</td>"


def _baselines_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the baseline table with one row per metric and one column per model, as `cvw evaluate` prints.

    Twelve metric columns ran past the page's right edge, out of sight on screen and cut off in print (the
    churn metrics among them); five model columns fit. Values keep four decimals: at three significant
    digits a model's 0.8504 and a baseline's 0.8496 both read 0.85. A model without a metric (a baseline
    that predicts no orders) shows NOT_PREDICTED there, an undefined metric n/a.
    """
    metrics = list(dict.fromkeys(key for row in rows for key in row if key != "model"))
    head = "<th>metric</th>" + "".join(f"<th>{escape(str(row.get('model', '')))}</th>" for row in rows)
    body = [
        f"<tr><td>{escape(metric)}</td>"
        + "".join(_metric_cell(row.get(metric, NOT_PREDICTED)) for row in rows)
        + "</tr>"
        for metric in metrics
    ]
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _section(title: str, charts: list[str], missing: list[str], intro: str = "") -> str:
    """Return an <h2> section: a note of its missing inputs, an intro, its charts (or tables) side by side."""
    note = f'<p class="missing">Not provided: {escape(", ".join(missing))}.</p>' if missing else ""
    figures = "".join(f"<figure>{chart}</figure>" for chart in charts)
    return f'<h2>{escape(title)}</h2>{note}{intro}<div class="charts">{figures}</div>'


def chart_scope(summary: Mapping[str, Any]) -> str:
    """Return the holdout the charts show, "2024-10-01 + 90 days", from the summary's test cutoff and horizon.

    Empty when the summary lacks either (an evaluation saved by hand): the titles then say none.
    """
    cutoff = next((value for key, value in summary.items() if str(key).startswith("test cutoff")), None)
    horizon = summary.get("horizon")
    return f"{cutoff} + {horizon}" if cutoff and horizon else ""


def _reliability_section(rows: Sequence[Mapping[str, Any]] | None, scope: str = "") -> str:
    """Return the churn reliability section: the table of the bins and their chart, or a note of its absence.

    An evaluation saved before the report had it lacks the key; its report still renders, without them.
    """
    if not rows:
        return _section("Churn reliability", [], ["churn_reliability"])
    caption = (
        "<p>Customers of the holdout by equal-width bin of predicted churn probability: their mean predicted "
        "probability and observed churn rate (the model's churn_reliability in metadata.json).</p>"
    )
    return _section("Churn reliability", [_table(rows), reliability_chart(rows, scope)], [], caption)


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
    scope = chart_scope(evaluation.get("summary") or {})  # every chart but feature importance shows it
    parts.append(_section("Value (CLV)", clv_charts(clv, scope) if clv else [], [] if clv else ["clv"]))
    parts.append(_section("Churn", *(churn_charts(churn, scope) if churn else ([], ["churn"]))))
    parts.append(_reliability_section(evaluation.get("churn_reliability"), scope))
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
                if key == "shap_summary":  # over the holdout's customers; the gain is the training's
                    chart_title = titled(chart_title, scope)
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
    write_atomically(out_path, render_html(evaluation))
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
    write_atomically(path, json.dumps(evaluation, default=_plain))
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

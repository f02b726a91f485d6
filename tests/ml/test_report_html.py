"""The training report is one self-contained HTML file with every chart drawn, and a browser renders it."""

import os
import re
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from ml import churn_calibration, report_charts, report_html, svg_charts

CHROMIUM = Path("/usr/bin/chromium")


def _evaluation() -> dict:
    rng = np.random.default_rng(0)
    predicted = rng.gamma(2.0, 50.0, 400)
    probability = rng.uniform(0, 1, 400)
    is_churned = rng.uniform(0, 1, 400) < probability
    return {
        "title": "Model v-test",
        "summary": {"test cutoff": "2024-10-01", "horizon": "90 days", "test customers": 400},
        "clv": {"actual": predicted * rng.uniform(0, 2, 400), "predicted": predicted},
        "churn": {"is_churned": is_churned, "probability": probability},
        "churn_reliability": churn_calibration.reliability_table(is_churned, probability).to_dict(
            orient="records"
        ),
        "feature_importance": {
            "clv": {"revenue_90d": 120.0, "orders_lifetime": 40.0, "region": 3.0},
            "churn": {"days_since_last_order": 300.0, "orders_90d": 80.0},
        },
        "shap_summary": {
            "clv": {"revenue_90d": 0.4, "avg_order_value": 0.1},
            "churn": {"days_since_last_order": 0.9},
        },
        "baselines": [
            {"model": "LightGBM", "clv spearman": 0.612, "churn roc_auc": 0.801},
            {"model": "revenue last 90 days", "clv spearman": 0.41, "churn roc_auc": 0.66},
        ],
    }


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, re.S)


def test_the_report_is_self_contained_with_every_chart_drawn(tmp_path) -> None:
    path = report_html.render_report(_evaluation(), tmp_path / "report.html")
    html = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    svgs = _svgs(html)
    assert len(svgs) == report_html.CHART_COUNT == 10
    for svg in svgs:
        paths = re.findall(r'<path class="data" d="([^"]+)"', svg)
        assert paths and all(len(re.findall(r"[MLh]", d)) >= 2 for d in paths), svg[:200]
    assert "revenue last 90 days" in html and "0.612" in html and "days since last order" in html
    assert "Not provided" not in html


def test_missing_sections_are_named_and_their_charts_left_out(tmp_path) -> None:
    evaluation = _evaluation()
    del evaluation["churn"], evaluation["shap_summary"]
    html = report_html.render_report(evaluation, tmp_path / "r.html").read_text()
    assert len(_svgs(html)) == 10 - 3 - 2
    assert "Not provided: churn." in html and "Not provided: shap_summary.clv, shap_summary.churn." in html


def test_gains_curve_and_deciles_have_known_values() -> None:
    share, captured = report_charts.gains_curve(np.array([3.0, 1.0, 2.0]), np.array([10.0, 0.0, 30.0]))
    assert share.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1]) and captured.tolist() == [0, 0.25, 1.0, 1.0]
    # tied predictions: the curve runs straight across the tied group, whatever their order
    share, captured = report_charts.gains_curve(np.array([1.0, 1.0, 0.0]), np.array([0.0, 10.0, 0.0]))
    assert share.tolist() == pytest.approx([0, 2 / 3, 1]) and captured.tolist() == [0, 1.0, 1.0]
    assert svg_charts.nice_ticks(0, 268).tolist() == [0, 50, 100, 150, 200, 250]
    assert svg_charts.nice_ticks(0, 1).tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    deciles, predicted, actual = report_charts.decile_means(np.arange(20.0), np.arange(20.0) * 2, groups=10)
    assert deciles.tolist() == list(range(1, 11))
    assert predicted.tolist() == [0.5 + 2 * i for i in range(10)] and actual.tolist() == [
        1 + 4 * i for i in range(10)
    ]


def test_tied_predictions_share_one_decile_whatever_the_row_order() -> None:
    actual = np.arange(100.0)
    # a constant model: one point, the mean of everyone, not a rising line drawn by the row order
    for order in (actual, actual[::-1]):
        deciles, predicted, mean_actual = report_charts.decile_means(np.zeros(100), order)
        assert deciles.tolist() == [6] and predicted.tolist() == [0.0] and mean_actual.tolist() == [49.5]
    # two tied levels: each level's customers stay together, at its true rate
    probability = np.repeat([0.1, 0.5], 50)
    churned = np.r_[np.repeat([1.0, 0.0], [20, 30]), np.repeat([0.0, 1.0], [25, 25])]
    deciles, _, rate = report_charts.decile_means(probability, churned)
    assert deciles.tolist() == [3, 8] and rate.tolist() == [0.4, 0.5]
    # fewer customers than deciles: the highest still sits at decile 10
    assert report_charts.decile_means(np.arange(5.0), np.arange(5.0))[0].tolist() == [2, 4, 6, 8, 10]


def test_a_one_class_churn_holdout_leaves_out_roc_and_pr_with_a_note(tmp_path) -> None:
    evaluation = _evaluation()
    evaluation["churn"]["is_churned"] = np.zeros(400, dtype=bool)
    html = report_html.render_report(evaluation, tmp_path / "r.html").read_text()
    assert len(_svgs(html)) == report_html.CHART_COUNT - 2
    assert "nan" not in html.lower()
    note = "Not provided: churn ROC and precision-recall curves (every holdout customer has is_churned = 0)"
    assert note in html


def test_labels_round_as_they_read() -> None:
    assert [svg_charts.fmt(v) for v in (999.4, 999.5, 999.96, -999.7, 1000.0, 0.61234)] == [
        "999", "1,000", "1,000", "-1,000", "1,000", "0.612"
    ]  # fmt: skip


def test_main_re_renders_the_same_report_from_saved_json(tmp_path, capsys) -> None:
    evaluation = _evaluation()
    saved = report_html.save_evaluation(evaluation, tmp_path / "evaluation.json")
    assert report_html.main([str(saved)]) == 0
    assert (tmp_path / "evaluation.html").read_text() == report_html.render_html(evaluation)
    with pytest.raises(SystemExit, match="does not exist"):
        report_html.main([str(tmp_path / "missing.json")])


def test_the_reliability_table_and_chart_show_each_bins_predicted_and_observed_rate() -> None:
    rows = [
        {"probability_range": "0.0-0.1", "customers": 1200, "mean_predicted": 0.05, "observed_rate": 0.1},
        {"probability_range": "0.1-0.2", "customers": 60, "mean_predicted": 0.15, "observed_rate": 0.1},
        {"probability_range": "0.9-1.0", "customers": 40, "mean_predicted": 0.95, "observed_rate": 0.75},
    ]
    html = report_html.render_html(_evaluation() | {"churn_reliability": rows})
    section = html.split("<h2>Churn reliability</h2>")[1].split("<h2>")[0]
    rows_html = re.findall(r"<tr>(.*?)</tr>", section)
    cells = [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in rows_html]
    assert cells == [
        ["probability_range", "customers", "mean_predicted", "observed_rate"],
        ["0.0-0.1", "1,200", "0.05", "0.1"],
        ["0.1-0.2", "60", "0.15", "0.1"],
        ["0.9-1.0", "40", "0.95", "0.75"],
    ]
    (chart,) = _svgs(section)
    # plot area x 64..540, y 312..40 (0 to 1 on both axes): the bins' points, then the diagonal
    assert re.findall(r'<path class="data" d="([^"]+)"', chart) == [
        "M87.8,284.8 L135.4,284.8 L516.2,108.0",
        "M64.0,312.0 L540.0,40.0",
    ]
    assert "perfectly calibrated" in chart and "Not provided" not in html


def test_an_evaluation_saved_before_the_reliability_table_still_renders(tmp_path) -> None:
    evaluation = _evaluation()
    del evaluation["churn_reliability"]  # evaluation.json of a run before the report had it
    saved = report_html.save_evaluation(evaluation, tmp_path / "evaluation.json")
    assert report_html.main([str(saved)]) == 0
    html = (tmp_path / "evaluation.html").read_text()
    assert len(_svgs(html)) == report_html.CHART_COUNT - 1
    assert '<h2>Churn reliability</h2><p class="missing">Not provided: churn_reliability.</p>' in html
    assert html.count("Not provided") == 1


def _headless_chromium(tmp_path: Path, *args: str) -> str:
    """Return the output of headless Chromium run with `args`, offline, on a profile of its own."""
    return subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", *args,
        ],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip


def _dom_with_script(tmp_path: Path, html: str, script: str, *args: str) -> str:
    """Return the DOM headless Chromium makes of the report with `script` added at the end of its body."""
    page = tmp_path / "measure.html"
    page.write_text(html.replace("</body>", script + "</body>"))
    return _headless_chromium(tmp_path, *args, "--dump-dom", page.as_uri())


def _png_rows(png: bytes) -> tuple[int, int, list[bytes]]:
    """Return (width, height, filtered scanlines) of a non-interlaced 8-bit PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(png):
        (length,), kind = struct.unpack(">I", png[position : position + 4]), png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        position += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0
    stride = 1 + width * {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    return width, height, [raw[i : i + stride] for i in range(0, len(raw), stride)]


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason="chromium not installed (CI installs it)"
)
def test_every_label_lies_inside_its_chart_in_headless_chromium(tmp_path) -> None:
    evaluation = _evaluation()
    # the longest readable names the project gives its features, and one longer than any
    evaluation["feature_importance"]["clv"].update(
        {"btyd_revenue": 200.0, "revenue_trend_90d": 150.0, "session_trend_30d": 90.0, "x" * 90: 1.0}
    )
    # the longest titles: the hurdle form's value drivers, over the holdout's cutoff and horizon
    evaluation["drivers_of"] = {"clv": "spend booster, hurdle form", "churn": "churn booster"}
    html = report_html.render_html(evaluation)
    # the report has no script; a copy of it gets one that writes every text's box into the page
    measure = """<script>
    const rows = [];
    document.querySelectorAll("svg").forEach((svg, i) => svg.querySelectorAll("text").forEach(text => {
        const chart = svg.getBoundingClientRect(), box = text.getBoundingClientRect();  // rotated ones too
        const edges = [box.left - chart.left, chart.right - box.right, box.top - chart.top,
                       chart.bottom - box.bottom];
        rows.push([i, Math.min(...edges).toFixed(1), text.textContent].join("|"));
    }));
    document.body.insertAdjacentHTML("beforeend", "<pre id=boxes>" + rows.join("\\n") + "</pre>");
    </script>"""
    dom = _dom_with_script(tmp_path, html, measure)
    lines = re.search(r'<pre id="boxes">(.*?)</pre>', dom, re.S)[1].splitlines()
    boxes = [line.split("|", 2) for line in lines]
    assert len({chart for chart, _, _ in boxes}) == report_html.CHART_COUNT
    assert any(text == "expected revenue (BG/NBD x Gamma-Gamma)" for _, _, text in boxes)
    # the smallest distance of each text's box to its chart's edges: negative is cut off
    assert [(text, margin) for _, margin, text in boxes if float(margin) < 0] == []


def _training_baselines() -> list[dict]:
    """The baseline rows a training run writes: five models, twelve metrics."""
    names = ["mae", "rmse", "spearman", "normalized_gini", "top10_capture", "decile_mape", "aggregate_bias"]
    metrics = [f"revenue_{name}" for name in names] + [
        f"churn_{name}" for name in ("roc_auc", "pr_auc", "brier", "lift_at_10")
    ]
    models = ["bgnbd_gamma_gamma", "lightgbm_rfm", "model", "naive_rate", "persistence"]
    return [{"model": model, **{m: 0.8496 + i / 10_000 for m in metrics}} for i, model in enumerate(models)]


def test_the_baseline_table_has_a_row_per_metric_and_four_decimals() -> None:
    evaluation = _evaluation() | {"baselines": _training_baselines()}
    evaluation["baselines"][2]["churn_roc_auc"] = float("nan")
    table = re.search(
        r"<h2>Against the baselines</h2>\s*<table>(.*?)</table>", report_html.render_html(evaluation)
    )
    rows = [
        re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table[1])
    ]
    assert rows[0] == ["metric", "bgnbd_gamma_gamma", "lightgbm_rfm", "model", "naive_rate", "persistence"]
    assert len(rows) == 1 + 11 and rows[1][0] == "revenue_mae"
    # 0.8496 and 0.8497 both read 0.85 at three significant digits
    assert rows[8] == ["churn_roc_auc", "0.8496", "0.8497", "n/a", "0.8499", "0.8500"]


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason="chromium not installed (CI installs it)"
)
def test_the_baseline_table_fits_the_page_in_headless_chromium(tmp_path) -> None:
    # twelve metric columns ran past the right edge at 1280 px: the churn metrics out of sight, cut in print
    html = report_html.render_html(_evaluation() | {"baselines": _training_baselines()})
    measure = """<script>
    const table = document.querySelector("h2 + table").getBoundingClientRect();
    document.body.insertAdjacentHTML("beforeend", "<pre id=fit>" + [table.right,
        document.documentElement.clientWidth, document.documentElement.scrollWidth].join("|") + "</pre>");
    </script>"""
    dom = _dom_with_script(tmp_path, html, measure, "--window-size=1280,1000")
    right, width, scroll_width = (
        float(v) for v in re.search(r'<pre id="fit">(.*?)</pre>', dom)[1].split("|")
    )
    assert right <= width and scroll_width == width


def test_headless_chromium_renders_a_non_blank_page(tmp_path) -> None:
    page = report_html.render_report(_evaluation(), tmp_path / "report.html")
    png = tmp_path / "report.png"
    _headless_chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,2000", page.as_uri())
    width, height, rows = _png_rows(png.read_bytes())
    assert (width, height) == (1200, 2000)
    # A one-colour image filters to at most a handful of distinct scanlines (one per PNG filter type);
    # nine charts with text and curves give hundreds.
    assert len(set(rows)) > 300


def test_cvw_report_refuses_a_file_that_is_no_evaluation_and_keeps_the_report_beside_it(
    tmp_path, monkeypatch
) -> None:
    # `cvw report artifacts/models/v1/metadata.json` wrote an empty report over v1's report.html
    from ml import cli

    monkeypatch.setenv("CVW_ARTIFACTS_DIR", str(tmp_path))
    folder = tmp_path / "models" / "v1"
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("the training run's report")
    (folder / "metadata.json").write_text('{"version": "v1", "horizon_days": 90}')
    (folder / "broken.json").write_text("{not json")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["report", str(folder / "metadata.json")])
    assert str(stopped.value).startswith(
        f"{folder / 'metadata.json'} is not a training run's evaluation (it has none of title, summary, "
    )
    with pytest.raises(SystemExit, match=r"broken.json is not valid JSON \(Expecting property name"):
        cli.main(["report", str(folder / "broken.json")])
    with pytest.raises(SystemExit) as stopped:
        cli.main(["report", str(tmp_path / "missing.json")])
    assert str(stopped.value) == (
        f"{tmp_path / 'missing.json'} does not exist: pass the evaluation.json a training run saved."
    )
    assert (folder / "report.html").read_text() == "the training run's report"
    assert sorted(path.name for path in folder.iterdir()) == ["broken.json", "metadata.json", "report.html"]


def test_every_chart_of_the_holdout_says_its_cutoff_and_horizon_in_its_title() -> None:
    titles = re.findall(r'<text class="title"[^>]*>([^<]*)</text>', report_html.render_html(_evaluation()))
    assert titles == [
        "CLV gains: revenue of the top customers, 2024-10-01 + 90 days",
        "CLV calibration by decile, 2024-10-01 + 90 days",
        "Churn calibration by decile, 2024-10-01 + 90 days",
        titles[3],  # the ROC and PR titles carry their areas: checked below
        titles[4],
        "Churn reliability by bin, 2024-10-01 + 90 days",
        "Feature importance: clv",  # the boosters' gain in training, of no cutoff
        "Feature importance: churn",
        "SHAP summary: clv, 2024-10-01 + 90 days",
        "SHAP summary: churn, 2024-10-01 + 90 days",
    ]
    assert re.fullmatch(r"Churn ROC \(AUC 0\.\d{3}\), 2024-10-01 \+ 90 days", titles[3])
    assert re.fullmatch(r"Churn precision-recall \(AP 0\.\d{3}\), 2024-10-01 \+ 90 days", titles[4])


def test_the_training_summarys_test_cutoff_is_the_charts_and_a_summary_without_one_titles_none() -> None:
    summary = {"test cutoff (out of time)": "2011-09-09", "horizon": "90 days", "CLV form": "hurdle"}
    assert report_html.chart_scope(summary) == "2011-09-09 + 90 days"
    assert report_html.chart_scope({"horizon": "90 days"}) == ""


def test_rendering_again_replaces_the_report_whole_under_a_reader_that_has_it_open(tmp_path) -> None:
    # `cvw report` rewrote report.html in place: a browser or a copy reading it meanwhile got the start of
    # one report and the end of another (and a kill halfway left half a report); the new one is renamed in
    path = report_html.render_report(_evaluation(), tmp_path / "report.html")
    first = path.read_text()
    evaluation = _evaluation()
    evaluation["title"] = "Another run"
    with path.open() as reader:
        start = reader.read(100)
        report_html.render_report(evaluation, path)
        assert start + reader.read() == first  # the reader's file is the whole first report
    again = path.read_text()
    assert again != first and "Another run" in again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left

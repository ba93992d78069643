"""``medallion report``: the ops tables of a real local pipeline run drawn as one self-contained HTML
page. The figures are checked on the rows read back from the tables; the page is opened in a real
headless Chromium (Debian's package, driven by Playwright): no console error, every chart drawn,
and a screenshot taken."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from medallion.cli import main
from medallion.config import Config
from medallion.report import NO_DATA, VIEWS, ReportData, build_figures, render_html
from medallion.report_cli import read_report_data, write_report
from medallion.storage import get_storage
from medallion.synthetic import SyntheticSpec, write_landing

#: Where .ci/run installs Debian's chromium; the test fails in CI (CI=true) when it is missing.
CHROMIUM_NAMES = ("chromium", "chromium-browser")


@pytest.fixture(scope="module")
def warehouse_run(spark, tmp_path_factory):
    """One ``medallion local --maintenance`` run (delta-rs) over synthetic events with duplicates and
    invalid records, then ``medallion report``: (config, storage, report path)."""
    root = tmp_path_factory.mktemp("report") / "warehouse"
    landing = root.parent / "landing"
    spec = SyntheticSpec(seed=3, users=20, videos=10, days=2, events_per_day=60, files_per_day=2)
    write_landing(dataclasses.replace(spec, invalid_rate=0.05, duplicate_rate=0.05), landing)
    argv = ["local", "--events", str(landing), "--root", str(root), "--engine", "delta-rs", "--maintenance"]
    assert main([*argv, "--shuffle-partitions", "2", "--log-level", "WARNING"]) == 0
    out = root.parent / "page" / "report.html"
    assert main(["report", "--root", str(root), "--out", str(out), "--log-level", "WARNING"]) == 0
    config = Config(environment="local", root=str(root), engine="delta-rs")
    return config, get_storage(spark, config), out


def _points(fig) -> int:
    return sum(len(trace.y) for trace in fig.data if trace.y is not None)


@pytest.mark.slow  # a whole pipeline run (module-scoped)
def test_figures_draw_what_the_ops_tables_hold(warehouse_run):
    config, storage, _ = warehouse_run
    data = read_report_data(config, storage)
    runs = storage.read_rows(config.table("ops", "runs"), ["layer", "rows_in", "rows_out", "duration_s"])
    assert {r["layer"] for r in data.runs} == {"bronze", "silver", "gold", "maintenance"}
    figures = build_figures(data)
    assert list(figures) == [view for view, _ in VIEWS]
    for view, fig in figures.items():
        assert fig.data, f"{view}: nothing drawn"
        assert NO_DATA not in json.dumps(fig.layout.to_plotly_json()), view

    # rows per run: every pipeline run's rows in / out, per layer (maintenance moves no rows)
    drawn = {t.name: list(t.y) for t in figures["rows"].data}
    for layer in ("bronze", "silver", "gold"):
        mine = [r for r in runs if r["layer"] == layer]
        assert drawn[f"{layer} rows out"] == [r["rows_out"] for r in mine]
        assert drawn[f"{layer} rows in"] == [r["rows_in"] for r in mine]
    assert "maintenance rows out" not in drawn

    # duration per job: one point per run, each run's duration_s
    drawn = {t.name: sorted(t.y) for t in figures["duration"].data}
    assert drawn == {layer: sorted(r["duration_s"] for r in runs if r["layer"] == layer) for layer in drawn}
    assert _points(figures["duration"]) == len(runs)

    # quarantine: the reasons of ops.silver_runs stacked, and the rate rows_quarantined / rows_read
    (silver_run,) = data.silver_runs
    reasons = json.loads(silver_run["quarantine_reasons"])
    assert reasons and silver_run["rows_quarantined"] == sum(reasons.values()) > 0
    bars = {t.name: list(t.y) for t in figures["quarantine"].data if t.type == "bar"}
    assert bars == {reason: [n] for reason, n in reasons.items()}
    (rate,) = [t for t in figures["quarantine"].data if t.type == "scatter"]
    assert rate.y[0] == pytest.approx(100 * silver_run["rows_quarantined"] / silver_run["rows_read"])

    # quality: one line per checked table, and the threshold line at min_quality_score
    checks = storage.read_rows(config.table("ops", "quality_results"), ["table_name", "quality_score"])
    drawn = {t.name: list(t.y) for t in figures["quality"].data}
    assert drawn.keys() == {c["table_name"] for c in checks}
    assert sum(map(len, drawn.values())) == len(checks)
    (threshold,) = figures["quality"].layout.shapes
    assert threshold.y0 == threshold.y1 == config.min_quality_score == 0.95

    # maintenance: the latest run per table, files before / after and VACUUM's deletions
    maintained = {r["table_name"]: r for r in data.maintenance if r["files_before"] is not None}
    before = next(t for t in figures["maintenance"].data if t.name == "files before")
    after = next(t for t in figures["maintenance"].data if t.name == "files after")
    assert list(before.y) == list(maintained) and "silver.events" in maintained
    assert list(before.x) == [r["files_before"] for r in maintained.values()]
    assert list(after.x) == [r["files_after"] for r in maintained.values()]

    # freshness: per layer, minutes since the last successful run and since the newest data
    last, newest = figures["freshness"].data
    assert list(last.x) == ["bronze", "silver", "gold", "maintenance"]
    assert all(0 < minutes < 60 for minutes in last.y)  # the run just ended
    assert list(newest.x) == list(last.x) and newest.y[3] is None  # maintenance writes no data
    event_ts = max(r["event_ts"] for r in storage.read_rows(config.table("silver", "events"), ["event_ts"]))
    assert data.newest["silver"][1] == event_ts.astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert newest.y[1] == pytest.approx((data.now - data.newest["silver"][1]).total_seconds() / 60)


def test_missing_tables_give_no_data_charts(tmp_path, spark):
    """A warehouse without any table yet: every view is a chart saying "no data yet", not a
    failure; a missing maintenance table alone only empties its own view."""
    config = Config(environment="local", root=str(tmp_path), engine="delta-rs")
    data = read_report_data(config, get_storage(spark, config))
    assert data.runs is data.maintenance is None and data.newest["silver"][1] is None
    for view, fig in build_figures(data).items():
        assert not fig.data and NO_DATA in fig.layout.annotations[0].text, view
    (why,) = build_figures(data)["maintenance"].layout.annotations
    assert "ops.maintenance_runs does not exist" in why.text

    now = dt.datetime(2026, 1, 2, 12, 0)
    partial = ReportData(
        root="w",
        now=now,
        runs=[
            {"layer": "bronze", "rows_in": 5, "rows_out": 5, "started_time": now, "duration_s": 2.0},
        ],
        newest={"bronze": ("newest ingestion", now - dt.timedelta(minutes=30))},
    )
    partial.runs[0]["status"] = "succeeded"
    figures = build_figures(partial)
    assert [v for v, fig in figures.items() if not fig.data] == ["quarantine", "quality", "maintenance"]
    (since_data,) = [t for t in figures["freshness"].data if "newest" in t.name]
    assert list(since_data.y) == [30.0]
    page = render_html(partial, figures)
    assert page.count('class="plotly-graph-div"') == len(VIEWS) and page.count(NO_DATA) == 3


def test_report_refuses_a_root_without_a_warehouse(tmp_path, capsys):
    assert main(["report", "--root", str(tmp_path / "nothing")]) == 2
    assert "no medallion warehouse is there" in capsys.readouterr().err


# --- the page in a real browser ---------------------------------------------------------------
def chromium() -> str:
    """Debian's chromium; skipped locally when it is not installed, a failure in CI."""
    found = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if found is None:
        reason = "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser test")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def browser():
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable)  # never playwright's own download
        yield browser
        browser.close()


def _open(browser, page_path: Path):
    page = browser.new_page(viewport={"width": 1240, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(page_path.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.plotly-graph-div .main-svg').length >= {len(VIEWS)}")
    return page, problems


CHARTS_JS = """[...document.querySelectorAll('.plotly-graph-div')].map(div => ({
  id: div.id,
  svg: div.querySelectorAll('svg.main-svg').length,
  traces: div.querySelectorAll('svg.main-svg g.trace').length,
  marks: div.querySelectorAll('svg.main-svg g.trace path').length,
  text: div.innerText,
}))"""


@pytest.mark.slow  # a whole pipeline run (module-scoped)
def test_the_page_renders_every_chart_in_chromium(warehouse_run, browser, tmp_path):
    _, _, report = warehouse_run
    html = report.read_text()
    assert not re.search(r"<script[^>]+src=", html), "the page must load no script from the network"
    page, problems = _open(browser, report)
    charts = page.evaluate(CHARTS_JS)
    assert [c["id"] for c in charts] == [f"chart-{view}" for view, _ in VIEWS]
    for chart in charts:
        assert chart["svg"] >= 1 and chart["traces"] >= 1 and chart["marks"] >= 1, chart
        assert NO_DATA not in chart["text"], chart["id"]
    assert "min_quality_score 0.95" in page.inner_text("#chart-quality")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert problems == []
    page.close()


def test_a_warehouse_without_tables_renders_no_data_charts_in_chromium(spark, browser, tmp_path):
    config = Config(environment="local", root=str(tmp_path / "empty"), engine="delta-rs")
    page_path = write_report(config, get_storage(spark, config), tmp_path / "empty.html")
    page, problems = _open(browser, page_path)
    charts = page.evaluate(CHARTS_JS)
    assert len(charts) == len(VIEWS)
    for chart in charts:
        assert chart["traces"] == 0 and NO_DATA in chart["text"], chart
    assert problems == []
    page.close()

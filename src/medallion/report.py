"""The local report's pure part: the ops tables' rows (:class:`ReportData`) -> one plotly figure per
view of the Databricks dashboard -> one self-contained HTML page (plotly.js embedded once, so it
opens without a network). Reading the tables is :mod:`medallion.report_cli`'s job.

Every time here is naive UTC. A view whose table does not exist yet (or holds no row) is a figure
that says "no data yet" instead of failing the report.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

NO_DATA = "no data yet"
HEIGHT = 420  # px, every chart
#: The layers in pipeline order (ops.runs.layer), each with its colour on every chart.
LAYER_COLORS = {"bronze": "#b06f2e", "silver": "#7f8c9a", "gold": "#d4a514", "serving": "#2e86ab"}
LAYER_COLORS["maintenance"] = "#5c677d"
OTHER_COLOR = "#9b59b6"
WIDE = {"freshness", "maintenance"}  # views as wide as the page: the first and the last
#: The views, in page order: (figure id, title).
VIEWS = (
    ("freshness", "Freshness per layer"),
    ("rows", "Rows per run"),
    ("quarantine", "Quarantine rate and reasons (silver)"),
    ("quality", "Quality score per table"),
    ("duration", "Duration per job"),
    ("maintenance", "Maintenance: files and bytes per table (latest run)"),
)


@dataclass
class ReportData:
    """What the report shows. A table is ``None`` when it does not exist yet; its rows are dicts of
    the ops tables' columns (:mod:`medallion.tables.ops`)."""

    root: str
    now: dt.datetime
    min_quality_score: float = 0.95
    runs: list[dict[str, Any]] | None = None  # ops.runs
    silver_runs: list[dict[str, Any]] | None = None  # ops.silver_runs
    quality: list[dict[str, Any]] | None = None  # ops.quality_results
    maintenance: list[dict[str, Any]] | None = None  # ops.maintenance_runs
    #: layer -> (what, newest time of its data); None: the table is missing or empty
    newest: dict[str, tuple[str, dt.datetime | None]] = field(default_factory=dict)


def color(layer: str) -> str:
    return LAYER_COLORS.get(layer, OTHER_COLOR)


def _layers(rows: Sequence[dict[str, Any]]) -> list[str]:
    found = {r["layer"] for r in rows}
    return [name for name in LAYER_COLORS if name in found] + sorted(found - set(LAYER_COLORS))


def _style(fig: go.Figure, title: str, y: str, x: str | None = None) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        template="plotly_white",
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 60, "b": 110},
        legend={"orientation": "h", "y": -0.22, "yanchor": "top"},
        yaxis_title=y,
        xaxis_title=x,
    )
    return fig


def missing(rows: list | None, table: str, what: str = "run") -> str:
    """Why a view is empty: its table does not exist yet, or holds nothing to draw."""
    return f"{table} does not exist yet" if rows is None else f"{table} holds no {what}"


def no_data(title: str, why: str) -> go.Figure:
    """A chart that says so: nothing to draw yet (``why``: which table is missing or empty)."""
    fig = go.Figure()
    fig.add_annotation(
        text=f"<b>{NO_DATA}</b><br>{html.escape(why)}",
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 16, "color": "#666"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, "")


def minutes_label(minutes: float) -> str:
    if minutes < 1:
        return "< 1 min"
    if minutes < 120:
        return f"{minutes:,.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:,.1f} h"
    return f"{minutes / 1440:,.1f} days"


def freshness_figure(data: ReportData) -> go.Figure:
    """Minutes since each layer's last successful run ended, and since its newest data."""
    title = dict(VIEWS)["freshness"]
    runs = [r for r in data.runs or [] if r["status"] == "succeeded"]
    last_run: dict[str, dt.datetime] = {}
    for r in runs:
        ended = r["started_time"] + dt.timedelta(seconds=r["duration_s"] or 0)
        last_run[r["layer"]] = max(ended, last_run.get(r["layer"], ended))
    newest = {layer: value for layer, value in data.newest.items() if value[1] is not None}
    if not last_run and not newest:
        return no_data(title, "ops.runs holds no successful run and no layer table holds a row")
    layers = [name for name in LAYER_COLORS if name in last_run or name in newest]
    layers += sorted((set(last_run) | set(newest)) - set(layers))

    def since(moment: dt.datetime | None) -> float | None:
        return None if moment is None else max((data.now - moment).total_seconds() / 60, 0.1)

    fig = go.Figure()
    since_data = [since(newest[layer][1]) if layer in newest else None for layer in layers]
    for name, values, opacity in (
        ("since the last successful run", [since(last_run.get(layer)) for layer in layers], 1.0),
        ("since the newest data (lighter)", since_data, 0.45),
    ):
        hover = [
            f"{layer}: {minutes_label(v)} {name}" + (f" ({newest[layer][0]})" if "data" in name else "")
            if v is not None
            else f"{layer}: -"
            for layer, v in zip(layers, values, strict=True)
        ]
        fig.add_bar(
            name=name,
            x=layers,
            y=values,
            text=[minutes_label(v) if v is not None else "" for v in values],
            textposition="outside",
            hovertext=hover,
            hoverinfo="text",
            marker={"color": [color(layer) for layer in layers], "opacity": opacity},
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log")
    return _style(fig, title, "minutes (log scale)")


def _run_labels(times: Sequence[dt.datetime], layers: Sequence[str]) -> list[str]:
    """One category per run, in time order: its start (UTC) and layer, unique."""
    labels: list[str] = []
    for when, layer in zip(times, layers, strict=True):
        label = f"{when:%m-%d %H:%M:%S} {layer}"
        while label in labels:
            label += "'"
        labels.append(label)
    return labels


def rows_figure(data: ReportData) -> go.Figure:
    """Rows in and out of every run (ops.runs), one bar per run coloured by layer."""
    title = dict(VIEWS)["rows"]
    runs = sorted(
        (r for r in data.runs or [] if r["layer"] != "maintenance"), key=lambda r: r["started_time"]
    )
    if not runs:
        return no_data(title, missing(data.runs, "ops.runs", "pipeline run"))
    labels = _run_labels([r["started_time"] for r in runs], [r["layer"] for r in runs])
    fig = go.Figure()
    for layer in _layers(runs):
        mine = [(label, r) for label, r in zip(labels, runs, strict=True) if r["layer"] == layer]
        x = [label for label, _ in mine]
        fig.add_bar(
            name=f"{layer} rows out", x=x, y=[r["rows_out"] for _, r in mine], marker_color=color(layer)
        )
        fig.add_scatter(
            name=f"{layer} rows in",
            x=x,
            y=[r["rows_in"] for _, r in mine],
            mode="markers",
            marker={"symbol": "diamond", "size": 11, "color": color(layer), "line": {"width": 1.5}},
        )
    fig.update_layout(barmode="relative")
    fig.update_xaxes(categoryorder="array", categoryarray=labels)
    return _style(fig, title, "rows", "run (start, UTC)")


def quarantine_figure(data: ReportData) -> go.Figure:
    """Per silver run: the quarantined rows by reason (stacked) and the quarantine rate."""
    title = dict(VIEWS)["quarantine"]
    runs = sorted(data.silver_runs or [], key=lambda r: r["recorded_time"])
    if not runs:
        return no_data(title, missing(data.silver_runs, "ops.silver_runs"))
    labels = _run_labels([r["recorded_time"] for r in runs], ["silver"] * len(runs))
    reasons = [json.loads(r["quarantine_reasons"] or "{}") for r in runs]
    totals: dict[str, int] = defaultdict(int)
    for counts in reasons:
        for reason, n in counts.items():
            totals[reason] += n
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for reason in sorted(totals, key=lambda k: (-totals[k], k)):
        fig.add_bar(name=reason, x=labels, y=[counts.get(reason, 0) for counts in reasons], secondary_y=False)
    rate = [100 * r["rows_quarantined"] / r["rows_read"] if r["rows_read"] else 0.0 for r in runs]
    fig.add_scatter(
        name="quarantine rate",
        x=labels,
        y=rate,
        mode="lines+markers",
        line={"color": "#c0392b", "width": 3},
        marker={"size": 9},
        hovertemplate="%{y:.2f} %% of the rows read<extra></extra>",
        secondary_y=True,
    )
    fig.update_layout(barmode="stack")
    rate_axis = {"title_text": "quarantine rate (%)", "rangemode": "tozero", "tickformat": ".2~f"}
    fig.update_yaxes(**rate_axis, showgrid=False, secondary_y=True)
    return _style(fig, title, "quarantined rows by reason", "silver run (UTC)")


def quality_figure(data: ReportData) -> go.Figure:
    """Every check's quality score per table over time, with the min_quality_score line."""
    title = dict(VIEWS)["quality"]
    checks = sorted(
        (r for r in data.quality or [] if r["quality_score"] is not None), key=lambda r: r["checked_at"]
    )
    if not checks:
        return no_data(title, missing(data.quality, "ops.quality_results", "scored check"))
    fig = go.Figure()
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in checks:
        by_table[r["table_name"]].append(r)
    for table, rows in sorted(by_table.items()):
        fig.add_scatter(
            name=table,
            x=[r["checked_at"] for r in rows],
            y=[r["quality_score"] for r in rows],
            mode="lines+markers",
            marker={"size": 10, "color": color(table.split(".")[0]), "symbol": _symbol(table)},
            line={"color": color(table.split(".")[0])},
            customdata=[r.get("status", "") for r in rows],
            hovertemplate=f"{table}: %{{y:.3f}} (%{{customdata}})<br>%{{x}}<extra></extra>",
        )
    threshold = data.min_quality_score
    fig.add_hline(
        y=threshold,
        line={"color": "#c0392b", "dash": "dash", "width": 2},
        annotation_text=f"min_quality_score {threshold:g}",
        annotation_position="bottom right",
    )
    low = min([threshold, *(r["quality_score"] for r in checks)])
    fig.update_yaxes(range=[max(low - 0.05, 0), 1.02])
    return _style(fig, title, "quality score", "checked at (UTC)")


def _symbol(table: str) -> str:
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star")
    return symbols[sum(map(ord, table)) % len(symbols)]


def duration_figure(data: ReportData) -> go.Figure:
    """Every run's duration per job (layer) over time."""
    title = dict(VIEWS)["duration"]
    runs = sorted(data.runs or [], key=lambda r: r["started_time"])
    if not runs:
        return no_data(title, missing(data.runs, "ops.runs"))
    fig = go.Figure()
    for layer in _layers(runs):
        mine = [r for r in runs if r["layer"] == layer]
        fig.add_scatter(
            name=layer,
            x=[r["started_time"] for r in mine],
            y=[r["duration_s"] for r in mine],
            mode="lines+markers",
            marker={
                "size": 12,
                "color": color(layer),
                "symbol": ["x" if r["status"] != "succeeded" else "circle" for r in mine],
            },
            line={"color": color(layer)},
            customdata=[r["status"] for r in mine],
            hovertemplate=f"{layer}: %{{y:.1f}} s (%{{customdata}})<br>%{{x}}<extra></extra>",
        )
    fig.update_yaxes(rangemode="tozero")
    return _style(fig, title, "seconds", "run start (UTC)")


def maintenance_figure(data: ReportData) -> go.Figure:
    """The latest maintenance run per table: data files before / after OPTIMIZE, the files VACUUM
    deleted, and the bytes before / after."""
    title = dict(VIEWS)["maintenance"]
    done = [r for r in data.maintenance or [] if r["files_before"] is not None]
    if not done:
        return no_data(title, missing(data.maintenance, "ops.maintenance_runs", "maintained table"))
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(done, key=lambda r: r["started_at"]):
        latest[r["table_name"]] = r
    tables = list(latest)
    rows = list(latest.values())
    when = max(r["started_at"] for r in rows)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04)
    bars = (
        (1, "files before", "files_before", "#95a5a6", 1),
        (1, "files after", "files_after", "#27ae60", 1),
        (1, "files deleted by VACUUM", "vacuum_files_deleted", "#c0392b", 1),
        (2, "MB before", "bytes_before", "#7f8c8d", 1e6),
        (2, "MB after", "bytes_after", "#1e8449", 1e6),
    )
    for col, name, column, shade, unit in bars:
        values = [(r[column] or 0) / unit for r in rows]
        fig.add_bar(name=name, y=tables, x=values, orientation="h", marker_color=shade, row=1, col=col)
    fig.update_layout(barmode="group")
    fig.update_yaxes(autorange="reversed")  # the registry's order, top down
    _style(fig, f"{title}, {when:%Y-%m-%d %H:%M} UTC", "")
    fig.update_xaxes(title_text="data files", row=1, col=1)
    fig.update_xaxes(title_text="MB of data files", row=1, col=2)
    return fig.update_layout(height=max(HEIGHT, 160 + 30 * len(tables)))


BUILDERS = {
    "freshness": freshness_figure,
    "rows": rows_figure,
    "quarantine": quarantine_figure,
    "quality": quality_figure,
    "duration": duration_figure,
    "maintenance": maintenance_figure,
}


def build_figures(data: ReportData) -> dict[str, go.Figure]:
    """One figure per view, in page order."""
    return {view: BUILDERS[view](data) for view, _ in VIEWS}


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>medallion report - {root}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 12px 20px;
  color: #222; }}
h1 {{ font-size: 1.4em; margin: 6px 0; }}
p.meta {{ color: #555; margin: 0 0 10px; }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }}
section {{ border: 1px solid #e3e3e3; border-radius: 6px; }}
section.wide {{ grid-column: 1 / -1; }}
</style>
<script type="text/javascript">{plotlyjs}</script>
</head>
<body>
<h1>medallion report</h1>
<p class="meta">warehouse <code>{root}</code> &middot; generated {now} UTC &middot;
min_quality_score {threshold:g}</p>
<div class="grid">
{sections}
</div>
</body>
</html>
"""


def render_html(data: ReportData, figures: dict[str, go.Figure]) -> str:
    """One self-contained page: plotly.js inline once, then one chart per view."""
    from plotly.offline import get_plotlyjs

    sections = []
    for view, fig in figures.items():
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{view}",
            default_height=f"{fig.layout.height or HEIGHT}px",
            config={"displaylogo": False, "responsive": True},
        )
        wide = ' class="wide"' if view in WIDE else ""
        sections.append(f'<section id="{view}"{wide}>{div}</section>')
    return PAGE.format(
        root=html.escape(data.root),
        now=f"{data.now:%Y-%m-%d %H:%M:%S}",
        threshold=data.min_quality_score,
        plotlyjs=get_plotlyjs(),
        sections="\n".join(sections),
    )

"""``medallion report``: the local report's I/O - read the ops tables (and each layer's newest data)
through the storage adapter into :class:`~medallion.report.ReportData`, and write the page that
:mod:`medallion.report` draws from it."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.config import Config
from medallion.runtime import EXIT_OK, spark_and_storage, start

if TYPE_CHECKING:  # plotly is imported when a report is drawn, not by every command (cli imports this)
    from medallion.report import ReportData

#: The ops tables the report reads: registry key -> the columns it needs.
OPS_COLUMNS = {
    "ops.runs": ("run_id", "layer", "rows_in", "rows_out", "started_time", "duration_s", "status"),
    "ops.silver_runs": ("run_id", "recorded_time", "rows_read", "rows_quarantined", "quarantine_reasons"),
    "ops.quality_results": ("run_id", "checked_at", "table_name", "quality_score", "status"),
    "ops.maintenance_runs": (
        *("run_id", "started_at", "table_name", "outcome", "files_before", "files_after"),
        *("bytes_before", "bytes_after", "vacuum_files_deleted"),
    ),
}
#: Each layer's newest data: layer -> (registry key, column, what it is).
NEWEST = {
    "bronze": ("bronze.events", "ingestion_time", "newest bronze ingestion_time"),
    "silver": ("silver.events", "event_ts", "newest silver event_ts"),
    "gold": ("gold.user_features", "feature_date", "end of the newest gold feature_date"),
}


def utc(value: Any) -> Any:
    """A value read back from a table as naive UTC: timestamps arrive naive in local time (as
    PySpark's ``collect`` returns them), a date stands for the end of that UTC day."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.astimezone()  # naive: the local time zone
        return aware.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value + dt.timedelta(days=1), dt.time())
    return value


def _rows(storage: Any, config: Config, key: str, columns: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """The table's ``columns``, times as naive UTC; None when the table does not exist yet."""
    from medallion.tables import by_key

    table = by_key(key).location(config)
    if not storage.exists(table):
        return None
    return [{k: utc(v) for k, v in row.items()} for row in storage.read_rows(table, list(columns))]


def read_report_data(config: Config, storage: Any, now: dt.datetime | None = None) -> ReportData:
    """What the report shows, read from the warehouse through the storage adapter (a table that
    does not exist yet is None: its chart says "no data yet")."""
    from medallion.report import ReportData

    ops = {key: _rows(storage, config, key, columns) for key, columns in OPS_COLUMNS.items()}
    newest: dict[str, tuple[str, dt.datetime | None]] = {}
    for layer, (key, column, what) in NEWEST.items():
        values = [r[column] for r in _rows(storage, config, key, (column,)) or [] if r[column] is not None]
        newest[layer] = (what, max(values) if values else None)
    return ReportData(
        root=config.root,
        now=now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
        min_quality_score=config.min_quality_score,
        runs=ops["ops.runs"],
        silver_runs=ops["ops.silver_runs"],
        quality=ops["ops.quality_results"],
        maintenance=ops["ops.maintenance_runs"],
        newest=newest,
    )


def write_report(config: Config, storage: Any, out: str | Path) -> Path:
    """Read the warehouse, draw every view and write the page to ``out``; returns its path."""
    from medallion.report import build_figures, render_html

    data = read_report_data(config, storage)
    page = render_html(data, build_figures(data))
    path = Path(out).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", default=None, metavar="FILE", help="the HTML page to write (default: <root>/report.html)"
    )


def cmd_report(args: argparse.Namespace) -> int:
    from medallion.preflight import check_warehouse

    config = start(args, environment="local")
    check_warehouse(config, "report")  # a root without a medallion table is a typo (exit 2)
    _, storage = spark_and_storage(config, tracking=False)
    path = write_report(config, storage, args.out or Path(config.root) / "report.html")
    print(f"medallion report: {path}")
    return EXIT_OK

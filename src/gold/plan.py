"""Gold's planning: for each feature table, whether to recompute everything, some feature dates or
nothing (pure: the reads it needs are passed in as functions), and what the run reports."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from medallion.gold.transforms import DateRange, affected_feature_dates

log = logging.getLogger(__name__)

#: Predicate of a full-mode write: every row of the table (feature_date is NOT NULL).
ALL_ROWS = "feature_date IS NOT NULL"

FULL, INCREMENTAL, UP_TO_DATE, NO_NEW_ROWS = "full", "incremental", "up-to-date", "no-new-rows"


@dataclass
class TableRun:
    """What one run did to one gold table."""

    name: str
    table: str
    mode: str  # full | incremental | up-to-date | no-new-rows
    previous_silver_version: int | None
    feature_ranges: list[DateRange] = field(default_factory=list)
    rows_written: int = 0
    committed: bool = False
    gold_version: int | None = None

    @property
    def feature_dates(self) -> int:
        return sum(r.days for r in self.feature_ranges)

    @property
    def ranges_text(self) -> str:
        return ", ".join(str(r) for r in self.feature_ranges) or "-"

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "mode": self.mode,
            "previous_silver_version": self.previous_silver_version,
            "feature_ranges": [[r.start.isoformat(), r.end.isoformat()] for r in self.feature_ranges],
            "feature_dates": self.feature_dates,
            "rows_written": self.rows_written,
            "committed": self.committed,
            "gold_version": self.gold_version,
        }


@dataclass
class GoldResult:
    silver_version: int
    tables: dict[str, TableRun] = field(default_factory=dict)
    seconds: float = 0.0
    mlflow_run_id: str | None = None

    @property
    def rows_written(self) -> int:
        return sum(t.rows_written for t in self.tables.values())

    def summary(self) -> str:
        parts = []
        for t in self.tables.values():
            if t.mode in (UP_TO_DATE, NO_NEW_ROWS):
                parts.append(f"{t.name}: {t.mode}")
            else:
                parts.append(
                    f"{t.name}: {t.mode} {t.ranges_text} ({t.feature_dates} feature dates), "
                    f"{t.rows_written} rows written"
                )
        return f"gold: silver version {self.silver_version}; " + "; ".join(parts) + f"; {self.seconds:.1f} s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "silver_version": self.silver_version,
            "tables": {name: t.as_dict() for name, t in self.tables.items()},
            "rows_written": self.rows_written,
            "seconds": self.seconds,
            "mlflow_run_id": self.mlflow_run_id,
        }

    def input_range(self) -> str:
        previous = [t.previous_silver_version for t in self.tables.values()]
        start = 0 if any(p is None for p in previous) else min(p + 1 for p in previous if p is not None)
        return f"silver versions {min(start, self.silver_version)}..{self.silver_version}"

    def tracking(self) -> tuple[dict[str, Any], dict[str, float]]:
        """MLflow params and metrics of the run, per table."""
        params: dict[str, Any] = {"silver_version": self.silver_version}
        metrics: dict[str, float] = {}
        for name, t in self.tables.items():
            params[f"{name}.mode"] = t.mode
            params[f"{name}.previous_silver_version"] = t.previous_silver_version
            params[f"{name}.feature_dates"] = t.ranges_text
            metrics[f"rows_written_{name}"] = t.rows_written
            metrics[f"feature_dates_{name}"] = t.feature_dates
        return params, metrics


def plan_table(
    name: str,
    table: str,
    committed: int | None,
    silver_version: int,
    full_refresh: bool,
    changed_dates: Callable[[int], set[dt.date] | None],
    latest_feature_date: Callable[[], dt.date | None],
) -> TableRun:
    """The plan of one gold table. ``committed``: the silver version it was last computed from;
    ``changed_dates(committed)``: the event dates inserted into silver since (None: the change feed
    cannot be read, e.g. vacuumed); ``latest_feature_date()``: its latest feature date. Full mode
    gets its ranges from every silver date when the job reads silver."""
    run = TableRun(name, table, FULL, committed)
    if full_refresh or committed is None:
        return run
    if committed >= silver_version:
        run.mode = UP_TO_DATE
        return run
    new_dates = changed_dates(committed)
    if new_dates is None:
        return run
    previous_latest = latest_feature_date()
    known = [d for d in (previous_latest, max(new_dates, default=None)) if d is not None]
    run.feature_ranges = affected_feature_dates(new_dates, previous_latest, max(known, default=None))
    run.mode = INCREMENTAL if run.feature_ranges else NO_NEW_ROWS
    return run

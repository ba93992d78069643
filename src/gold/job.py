"""Gold job: ``silver.events`` -> ``gold.user_features`` and ``gold.video_features``, incrementally,
exactly once, logged to MLflow.

Progress
--------
Each gold table keeps its own progress: the last silver version it was computed from, a
``committed`` row of consumer :attr:`gold.schema.GoldTable.app_id` in ``ops.progress``
(:class:`medallion.progress.ProgressLog`), appended after the table's write. The write itself
carries ``Txn(app_id, silver_version)``. A crash between the two leaves progress behind the data;
the rerun recomputes the same feature dates from silver and replaces them with identical rows
(gold writes are replacements, idempotent by content), then records progress.

A run, per table:

1. ``silver_version`` = the current silver version; every silver read below is pinned to it
   (``read(..., version=silver_version)``, change feed ``..silver_version``), so commits landing
   while gold runs are left for the next run.
2. Up to date (progress == ``silver_version``): nothing is read or written - a rerun with
   nothing new changes nothing.
3. No progress (first run, or ``full_refresh``): *full* mode - every silver event date counts as
   new, and the write replaces the whole table.
4. Otherwise *incremental*: the event dates E of the rows inserted since (silver change data feed
   ``progress+1..silver_version``; silver is insert-only) and the table's latest feature date
   ``L_old`` (the max ``feature_date`` partition, read from the Delta file list) give the feature
   dates to recompute, :func:`medallion.gold.transforms.affected_feature_dates` with
   ``L_new = max(L_old, max(E))``: each e in E affects ``[e, min(e+6, L_new)]`` and the new dates
   ``(L_old, L_new]`` are added. If the change feed cannot be read (e.g. vacuumed), the table
   falls back to full mode.
5. Silver rows with ``event_date`` in ``[start-6, end]`` of those ranges are read once for both
   tables, the features recomputed from them (pure :mod:`medallion.gold.transforms`), and each table's
   affected ``feature_date`` partitions replaced atomically in one commit.

Every recomputed feature date is computed from *all* silver rows of its window (not by patching
old values), so the result is identical to a full recompute - late events included.

Crash safety
------------
Two tables are two commits. If a run dies after ``user_features`` committed and before
``video_features`` did, the rerun finds ``user_features`` up to date (skipped) and
``video_features`` still at its old progress: it re-derives its own ranges from its own progress
and completes. A retry of an *old* run can never overwrite newer results: its Txn version is
<= the committed one and the write is skipped. Silver commits without inserted rows (e.g. OPTIMIZE)
produce no feature dates; nothing is written and progress stays where it is (the next run reads
the change feed from there again, which holds nothing for those commits).

Quality gate hook
-----------------
``run(..., gate=...)`` takes an optional callable ``gate(table_name, candidate_df, context)``
that is called for each table *before* its write, with the candidate rows (cached) and a context
dict (table identifier, mode, feature ranges, silver version, primary key). Raising from it stops
the run before that table is written (issue 5 builds the gate in :mod:`quality`).

MLflow
------
Each run (no-op runs too) is logged with :func:`medallion.tracking.log_run` to
``config.tracking_uri`` / ``config.experiment``: params (silver version, per table the mode,
previous silver version and feature dates recomputed) and metrics (rows written and feature dates
per table, duration). A failed run is logged with tag ``medallion.status=FAILED``. A tracking
failure is logged as an error and does not fail the job: the Delta commits are already done.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.gold.schema import GOLD_TABLES, PARTITION_COLUMNS, TIMESERIES_KEY, GoldTable
from medallion.gold.transforms import (
    SILVER_COLUMNS,
    DateRange,
    affected_feature_dates,
    date_range_predicate,
    source_event_dates,
    user_features,
    video_features,
)
from medallion.progress import PROGRESS_TABLE, ProgressLog
from medallion.silver.schema import EVENTS_TABLE
from medallion.storage import DeltaStorage, StorageError, TableNotFoundError, Txn
from medallion.storage.base import PRIMARY_KEY_PROPERTY, TIMESERIES_KEY_PROPERTY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config

log = logging.getLogger(__name__)

#: ``gate(table_name, candidate, context)``: validate the candidate rows of one gold table before
#: they are written; raise to stop the run.
Gate = Callable[[str, "DataFrame", dict[str, Any]], None]

#: Predicate of a full-mode write: every row of the table (feature_date is NOT NULL).
ALL_ROWS = "feature_date IS NOT NULL"

FULL, INCREMENTAL, UP_TO_DATE, NO_NEW_ROWS = "full", "incremental", "up-to-date", "no-new-rows"

_TRANSFORMS: dict[str, Callable[[DataFrame, dt.date, dt.date], DataFrame]] = {
    "user_features": user_features,
    "video_features": video_features,
}


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


# --- tables -------------------------------------------------------------------------------------
def prepare_tables(storage: DeltaStorage, config: Config) -> dict[str, str]:
    """Create the gold tables if missing and declare their keys; returns name -> identifier."""
    tables = {}
    for spec in GOLD_TABLES:
        table = config.table(*spec.id)
        storage.create_if_missing(table, spec.schema, PARTITION_COLUMNS)
        declared = storage.properties(table)
        if (
            declared.get(PRIMARY_KEY_PROPERTY) != spec.properties[PRIMARY_KEY_PROPERTY]
            or declared.get(TIMESERIES_KEY_PROPERTY) != spec.properties[TIMESERIES_KEY_PROPERTY]
        ):
            storage.declare_primary_key(table, spec.primary_key, TIMESERIES_KEY)
        tables[spec.name] = table
    return tables


def latest_feature_date(storage: DeltaStorage, table: str) -> dt.date | None:
    """The latest ``feature_date`` of a gold table, from the partition values of its files."""
    latest = None
    for info in storage.files(table):
        value = info.partition_values.get("feature_date")
        if value is None:
            continue
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        if isinstance(day, dt.datetime):
            day = day.date()
        latest = day if latest is None or day > latest else latest
    return latest


def _changed_event_dates(storage: DeltaStorage, silver: str, start: int, end: int) -> set[dt.date]:
    with storage.errors("read change feed", silver):  # a lazy read fails here, as StorageError
        changes = storage.read_changes(silver, start, end)
        return {row["event_date"] for row in changes.select("event_date").distinct().collect()}


def _plan(
    storage: DeltaStorage,
    spec: GoldTable,
    table: str,
    silver: str,
    silver_version: int,
    full_refresh: bool,
    changes: dict[int, set[dt.date]],
    progress: ProgressLog,
) -> TableRun:
    committed = progress.state(spec.app_id, storage.table_id(table)).committed
    run = TableRun(spec.name, table, FULL, committed)
    if full_refresh or committed is None:
        return run  # ranges come from every silver date, see _full_ranges
    if committed >= silver_version:
        run.mode = UP_TO_DATE
        return run
    try:
        if committed not in changes:
            changes[committed] = _changed_event_dates(storage, silver, committed + 1, silver_version)
    except StorageError as exc:
        log.warning(
            "gold %s: cannot read the silver change feed %s..%s (%s): full recompute",
            spec.name,
            committed + 1,
            silver_version,
            exc,
        )
        return run
    new_dates = changes[committed]
    previous_latest = latest_feature_date(storage, table)
    known = [d for d in (previous_latest, max(new_dates, default=None)) if d is not None]
    run.feature_ranges = affected_feature_dates(new_dates, previous_latest, max(known, default=None))
    run.mode = INCREMENTAL if run.feature_ranges else NO_NEW_ROWS
    return run


# --- the job ------------------------------------------------------------------------------------
def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    *,
    gate: Gate | None = None,
    full_refresh: bool = False,
) -> GoldResult:
    """Bring both gold tables up to the current silver version (see the module docstring)."""
    started = time.monotonic()
    silver = config.table(*EVENTS_TABLE)
    silver_version = storage.version(silver)
    if silver_version is None:
        raise TableNotFoundError(f"gold reads {silver}, which does not exist: run the silver job first")
    result = GoldResult(silver_version)
    try:
        tables = prepare_tables(storage, config)
        run_id = uuid.uuid4().hex
        progress = ProgressLog(storage, config.table(*PROGRESS_TABLE))
        progress.ensure()
        changes: dict[int, set[dt.date]] = {}
        for spec in GOLD_TABLES:
            result.tables[spec.name] = _plan(
                storage, spec, tables[spec.name], silver, silver_version, full_refresh, changes, progress
            )

        def record(t: TableRun) -> None:
            spec = next(s for s in GOLD_TABLES if s.name == t.name)
            start = 0 if t.previous_silver_version is None else t.previous_silver_version + 1
            target_id = storage.table_id(t.table)
            progress.commit(spec.app_id, target_id, min(start, silver_version), silver_version, run_id)

        for t in result.tables.values():
            if t.mode == NO_NEW_ROWS:  # silver commits without inserted rows: nothing to recompute
                record(t)
        _compute_and_write(storage, silver, result, gate, record)
    except Exception as exc:
        result.seconds = time.monotonic() - started
        _track(config, storage, result, full_refresh, error=exc)
        raise
    result.seconds = time.monotonic() - started
    result.mlflow_run_id = _track(config, storage, result, full_refresh)
    log.info("%s", result.summary())
    return result


def _compute_and_write(
    storage: DeltaStorage,
    silver: str,
    result: GoldResult,
    gate: Gate | None,
    record: Callable[[TableRun], None],
) -> None:
    """Recompute and write each table that needs it; ``record(t)`` commits its progress right
    after its write (a table whose candidate is empty because silver is, records none)."""
    runs = [t for t in result.tables.values() if t.mode in (FULL, INCREMENTAL)]
    if not runs:
        return
    full = any(t.mode == FULL for t in runs)
    if full:
        where = None
    else:
        needed = source_event_dates([r for t in runs for r in t.feature_ranges])
        where = date_range_predicate("event_date", needed)
    events = storage.read(silver, where=where, version=result.silver_version).select(*SILVER_COLUMNS)
    events = events.persist()
    try:
        if full:
            dates = {row["event_date"] for row in events.select("event_date").distinct().collect()}
            for t in runs:
                if t.mode == FULL:
                    t.feature_ranges = affected_feature_dates(dates, None, max(dates, default=None))
        for t in runs:
            if t.feature_ranges:
                _write_table(storage, t, events, result.silver_version, gate)
                record(t)
            else:
                t.mode = NO_NEW_ROWS  # silver is empty
    finally:
        events.unpersist()


def _write_table(
    storage: DeltaStorage, t: TableRun, events: DataFrame, silver_version: int, gate: Gate | None
) -> None:
    spec = next(s for s in GOLD_TABLES if s.name == t.name)
    transform = _TRANSFORMS[t.name]
    parts = [transform(events, r.start, r.end) for r in t.feature_ranges]
    candidate = functools.reduce(lambda a, b: a.unionByName(b), parts).persist()
    try:
        t.rows_written = candidate.count()
        if gate is not None:
            gate(
                t.name,
                candidate,
                {
                    "table": t.table,
                    "mode": t.mode,
                    "feature_ranges": list(t.feature_ranges),
                    "silver_version": silver_version,
                    "primary_key": list(spec.primary_key),
                    "timeseries_key": TIMESERIES_KEY,
                },
            )
        predicate = ALL_ROWS if t.mode == FULL else date_range_predicate("feature_date", t.feature_ranges)
        written = storage.replace_where(candidate, t.table, predicate, txn=Txn(spec.app_id, silver_version))
    finally:
        candidate.unpersist()
    t.committed = written.committed
    t.gold_version = written.version
    if not written.committed:  # progress moved since planning (a concurrent run): nothing written
        t.rows_written = 0
    log.info(
        "gold %s: %s %s, %s rows, gold version %s",
        t.name,
        t.mode,
        t.ranges_text,
        t.rows_written,
        t.gold_version,
    )


# --- tracking -----------------------------------------------------------------------------------
def _track(
    config: Config,
    storage: DeltaStorage,
    result: GoldResult,
    full_refresh: bool,
    error: BaseException | None = None,
) -> str | None:
    from medallion.tracking import log_run

    params: dict[str, Any] = {
        "silver_table": config.table(*EVENTS_TABLE),
        "silver_version": result.silver_version,
        "full_refresh": full_refresh,
    }
    metrics: dict[str, float] = {"duration_seconds": result.seconds, "rows_written": result.rows_written}
    for name, t in result.tables.items():
        params[f"{name}.mode"] = t.mode
        params[f"{name}.previous_silver_version"] = t.previous_silver_version
        params[f"{name}.feature_dates"] = t.ranges_text
        metrics[f"rows_written_{name}"] = t.rows_written
        metrics[f"feature_dates_{name}"] = t.feature_dates
    tags = {
        "medallion.job": "gold",
        "medallion.environment": config.environment,
        "medallion.engine": storage.engine,
        "medallion.status": "FAILED" if error is not None else "OK",
    }
    if error is not None:
        tags["medallion.error"] = f"{type(error).__name__}: {error}"[:500]
    try:
        return log_run(config, "gold", params=params, metrics=metrics, tags=tags)
    except Exception:
        log.exception("gold: could not log the run to MLflow at %s", config.tracking_uri)
        return None

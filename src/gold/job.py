"""Gold job: ``silver.events`` -> ``gold.user_features`` and ``gold.video_features``, incrementally,
exactly once, logged to MLflow.

Progress
--------
Each gold table keeps its own progress: the last silver version it was computed from, a
``committed`` row of consumer ``TableSpec.progress_app_id`` (registry) in ``ops.progress``
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

Quality gate and run record
---------------------------
Before each table's write its candidate rows go through ``gate.check(spec, candidate, metrics)``
(:class:`medallion.runs.Gate`; metrics: mode, feature ranges, silver version); raising from it stops
the run before that table is written. The run is recorded by the injected
:class:`medallion.runs.RunRecorder` (``ops.runs`` and MLflow: per table the mode, previous silver
version, feature dates and rows written), failed runs included.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from medallion.gold.plan import ALL_ROWS, FULL, INCREMENTAL, NO_NEW_ROWS, GoldResult, TableRun, plan_table
from medallion.gold.transforms import (
    SILVER_COLUMNS,
    affected_feature_dates,
    date_range_predicate,
    source_event_dates,
    user_features,
    video_features,
)
from medallion.progress import ProgressLog
from medallion.runs import Gate, JobRun, RunRecorder, measure, recording
from medallion.storage import DeltaStorage, StorageError, TableNotFoundError, Txn
from medallion.tables import FEATURE_TABLES, PROGRESS, SILVER_EVENTS, USER_FEATURES, VIDEO_FEATURES, TableSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config

log = logging.getLogger(__name__)

_TRANSFORMS: dict[str, Callable[[DataFrame, dt.date, dt.date], DataFrame]] = {
    USER_FEATURES.name: user_features,
    VIDEO_FEATURES.name: video_features,
}


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


def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    *,
    gate: Gate | None = None,
    recorder: RunRecorder | None = None,
) -> GoldResult:
    """Bring both gold tables up to the current silver version (see the module docstring);
    ``config.full_refresh`` recomputes every feature date."""
    started = time.monotonic()
    silver = SILVER_EVENTS.location(config)
    silver_version = storage.version(silver)
    if silver_version is None:
        raise TableNotFoundError(f"gold reads {silver}, which does not exist: run the silver job first")
    result = GoldResult(silver_version)
    with recording(recorder, "gold", FEATURE_TABLES) as job:
        job.params["full_refresh"] = config.full_refresh
        try:
            progress = ProgressLog(storage, PROGRESS.location(config))
            progress.ensure()
            changes: dict[int, set[dt.date] | None] = {}
            table_ids: dict[str, str] = {}  # read once a run: the progress records carry them

            def changed_dates(committed: int) -> set[dt.date] | None:
                if committed not in changes:
                    changes[committed] = _changed_event_dates(storage, silver, committed + 1, silver_version)
                return changes[committed]

            for spec in FEATURE_TABLES:
                table = spec.create_if_missing(storage, config)
                table_ids[table] = storage.table_id(table)
                committed = progress.state(spec.progress_app_id, table_ids[table]).committed
                result.tables[spec.name] = plan_table(
                    spec.name,
                    table,
                    committed,
                    silver_version,
                    config.full_refresh,
                    changed_dates,
                    lambda table=table: latest_feature_date(storage, table),
                )

            def record(spec: TableSpec, t: TableRun) -> None:
                start = 0 if t.previous_silver_version is None else t.previous_silver_version + 1
                progress.commit(
                    spec.progress_app_id,
                    table_ids[t.table],
                    min(start, silver_version),
                    silver_version,
                    job.run_id,
                )

            for spec in FEATURE_TABLES:
                if result.tables[spec.name].mode == NO_NEW_ROWS:  # silver commits without inserted rows
                    record(spec, result.tables[spec.name])
            _compute_and_write(storage, silver, result, gate, record, job)
        finally:
            result.seconds = time.monotonic() - started
            job.input_range = result.input_range()
            job.rows_out = result.rows_written
            params, metrics = result.tracking()
            job.params.update(params)
            job.metrics.update(metrics)
    result.mlflow_run_id = job.mlflow_run_id
    log.info("%s", result.summary())
    return result


def _changed_event_dates(storage: DeltaStorage, silver: str, start: int, end: int) -> set[dt.date] | None:
    """Event dates inserted into silver in versions start..end; None when the change feed cannot
    be read (the table is then recomputed in full)."""
    try:
        with storage.errors("read change feed", silver):  # a lazy read fails here, as StorageError
            changes = storage.read_changes(silver, start, end)
            return {row["event_date"] for row in changes.select("event_date").distinct().collect()}
    except StorageError as exc:
        log.warning("gold: cannot read the silver change feed %s..%s (%s): full recompute", start, end, exc)
        return None


def _compute_and_write(
    storage: DeltaStorage,
    silver: str,
    result: GoldResult,
    gate: Gate | None,
    record: Callable[[TableSpec, TableRun], None],
    job: JobRun,
) -> None:
    """Recompute and write each table that needs it; ``record`` commits its progress right
    after its write (a table whose candidate is empty because silver is, records none)."""
    runs = [
        (s, result.tables[s.name])
        for s in FEATURE_TABLES
        if result.tables[s.name].mode in (FULL, INCREMENTAL)
    ]
    if not runs:
        return
    if gate is not None:
        gate.warm_up("gold")  # overlaps GX's import with the read of silver below
    full = any(t.mode == FULL for _, t in runs)
    where = (
        None
        if full
        else date_range_predicate(
            "event_date", source_event_dates([r for _, t in runs for r in t.feature_ranges])
        )
    )
    events = storage.read(silver, where=where, version=result.silver_version).select(*SILVER_COLUMNS)
    events = events.persist()
    try:
        # silver events per date: the rows read, the dates of a full recompute and the gate's
        # counts of events per feature window, in one Spark job
        per_day = {row[0]: int(row[1]) for row in events.groupBy("event_date").count().collect()}
        job.rows_in = sum(per_day.values())
        if full:
            dates = set(per_day)
            for _, t in runs:
                if t.mode == FULL:
                    t.feature_ranges = affected_feature_dates(dates, None, max(dates, default=None))
        for spec, t in runs:
            if t.feature_ranges:
                _write_table(storage, spec, t, events, result.silver_version, gate, job, per_day)
                record(spec, t)
            else:
                t.mode = NO_NEW_ROWS  # silver is empty
    finally:
        events.unpersist()


def _write_table(
    storage: DeltaStorage,
    spec: TableSpec,
    t: TableRun,
    events: DataFrame,
    silver_version: int,
    gate: Gate | None,
    job: JobRun,
    silver_per_day: dict[dt.date, int],
) -> None:
    transform = _TRANSFORMS[spec.name]
    parts = [transform(events, r.start, r.end) for r in t.feature_ranges]
    candidate = functools.reduce(lambda a, b: a.unionByName(b), parts).persist()
    try:
        t.rows_written, size = measure(candidate)
        if gate is not None:
            metrics = {
                "mode": t.mode,
                "feature_ranges": list(t.feature_ranges),
                "silver_version": silver_version,
                "silver_events_per_day": silver_per_day,
                "candidate_rows": t.rows_written,
                "candidate_bytes": size,
            }
            job.passed(gate.check(spec, candidate, metrics))
        predicate = ALL_ROWS if t.mode == FULL else date_range_predicate("feature_date", t.feature_ranges)
        written = storage.replace_where(
            candidate, t.table, predicate, txn=Txn(spec.progress_app_id, silver_version)
        )
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

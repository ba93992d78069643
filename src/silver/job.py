"""Silver job: new bronze rows -> validated, typed, deduplicated ``silver.events`` (insert-only
MERGE) plus ``silver.events_quarantine``, exactly once, with a run-metrics row per run.

Incremental and exactly-once
----------------------------
Progress is the last bronze version processed, kept in ``ops.progress``
(:class:`medallion.progress.ProgressLog`, consumer ``SILVER_EVENTS.progress_app_id``) - data committed
itself, so it survives Delta log cleanup and costs the same to read at any table age. A run reads
the bronze change data feed for versions ``(last, end]`` and writes, in this order:

1. a ``started`` progress row for ``(last, end]``,
2. the run-detail row (``ops.silver_runs``), 3. the quarantined rows
   (``silver.events_quarantine``), 4. the MERGE into ``silver.events`` - each carrying
   ``Txn(SILVER_EVENTS.progress_app_id, end)``, so Delta itself skips a write it has already committed,
5. a ``committed`` progress row.

A crash anywhere before (5) leaves a ``started`` row without its ``committed`` row; the next run
re-processes exactly that range (not a larger one), its earlier writes are recognised by their Txn
and skipped, and the run completes. Nothing is lost or doubled.

Deduplication
-------------
On ``event_id``: first within the new rows (first delivered wins: earliest enqueued time, then
partition and offset), then against silver with an insert-only MERGE whose target is pruned to
the partitions of the batch's event dates, widened by ``dedup_lookback_days`` either side. A
re-delivered copy carries the same body and so the same timestamp and date; a copy whose
timestamp moved by up to ``dedup_lookback_days`` days is still found. A copy whose date differs
by more is outside the pruned target: that is the price of a MERGE whose cost follows the new
data instead of the table (see README, "Deduplication").
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from medallion.contract import EventContract, load_contract
from medallion.errors import JobFailedError
from medallion.progress import ProgressLog
from medallion.runs import Gate, JobRun, RunRecorder, measure, recording
from medallion.silver.plan import SilverResult, dedup_target, pending_range
from medallion.silver.tables import prepare_tables
from medallion.silver.transforms import deduplicate, to_events, to_quarantine, validate
from medallion.storage import DeltaStorage, Txn
from medallion.tables import BRONZE_EVENTS, PROGRESS, SILVER_EVENTS, SILVER_QUARANTINE, SILVER_RUNS
from medallion.tables.ops import ops_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config

log = logging.getLogger(__name__)


def read_bronze(storage: DeltaStorage, bronze: str, start: int, end: int) -> DataFrame:
    """Bronze rows of versions start..end with ``bronze_version``.

    From the change data feed, except on a first run (start 0: a new silver, or a replay into an
    emptied one): then the bronze snapshot at ``end`` is read instead, because after OPTIMIZE and
    VACUUM the files of bronze's early versions no longer exist while the snapshot is complete.
    Those rows get ``bronze_version = end`` (the version they were read at).
    """
    if start == 0:
        return storage.read(bronze, version=end).withColumn("bronze_version", F.lit(end).cast(LongType()))
    changes = storage.read_changes(bronze, start, end)
    return changes.where(F.col("_change_type") == "insert").withColumn(
        "bronze_version", F.col("_commit_version").cast(LongType())
    )


def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    contract: EventContract | None = None,
    gate: Gate | None = None,
    now: Callable[[], dt.datetime] | None = None,
    recorder: RunRecorder | None = None,
) -> SilverResult:
    """Process the bronze versions silver has not processed yet (see the module docstring)."""
    started = time.monotonic()
    clock = now or (lambda: dt.datetime.now(dt.timezone.utc))
    contract = contract or load_contract(config.contract_version or None)
    bronze = BRONZE_EVENTS.location(config)
    with recording(recorder, "silver", (SILVER_EVENTS, SILVER_QUARANTINE)) as job:
        result = SilverResult(run_id=job.run_id)
        if not storage.exists(bronze):
            raise JobFailedError(f"bronze table {bronze} does not exist: run the bronze job first")
        bronze_version = storage.version(bronze)  # a broken log fails here, before anything is created
        prepare_tables(storage, config, contract)
        progress = ProgressLog(storage, PROGRESS.location(config))
        progress.ensure()
        target_id = storage.table_id(SILVER_EVENTS.location(config))  # read once a run
        state = progress.state(SILVER_EVENTS.progress_app_id, target_id)
        pending = pending_range(state, bronze_version)
        if pending is not None:
            start, end, result.resumed = pending
            result.bronze_start_version, result.bronze_end_version = start, end
            if gate is not None:
                gate.warm_up("silver")  # overlaps GX's import with the validation below
            validated = validate(read_bronze(storage, bronze, start, end), contract).persist()
            try:
                _process(
                    config, storage, contract, validated, clock(), result, gate, progress, target_id, job
                )
            finally:
                validated.unpersist()
        job.input_range = result.input_range
        job.rows_in, job.rows_out = result.rows_read, result.rows_inserted
        job.rows_quarantined, job.rows_duplicates = result.rows_quarantined, result.duplicates_dropped
        result.seconds = time.monotonic() - started
    return result


def _process(
    config: Config,
    storage: DeltaStorage,
    contract: EventContract,
    validated: DataFrame,
    run_time: dt.datetime,
    result: SilverResult,
    gate: Gate | None,
    progress: ProgressLog,
    target_id: str,
    job: JobRun,
) -> None:
    """Gate, then write the quarantine, the run's detail and the new events; the run's progress
    records carry ``target_id``, silver.events' table id as the run read it."""
    events_t = SILVER_EVENTS.location(config)
    start, end = result.bronze_start_version, result.bronze_end_version
    txn = Txn(SILVER_EVENTS.progress_app_id, end)
    quarantine = to_quarantine(validated, contract, run_time, SILVER_QUARANTINE.schema_for().fieldNames())
    unique = deduplicate(to_events(validated, contract, run_time)).persist()
    try:
        new_rows, size = _count(config, storage, validated, unique, result)
        if gate is not None:
            job.passed(
                gate.check(
                    SILVER_EVENTS,
                    new_rows,
                    {**result.as_dict(), "candidate_rows": result.rows_inserted, "candidate_bytes": size},
                )
            )
        detail = ops_rows(SILVER_RUNS.schema_for(), [result.detail_row(contract.version, run_time)])
        progress.start(SILVER_EVENTS.progress_app_id, target_id, start, end, result.run_id)
        storage.append(detail, SILVER_RUNS.location(config), txn=txn)
        storage.append(
            quarantine, SILVER_QUARANTINE.location(config), SILVER_QUARANTINE.partition_by, txn=txn
        )
        source = unique.select(
            *[
                F.col(f.name) if f.name in unique.columns else F.lit(None).cast(f.dataType).alias(f.name)
                for f in storage.schema(events_t).fields
            ]
        )
        merged = storage.merge(
            source,
            events_t,
            list(SILVER_EVENTS.primary_key),
            insert_only=True,
            target_filter=dedup_target(result.event_dates, config.dedup_lookback_days, "t"),
            txn=txn,
        )
        inserted = merged.metrics.get("num_inserted")
        if not merged.committed:  # Delta's txn check: this range's MERGE is in silver already
            result.already_committed = True
            result.rows_inserted = 0
        elif inserted is not None and int(inserted) != result.rows_inserted:
            log.error(
                "silver MERGE inserted %s rows, %s expected (a concurrent writer inserted the others)",
                inserted,
                result.rows_inserted,
            )
            result.duplicates_existing += result.rows_inserted - int(inserted)
            result.rows_inserted = int(inserted)  # report what this run committed
        progress.commit(SILVER_EVENTS.progress_app_id, target_id, start, end, result.run_id)
    finally:
        unique.unpersist()


def _count(
    config: Config, storage: DeltaStorage, validated: DataFrame, unique: DataFrame, result: SilverResult
) -> tuple[DataFrame, int]:
    """Fill in the result's counts; return the rows new to silver and their size
    (:func:`medallion.runs.measure`). Every bronze row is inserted, quarantined or a duplicate, or
    nothing is written."""
    # One job for the bronze side: a row per reason (one null row for a valid row); a quarantined
    # row is counted once, at its first reason.
    per_reason = (
        validated.select(F.posexplode_outer("reasons").alias("position", "reason"))
        .groupBy("reason")
        .agg(F.count("*").alias("n"), F.sum((F.col("position") == 0).cast("long")).alias("rows"))
        .collect()
    )
    valid = sum(int(r["n"]) for r in per_reason if r["reason"] is None)
    result.rows_quarantined = sum(int(r["rows"] or 0) for r in per_reason if r["reason"] is not None)
    result.rows_read = valid + result.rows_quarantined
    result.quarantine_reasons = {r["reason"]: int(r["n"]) for r in per_reason if r["reason"] is not None}
    # and one for the deduplicated rows: their dates and their number
    per_date = unique.groupBy("event_date").count().collect()
    result.event_dates = sorted(r["event_date"] for r in per_date)
    unique_count = sum(int(r["count"]) for r in per_date)
    result.duplicates_in_batch = result.rows_read - result.rows_quarantined - unique_count
    existing = storage.read(
        SILVER_EVENTS.location(config), where=dedup_target(result.event_dates, config.dedup_lookback_days)
    ).select(*SILVER_EVENTS.primary_key)
    new_rows = unique.join(existing, list(SILVER_EVENTS.primary_key), "left_anti")
    result.rows_inserted, size = measure(new_rows)
    result.duplicates_existing = unique_count - result.rows_inserted
    if not result.conserved:  # a bug, never data: refuse to publish
        raise JobFailedError(f"silver conservation violated, nothing written: {result.as_dict()}")
    return new_rows, size

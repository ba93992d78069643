"""Maintenance job: for every table of the policy (:mod:`medallion.maintenance.policy`), OPTIMIZE (compaction,
Z-order or liquid clustering) then VACUUM, with a report row per table in ``ops.maintenance_runs``.

Per table, in order:

1. inspect: schema, data files with their sizes and partition values (``storage.files``),
   properties, version. A table that does not exist is skipped (``skipped: missing``).
2. plan (pure, :func:`medallion.maintenance.plan.plan_steps`): SET TBLPROPERTIES / CLUSTER BY
   (deferred on a streamed table), OPTIMIZE of the partitions with small files, VACUUM - each
   step one call of the storage adapter. On ``bronze.events`` first the data retention
   (:mod:`medallion.maintenance.retention`, ``config.bronze_retention_days``, 0 = off): a DELETE of
   the partitions past the retention that silver has processed - its guard,
   :func:`unprocessed_dates`, is the one read this job makes beyond the table itself.
3. act: run the steps (:func:`_execute`).
4. report: files / bytes before and after, compaction and VACUUM counts, duration and outcome
   (:mod:`medallion.maintenance.report`), appended to ``ops.maintenance_runs`` once at the end of
   the run.

Safety: a VACUUM retention below the table's safe minimum (168 hours, see
:data:`medallion.maintenance.policy.MIN_SAFE_RETENTION_HOURS`) is refused before anything runs
(:class:`medallion.maintenance.plan.UnsafeRetentionError`) unless ``allow_unsafe_retention`` is
given - then every such table is logged with a loud WARNING. A table that fails is recorded as
``failed`` and the run continues with the next one; the caller (CLI) exits non-zero when
``result.failed`` is not empty.

Dry run: nothing is changed and no report row is written. The plan is listed per table: the
statements that would run, the bronze partitions retention would delete and those it keeps (with
the reason), the partitions (and their small files) that would be compacted, and
the files VACUUM would delete now (``storage.vacuum(..., dry_run=True)``; at most
:data:`VACUUM_LISTING_LIMIT` of them - beyond that the count is "at least"). With a retention of
0 hours the real run would also delete the files its own OPTIMIZE replaces; a dry run cannot list
those (they are not removed yet).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from medallion.maintenance.plan import (
    CLUSTER_BY,
    DELETE,
    OPTIMIZE,
    SET_PROPERTIES,
    VACUUM,
    Step,
    TableState,
    check_retention,
    effective_retention,
    plan_steps,
)
from medallion.maintenance.policy import POLICIES, parse_tables, select
from medallion.maintenance.report import (
    DRY_RUN,
    FAILED,
    SKIPPED_MISSING,
    SUCCEEDED,
    MaintenanceResult,
    TableOutcome,
    write_report,
)
from medallion.maintenance.retention import (
    APPEND_ONLY,
    RETENTION_COLUMN,
    RETENTION_TABLE,
    as_date,
    plan_retention,
    retention_steps,
)
from medallion.progress import ProgressLog
from medallion.runs import RunRecorder, recording
from medallion.storage.base import VACUUM_LISTING_LIMIT, VacuumResult
from medallion.tables import MAINTENANCE_RUNS, PROGRESS, SILVER_EVENTS
from medallion.tables.policy import TablePolicy

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.config import Config
    from medallion.storage import DeltaStorage

log = logging.getLogger(__name__)


def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    *,
    policies: Iterable[TablePolicy] = POLICIES,
    apply_deferred_metadata: bool = False,
    vacuum_listing_limit: int = VACUUM_LISTING_LIMIT,
    recorder: RunRecorder | None = None,
    today: dt.date | None = None,
) -> MaintenanceResult:
    """Maintain every table of ``policies``, or only ``config.maintenance_tables`` (``layer.table``
    names), with ``config.retention_hours`` / ``allow_unsafe_retention`` / ``dry_run``.

    Raises UnsafeRetentionError (a ConfigError) before touching anything when a retention is
    below the safe minimum without ``allow_unsafe_retention``. Per-table failures do not raise:
    they are in ``result.failed`` (and the report). ``apply_deferred_metadata``: the streams that
    write the streamed tables are stopped - their metadata changes are made instead of deferred.
    ``vacuum_listing_limit``: the most files listed per VACUUM (counts are not capped). ``today``:
    the date bronze retention counts from (default: today, UTC)."""
    started = time.monotonic()
    today = today or dt.datetime.now(dt.timezone.utc).date()
    selected = select(parse_tables(config.maintenance_tables or None), policies)
    unsafe = check_retention(selected, config.retention_hours, config.allow_unsafe_retention)
    _warn_unsafe(unsafe)
    unsafe_keys = {p.key for p, _ in unsafe}
    with recording(recorder, "maintenance", [p.key for p in selected]) as job:
        result = MaintenanceResult(run_id=job.run_id, dry_run=config.dry_run)
        log.info(
            "maintenance run %s%s: %s", result.run_id, " (dry run)" if config.dry_run else "", job.tables
        )
        for policy in selected:
            outcome = _maintain_table(
                config,
                storage,
                policy,
                effective_retention(policy, config.retention_hours),
                unsafe=policy.key in unsafe_keys,
                dry_run=config.dry_run,
                apply_deferred_metadata=apply_deferred_metadata,
                vacuum_listing_limit=vacuum_listing_limit,
                today=today,
            )
            log.info("%s", outcome.line())
            result.tables.append(outcome)
        if not config.dry_run:
            report = MAINTENANCE_RUNS.location(config)
            try:
                write_report(storage, report, result)
                result.report_table = report
            except Exception as exc:  # the maintenance itself is done; say so, and fail the run
                log.exception("could not write the maintenance report to %s", report)
                result.report_error = f"{type(exc).__name__}: {exc}"
        result.seconds = time.monotonic() - started
        job.input_range = f"{len(selected)} tables" + (" (dry run)" if config.dry_run else "")
        job.metrics.update(result.totals())
        if not result.ok:
            job.fail_with(result.failure_message())
    return result


def _warn_unsafe(unsafe: Sequence[tuple[TablePolicy, int]]) -> None:
    for policy, hours in unsafe:
        log.warning(
            "!!! UNSAFE VACUUM RETENTION (allowed by --allow-unsafe-retention): %s will be vacuumed with "
            "RETAIN %d HOURS, below its safe minimum of %d hours. Files still needed by running queries, "
            "incremental/streaming readers and time travel to versions of the last %d hours may be "
            "deleted; readers of those versions will fail. !!!",
            policy.key,
            hours,
            policy.min_safe_retention_hours,
            policy.min_safe_retention_hours,
        )


def _display_name(config: Config, policy: TablePolicy) -> str:
    return config.table(policy.layer, policy.name) if config.environment == "databricks" else policy.key


def inspect(storage: DeltaStorage, table: str) -> TableState:
    return TableState(
        columns=tuple(storage.schema(table).fieldNames()),
        files=tuple(storage.files(table)),
        properties=dict(storage.properties(table)),
        version=storage.version(table),
    )


def _maintain_table(
    config: Config,
    storage: DeltaStorage,
    policy: TablePolicy,
    retention: int,
    *,
    unsafe: bool,
    dry_run: bool,
    apply_deferred_metadata: bool = False,
    vacuum_listing_limit: int = VACUUM_LISTING_LIMIT,
    today: dt.date | None = None,
) -> TableOutcome:
    table = config.table(policy.layer, policy.name)
    outcome = TableOutcome(
        layer=policy.layer,
        name=policy.name,
        table=table,
        engine=storage.engine,
        started_at=dt.datetime.now(dt.timezone.utc),
        zorder_by=policy.optimize_columns,
        liquid_clustering=policy.liquid_clustering,
        retention_hours=retention if policy.vacuum else None,
        unsafe_retention=unsafe,
    )
    t0 = time.monotonic()
    try:
        if not storage.exists(table):
            outcome.outcome = SKIPPED_MISSING
            return outcome
        state = inspect(storage, table)
        outcome.files_before, outcome.bytes_before = state.num_files, state.num_bytes
        outcome.version_before = state.version
        steps: list[Step] = []
        if policy.key == RETENTION_TABLE.key and config.bronze_retention_days > 0:
            steps, state = _plan_retention(
                config, storage, table, state, outcome, today, policy.streamed and not apply_deferred_metadata
            )
        steps += plan_steps(
            policy,
            table,
            state,
            retention,
            supports_liquid_clustering=storage.supports_liquid_clustering,
            apply_deferred_metadata=apply_deferred_metadata,
        )
        name = _display_name(config, policy)
        outcome.statements = [s.sql(name, dry_run=dry_run) for s in steps if not s.deferred]
        outcome.metadata_deferred = [s.sql(name) for s in steps if s.deferred]
        for step in steps:
            if step.deferred:
                log.warning("%s: deferred (streamed table): %s", policy.key, step.sql(name))
            else:
                _execute(storage, step, outcome, dry_run, vacuum_listing_limit)
        if dry_run:
            outcome.files_after, outcome.bytes_after = outcome.files_before, outcome.bytes_before
            outcome.version_after = outcome.version_before
            outcome.outcome = DRY_RUN
        else:
            after = storage.files(table)
            outcome.files_after, outcome.bytes_after = len(after), sum(f.size_bytes for f in after)
            outcome.version_after = storage.version(table)
            outcome.outcome = SUCCEEDED
    except Exception as exc:  # one table's failure must not stop the others
        log.exception("maintenance of %s failed", policy.key)
        outcome.outcome = FAILED
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        outcome.seconds = time.monotonic() - t0
    return outcome


def _execute(
    storage: DeltaStorage,
    step: Step,
    outcome: TableOutcome,
    dry_run: bool,
    vacuum_listing_limit: int = VACUUM_LISTING_LIMIT,
) -> None:
    """Run one step through the storage adapter (only VACUUM's listing in a dry run)."""
    if step.kind == SET_PROPERTIES:
        outcome.properties_set.update(step.properties)
        if not dry_run:
            if APPEND_ONLY in step.properties:
                log.warning("%s: setting %s=false so that retention may DELETE", step.table, APPEND_ONLY)
            storage.set_properties(step.table, step.properties)
    elif step.kind == DELETE:
        assert step.where is not None and outcome.retention is not None
        if not dry_run:
            deleted = storage.delete(step.table, step.where)
            outcome.partitions_deleted = len(outcome.retention.delete)
            outcome.rows_deleted = int(deleted.metrics.get("rows_deleted", 0))
    elif step.kind == CLUSTER_BY:
        if not dry_run:
            storage.cluster_by(step.table, step.columns)
    elif step.kind == OPTIMIZE:
        outcome.candidates = list(step.candidates)
        if not dry_run:
            metrics = storage.optimize(step.table, zorder_by=step.columns, where=step.where)
            outcome.partitions_optimized = len(step.candidates)
            outcome.files_compacted = int(metrics.get("files_removed", 0))
            outcome.files_written = int(metrics.get("files_added", 0))
    elif step.kind == VACUUM:
        assert step.retention_hours is not None
        vacuumed: VacuumResult = storage.vacuum(
            step.table, step.retention_hours, dry_run=dry_run, listing_limit=vacuum_listing_limit
        )
        outcome.vacuum_files = list(vacuumed.files)
        outcome.vacuum_files_deleted = vacuumed.files_deleted
        outcome.vacuum_listing_complete = vacuumed.listing_complete
    else:  # pragma: no cover
        raise ValueError(f"unknown step kind {step.kind!r}")


def _plan_retention(
    config: Config,
    storage: DeltaStorage,
    table: str,
    state: TableState,
    outcome: TableOutcome,
    today: dt.date | None,
    defer_metadata: bool,
) -> tuple[list[Step], TableState]:
    """Bronze retention (:mod:`medallion.maintenance.retention`): its steps, and the table state the
    rest of the plan sees (without the partitions the DELETE removes)."""
    unprocessed, guard = unprocessed_dates(config, storage, table)
    today = today or dt.datetime.now(dt.timezone.utc).date()
    plan = plan_retention(state.files, today, config.bronze_retention_days, unprocessed, guard)
    outcome.retention = plan
    steps, outcome.retention_blocked = retention_steps(
        plan, table, state.properties, defer_metadata=defer_metadata
    )
    if outcome.retention_blocked:
        log.warning("%s: retention blocked: %s", table, outcome.retention_blocked)
    if not any(s.kind == DELETE for s in steps):
        return steps, state
    deleted = set(plan.delete)
    return steps, state.without(lambda f: as_date(f.partition_values[RETENTION_COLUMN]) not in deleted)


def unprocessed_dates(config: Config, storage: DeltaStorage, bronze: str) -> tuple[set[dt.date] | None, str]:
    """The guard of bronze retention: the ingestion dates of the bronze rows silver has not processed
    yet - those added after the last bronze version silver committed in ``ops.progress``, read from
    bronze's change data feed - and a description of silver's progress. None when that progress is
    unknown (silver never ran, or it is ahead of bronze, e.g. a recreated bronze): nothing is deleted."""
    silver, progress = SILVER_EVENTS.location(config), PROGRESS.location(config)
    if not (storage.exists(silver) and storage.exists(progress)):
        return None, "silver has not run yet: nothing is deleted"
    consumer = SILVER_EVENTS.progress_app_id
    committed = ProgressLog(storage, progress).state(consumer, storage.table_id(silver)).committed
    if committed is None:
        return None, "silver has not committed any bronze version yet: nothing is deleted"
    current = storage.version(bronze)
    if current is None or committed > current:
        return None, (
            f"silver's progress (bronze version {committed}) is ahead of bronze (version {current}): "
            "bronze was recreated? nothing is deleted"
        )
    changes = storage.read_changes(bronze, committed + 1).select(RETENTION_COLUMN).distinct()
    with storage.errors("read change feed", bronze):
        dates = {as_date(row[RETENTION_COLUMN]) for row in changes.collect()}
    return dates, f"silver has processed bronze up to version {committed} (of {current})"

"""Maintenance job: for every table of the policy (:mod:`medallion.maintenance.policy`), OPTIMIZE (compaction,
Z-order or liquid clustering) then VACUUM, with a report row per table in ``ops.maintenance_runs``.

Per table, in order:

1. inspect: schema, data files with their sizes and partition values (``storage.files``),
   properties, version. A table that does not exist is skipped (``skipped: missing``).
2. plan (pure, :func:`plan_steps`): the steps below, each one call of the storage adapter. On
   Databricks the spark-delta engine runs each as the SQL :meth:`Step.sql` renders with the
   builders of :mod:`medallion.storage.sql`; delta-rs does the same work on local tables.

   * ``ALTER TABLE ... SET TBLPROPERTIES`` - the policy's log / deleted-file retention
     properties, only when the table's values differ (an interval written differently, e.g.
     ``interval 1 week`` for ``interval 7 days``, is the same value). Never on a *streamed* table
     (prod bronze): a metadata commit fails the stream's concurrent micro-batch, so it is
     reported as deferred instead (``apply_deferred_metadata=True`` applies it, for when the
     stream is stopped);
   * ``ALTER TABLE ... CLUSTER BY`` - liquid clustering keys (engines that support it);
   * ``OPTIMIZE ... [WHERE <partitions>] [ZORDER BY (...)]`` - only the partitions that hold two
     or more small files (:func:`compaction_candidates`, :func:`small_file_threshold`), so a
     nightly run rewrites what changed, not the whole table (Z-order is not incremental on
     delta-rs). No ZORDER BY for liquid clustering tables;
   * ``VACUUM ... RETAIN n HOURS`` - after OPTIMIZE, so the files it just replaced are kept for
     the whole retention (readers of older versions, time travel).
3. report: files / bytes before and after, files compacted and written, files VACUUM deleted
   (Delta's own count; the listing of the files themselves is capped, like Databricks' at 1,000),
   deferred metadata changes, duration and outcome, appended to ``ops.maintenance_runs`` once at
   the end of the run (a table created with the policy's properties, so no later run needs a
   metadata commit on it).

Safety: a VACUUM retention below the table's safe minimum (168 hours, see
:data:`medallion.maintenance.policy.MIN_SAFE_RETENTION_HOURS`) is refused before anything runs
(:class:`UnsafeRetentionError`) unless ``allow_unsafe_retention`` is given - then every such table
is logged with a loud WARNING. A table that fails is recorded as ``failed`` and the run continues
with the next one; the caller (CLI) exits non-zero when ``result.failed`` is not empty.

Dry run: nothing is changed and no report row is written. The plan is listed per table: the
statements that would run, the partitions (and their small files) that would be compacted, and
the files VACUUM would delete now (``storage.vacuum(..., dry_run=True)``; at most
:data:`VACUUM_LISTING_LIMIT` of them - beyond that the count is "at least"). With a retention of
0 hours the real run would also delete the files its own OPTIMIZE replaces; a dry run cannot list
those (they are not removed yet).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.config import ConfigError
from medallion.errors import JobFailedError
from medallion.maintenance.policy import (
    MIN_SAFE_RETENTION_HOURS,
    POLICIES,
    REPORT_TABLE,
    TablePolicy,
    parse_tables,
    policy_map,
    same_property_value,
    select,
)
from medallion.storage import sql
from medallion.storage.base import VACUUM_LISTING_LIMIT, FileInfo, VacuumResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config
    from medallion.storage import DeltaStorage

log = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED_MISSING = "skipped: missing"
DRY_RUN = "dry run"

SET_PROPERTIES = "set_properties"
CLUSTER_BY = "cluster_by"
OPTIMIZE = "optimize"
VACUUM = "vacuum"

REPORT_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("started_at", TimestampType(), False),  # UTC, when this table's maintenance began
        StructField("layer", StringType(), False),
        StructField("table_name", StringType(), False),  # logical <layer>.<table>
        StructField("table_location", StringType(), False),  # folder locally, UC name on Databricks
        StructField("engine", StringType(), False),  # delta-rs | spark-delta
        StructField("outcome", StringType(), False),  # succeeded | failed | skipped: missing
        StructField("error", StringType(), True),
        StructField("zorder_by", ArrayType(StringType(), False), False),
        StructField("liquid_clustering", BooleanType(), False),
        StructField("retention_hours", IntegerType(), True),  # null: the policy does not VACUUM
        StructField("unsafe_retention", BooleanType(), False),  # below 168 h with the override
        StructField("files_before", LongType(), True),  # data files of the current version
        StructField("bytes_before", LongType(), True),
        StructField("files_after", LongType(), True),
        StructField("bytes_after", LongType(), True),
        StructField("partitions_optimized", LongType(), False),
        StructField("files_compacted", LongType(), False),  # files removed (rewritten) by OPTIMIZE
        StructField("files_written", LongType(), False),  # files added by OPTIMIZE
        StructField("vacuum_files_deleted", LongType(), False),
        StructField("properties_set", StringType(), False),  # JSON of the properties changed
        StructField("version_before", LongType(), True),
        StructField("version_after", LongType(), True),
        StructField("duration_ms", LongType(), False),
        # JSON list of the metadata statements not run on a streamed table (null: none); added to
        # existing report tables by write_report
        StructField("metadata_deferred", StringType(), True),
    ]
)


class UnsafeRetentionError(ConfigError):
    """A VACUUM retention below the safe minimum was asked for without the explicit override."""


# --- retention safety (pure) --------------------------------------------------------------------
def effective_retention(policy: TablePolicy, override: int | None = None) -> int:
    """The VACUUM retention used for ``policy``'s table: the override if given, else the policy's."""
    return policy.vacuum_retention_hours if override is None else override


def check_retention(
    policies: Iterable[TablePolicy], retention_hours: int | None = None, allow_unsafe: bool = False
) -> list[tuple[TablePolicy, int]]:
    """The (policy, retention) pairs below their safe minimum. Raises UnsafeRetentionError when
    there are any and ``allow_unsafe`` is False (before anything is touched)."""
    if retention_hours is not None and (
        isinstance(retention_hours, bool) or not isinstance(retention_hours, int) or retention_hours < 0
    ):
        raise ConfigError(f"retention hours must be a non-negative integer, got {retention_hours!r}")
    unsafe = [
        (p, effective_retention(p, retention_hours))
        for p in policies
        if p.vacuum and effective_retention(p, retention_hours) < p.min_safe_retention_hours
    ]
    if unsafe and not allow_unsafe:
        listed = ", ".join(f"{p.key} ({hours} h < {p.min_safe_retention_hours} h)" for p, hours in unsafe)
        raise UnsafeRetentionError(
            f"refusing to VACUUM with a retention below the {MIN_SAFE_RETENTION_HOURS}-hour (7-day) safety "
            f"minimum: {listed}. Files removed within the retention are still needed by queries that run "
            "concurrently, by incremental readers of older versions (silver and gold read their source's "
            "change data feed; streams restart from their checkpoints) and by time travel. Nothing was "
            "changed. Use a retention of at least 168 hours, or pass --allow-unsafe-retention "
            "(allow_unsafe_retention=True) if you accept that."
        )
    return unsafe


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


# --- planning (pure) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CompactionCandidate:
    """A partition (``{}`` for an unpartitioned table) that OPTIMIZE would compact."""

    partition: Mapping[str, Any]
    files: int  # all data files of the partition
    small_files: int  # files below the small-file threshold
    small_bytes: int

    def label(self) -> str:
        if not self.partition:
            return "(whole table)"
        return ", ".join(f"{k}={v}" for k, v in self.partition.items())


def _sort_key(partition: Mapping[str, Any]) -> tuple:
    return tuple((v is None, str(v)) for v in partition.values())


def compaction_candidates(files: Iterable[FileInfo], small_file_bytes: int) -> list[CompactionCandidate]:
    """Partitions with two or more data files smaller than ``small_file_bytes``, in partition order.

    Those are what bin-packing can merge; a partition that is already compacted (one small file
    at most) is left alone, so repeated runs do not rewrite unchanged data."""
    groups: dict[tuple, list[FileInfo]] = {}
    for info in files:
        key = tuple(sorted(info.partition_values.items()))
        groups.setdefault(key, []).append(info)
    out = []
    for key, infos in groups.items():
        small = [f for f in infos if f.size_bytes < small_file_bytes]
        if len(small) >= 2:
            out.append(
                CompactionCandidate(
                    partition=dict(key),
                    files=len(infos),
                    small_files=len(small),
                    small_bytes=sum(f.size_bytes for f in small),
                )
            )
    return sorted(out, key=lambda c: _sort_key(c.partition))


TARGET_FILE_SIZE_PROPERTY = "delta.targetFileSize"
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """``104857600`` / ``100mb`` / ``1g`` -> bytes (1024-based, like Spark); None if unreadable."""
    match = _SIZE.match(str(text))
    if not match:
        return None
    return int(match.group(1)) * 1024 ** "_kmgt".index(match.group(2).lower() or "_")


def small_file_threshold(policy: TablePolicy, properties: Mapping[str, str]) -> int:
    """Files below this many bytes are compaction candidates: the policy's ``small_file_bytes``,
    lowered to a quarter of the table's ``delta.targetFileSize`` when that is set. (delta-rs writes
    files of about 1/3 of the target and more: compacted output must not count as small again, or
    every nightly run would rewrite the same partitions.)"""
    threshold = policy.small_file_bytes
    target = properties.get(TARGET_FILE_SIZE_PROPERTY)
    if target is not None:
        size = parse_size(target)
        if size is None:
            log.warning(
                "%s: cannot read %s=%r; using %d bytes",
                policy.key,
                TARGET_FILE_SIZE_PROPERTY,
                target,
                threshold,
            )
        else:
            threshold = min(threshold, max(1, size // 4))
    return threshold


def sql_literal(value: Any) -> str:
    """A partition value as a SQL literal both Spark and OPTIMIZE ... WHERE accept."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    return sql.quote_string(str(value))


def partition_predicate(partitions: Sequence[Mapping[str, Any]]) -> str | None:
    """A predicate on the partition columns selecting exactly ``partitions`` (None when the table
    is unpartitioned): ```d` IN (DATE '2024-01-01', ...)``, or an OR of ANDs for several columns."""
    if not partitions or not partitions[0]:
        return None
    columns = list(partitions[0])
    if any(list(p) != columns for p in partitions):
        raise ValueError(f"partitions with different columns: {partitions}")
    if len(columns) == 1:
        column = sql.quote_identifier(columns[0])
        values = [p[columns[0]] for p in partitions]
        terms = []
        present = [v for v in values if v is not None]
        if present:
            terms.append(f"{column} IN ({', '.join(sql_literal(v) for v in present)})")
        if len(present) < len(values):
            terms.append(f"{column} IS NULL")
        return " OR ".join(terms)
    conjunctions = []
    for p in partitions:
        parts = [
            f"{sql.quote_identifier(c)} IS NULL"
            if p[c] is None
            else f"{sql.quote_identifier(c)} = {sql_literal(p[c])}"
            for c in columns
        ]
        conjunctions.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(conjunctions)


@dataclass(frozen=True)
class TableState:
    """What the planner knows about a table (read from the storage adapter)."""

    columns: tuple[str, ...]
    files: tuple[FileInfo, ...]
    properties: Mapping[str, str]
    version: int | None = None

    @property
    def num_files(self) -> int:
        return len(self.files)

    @property
    def num_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True)
class Step:
    """One maintenance operation = one storage adapter call (one SQL statement on Databricks)."""

    kind: str  # SET_PROPERTIES | CLUSTER_BY | OPTIMIZE | VACUUM
    table: str
    properties: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()  # ZORDER BY / CLUSTER BY columns
    where: str | None = None
    retention_hours: int | None = None
    candidates: tuple[CompactionCandidate, ...] = ()  # OPTIMIZE: the partitions it compacts
    deferred: bool = False  # a metadata step on a streamed table: reported, not run

    def sql(self, table_name: str | None = None, dry_run: bool = False) -> str:
        """The statement the spark-delta engine runs for this step (``table_name`` replaces the
        table identifier, e.g. a logical name for display). Same builders as the engine."""
        name = table_name or self.table
        if self.kind == SET_PROPERTIES:
            return sql.build_set_properties_sql(name, self.properties)
        if self.kind == CLUSTER_BY:
            return sql.build_cluster_by_sql(name, self.columns)
        if self.kind == OPTIMIZE:
            return sql.build_optimize_sql(name, self.columns, self.where)
        if self.kind == VACUUM:
            assert self.retention_hours is not None
            return sql.build_vacuum_sql(name, self.retention_hours, dry_run=dry_run)
        raise ValueError(f"unknown step kind {self.kind!r}")


def plan_steps(
    policy: TablePolicy,
    table: str,
    state: TableState,
    retention_hours: int,
    *,
    supports_liquid_clustering: bool,
    apply_deferred_metadata: bool = False,
) -> list[Step]:
    """The steps that maintain ``table`` according to ``policy``, given its current ``state``.

    Metadata steps of a streamed table are marked ``deferred`` (not to be run) unless
    ``apply_deferred_metadata`` (the caller has stopped the stream).
    Raises JobFailedError if the policy names columns the table does not have."""
    missing = [c for c in (*policy.zorder_by, *policy.cluster_by) if c not in state.columns]
    if missing:
        raise JobFailedError(
            f"maintenance policy of {policy.key} names columns {missing} that {table} does not have "
            f"(columns: {', '.join(state.columns)})"
        )
    steps: list[Step] = []
    defer = policy.streamed and not apply_deferred_metadata
    changed = {
        k: v for k, v in policy.properties.items() if not same_property_value(state.properties.get(k), v)
    }
    if changed:
        steps.append(Step(SET_PROPERTIES, table, properties=changed, deferred=defer))
    if policy.liquid_clustering and policy.cluster_by:
        if supports_liquid_clustering:
            steps.append(Step(CLUSTER_BY, table, columns=policy.cluster_by, deferred=defer))
        else:
            log.info("%s: liquid clustering is not available on this engine; OPTIMIZE only compacts", table)
    if policy.compact:
        candidates = compaction_candidates(state.files, small_file_threshold(policy, state.properties))
        if candidates:
            steps.append(
                Step(
                    OPTIMIZE,
                    table,
                    columns=policy.optimize_columns,
                    where=partition_predicate([c.partition for c in candidates]),
                    candidates=tuple(candidates),
                )
            )
    if policy.vacuum:
        steps.append(Step(VACUUM, table, retention_hours=retention_hours))
    return steps


# --- results ------------------------------------------------------------------------------------
@dataclass
class TableOutcome:
    """What happened to one table (one row of ops.maintenance_runs)."""

    layer: str
    name: str
    table: str
    engine: str
    started_at: dt.datetime
    zorder_by: tuple[str, ...] = ()
    liquid_clustering: bool = False
    retention_hours: int | None = None
    unsafe_retention: bool = False
    outcome: str = FAILED
    error: str | None = None
    files_before: int | None = None
    bytes_before: int | None = None
    files_after: int | None = None
    bytes_after: int | None = None
    version_before: int | None = None
    version_after: int | None = None
    partitions_optimized: int = 0
    files_compacted: int = 0
    files_written: int = 0
    vacuum_files: list[str] = field(default_factory=list)  # listed (capped): deleted, or would be (dry run)
    vacuum_files_deleted: int = 0  # Delta's count (dry run: found by the listing, "at least" if capped)
    vacuum_listing_complete: bool = True  # vacuum_files names every file counted
    properties_set: dict[str, str] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)  # the planned steps as SQL (deferred ones aside)
    metadata_deferred: list[str] = field(default_factory=list)  # not run: streamed table
    candidates: list[CompactionCandidate] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.layer}.{self.name}"

    def line(self, verbose: bool = False) -> str:
        head = f"  {self.key}: {self.outcome}"
        if self.outcome == SKIPPED_MISSING:
            return head
        if self.outcome == FAILED:
            return f"{head} ({self.seconds:.1f} s): {self.error}"
        parts = []
        if self.files_before is not None:
            parts.append(
                f"files {self.files_before} -> {self.files_after} "
                f"({_size(self.bytes_before)} -> {_size(self.bytes_after)})"
            )
        dry = self.outcome == DRY_RUN
        if self.candidates:
            small = sum(c.small_files for c in self.candidates)
            zorder = f" ZORDER BY ({', '.join(self.zorder_by)})" if self.zorder_by else ""
            if dry:
                parts.append(
                    f"would OPTIMIZE{zorder} {len(self.candidates)} partition(s) with {small} small files"
                )
            else:
                parts.append(
                    f"OPTIMIZE{zorder} {self.partitions_optimized} partition(s): "
                    f"{self.files_compacted} files -> {self.files_written}"
                )
        else:
            parts.append("nothing to compact")
        if self.retention_hours is not None:
            unsafe = " (UNSAFE)" if self.unsafe_retention else ""
            parts.append(f"VACUUM RETAIN {self.retention_hours} HOURS{unsafe} {self._vacuum_count(dry)}")
        if self.properties_set:
            parts.append(
                ("would set " if dry else "set ")
                + ", ".join(f"{k}={v}" for k, v in self.properties_set.items())
            )
        lines = [f"{head} ({self.seconds:.1f} s): " + "; ".join(parts)]
        lines += [
            f"    DEFERRED (streamed table: a metadata commit now would fail the stream's concurrent "
            f"micro-batch; run it while the stream is stopped): {statement}"
            for statement in self.metadata_deferred
        ]
        if verbose:
            lines += [f"      {statement}" for statement in self.statements]
            for c in self.candidates:
                lines.append(
                    f"      compact {c.label()}: {c.small_files} of {c.files} files are small "
                    f"({_size(c.small_bytes)})"
                )
            lines += [f"      vacuum {path}" for path in self.vacuum_files]
            if not self.vacuum_listing_complete:
                lines.append(f"      vacuum: only these {len(self.vacuum_files)} files are listed")
        return "\n".join(lines)

    def _vacuum_count(self, dry: bool) -> str:
        n, listed = self.vacuum_files_deleted, len(self.vacuum_files)
        if self.vacuum_listing_complete:
            return f"{'would delete' if dry else 'deleted'} {n} files"
        if dry:  # the engine's listing was cut (Databricks: 1,000 files): there may be more
            return f"would delete at least {n} files (listing capped: {listed} listed)"
        return f"deleted {n} files (Delta's count; only {listed} listed)"

    def report_row(self, run_id: str) -> tuple:
        return (
            run_id,
            self.started_at,
            self.layer,
            self.key,
            self.table,
            self.engine,
            self.outcome,
            self.error,
            list(self.zorder_by),
            self.liquid_clustering,
            self.retention_hours,
            self.unsafe_retention,
            self.files_before,
            self.bytes_before,
            self.files_after,
            self.bytes_after,
            self.partitions_optimized,
            self.files_compacted,
            self.files_written,
            self.vacuum_files_deleted,
            json.dumps(self.properties_set, sort_keys=True),
            self.version_before,
            self.version_after,
            round(self.seconds * 1000),
            json.dumps(self.metadata_deferred) if self.metadata_deferred else None,
        )


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@dataclass
class MaintenanceResult:
    run_id: str
    dry_run: bool = False
    tables: list[TableOutcome] = field(default_factory=list)
    report_table: str | None = None  # where the report rows went (None: dry run / not written)
    report_error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[TableOutcome]:
        return [t for t in self.tables if t.outcome == FAILED]

    @property
    def ok(self) -> bool:
        """No table failed and the report was written (or not due: dry run)."""
        return not self.failed and self.report_error is None

    def outcome(self, key: str) -> TableOutcome:
        return next(t for t in self.tables if t.key == key)

    def summary(self, verbose: bool | None = None) -> str:
        verbose = self.dry_run if verbose is None else verbose
        counts: dict[str, int] = {}
        for t in self.tables:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        totals = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "no tables"
        mode = " DRY RUN (nothing changed)" if self.dry_run else ""
        lines = [f"maintenance{mode}: {len(self.tables)} tables: {totals} ({self.seconds:.1f} s)"]
        lines += [t.line(verbose) for t in self.tables]
        if self.report_table:
            lines.append(f"  report: {len(self.tables)} rows appended to {self.report_table}")
        if self.report_error:
            lines.append(f"  report NOT written: {self.report_error}")
        return "\n".join(lines)

    def failure_message(self) -> str:
        parts = [f"{t.key}: {t.error}" for t in self.failed]
        if self.report_error:
            parts.append(f"report: {self.report_error}")
        return f"maintenance failed for {len(parts)} item(s): " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for table in out["tables"]:
            table["started_at"] = table["started_at"].isoformat()
            table["vacuum_files"] = len(table["vacuum_files"])
        return out


# --- the job ------------------------------------------------------------------------------------
def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    tables: Sequence[str] | str | None = None,
    retention_hours: int | None = None,
    allow_unsafe_retention: bool = False,
    dry_run: bool = False,
    *,
    policies: Iterable[TablePolicy] = POLICIES,
    apply_deferred_metadata: bool = False,
    vacuum_listing_limit: int = VACUUM_LISTING_LIMIT,
) -> MaintenanceResult:
    """Maintain every table of ``policies`` (or only ``tables``, ``layer.table`` names).

    Raises UnsafeRetentionError (a ConfigError) before touching anything when a retention is
    below the safe minimum without ``allow_unsafe_retention``. Per-table failures do not raise:
    they are in ``result.failed`` (and the report). ``apply_deferred_metadata``: the streams that
    write the streamed tables are stopped - their metadata changes are made instead of deferred.
    ``vacuum_listing_limit``: the most files listed per VACUUM (counts are not capped)."""
    started = time.monotonic()
    selected = select(parse_tables(tables), policies)
    unsafe = check_retention(selected, retention_hours, allow_unsafe_retention)
    _warn_unsafe(unsafe)
    unsafe_keys = {p.key for p, _ in unsafe}
    result = MaintenanceResult(run_id=uuid.uuid4().hex, dry_run=dry_run)
    log.info(
        "maintenance run %s%s: %s", result.run_id, " (dry run)" if dry_run else "", [p.key for p in selected]
    )
    for policy in selected:
        outcome = _maintain_table(
            config,
            storage,
            policy,
            effective_retention(policy, retention_hours),
            unsafe=policy.key in unsafe_keys,
            dry_run=dry_run,
            apply_deferred_metadata=apply_deferred_metadata,
            vacuum_listing_limit=vacuum_listing_limit,
        )
        log.info("%s", outcome.line())
        result.tables.append(outcome)
    if not dry_run:
        report = config.table(*REPORT_TABLE)
        try:
            write_report(spark, storage, report, result)
            result.report_table = report
        except Exception as exc:  # the maintenance itself is done; say so, and fail the run
            log.exception("could not write the maintenance report to %s", report)
            result.report_error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result


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
        steps = plan_steps(
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
        outcome.properties_set = dict(step.properties)
        if not dry_run:
            storage.set_properties(step.table, step.properties)
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


def report_frame(spark: SparkSession, result: MaintenanceResult) -> DataFrame:
    return spark.createDataFrame([t.report_row(result.run_id) for t in result.tables], REPORT_SCHEMA)


def write_report(spark: SparkSession, storage: DeltaStorage, table: str, result: MaintenanceResult) -> None:
    """Append one row per table of ``result`` to the report table. A missing table is created with
    the properties of its own maintenance policy (no metadata commit needed on it later); one from
    an older version of this job gets the columns it lacks."""
    properties = policy_map()[".".join(REPORT_TABLE)].properties
    if not storage.create_if_missing(table, REPORT_SCHEMA, properties=properties):
        existing = set(storage.schema(table).fieldNames())
        missing = [f for f in REPORT_SCHEMA.fields if f.name not in existing]
        if missing:
            storage.add_columns(table, missing)
    storage.append(report_frame(spark, result), table)

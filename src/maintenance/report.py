"""The maintenance run's results: one :class:`TableOutcome` per table, the run's
:class:`MaintenanceResult` with their display, and the report table ``ops.maintenance_runs``.

A report row holds the files / bytes before and after, files compacted and written, the bronze
partitions and rows retention deleted (and kept because silver has not read them), files VACUUM
deleted (Delta's own count; the listing of the files themselves is capped, like Databricks' at
1,000), deferred metadata changes, duration and outcome. :func:`write_report` appends them once at
the end of the run, to a table created with the policy's properties (so no later run needs a
metadata commit on it).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.maintenance.plan import CompactionCandidate
from medallion.maintenance.retention import NOT_PROCESSED, RETENTION_COLUMN, RetentionPlan
from medallion.tables import MAINTENANCE_RUNS
from medallion.tables.ops import MaintenanceRunRow, ops_rows

if TYPE_CHECKING:
    from medallion.storage import DeltaStorage, Rows

SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED_MISSING = "skipped: missing"
DRY_RUN = "dry run"


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
    retention: RetentionPlan | None = None  # bronze retention (None: not this table, or turned off)
    retention_blocked: str | None = None  # why the partitions past the retention were not deleted
    partitions_deleted: int = 0
    rows_deleted: int = 0  # Delta's count of the DELETE
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
        if self.retention is not None:
            parts.append(self._retention_summary(dry))
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
            lines += self._retention_lines()
            lines += [f"      vacuum {path}" for path in self.vacuum_files]
            if not self.vacuum_listing_complete:
                lines.append(f"      vacuum: only these {len(self.vacuum_files)} files are listed")
        return "\n".join(lines)

    def _retention_summary(self, dry: bool) -> str:
        plan = self.retention
        assert plan is not None
        head = f"RETENTION {plan.days} days ({RETENTION_COLUMN} < {plan.cutoff})"
        if self.retention_blocked and plan.delete:
            done = f"{len(plan.delete)} partition(s) past the retention NOT deleted: {self.retention_blocked}"
        elif dry:
            rows = "?" if plan.rows is None else plan.rows
            done = f"would delete {len(plan.delete)} partition(s) ({rows} rows)"
        else:
            done = f"deleted {self.partitions_deleted} partition(s) ({self.rows_deleted} rows)"
        kept = f"kept {len(plan.kept_unprocessed)} {NOT_PROCESSED}, {len(plan.kept_recent)} too recent"
        return f"{head} {done}; {kept}"

    def _retention_lines(self) -> list[str]:
        plan = self.retention
        if plan is None:
            return []
        lines = [f"      retention guard: {plan.guard}"]
        lines += [f"      delete {RETENTION_COLUMN}={d}" for d in plan.delete]
        lines += [f"      keep {RETENTION_COLUMN}={d}: {NOT_PROCESSED}" for d in plan.kept_unprocessed]
        if plan.kept_recent:
            first, last = plan.kept_recent[0], plan.kept_recent[-1]
            lines.append(f"      keep {len(plan.kept_recent)} partition(s) {first}..{last}: too recent")
        return lines

    def _vacuum_count(self, dry: bool) -> str:
        n, listed = self.vacuum_files_deleted, len(self.vacuum_files)
        if self.vacuum_listing_complete:
            return f"{'would delete' if dry else 'deleted'} {n} files"
        if dry:  # the engine's listing was cut (Databricks: 1,000 files): there may be more
            return f"would delete at least {n} files (listing capped: {listed} listed)"
        return f"deleted {n} files (Delta's count; only {listed} listed)"

    def report_row(self, run_id: str) -> MaintenanceRunRow:
        return MaintenanceRunRow(
            run_id=run_id,
            started_at=self.started_at,
            layer=self.layer,
            table_name=self.key,
            table_location=self.table,
            engine=self.engine,
            outcome=self.outcome,
            error=self.error,
            zorder_by=list(self.zorder_by),
            liquid_clustering=self.liquid_clustering,
            retention_hours=self.retention_hours,
            unsafe_retention=self.unsafe_retention,
            files_before=self.files_before,
            bytes_before=self.bytes_before,
            files_after=self.files_after,
            bytes_after=self.bytes_after,
            partitions_optimized=self.partitions_optimized,
            files_compacted=self.files_compacted,
            files_written=self.files_written,
            vacuum_files_deleted=self.vacuum_files_deleted,
            properties_set=json.dumps(self.properties_set, sort_keys=True),
            version_before=self.version_before,
            version_after=self.version_after,
            duration_ms=round(self.seconds * 1000),
            metadata_deferred=json.dumps(self.metadata_deferred) if self.metadata_deferred else None,
            **self._retention_columns(),
        )

    def _retention_columns(self) -> dict[str, int | None]:
        if self.retention is None:
            return {}
        return {
            "data_retention_days": self.retention.days,
            "partitions_deleted": self.partitions_deleted,
            "rows_deleted": self.rows_deleted,
            "partitions_kept_unprocessed": len(self.retention.kept_unprocessed),
        }


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

    def totals(self) -> dict[str, int]:
        """Files before / after, compacted and deleted over every table (the run's metrics)."""
        return {
            name: sum(getattr(t, name) or 0 for t in self.tables)
            for name in (
                "files_before",
                "files_after",
                "files_compacted",
                "vacuum_files_deleted",
                "partitions_deleted",
                "rows_deleted",
            )
        }

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


def report_rows(result: MaintenanceResult) -> Rows:
    return ops_rows(MAINTENANCE_RUNS.schema_for(), [t.report_row(result.run_id) for t in result.tables])


def write_report(storage: DeltaStorage, table: str, result: MaintenanceResult) -> None:
    """Append one row per table of ``result`` to the report table. A missing table is created with
    the properties of its own maintenance policy (no metadata commit needed on it later); one from
    an older version of this job gets the columns it lacks."""
    schema = MAINTENANCE_RUNS.schema_for()
    if not MAINTENANCE_RUNS.ensure_at(storage, table, properties=MAINTENANCE_RUNS.maintenance.properties):
        existing = set(storage.schema(table).fieldNames())
        missing = [f for f in schema.fields if f.name not in existing]
        if missing:
            storage.add_columns(table, missing)
            MAINTENANCE_RUNS.ensure_at(storage, table)  # the added columns' comments
    storage.append(report_rows(result), table)

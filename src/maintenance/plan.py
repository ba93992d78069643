"""Maintenance planning (pure, no I/O): what :mod:`medallion.maintenance.job` runs on one table.

:func:`plan_steps` turns a table's policy (:mod:`medallion.maintenance.policy`) and its current
:class:`TableState` into the steps below, each one call of the storage adapter. On Databricks the
spark-delta engine runs each as the SQL :meth:`Step.sql` renders with the builders of
:mod:`medallion.storage.sql`; delta-rs does the same work on local tables.

* ``ALTER TABLE ... SET TBLPROPERTIES`` - the policy's log / deleted-file retention
  properties, only when the table's values differ (an interval written differently, e.g.
  ``interval 1 week`` for ``interval 7 days``, is the same value). Never on a *streamed* table
  (prod bronze): a metadata commit fails the stream's concurrent micro-batch, so it is
  reported as deferred instead (``apply_deferred_metadata=True`` applies it, for when the
  stream is stopped);
* ``ALTER TABLE ... CLUSTER BY`` - liquid clustering keys (engines that support it);
* ``DELETE FROM ... WHERE <old partitions>`` - bronze data retention, planned by
  :mod:`medallion.maintenance.retention` and run first (the job then plans the rest on the files
  that remain);
* ``OPTIMIZE ... [WHERE <partitions>] [ZORDER BY (...)]`` - only the partitions that hold two
  or more small files (:func:`compaction_candidates`, :func:`small_file_threshold`), so a
  nightly run rewrites what changed, not the whole table (Z-order is not incremental on
  delta-rs). No ZORDER BY for liquid clustering tables;
* ``VACUUM ... RETAIN n HOURS`` - after OPTIMIZE, so the files it just replaced are kept for
  the whole retention (readers of older versions, time travel).

Retention safety: :func:`check_retention` refuses a VACUUM retention below the table's safe
minimum (168 hours, see :data:`medallion.maintenance.policy.MIN_SAFE_RETENTION_HOURS`) with
:class:`UnsafeRetentionError` unless the override is given.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from medallion.config import ConfigError
from medallion.errors import JobFailedError
from medallion.storage import quoting, sql
from medallion.storage.base import FileInfo
from medallion.tables.policy import MIN_SAFE_RETENTION_HOURS, TablePolicy, same_property_value

log = logging.getLogger(__name__)

SET_PROPERTIES = "set_properties"
CLUSTER_BY = "cluster_by"
OPTIMIZE = "optimize"
VACUUM = "vacuum"
DELETE = "delete"  # data retention (:mod:`medallion.maintenance.retention`)


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
    return quoting.quote_string(str(value))


def partition_predicate(partitions: Sequence[Mapping[str, Any]]) -> str | None:
    """A predicate on the partition columns selecting exactly ``partitions`` (None when the table
    is unpartitioned): ```d` IN (DATE '2024-01-01', ...)``, or an OR of ANDs for several columns."""
    if not partitions or not partitions[0]:
        return None
    columns = list(partitions[0])
    if any(list(p) != columns for p in partitions):
        raise ValueError(f"partitions with different columns: {partitions}")
    if len(columns) == 1:
        column = quoting.quote_identifier(columns[0])
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
            f"{quoting.quote_identifier(c)} IS NULL"
            if p[c] is None
            else f"{quoting.quote_identifier(c)} = {sql_literal(p[c])}"
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

    def without(self, kept: Callable[[FileInfo], bool]) -> TableState:
        """The state with only the files ``kept`` selects (planning after a retention DELETE)."""
        return replace(self, files=tuple(f for f in self.files if kept(f)))


@dataclass(frozen=True)
class Step:
    """One maintenance operation = one storage adapter call (one SQL statement on Databricks)."""

    kind: str  # SET_PROPERTIES | CLUSTER_BY | DELETE | OPTIMIZE | VACUUM
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
        if self.kind == DELETE:
            assert self.where is not None
            return sql.build_delete_sql(name, self.where)
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

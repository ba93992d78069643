"""Data retention of the raw layer (pure, no I/O): which ``bronze.events`` partitions the maintenance
job deletes before its VACUUM (docs/maintenance.md, "Bronze retention").

A partition (``ingestion_date``) is deleted only when both hold:

* it is **older than the retention**: ``ingestion_date < today - bronze_retention_days`` (``today``
  is the run's UTC date; a partition exactly that many days old is kept);
* **silver has processed every row of it**: no row of that date was added to bronze after the last
  bronze version silver committed in ``ops.progress``. The job reads bronze's change data feed from
  that version + 1 and passes the ingestion dates it finds as ``unprocessed``; ``None`` means
  silver's progress is unknown (silver never ran, or its progress does not fit bronze): then
  nothing is deleted.

The deletion is one ``DELETE FROM bronze.events WHERE ingestion_date IN (...)``: a commit that
only removes files of old partitions, which does not conflict with the stream appending to today's
partition. A bronze table created before retention existed may still carry ``delta.appendOnly=true``,
which makes Delta refuse any DELETE: then the plan first sets it to ``false`` - a metadata commit,
so on the streamed bronze table it is *deferred* like the retention properties (reported with its
statement, run with ``apply_deferred_metadata=True`` while the stream is stopped) and the DELETE is
blocked until then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from medallion.maintenance.plan import DELETE, SET_PROPERTIES, Step, sql_literal
from medallion.storage import quoting
from medallion.storage.base import FileInfo
from medallion.tables import BRONZE_EVENTS

#: The table retention applies to and the partition column whose age it is measured by.
RETENTION_TABLE = BRONZE_EVENTS
RETENTION_COLUMN = "ingestion_date"
APPEND_ONLY = "delta.appendOnly"

TOO_RECENT = "too recent"
NOT_PROCESSED = "not yet processed by silver"


def as_date(value: Any) -> dt.date:
    """A partition value (date, datetime or ISO text, as the engines return them) as a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class RetentionPlan:
    """What retention does to one table: the partitions it deletes and those it keeps, and why."""

    days: int
    cutoff: dt.date  # partitions dated before this are past the retention
    delete: tuple[dt.date, ...]
    kept_unprocessed: tuple[dt.date, ...]  # past the retention, but silver has not processed them
    kept_recent: tuple[dt.date, ...]  # within the retention
    rows: int | None  # rows of the partitions to delete (file statistics; None: unknown)
    guard: str  # what silver's progress is, or why it is unknown

    def predicate(self) -> str | None:
        """``ingestion_date IN (DATE '...', ...)`` selecting exactly the partitions to delete (a bare
        column name: the common subset of Spark SQL and DataFusion, which has no backticks)."""
        if not self.delete:
            return None
        quoting.quote_identifier(RETENTION_COLUMN)  # validation
        return f"{RETENTION_COLUMN} IN ({', '.join(sql_literal(d) for d in self.delete)})"


def plan_retention(
    files: Iterable[FileInfo],
    today: dt.date,
    days: int,
    unprocessed: set[dt.date] | None,
    guard: str,
) -> RetentionPlan:
    """Split the partitions of ``files`` into deleted / kept (unprocessed) / kept (too recent)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"a retention needs at least 1 day, got {days!r}")
    cutoff = today - dt.timedelta(days=days)
    rows: dict[dt.date, int | None] = {}
    for info in files:
        value = info.partition_values.get(RETENTION_COLUMN)
        if value is None:
            continue
        day = as_date(value)
        known = rows.get(day, 0)
        rows[day] = None if known is None or info.num_records is None else known + info.num_records
    old = sorted(d for d in rows if d < cutoff)
    kept = [d for d in old if unprocessed is None or d in unprocessed]
    delete = tuple(d for d in old if d not in kept)
    counts = [rows[d] for d in delete]
    return RetentionPlan(
        days=days,
        cutoff=cutoff,
        delete=delete,
        kept_unprocessed=tuple(kept),
        kept_recent=tuple(sorted(d for d in rows if d >= cutoff)),
        rows=None if any(c is None for c in counts) else sum(c or 0 for c in counts),
        guard=guard,
    )


def retention_steps(
    plan: RetentionPlan, table: str, properties: Mapping[str, str], *, defer_metadata: bool
) -> tuple[list[Step], str | None]:
    """The steps that apply ``plan`` (run before OPTIMIZE and VACUUM), and why the DELETE is
    blocked (None: it is not). An append-only table first gets ``delta.appendOnly=false``;
    when that metadata commit is deferred (streamed table), so is the DELETE."""
    predicate = plan.predicate()
    if predicate is None:
        return [], None
    steps: list[Step] = []
    if str(properties.get(APPEND_ONLY, "false")).strip().lower() == "true":
        steps.append(Step(SET_PROPERTIES, table, properties={APPEND_ONLY: "false"}, deferred=defer_metadata))
        if defer_metadata:
            return steps, (
                f"{APPEND_ONLY}=true (a table created before retention): Delta refuses DELETE until the "
                "deferred ALTER TABLE below has run while the stream is stopped"
            )
    steps.append(Step(DELETE, table, where=predicate))
    return steps, None

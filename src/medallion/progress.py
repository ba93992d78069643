"""Where each incremental job resumes: ``ops.progress``, a small table of the jobs' own rows.

Why not Delta's history or ``txn`` state: Spark has no public API to read a table's ``txn``
actions, and stamped commits in ``DESCRIBE HISTORY`` disappear with log cleanup (30 days by
default) while a full history read costs more with every commit. Progress is data instead, the same
on both engines, read with one small aggregation whatever the age of the tables:

* A consumer (``silver.events<-bronze.events``, ``gold.user_features<-silver.events``) appends a
  ``started`` row for the source range ``[start, end]`` it is about to process, writes its outputs
  (each write carrying ``Txn(consumer, end)``, so Delta itself skips a write already made), then
  appends a ``committed`` row.
* :meth:`ProgressLog.state` returns the last committed end and, if a later ``started`` row has no
  ``committed`` row, that exact pending range: a crashed run is finished on exactly its own range
  (its outputs' Txns are recognised and skipped), never merged into a larger one.
* Both rows carry ``Txn(f"{consumer}@{target_id}:{status}", end)``, so a retried run writes each row once.
* Rows name the Delta table id of the consumer's target: a target dropped and created again (the
  runbook's "replay from bronze") has a new id, so its old progress no longer counts and the
  consumer starts from the beginning instead of silently skipping everything.

A consumer whose outputs are idempotent by content (gold replaces whole feature dates) may skip the
``started`` row and only commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medallion.storage import DeltaStorage, Txn
from medallion.storage.quoting import quote_string
from medallion.tables.ops import PROGRESS_SCHEMA, ProgressRow, ops_rows
from medallion.tables.registry import PROGRESS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STARTED = "started"
COMMITTED = "committed"


@dataclass(frozen=True)
class ProgressState:
    committed: int | None  # last source version fully processed (None: never)
    pending: tuple[int, int] | None  # (start, end) of a run that started and did not commit


class ProgressLog:
    """The progress rows of every consumer in one table (see the module docstring)."""

    def __init__(self, storage: DeltaStorage, table: str) -> None:
        self.storage = storage
        self.table = table

    @property
    def spark(self) -> SparkSession:
        return self.storage.spark

    def ensure(self) -> None:
        PROGRESS.ensure_at(self.storage, self.table)

    def state(self, consumer: str, target_id: str) -> ProgressState:
        if not self.storage.exists(self.table):
            return ProgressState(None, None)
        where = f"consumer = {quote_string(consumer)} AND target_id = {quote_string(target_id)}"
        rows = self.storage.read_rows(self.table, ["status", "start_version", "end_version"], where=where)
        committed = max((r["end_version"] for r in rows if r["status"] == COMMITTED), default=None)
        started = max(
            ((r["end_version"], r["start_version"]) for r in rows if r["status"] == STARTED), default=None
        )
        pending = None
        if started is not None and (committed is None or started[0] > committed):
            pending = (int(started[1]), int(started[0]))
        return ProgressState(None if committed is None else int(committed), pending)

    def _record(self, consumer: str, target_id: str, status: str, start: int, end: int, run_id: str) -> bool:
        now = dt.datetime.now(dt.timezone.utc)
        row = ProgressRow(consumer, target_id, status, int(start), int(end), run_id, now)
        df = ops_rows(PROGRESS_SCHEMA, [row])
        txn = Txn(f"{consumer}@{target_id}:{status}", int(end))
        return self.storage.append(df, self.table, txn=txn).committed

    def start(self, consumer: str, target_id: str, start: int, end: int, run_id: str) -> bool:
        """Record that ``consumer`` is processing source versions ``start..end`` into ``target_id``."""
        return self._record(consumer, target_id, STARTED, start, end, run_id)

    def commit(self, consumer: str, target_id: str, start: int, end: int, run_id: str) -> bool:
        """Record that ``consumer`` has written everything for source versions ``start..end``."""
        return self._record(consumer, target_id, COMMITTED, start, end, run_id)

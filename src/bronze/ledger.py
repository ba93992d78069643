"""The files source's ledgers: which landing files bronze ingested (``ops.landing_files``) and which
it could not (``ops.bad_files``). A file already in the ledger is never ingested again, even under
a new streaming checkpoint; a file changed after ingestion is reported once, not re-ingested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medallion.storage import DeltaStorage, Txn
from medallion.tables import BAD_FILES, LANDING_FILES
from medallion.tables.ops import MODIFIED_AFTER_INGESTION, BadFileRow, LandingFileRow, ops_rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.config import Config


@dataclass(frozen=True)
class BadFile:
    """A landing file bronze did not ingest (a row of ``ops.bad_files``)."""

    path: str
    size: int
    modification_time: dt.datetime | None
    problem: str  # UNREADABLE | MODIFIED_AFTER_INGESTION
    error: str

    def describe(self) -> str:
        return f"{self.problem}: {self.path} ({self.size} bytes): {self.error}"


class LandingLedger:
    """What the files source already did: the files in ``ops.landing_files`` (path -> size and
    modification time) and the problems already in ``ops.bad_files``. Loaded once per run and
    kept current by the batch writer."""

    def __init__(self, storage: DeltaStorage, config: Config) -> None:
        self.storage = storage
        self.landing_table = LANDING_FILES.location(config)
        self.bad_table = BAD_FILES.location(config)
        self.ingested: dict[str, tuple[int, Any]] = {}
        self.reported: set[tuple[str, int, Any, str]] = set()

    def create_tables(self, config: Config) -> None:
        LANDING_FILES.create_if_missing(self.storage, config)
        BAD_FILES.create_if_missing(self.storage, config)

    def load(self) -> LandingLedger:
        columns = ["file_path", "file_size", "file_modification_time"]
        rows = self.storage.read_rows(self.landing_table, [*columns, "ingestion_time"])
        for r in sorted(rows, key=lambda r: r["ingestion_time"]):  # the latest one wins
            self.ingested[r["file_path"]] = (r["file_size"], r["file_modification_time"])
        bad = self.storage.read_rows(self.bad_table, [*columns, "problem"])
        self.reported = {
            (r["file_path"], r["file_size"], r["file_modification_time"], r["problem"]) for r in bad
        }
        return self

    def already_ingested(self, path: str, size: int, mtime: Any) -> bool:
        return self.ingested.get(path) == (size, mtime)

    def modified(self, path: str, size: int, mtime: Any) -> BadFile | None:
        """The report for a file bronze ingested before and that has changed since, or None.
        A changed file is never ingested again (its old lines are in bronze already)."""
        before = self.ingested.get(path)
        if before is None or before == (size, mtime):
            return None
        return BadFile(
            path,
            size,
            mtime,
            MODIFIED_AFTER_INGESTION,
            f"changed after ingestion (then {before[0]} bytes, modified {before[1]}); "
            "the change was not ingested",
        )

    def pending(self, listing: Sequence[tuple[str, int, Any]]) -> list[str]:
        """Paths of a landing listing (path, size, modification time) that bronze has neither
        ingested nor reported as bad: what the files source still has to read."""
        reported = {(path, size, mtime) for path, size, mtime, _ in self.reported}
        return [
            path
            for path, size, mtime in listing
            if not self.already_ingested(path, size, mtime)
            and (path, size, mtime) not in reported
            and self.modified(path, size, mtime) is None
        ]

    def unreported(self, bad: Sequence[BadFile]) -> list[BadFile]:
        """``bad`` without the problems already in ops.bad_files (each is reported once)."""
        return [b for b in bad if (b.path, b.size, b.modification_time, b.problem) not in self.reported]

    def record_bad(
        self,
        spark: SparkSession,
        bad: Sequence[BadFile],
        batch_id: int | None,
        app_id: str | None,
        txn: Txn | None,
    ) -> None:
        if not bad:
            return
        now = dt.datetime.now(dt.timezone.utc)
        rows = [
            BadFileRow(b.path, b.size, b.modification_time, b.problem, b.error, batch_id, app_id, now)
            for b in bad
        ]
        self.storage.append(ops_rows(BAD_FILES.schema_for(), rows), self.bad_table, txn=txn)
        self.reported |= {(b.path, b.size, b.modification_time, b.problem) for b in bad}

    def record_ingested(
        self, spark: SparkSession, files: Sequence[Any], batch_id: int, app_id: str, txn: Txn
    ) -> None:
        if not files:
            return
        now = dt.datetime.now(dt.timezone.utc)
        rows = [
            LandingFileRow(
                file_path=f["file_path"],
                file_size=f["file_size"],
                file_modification_time=f["file_modification_time"],
                lines=f["lines"],
                ingestion_batch_id=batch_id,
                stream_app_id=app_id,
                ingestion_time=now,
            )
            for f in files
        ]
        self.storage.append(ops_rows(LANDING_FILES.schema_for(), rows), self.landing_table, txn=txn)
        for f in files:
            self.ingested[f["file_path"]] = (f["file_size"], f["file_modification_time"])

"""Bronze job: stream the configured source into ``bronze.events``, exactly once.

Each micro-batch goes through ``foreachBatch`` and the storage adapter's idempotent append,
keyed by ``Txn(app_id, batch_id)``. ``app_id`` is the stream name plus the streaming query id,
which Spark persists in the checkpoint: if the job crashes after the Delta commit but before the
checkpoint commit, Spark replays the same batch id on restart and the append is skipped. A
fresh checkpoint gets a new query id, so its batch ids (starting again at 0) are not mistaken
for already-committed ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from medallion.bronze.schema import (
    BAD_FILES_SCHEMA,
    BAD_FILES_TABLE,
    BRONZE_SCHEMA,
    BRONZE_TABLE,
    LANDING_FILES_SCHEMA,
    LANDING_FILES_TABLE,
    MODIFIED_AFTER_INGESTION,
    PARTITION_COLUMNS,
    TABLE_PROPERTIES,
    UNREADABLE,
)
from medallion.bronze.sources import default_events_dir, explain_stream_failure, list_landing, read_stream
from medallion.bronze.transforms import add_ingestion_metadata, file_records, normalize_files
from medallion.config import Config, parse_trigger
from medallion.secrets import SecretProvider
from medallion.storage import DeltaStorage, Txn

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STREAM_NAME = "bronze_events"
QUERY_ID_PROPERTY = "sql.streaming.queryId"


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


@dataclass
class BronzeResult:
    table: str
    batches: int = 0
    batches_skipped: int = 0  # replayed batches already committed (exactly-once)
    rows_ingested: int = 0
    files_read: int = 0
    seconds: float = 0.0
    batch_ids: list[int] = field(default_factory=list)
    files_already_ingested: int = 0  # files in ops.landing_files already (e.g. a new checkpoint)
    bad_files: list[BadFile] = field(default_factory=list)  # found by this run

    def summary(self) -> str:
        rate = self.rows_ingested / self.seconds if self.seconds else 0.0
        text = (
            f"bronze: {self.files_read} files read, {self.rows_ingested} rows ingested in "
            f"{self.batches} batches ({self.batches_skipped} replayed batches skipped), "
            f"{self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if self.files_already_ingested:
            text += f"\nbronze: {self.files_already_ingested} files skipped: already in ops.landing_files"
        if self.bad_files:
            text += "\n" + self.failure_message()
        return text

    @property
    def ok(self) -> bool:
        return not self.bad_files

    def failure_message(self) -> str:
        lines = [
            f"bronze: {len(self.bad_files)} landing file(s) NOT ingested, recorded in ops.bad_files "
            "(every other file was ingested):"
        ]
        lines += [f"  {bad.describe()}" for bad in self.bad_files]
        if any(b.problem == UNREADABLE for b in self.bad_files):
            lines.append("  fix: land a repaired copy under a new file name; the next run ingests it")
        if any(b.problem == MODIFIED_AFTER_INGESTION for b in self.bad_files):
            lines.append("  fix: land files complete and never change them; land the new lines as a new file")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_ingested": self.rows_ingested,
            "files_read": self.files_read,
            "files_already_ingested": self.files_already_ingested,
            "bad_files": [dataclasses.asdict(b) for b in self.bad_files],
        }


class LandingLedger:
    """What the files source already did: the files in ``ops.landing_files`` (path -> size and
    modification time) and the problems already in ``ops.bad_files``. Loaded once per run and
    kept current by the batch writer."""

    def __init__(self, storage: DeltaStorage, config: Config) -> None:
        self.storage = storage
        self.landing_table = config.table(*LANDING_FILES_TABLE)
        self.bad_table = config.table(*BAD_FILES_TABLE)
        self.ingested: dict[str, tuple[int, Any]] = {}
        self.reported: set[tuple[str, int, Any, str]] = set()

    def create_tables(self) -> None:
        self.storage.create_if_missing(self.landing_table, LANDING_FILES_SCHEMA)
        self.storage.create_if_missing(self.bad_table, BAD_FILES_SCHEMA)

    def load(self) -> LandingLedger:
        rows = self.storage.read(self.landing_table).select(
            "file_path", "file_size", "file_modification_time", "ingestion_time"
        )
        for r in sorted(rows.collect(), key=lambda r: r["ingestion_time"]):  # the latest one wins
            self.ingested[r["file_path"]] = (r["file_size"], r["file_modification_time"])
        bad = self.storage.read(self.bad_table).select(
            "file_path", "file_size", "file_modification_time", "problem"
        )
        self.reported = {tuple(r) for r in bad.collect()}
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
        rows = [(b.path, b.size, b.modification_time, b.problem, b.error, batch_id, app_id, now) for b in bad]
        self.storage.append(spark.createDataFrame(rows, BAD_FILES_SCHEMA), self.bad_table, txn=txn)
        self.reported |= {(b.path, b.size, b.modification_time, b.problem) for b in bad}

    def record_ingested(
        self, spark: SparkSession, files: Sequence[Any], batch_id: int, app_id: str, txn: Txn
    ) -> None:
        if not files:
            return
        now = dt.datetime.now(dt.timezone.utc)
        rows = [
            (f["file_path"], f["file_size"], f["file_modification_time"], f["lines"], batch_id, app_id, now)
            for f in files
        ]
        self.storage.append(spark.createDataFrame(rows, LANDING_FILES_SCHEMA), self.landing_table, txn=txn)
        for f in files:
            self.ingested[f["file_path"]] = (f["file_size"], f["file_modification_time"])


class BronzeBatchWriter:
    """The foreachBatch function: frame (files source), stamp ingestion metadata and append
    idempotently; for the files source also record each file in ``ops.landing_files`` and each
    unreadable one in ``ops.bad_files``."""

    def __init__(
        self,
        storage: DeltaStorage,
        table: str,
        checkpoint: str,
        result: BronzeResult,
        gate: Any = None,
        ledger: LandingLedger | None = None,
    ) -> None:
        self.storage = storage
        self.table = table
        self.checkpoint = checkpoint
        self.result = result
        self.gate = gate
        self.ledger = ledger  # set for the files source
        self.failure: BaseException | None = None  # why the stream stopped, if we stopped it
        self._app_id: str | None = None

    def app_id(self, spark: SparkSession) -> str:
        if self._app_id is None:
            query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
            if not query_id:  # fall back to the id Spark persisted in the checkpoint
                query_id = spark.read.json(f"{self.checkpoint}/metadata").first()["id"]
            self._app_id = f"medallion.{STREAM_NAME}.{query_id}"
        return self._app_id

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        spark = df.sparkSession
        app_id = self.app_id(spark)
        txn = Txn(app_id, batch_id)
        # Every write of the batch carries Txn(app_id, batch_id): a replayed batch (crash after a
        # Delta commit, before the checkpoint commit) is skipped by each append's own txn check.
        cached = df.persist()
        try:
            new_files: list[Any] = []
            known: list[str] = []
            unreadable: list[BadFile] = []
            expected: int | None = None  # records the batch must write (files source: known exactly)
            source_rows = cached
            if self.ledger is not None:
                for f in file_records(cached).collect():
                    size, mtime = int(f["file_size"]), f["file_modification_time"]
                    if f["error"] is not None:  # none of its lines were framed
                        unreadable.append(BadFile(f["file_path"], size, mtime, UNREADABLE, f["error"]))
                    elif self.ledger.already_ingested(f["file_path"], size, mtime):
                        known.append(f["file_path"])
                    elif changed := self.ledger.modified(f["file_path"], size, mtime):
                        unreadable.append(changed)  # its old lines are in bronze: not again
                    else:
                        new_files.append(f)
                source_rows = normalize_files(cached)
                skipped = known + [b.path for b in unreadable if b.problem == MODIFIED_AFTER_INGESTION]
                if skipped:  # e.g. a new checkpoint re-listed files bronze already has
                    source_rows = source_rows.where(~F.col("source_file").isin(skipped))
                expected = sum(int(f["lines"]) for f in new_files)
            out = add_ingestion_metadata(source_rows, batch_id, dt.datetime.now(dt.timezone.utc))
            rows = int(out.count()) if expected is None or expected else 0
            if self.gate is not None:
                # a batch that read input must write rows (a files batch: its new files' lines)
                inputs = rows if expected is None else expected
                try:
                    self.gate.check(
                        "bronze", "events", out, batch_metrics={"inputs_read": inputs, "rows": rows}
                    )
                except Exception as exc:
                    self.failure = exc
                    raise
            if self.ledger is not None:
                unreadable = self.ledger.unreported(unreadable)
                self.ledger.record_bad(spark, unreadable, batch_id, app_id, txn)
                self.result.bad_files.extend(unreadable)
            written = None
            if rows:
                written = self.storage.append(out, self.table, PARTITION_COLUMNS, txn=txn)
            if self.ledger is not None:
                self.ledger.record_ingested(spark, new_files, batch_id, app_id, txn)
        finally:
            cached.unpersist()
        if written is not None and not written.committed:
            log.warning("bronze batch %s already committed for %s: skipped (replay)", batch_id, app_id)
            self.result.batches_skipped += 1
            return
        self.result.files_already_ingested += len(known)
        self.result.files_read += len(new_files)
        if written is None:
            return
        self.result.batches += 1
        self.result.rows_ingested += rows
        self.result.batch_ids.append(batch_id)
        log.info("bronze batch %s: %s rows -> version %s", batch_id, rows, written.version)


def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    secrets: SecretProvider | None = None,
    gate: Any = None,
) -> BronzeResult:
    """Run the bronze stream with the configured trigger (available-now returns when the source
    is drained; processing-time runs until the query is stopped). ``gate`` (a
    :class:`medallion.quality.QualityGate`) validates each micro-batch before it is appended; in enforce
    mode a failing batch stops the stream with nothing written for it (it is retried on restart).

    Files source: landing files that cannot be read, or that changed after ingestion, are not
    ingested; they are recorded in ``ops.bad_files`` and listed in ``result.bad_files`` (the run
    itself goes on: every other file is ingested). The CLI fails the task for them in enforce
    mode, once, in the run that found them."""
    started = time.monotonic()
    table = config.table(*BRONZE_TABLE)
    storage.create_if_missing(table, BRONZE_SCHEMA, PARTITION_COLUMNS, TABLE_PROPERTIES)
    secrets = secrets or SecretProvider.for_spark(
        spark, config.secret_scope, config.environment == "databricks"
    )
    checkpoint = config.checkpoint(STREAM_NAME)
    result = BronzeResult(table=table)
    ledger = None
    if config.source == "files":
        ledger = LandingLedger(storage, config)
        ledger.create_tables()
        ledger.load()
        # Files changed after bronze ingested them: the stream does not read a path twice, so a
        # listing is what finds them. Reported once per version of the file.
        listing = list_landing(spark, config.events_dir or default_events_dir())
        changed = ledger.unreported([b for p, n, t in listing if (b := ledger.modified(p, n, t))])
        ledger.record_bad(spark, changed, None, None, None)
        result.bad_files.extend(changed)
    stream = read_stream(spark, config, secrets)
    writer = BronzeBatchWriter(storage, table, checkpoint, result, gate=gate, ledger=ledger)
    query = (
        stream.writeStream.queryName(STREAM_NAME)
        .foreachBatch(writer)
        .option("checkpointLocation", checkpoint)
        .trigger(**parse_trigger(config.trigger))
        .start()
    )
    try:
        query.awaitTermination()
    except Exception as exc:
        if writer.failure is not None:  # our own error, e.g. a quality gate: raise it as it is
            raise writer.failure from None
        explained = explain_stream_failure(config, exc)  # e.g. refused Kafka credentials
        if explained is not None:
            raise explained from None
        raise
    result.seconds = time.monotonic() - started
    return result

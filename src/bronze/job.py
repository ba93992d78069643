"""Bronze job: stream the configured source into ``bronze.events``, exactly once.

Each micro-batch goes through ``foreachBatch`` and the storage adapter's idempotent append,
keyed by ``Txn(app_id, batch_id)``. ``app_id`` is the stream name plus the streaming query id,
which Spark persists in the checkpoint: if the job crashes after the Delta commit but before the
checkpoint commit, Spark replays the same batch id on restart and the append is skipped. A
fresh checkpoint gets a new query id, so its batch ids (starting again at 0) are not mistaken
for already-committed ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from medallion.bronze.ledger import LandingLedger
from medallion.bronze.plan import BronzeResult, FileTriage, triage
from medallion.bronze.sources import (
    default_events_dir,
    explain_stream_failure,
    list_landing,
    read_stream,
    unfinished_batch,
)
from medallion.bronze.transforms import add_ingestion_metadata, file_records, normalize_files
from medallion.config import Config
from medallion.config_values import parse_trigger
from medallion.runs import Gate, JobRun, RunRecorder, measure, recording
from medallion.secrets import SecretProvider
from medallion.storage import DeltaStorage, Txn
from medallion.tables import BRONZE_EVENTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STREAM_NAME = "bronze_events"
QUERY_ID_PROPERTY = "sql.streaming.queryId"


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
        gate: Gate | None = None,
        ledger: LandingLedger | None = None,
        job: JobRun | None = None,
    ) -> None:
        self.storage = storage
        self.table = table
        self.checkpoint = checkpoint
        self.result = result
        self.gate = gate
        self.ledger = ledger  # set for the files source
        self.job = job
        self.failure: BaseException | None = None  # why the stream stopped, if we stopped it
        self._app_id: str | None = None

    def app_id(self, spark: SparkSession) -> str:
        if self._app_id is None:
            query_id = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
            if not query_id:  # fall back to the id Spark persisted in the checkpoint
                query_id = spark.read.json(f"{self.checkpoint}/metadata").first()["id"]
            self._app_id = f"{BRONZE_EVENTS.progress_app_id}.{query_id}"  # medallion.bronze_events.<id>
        return self._app_id

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        spark = df.sparkSession
        app_id = self.app_id(spark)
        txn = Txn(app_id, batch_id)
        # Every write of the batch carries Txn(app_id, batch_id): a replayed batch (crash after a
        # Delta commit, before the checkpoint commit) is skipped by each append's own txn check.
        cached = df.persist()
        try:
            files = FileTriage()
            expected: int | None = None  # records the batch must write (files source: known exactly)
            source_rows = cached
            if self.ledger is not None:
                files = triage(file_records(cached).collect(), self.ledger)
                source_rows = normalize_files(cached)
                if files.skipped_paths:  # e.g. a new checkpoint re-listed files bronze already has
                    source_rows = source_rows.where(~F.col("source_file").isin(files.skipped_paths))
                expected = files.records
            out = add_ingestion_metadata(source_rows, batch_id, dt.datetime.now(dt.timezone.utc))
            rows, size = measure(out) if expected is None or expected else (0, 0)
            inputs = rows if expected is None else expected
            if self.gate is not None:
                # a batch that read input must write rows (a files batch: its new files' lines)
                try:
                    gated = self.gate.check(
                        BRONZE_EVENTS,
                        out,
                        {
                            "inputs_read": inputs,
                            "rows": rows,
                            "candidate_rows": rows,
                            "candidate_bytes": size,
                        },
                    )
                except Exception as exc:
                    self.failure = exc
                    raise
                if self.job is not None:
                    self.job.passed(gated)
            if self.ledger is not None:
                unreported = self.ledger.unreported(files.bad)
                self.ledger.record_bad(spark, unreported, batch_id, app_id, txn)
                self.result.bad_files.extend(unreported)
            written = None
            if rows:
                written = self.storage.append(out, self.table, BRONZE_EVENTS.partition_by, txn=txn)
            if self.ledger is not None:
                self.ledger.record_ingested(spark, files.new, batch_id, app_id, txn)
        finally:
            cached.unpersist()
        if written is not None and not written.committed:
            log.warning("bronze batch %s already committed for %s: skipped (replay)", batch_id, app_id)
            self.result.batches_skipped += 1
            return
        self.result.files_already_ingested += len(files.known)
        self.result.files_read += len(files.new)
        self.result.records_read += inputs
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
    gate: Gate | None = None,
    recorder: RunRecorder | None = None,
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
    with recording(recorder, "bronze", (BRONZE_EVENTS,)) as job:
        result = _stream(config, spark, storage, secrets, gate, job)
        result.seconds = time.monotonic() - started
        job.input_range = (
            f"files source: {result.files_read} new files"
            if config.source == "files"
            else f"{config.source} source"
        )
        job.rows_in, job.rows_out = result.records_read, result.rows_ingested
    return result


def _stream(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    secrets: SecretProvider | None,
    gate: Gate | None,
    job: JobRun,
) -> BronzeResult:
    table = BRONZE_EVENTS.create_if_missing(storage, config)
    secrets = secrets or SecretProvider.for_spark(
        spark, config.secret_scope, config.environment == "databricks"
    )
    checkpoint = config.checkpoint(STREAM_NAME)
    result = BronzeResult(table=table)
    ledger = None
    if config.source == "files":
        ledger = LandingLedger(storage, config)
        ledger.create_tables(config)
        ledger.load()
        # Files changed after bronze ingested them: the stream does not read a path twice, so a
        # listing is what finds them. Reported once per version of the file.
        listing = list_landing(spark, config.events_dir or default_events_dir())
        changed = ledger.unreported([b for p, n, t in listing if (b := ledger.modified(p, n, t))])
        ledger.record_bad(spark, changed, None, None, None)
        result.bad_files.extend(changed)
        if (
            "availableNow" in parse_trigger(config.trigger)
            and not ledger.pending(listing)
            and not unfinished_batch(spark, checkpoint)
        ):
            # Every file is in the ledger (ingested, or reported as bad) and the checkpoint has no
            # batch to replay, so the stream would read nothing: do not start it.
            log.info("bronze: nothing new in %s (%s files, all known)", config.events_dir, len(listing))
            return result
    if gate is not None:
        gate.warm_up("bronze")  # overlaps GX's import with the stream's start
    stream = read_stream(spark, config, secrets)
    writer = BronzeBatchWriter(storage, table, checkpoint, result, gate=gate, ledger=ledger, job=job)
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
    return result

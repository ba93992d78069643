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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from bronze.schema import BRONZE_SCHEMA, BRONZE_TABLE, PARTITION_COLUMNS, TABLE_PROPERTIES
from bronze.sources import explain_stream_failure, read_stream
from bronze.transforms import add_ingestion_metadata
from medallion.config import Config, parse_trigger
from medallion.secrets import SecretProvider
from medallion.storage import DeltaStorage, Txn

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STREAM_NAME = "bronze_events"
QUERY_ID_PROPERTY = "sql.streaming.queryId"


@dataclass
class BronzeResult:
    table: str
    batches: int = 0
    batches_skipped: int = 0  # replayed batches already committed (exactly-once)
    rows_ingested: int = 0
    files_read: int = 0
    seconds: float = 0.0
    batch_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.rows_ingested / self.seconds if self.seconds else 0.0
        return (
            f"bronze: {self.files_read} files read, {self.rows_ingested} rows ingested in "
            f"{self.batches} batches ({self.batches_skipped} replayed batches skipped), "
            f"{self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )


class BronzeBatchWriter:
    """The foreachBatch function: stamp ingestion metadata and append idempotently."""

    def __init__(
        self,
        storage: DeltaStorage,
        table: str,
        checkpoint: str,
        result: BronzeResult,
        gate: Any = None,
        count_input_files: bool = False,
    ) -> None:
        self.storage = storage
        self.table = table
        self.checkpoint = checkpoint
        self.result = result
        self.gate = gate
        self.count_input_files = count_input_files
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
        app_id = self.app_id(df.sparkSession)
        # A replayed batch (crash after the Delta commit, before the checkpoint commit) is skipped
        # by the append itself: Delta's txn check sees Txn(app_id, batch_id) already committed.
        out = add_ingestion_metadata(df, batch_id, dt.datetime.now(dt.timezone.utc)).persist()
        try:
            counts = out.agg(F.count(F.lit(1)), F.count_distinct("source_file")).first()
            rows = int(counts[0])
            if self.gate is not None:
                # The files source only plans a micro-batch when new files arrived, so a files batch
                # always read input: zero rows then means empty files. Kafka offsets may advance over
                # control records without rows, so there the row count is all we know.
                inputs = 1 if self.count_input_files else rows
                try:
                    self.gate.check(
                        "bronze", "events", out, batch_metrics={"inputs_read": inputs, "rows": rows}
                    )
                except Exception as exc:
                    self.failure = exc
                    raise
            if rows == 0:
                return
            written = self.storage.append(out, self.table, PARTITION_COLUMNS, txn=Txn(app_id, batch_id))
        finally:
            out.unpersist()
        if not written.committed:
            log.warning("bronze batch %s already committed for %s: skipped (replay)", batch_id, app_id)
            self.result.batches_skipped += 1
            return
        self.result.batches += 1
        self.result.rows_ingested += rows
        self.result.batch_ids.append(batch_id)
        self.result.files_read += int(counts[1] or 0)
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
    :class:`quality.QualityGate`) validates each micro-batch before it is appended; in enforce
    mode a failing batch stops the stream with nothing written for it (it is retried on restart)."""
    started = time.monotonic()
    table = config.table(*BRONZE_TABLE)
    storage.create_if_missing(table, BRONZE_SCHEMA, PARTITION_COLUMNS, TABLE_PROPERTIES)
    secrets = secrets or SecretProvider.for_spark(
        spark, config.secret_scope, config.environment == "databricks"
    )
    checkpoint = config.checkpoint(STREAM_NAME)
    result = BronzeResult(table=table)
    stream = read_stream(spark, config, secrets)
    writer = BronzeBatchWriter(
        storage, table, checkpoint, result, gate=gate, count_input_files=config.source == "files"
    )
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

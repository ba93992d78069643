"""The one bronze schema every source is normalised to."""

from __future__ import annotations

from pyspark.sql.types import (
    BinaryType,
    DateType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

BRONZE_TABLE = ("bronze", "events")

BRONZE_SCHEMA = StructType(
    [
        # The event body exactly as received: raw bytes, never parsed or altered here.
        # Invalid UTF-8 is kept byte for byte (silver decides what is valid).
        StructField("body", BinaryType(), nullable=True),
        StructField("source", StringType(), nullable=False),  # files | kafka | eventhubs
        StructField("source_partition", StringType(), nullable=True),
        StructField("source_offset", LongType(), nullable=True),  # Kafka offset / EH sequence number
        StructField("source_key", BinaryType(), nullable=True),  # Kafka key / EH partition key
        StructField("enqueued_time", TimestampType(), nullable=True),  # broker time; file mtime
        StructField("source_properties", MapType(StringType(), StringType(), True), nullable=True),
        StructField("source_file", StringType(), nullable=True),
        StructField("ingestion_time", TimestampType(), nullable=False),
        StructField("ingestion_batch_id", LongType(), nullable=False),
        StructField("ingestion_date", DateType(), nullable=False),
    ]
)

PARTITION_COLUMNS = ("ingestion_date",)

TABLE_PROPERTIES = {
    # silver reads bronze incrementally through the change data feed
    "delta.enableChangeDataFeed": "true",
    # bronze is append-only: updates and deletes are refused by Delta itself
    "delta.appendOnly": "true",
}

# Columns each source contributes before ingestion metadata is added.
SOURCE_COLUMNS = tuple(f.name for f in BRONZE_SCHEMA.fields if not f.name.startswith("ingestion_"))

# --- the files source's ledgers (ops schema) -------------------------------------------------
# Every landing file bronze ingested: the per-file conservation record (``lines`` = its bronze rows)
# and what a later run compares the landing folder with (a file changed after ingestion is reported,
# a file already recorded is never ingested again, even under a new streaming checkpoint).
LANDING_FILES_TABLE = ("ops", "landing_files")
LANDING_FILES_SCHEMA = StructType(
    [
        StructField("file_path", StringType(), nullable=False),
        StructField("file_size", LongType(), nullable=False),
        StructField("file_modification_time", TimestampType(), nullable=True),
        StructField("lines", LongType(), nullable=False),
        StructField("ingestion_batch_id", LongType(), nullable=False),
        StructField("stream_app_id", StringType(), nullable=False),
        StructField("ingestion_time", TimestampType(), nullable=False),
    ]
)

# Landing files bronze could not ingest, with the reason: ``unreadable`` (corrupt or truncated
# compression; nothing of the file was ingested) or ``modified_after_ingestion`` (the file changed
# after bronze ingested it: the change was not ingested).
BAD_FILES_TABLE = ("ops", "bad_files")
UNREADABLE = "unreadable"
MODIFIED_AFTER_INGESTION = "modified_after_ingestion"
BAD_FILES_SCHEMA = StructType(
    [
        StructField("file_path", StringType(), nullable=False),
        StructField("file_size", LongType(), nullable=False),
        StructField("file_modification_time", TimestampType(), nullable=True),
        StructField("problem", StringType(), nullable=False),  # unreadable | modified_after_ingestion
        StructField("error", StringType(), nullable=False),
        StructField("ingestion_batch_id", LongType(), nullable=True),  # the batch that read it, if any
        StructField("stream_app_id", StringType(), nullable=True),
        StructField("detected_time", TimestampType(), nullable=False),
    ]
)

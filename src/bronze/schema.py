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

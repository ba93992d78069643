"""Silver tables: ``silver.events`` (valid, typed, unique events) and
``silver.events_quarantine`` (every invalid bronze row with its reasons)."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.bronze.schema import BRONZE_SCHEMA
from medallion.contract import EventContract

EVENTS_TABLE = ("silver", "events")
QUARANTINE_TABLE = ("silver", "events_quarantine")

EVENTS_PARTITION = ("event_date",)
QUARANTINE_PARTITION = ("ingestion_date",)

# Columns derived from the contract fields.
DERIVED_FIELDS = (
    StructField("event_ts", TimestampType(), nullable=False),  # from timestamp (epoch ms, UTC)
    StructField("event_date", DateType(), nullable=False),  # UTC date of event_ts
)

# Where each event came from (bronze lineage).
LINEAGE_FIELDS = (
    StructField("source", StringType(), nullable=False),
    StructField("source_partition", StringType(), nullable=True),
    StructField("source_offset", LongType(), nullable=True),
    StructField("source_file", StringType(), nullable=True),
    StructField("enqueued_time", TimestampType(), nullable=True),
    StructField("ingestion_time", TimestampType(), nullable=False),
    StructField("ingestion_batch_id", LongType(), nullable=False),
    # bronze commit that brought the row (a first run reads a snapshot: the version it read)
    StructField("bronze_version", LongType(), nullable=False),
    StructField("processed_time", TimestampType(), nullable=False),  # silver run that inserted it
)

# Contract fields that are keys and must be present and typed in silver.
NON_NULL_CONTRACT_FIELDS = ("event_id", "event_type", "user_id", "video_id", "timestamp")


def events_schema(contract: EventContract) -> StructType:
    """silver.events: a typed column per contract field, then derived and lineage columns."""
    contract_fields = [
        StructField(f.name, f.spark_field().dataType, nullable=f.name not in NON_NULL_CONTRACT_FIELDS)
        for f in contract.fields
    ]
    return StructType([*contract_fields, *DERIVED_FIELDS, *LINEAGE_FIELDS])


QUARANTINE_SCHEMA = StructType(
    [
        *BRONZE_SCHEMA.fields,
        StructField("bronze_version", LongType(), nullable=False),
        StructField("reasons", ArrayType(StringType(), containsNull=False), nullable=False),
        StructField("contract_version", IntegerType(), nullable=False),
        StructField("quarantined_time", TimestampType(), nullable=False),
    ]
)

EVENTS_PROPERTIES = {
    # gold reads silver incrementally through the change data feed
    "delta.enableChangeDataFeed": "true",
}

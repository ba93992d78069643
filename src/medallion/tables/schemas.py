"""The schemas of the pipeline's data tables (bronze, silver, gold), declared once and referenced
by the table registry (:mod:`medallion.tables.registry`). The ops tables' schemas are in
:mod:`medallion.tables.ops`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

if TYPE_CHECKING:
    from medallion.contract import EventContract

# --- bronze ------------------------------------------------------------------------------------
#: The one bronze schema every source is normalised to.
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

#: Columns each source contributes before ingestion metadata is added.
SOURCE_COLUMNS = tuple(f.name for f in BRONZE_SCHEMA.fields if not f.name.startswith("ingestion_"))

# --- silver ------------------------------------------------------------------------------------
#: Columns derived from the contract fields.
DERIVED_FIELDS = (
    StructField("event_ts", TimestampType(), nullable=False),  # from timestamp (epoch ms, UTC)
    StructField("event_date", DateType(), nullable=False),  # UTC date of event_ts
)

#: Where each event came from (bronze lineage).
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

#: Contract fields that are keys and must be present and typed in silver.
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

# --- gold --------------------------------------------------------------------------------------
USER_FEATURES_SCHEMA = StructType(
    [
        StructField("user_id", StringType(), nullable=False),
        StructField("feature_date", DateType(), nullable=False),
        # --- the features of the issue (fixed names and meanings) ---
        StructField("watch_time_7d", DoubleType(), nullable=False),  # seconds watched
        StructField("video_count_7d", LongType(), nullable=False),  # distinct videos watched
        StructField("watch_count_7d", LongType(), nullable=False),
        StructField("like_count_7d", LongType(), nullable=False),
        StructField("active_days_7d", LongType(), nullable=False),  # distinct event dates, any type
        StructField("last_event_ts", TimestampType(), nullable=False),  # any type
        # --- extra features ---
        StructField("share_count_7d", LongType(), nullable=False),
        StructField("comment_count_7d", LongType(), nullable=False),
        StructField("avg_watch_time_7d", DoubleType(), nullable=True),  # seconds per watch; null: none
        StructField("completion_ratio_7d", DoubleType(), nullable=True),  # see gold.transforms
    ]
)

VIDEO_FEATURES_SCHEMA = StructType(
    [
        StructField("video_id", StringType(), nullable=False),
        StructField("feature_date", DateType(), nullable=False),
        # --- the features of the issue (fixed names and meanings) ---
        StructField("view_count_7d", LongType(), nullable=False),  # watch events
        StructField("unique_viewers_7d", LongType(), nullable=False),  # distinct watching users
        StructField("watch_time_7d", DoubleType(), nullable=False),  # seconds watched
        StructField("like_count_7d", LongType(), nullable=False),
        # --- extra features ---
        StructField("share_count_7d", LongType(), nullable=False),
        StructField("comment_count_7d", LongType(), nullable=False),
        StructField("avg_watch_time_7d", DoubleType(), nullable=True),
        StructField("completion_ratio_7d", DoubleType(), nullable=True),
    ]
)


#: The column of the ``ops.online_*`` tables naming the online store a row was written to.
ONLINE_STORE = "online_store"


def served(features: StructType) -> StructType:
    """The schema of an ``ops.online_*`` table: a gold feature table's rows, per online store."""
    return StructType([*features.fields, StructField(ONLINE_STORE, StringType(), nullable=False)])

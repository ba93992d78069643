"""Pure bronze transforms: one function per source record shape, each returning the columns
of :data:`medallion.bronze.schema.SOURCE_COLUMNS`, plus the ingestion metadata step.

Record shapes:

* files (Spark ``binaryFile`` source: path, modificationTime, length, content): framed by
  :func:`frame_files` into one row per line and one per file (:mod:`medallion.bronze.framing`); the line
  rows keep the line's bytes unchanged (invalid UTF-8 and a byte-order mark included) and
  :func:`normalize_files` makes them bronze rows whose ``source_offset`` is the 1-based line
  number in the file.
* kafka (Event Hubs Kafka endpoint): key, value, topic, partition, offset, timestamp,
  timestampType, headers (array<struct<key: string, value: binary>>).
* eventhubs (azure-eventhubs-spark): body, partition, offset, sequenceNumber, enqueuedTime,
  publisher, partitionKey, properties, systemProperties.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, LongType, MapType, StringType, TimestampType

from medallion.bronze.framing import FRAMED_DDL, KIND_FILE, KIND_LINE, frame_batches
from medallion.tables.schemas import BRONZE_SCHEMA, SOURCE_COLUMNS

_PROPS = MapType(StringType(), StringType(), True)


def _null(type_) -> Column:
    return F.lit(None).cast(type_)


def frame_files(df: DataFrame) -> DataFrame:
    """``binaryFile`` rows -> framed rows: ``kind`` = line (``line_number``, ``body``) or file
    (``lines``, or ``error`` for an unreadable file), with ``file_path``, ``file_size`` and
    ``file_modification_time`` on both."""
    return df.select("path", "modificationTime", "length", "content").mapInArrow(frame_batches, FRAMED_DDL)


def normalize_files(framed: DataFrame) -> DataFrame:
    """Framed line rows -> bronze source columns (``source_offset`` = line number)."""
    return framed.where(F.col("kind") == KIND_LINE).select(
        F.col("body").cast(BinaryType()).alias("body"),
        F.lit("files").alias("source"),
        _null(StringType()).alias("source_partition"),
        F.col("line_number").cast(LongType()).alias("source_offset"),
        _null(BinaryType()).alias("source_key"),
        F.col("file_modification_time").cast(TimestampType()).alias("enqueued_time"),
        _null(_PROPS).alias("source_properties"),
        F.col("file_path").cast(StringType()).alias("source_file"),
    )


def file_records(framed: DataFrame) -> DataFrame:
    """One row per landing file of a framed batch: path, size, modification time, ``lines``
    (its record count) and ``error`` (null, or why it could not be read)."""
    return framed.where(F.col("kind") == KIND_FILE).select(
        "file_path", "file_size", "file_modification_time", "lines", "error"
    )


def _merge_properties(user: Column, meta: Column) -> Column:
    """user-supplied properties/headers win; a metadata key is only added where the user map
    has no such key (so map_concat never sees a duplicate key)."""
    user = F.coalesce(user.cast(_PROPS), F.create_map().cast(_PROPS))
    meta = F.map_filter(
        meta.cast(_PROPS), lambda k, v: v.isNotNull() & ~F.array_contains(F.map_keys(user), k)
    )
    return F.map_concat(meta, user)


def kafka_headers_map(headers: Column) -> Column:
    """Kafka headers (array<struct<key, value: binary>>, keys may repeat) -> map<string,string>.
    Values are decoded as UTF-8; a key that occurs more than once maps to the JSON array of all
    its values in order, so no header value is dropped."""
    entries = F.coalesce(headers, F.array())
    keys = F.array_distinct(F.transform(entries, lambda h: h["key"]))

    def value_of(k: Column) -> Column:
        values = F.transform(
            F.filter(entries, lambda h: h["key"] == k), lambda h: F.decode(h["value"], "UTF-8")
        )
        return F.when(F.size(values) == 1, values[0]).otherwise(F.to_json(values))

    return F.map_from_arrays(keys, F.transform(keys, value_of))


def normalize_kafka(df: DataFrame) -> DataFrame:
    """Kafka records -> bronze source columns. Headers become the properties map; topic and
    timestampType are added as ``kafka.topic`` / ``kafka.timestampType``."""
    meta = F.create_map(
        F.lit("kafka.topic"),
        F.col("topic").cast(StringType()),
        F.lit("kafka.timestampType"),
        F.col("timestampType").cast(StringType()),
    )
    return df.select(
        F.col("value").cast(BinaryType()).alias("body"),
        F.lit("kafka").alias("source"),
        F.col("partition").cast(StringType()).alias("source_partition"),
        F.col("offset").cast(LongType()).alias("source_offset"),
        F.col("key").cast(BinaryType()).alias("source_key"),
        F.col("timestamp").cast(TimestampType()).alias("enqueued_time"),
        _merge_properties(kafka_headers_map(F.col("headers")), meta).alias("source_properties"),
        _null(StringType()).alias("source_file"),
    )


def normalize_eventhubs(df: DataFrame) -> DataFrame:
    """azure-eventhubs-spark records -> bronze source columns. Application properties are kept
    as they are; system properties are added with the prefix ``eventhubs.system.``, the
    connector's offset and publisher as ``eventhubs.offset`` / ``eventhubs.publisher``."""
    system = F.transform_keys(
        F.coalesce(F.col("systemProperties").cast(_PROPS), F.create_map().cast(_PROPS)),
        lambda k, _v: F.concat(F.lit("eventhubs.system."), k),
    )
    extra = F.create_map(
        F.lit("eventhubs.offset"),
        F.col("offset").cast(StringType()),
        F.lit("eventhubs.publisher"),
        F.col("publisher").cast(StringType()),
    )
    return df.select(
        F.col("body").cast(BinaryType()).alias("body"),
        F.lit("eventhubs").alias("source"),
        F.col("partition").cast(StringType()).alias("source_partition"),
        F.col("sequenceNumber").cast(LongType()).alias("source_offset"),
        F.col("partitionKey").cast(BinaryType()).alias("source_key"),
        F.col("enqueuedTime").cast(TimestampType()).alias("enqueued_time"),
        _merge_properties(F.col("properties"), F.map_concat(system, extra)).alias("source_properties"),
        _null(StringType()).alias("source_file"),
    )


# Streaming records -> bronze source columns, per source (files are framed first: frame_files).
NORMALIZERS = {"kafka": normalize_kafka, "eventhubs": normalize_eventhubs}


def add_ingestion_metadata(df: DataFrame, batch_id: int, ingestion_time: dt.datetime) -> DataFrame:
    """Stamp a micro-batch with its ingestion time, batch id and ingestion date (UTC) and
    return exactly the bronze schema (column order and types)."""
    if ingestion_time.tzinfo is None:
        raise ValueError("ingestion_time must be timezone-aware (UTC)")
    ts = ingestion_time.astimezone(dt.timezone.utc)
    out = df.select(
        *[F.col(c) for c in SOURCE_COLUMNS],
        F.lit(ts).cast(TimestampType()).alias("ingestion_time"),
        F.lit(int(batch_id)).cast(LongType()).alias("ingestion_batch_id"),
        F.lit(ts.date()).alias("ingestion_date"),
    )
    return conform(out)


def conform(df: DataFrame) -> DataFrame:
    """Cast to the bronze schema's types and order (nullability is enforced by Delta)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in BRONZE_SCHEMA.fields])

"""chispa tests of the pure bronze transforms: every source shape -> one bronze schema."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.bronze.transforms import (
    add_ingestion_metadata,
    file_records,
    frame_files,
    normalize_eventhubs,
    normalize_files,
    normalize_kafka,
)
from medallion.tables.schemas import BRONZE_SCHEMA, SOURCE_COLUMNS

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
NAIVE_T0 = dt.datetime(2026, 1, 2, 3, 4, 5)  # how Spark returns UTC timestamps (session tz UTC)
SOURCE_SCHEMA = StructType([f for f in BRONZE_SCHEMA.fields if f.name in SOURCE_COLUMNS])


def _expected(spark, rows):
    return spark.createDataFrame(rows, SOURCE_SCHEMA)


BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length bigint, content binary"


def _landing(spark, files):
    """binaryFile rows for {path: bytes} (what the files source reads)."""
    rows = [(path, NAIVE_T0, len(data), bytearray(data)) for path, data in files.items()]
    return spark.createDataFrame(rows, BINARY_FILE_SCHEMA)


def test_files_shape_keeps_raw_bytes_one_row_per_line(spark):
    # a BOM, a CRLF line ending, a bare CR inside a line, invalid UTF-8, an empty line and a last
    # line without newline: every line is one record with its bytes exactly as received
    data = b'\xef\xbb\xbf{"event_id":"a"}\r\n{"event_id":\r"b"}\n\xff\xfe{broken\n\nlast'
    framed = frame_files(_landing(spark, {"file:/land/a.jsonl": data}))
    expected = _expected(
        spark,
        [
            (
                bytearray(b'\xef\xbb\xbf{"event_id":"a"}'),
                "files",
                None,
                1,
                None,
                NAIVE_T0,
                None,
                "file:/land/a.jsonl",
            ),
            (bytearray(b'{"event_id":\r"b"}'), "files", None, 2, None, NAIVE_T0, None, "file:/land/a.jsonl"),
            (bytearray(b"\xff\xfe{broken"), "files", None, 3, None, NAIVE_T0, None, "file:/land/a.jsonl"),
            (bytearray(b""), "files", None, 4, None, NAIVE_T0, None, "file:/land/a.jsonl"),
            (bytearray(b"last"), "files", None, 5, None, NAIVE_T0, None, "file:/land/a.jsonl"),
        ],
    )
    actual = normalize_files(framed).orderBy("source_offset")
    assert_df_equality(actual, expected, ignore_nullable=True)
    [record] = file_records(framed).collect()
    assert (record["file_path"], record["file_size"], record["lines"], record["error"]) == (
        "file:/land/a.jsonl",
        len(data),
        5,
        None,
    )


def test_files_unreadable_file_gives_no_rows_and_its_error(spark):
    good = gzip.compress(b'{"event_id":"a"}\n{"event_id":"b"}\n')
    framed = frame_files(
        _landing(spark, {"file:/land/good.jsonl.gz": good, "file:/land/bad.jsonl.gz": good[:-12]})
    )
    assert (
        sorted(r["source_file"] for r in normalize_files(framed).collect())
        == ["file:/land/good.jsonl.gz"] * 2
    )
    records = {r["file_path"]: r for r in file_records(framed).collect()}
    assert records["file:/land/good.jsonl.gz"]["lines"] == 2
    assert records["file:/land/good.jsonl.gz"]["error"] is None
    assert records["file:/land/bad.jsonl.gz"]["lines"] is None
    assert records["file:/land/bad.jsonl.gz"]["error"].startswith("gzip: truncated")


KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
        StructField(
            "headers",
            ArrayType(StructType([StructField("key", StringType()), StructField("value", BinaryType())])),
        ),
    ]
)


def test_kafka_shape(spark):
    df = spark.createDataFrame(
        [
            (
                b"user-1",
                b'{"event_id":"k1"}',
                "watch-events",
                3,
                42,
                NAIVE_T0,
                0,
                [("content-type", b"application/json"), ("trace", b"t1"), ("trace", b"t2")],
            ),
            (None, b"\xff\xfe", "watch-events", 0, 7, NAIVE_T0, 1, None),
        ],
        KAFKA_SCHEMA,
    )
    out = normalize_kafka(df)
    expected = _expected(
        spark,
        [
            (
                bytearray(b'{"event_id":"k1"}'),
                "kafka",
                "3",
                42,
                bytearray(b"user-1"),
                NAIVE_T0,
                {
                    "kafka.topic": "watch-events",
                    "kafka.timestampType": "0",
                    "content-type": "application/json",
                    # a repeated header keeps every value, in order
                    "trace": '["t1","t2"]',
                },
                None,
            ),
            (
                bytearray(b"\xff\xfe"),
                "kafka",
                "0",
                7,
                None,
                NAIVE_T0,
                {"kafka.topic": "watch-events", "kafka.timestampType": "1"},
                None,
            ),
        ],
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_kafka_header_named_like_metadata_wins(spark):
    df = spark.createDataFrame(
        [(None, b"x", "t", 0, 1, NAIVE_T0, 0, [("kafka.topic", b"from-header")])], KAFKA_SCHEMA
    )
    props = normalize_kafka(df).first()["source_properties"]
    assert props == {"kafka.topic": "from-header", "kafka.timestampType": "0"}


EVENTHUBS_SCHEMA = StructType(
    [
        StructField("body", BinaryType()),
        StructField("partition", StringType()),
        StructField("offset", StringType()),
        StructField("sequenceNumber", LongType()),
        StructField("enqueuedTime", TimestampType()),
        StructField("publisher", StringType()),
        StructField("partitionKey", StringType()),
        StructField("properties", MapType(StringType(), StringType())),
        StructField("systemProperties", MapType(StringType(), StringType())),
    ]
)


def test_eventhubs_shape(spark):
    df = spark.createDataFrame(
        [
            (
                b'{"event_id":"e1"}',
                "5",
                "4096",
                99,
                NAIVE_T0,
                None,
                "user-9",
                {"app": "web"},
                {"x-opt-enqueued-time": "2026-01-02"},
            ),
            (b"", "0", "0", 0, NAIVE_T0, "pub", None, None, None),
        ],
        EVENTHUBS_SCHEMA,
    )
    expected = _expected(
        spark,
        [
            (
                bytearray(b'{"event_id":"e1"}'),
                "eventhubs",
                "5",
                99,
                bytearray(b"user-9"),
                NAIVE_T0,
                {
                    "eventhubs.system.x-opt-enqueued-time": "2026-01-02",
                    "eventhubs.offset": "4096",
                    "app": "web",
                },
                None,
            ),
            (
                bytearray(b""),
                "eventhubs",
                "0",
                0,
                None,
                NAIVE_T0,
                {"eventhubs.offset": "0", "eventhubs.publisher": "pub"},
                None,
            ),
        ],
    )
    assert_df_equality(normalize_eventhubs(df), expected, ignore_nullable=True)


def test_add_ingestion_metadata_gives_exact_bronze_schema(spark):
    src = _expected(spark, [(bytearray(b"x"), "files", None, None, None, NAIVE_T0, None, "f")])
    out = add_ingestion_metadata(
        src, 17, dt.datetime(2026, 1, 2, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    )
    assert [f.name for f in out.schema.fields] == [f.name for f in BRONZE_SCHEMA.fields]
    assert [f.dataType for f in out.schema.fields] == [f.dataType for f in BRONZE_SCHEMA.fields]
    row = out.first()
    # 23:30 at UTC-2 is 01:30 UTC the next day: ingestion date is the UTC date
    assert row["ingestion_time"] == dt.datetime(2026, 1, 3, 1, 30)
    assert row["ingestion_date"] == dt.date(2026, 1, 3)
    assert row["ingestion_batch_id"] == 17
    assert row["body"] == bytearray(b"x")


def test_add_ingestion_metadata_rejects_naive_time(spark):
    src = _expected(spark, [(bytearray(b"x"), "files", None, None, None, NAIVE_T0, None, "f")])
    with pytest.raises(ValueError, match="timezone-aware"):
        add_ingestion_metadata(src, 0, NAIVE_T0)

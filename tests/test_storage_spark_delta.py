"""The spark-delta engine's pure SQL/option builders and result parsers: the exact statements it
runs on Databricks (its behaviour on real Delta tables: test_storage.py, on both engines)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import types as T

from medallion.storage import StorageError, Txn, quoting, spark_results, sql
from medallion.storage.commits import canonical_metrics, parse_txn_user_metadata, stamp_write_id, write_stamp
from medallion.storage.spark_delta import SparkDeltaStorage, session_confs
from medallion.storage.spark_results import file_info_from_row, normalize_history_row

TABLE = "main.dev_silver.events"
Q = "`main`.`dev_silver`.`events`"

EVENTS = T.StructType(
    [
        T.StructField("event_id", T.StringType(), False),
        T.StructField("user_id", T.LongType(), True),
        T.StructField("event_date", T.DateType(), False),
    ]
)


# --- identifiers and literals -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("events", "`events`"),
        ("dev_silver.events", "`dev_silver`.`events`"),
        (TABLE, Q),
        ("my-catalog.1dev_bronze.raw_2024", "`my-catalog`.`1dev_bronze`.`raw_2024`"),
        ("/tmp/wh/silver/events", "delta.`/tmp/wh/silver/events`"),
        (
            "abfss://lake@acct.dfs.core.windows.net/silver/events",
            "delta.`abfss://lake@acct.dfs.core.windows.net/silver/events`",
        ),
    ],
)
def test_quote_table_name(name, quoted):
    assert quoting.quote_table_name(name) == quoted


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a.b.c.d",
        "a..b",
        "main.silver.events; DROP TABLE x",
        "main.silver.`events`",
        "main.silver.ev ents",
        "main.silver.events--",
        "main.silver.events'",
        'main.silver."events"',
        "main.silver.events\n",
        ".events",
        "x" * 256,
        "/tmp/wh/silver/ev`ents",
        "/tmp/wh/silver/events\n",
    ],
)
def test_quote_table_name_rejects_injection(bad):
    with pytest.raises(StorageError):
        quoting.quote_table_name(bad)


@pytest.mark.parametrize("bad", ["a.b", "a`b", "", "a b", "-a", "é", None, "a;b"])
def test_quote_identifier_rejects(bad):
    with pytest.raises(StorageError):
        quoting.quote_identifier(bad)


def test_quote_string_escapes():
    assert quoting.quote_string("plain") == "'plain'"
    assert quoting.quote_string("it's") == "'it\\'s'"
    assert quoting.quote_string("back\\slash") == "'back\\\\slash'"
    assert quoting.quote_string("x\\' OR 1=1 --") == "'x\\\\\\' OR 1=1 --'"
    with pytest.raises(StorageError):
        quoting.quote_string("line\nbreak")


@pytest.mark.parametrize(
    "ok",
    [
        "event_date = DATE '2024-01-01'",
        "event_date >= DATE '2024-01-01' AND (user_id IN (1, 2) OR NOT user_id = 3)",
        "comment = 'a;b -- not a comment /* nor this */'",
        "name = 'it''s'",
        "`weird col` = 1",
    ],
)
def test_check_predicate_accepts(ok):
    assert quoting.check_predicate(f"  {ok} ") == ok


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "1 = 1; DROP TABLE x",
        "1 = 1 -- and the rest",
        "1 = 1 /* hidden */",
        "x = 'unterminated",
        "(x = 1",
        "x = 1)",
        ") OR (1 = 1",
        "x = 1\x00",
    ],
)
def test_check_predicate_rejects(bad):
    with pytest.raises(StorageError):
        quoting.check_predicate(bad)


# --- DDL --------------------------------------------------------------------------------------
def test_ddl_of_every_type():
    schema = T.StructType(
        [
            T.StructField("b", T.BooleanType()),
            T.StructField("i8", T.ByteType()),
            T.StructField("i16", T.ShortType()),
            T.StructField("i32", T.IntegerType()),
            T.StructField("f", T.FloatType()),
            T.StructField("dbl", T.DoubleType()),
            T.StructField("dec", T.DecimalType(12, 3)),
            T.StructField("bin", T.BinaryType()),
            T.StructField("ts", T.TimestampType()),
            T.StructField("ntz", T.TimestampNTZType()),
            T.StructField("tags", T.ArrayType(T.StringType())),
            T.StructField("attrs", T.MapType(T.StringType(), T.LongType())),
            T.StructField(
                "device",
                T.StructType(
                    [
                        T.StructField("os", T.StringType(), False),
                        T.StructField(
                            "langs", T.ArrayType(T.StructType([T.StructField("code", T.StringType())]))
                        ),
                    ]
                ),
            ),
        ]
    )
    assert sql.build_columns_ddl(schema) == (
        "`b` BOOLEAN, `i8` TINYINT, `i16` SMALLINT, `i32` INT, `f` FLOAT, `dbl` DOUBLE, "
        "`dec` DECIMAL(12, 3), `bin` BINARY, `ts` TIMESTAMP, `ntz` TIMESTAMP_NTZ, "
        "`tags` ARRAY<STRING>, `attrs` MAP<STRING, BIGINT>, "
        "`device` STRUCT<`os`: STRING NOT NULL, `langs`: ARRAY<STRUCT<`code`: STRING>>>"
    )


def test_columns_ddl_rejects_bad_input():
    """What spark-delta's create_if_missing validates before creating a table (its partition-column
    check runs on both engines in test_storage.py)."""
    with pytest.raises(StorageError):
        sql.build_columns_ddl(T.StructType([T.StructField("a b", T.StringType())]))
    with pytest.raises(StorageError, match="duplicate"):
        sql.build_columns_ddl(
            T.StructType([T.StructField("a", T.StringType()), T.StructField("A", T.StringType())])
        )
    with pytest.raises(StorageError):
        sql.build_columns_ddl(T.StructType([T.StructField("n", T.NullType())]))
    with pytest.raises(StorageError):
        sql.build_columns_ddl(T.StructType([]))


def test_build_set_properties_sql():
    assert sql.build_set_properties_sql(TABLE, {"delta.logRetentionDuration": "interval 30 days"}) == (
        f"ALTER TABLE {Q} SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 30 days')"
    )
    with pytest.raises(StorageError):
        sql.build_set_properties_sql(TABLE, {})
    with pytest.raises(StorageError):
        sql.build_set_properties_sql(TABLE, {"a') , ('b": "x"})
    with pytest.raises(StorageError):
        sql.build_set_properties_sql(TABLE, {"key\n": "x"})


# --- reads and metadata ---------------------------------------------------------------------
def test_select_history_detail_files_sql():
    assert sql.build_select_sql(TABLE) == f"SELECT * FROM {Q}"
    assert sql.build_select_sql(TABLE, "event_date = DATE '2024-01-01'", 3) == (
        f"SELECT * FROM {Q} VERSION AS OF 3 WHERE event_date = DATE '2024-01-01'"
    )
    with pytest.raises(StorageError):
        sql.build_select_sql(TABLE, "1=1; DELETE FROM x")
    with pytest.raises(StorageError):
        sql.build_select_sql(TABLE, version=-1)
    assert sql.build_history_sql(TABLE) == f"DESCRIBE HISTORY {Q}"
    assert sql.build_history_sql(TABLE, 5) == f"DESCRIBE HISTORY {Q} LIMIT 5"
    with pytest.raises(StorageError):
        sql.build_history_sql(TABLE, 0)
    assert sql.build_detail_sql(TABLE) == f"DESCRIBE DETAIL {Q}"
    assert sql.build_files_sql(TABLE, ["event_date"]) == (
        "SELECT _metadata.file_path AS path, _metadata.file_size AS size_bytes, count(*) AS num_records, "
        f"first(`event_date`) AS `event_date` FROM {Q} GROUP BY _metadata.file_path, _metadata.file_size"
    )


def test_change_feed_options():
    assert sql.change_feed_options(3) == {"readChangeFeed": "true", "startingVersion": "3"}
    assert sql.change_feed_options(3, 5) == {
        "readChangeFeed": "true",
        "startingVersion": "3",
        "endingVersion": "5",
    }
    with pytest.raises(StorageError):
        sql.change_feed_options(5, 3)
    with pytest.raises(StorageError):
        sql.change_feed_options(-1)


# --- writes -----------------------------------------------------------------------------------
def test_writer_options():
    assert sql.writer_options("append") == {}
    txn = Txn("bronze-events", 42)
    stamp = write_stamp(txn, "w1")
    options = sql.writer_options("append", txn=txn, user_metadata=stamp)
    assert options == {
        "txnAppId": "bronze-events",
        "txnVersion": "42",
        "userMetadata": stamp,
    }
    assert sql.writer_options("overwrite", replace_where="event_date = DATE '2024-01-01'") == {
        "replaceWhere": "event_date = DATE '2024-01-01'",
    }
    with pytest.raises(StorageError):
        sql.writer_options("append", replace_where="x = 1")
    with pytest.raises(StorageError):
        sql.writer_options("overwrite", replace_where="x = 1; DROP TABLE t")
    with pytest.raises(StorageError):
        sql.writer_options("merge")


def test_txn_session_confs():
    stamp = write_stamp(Txn("gold", 7), "w2")
    assert sql.txn_session_confs(Txn("gold", 7), stamp) == {
        "spark.databricks.delta.write.txnAppId": "gold",
        "spark.databricks.delta.write.txnVersion": "7",
        "spark.databricks.delta.commitInfo.userMetadata": stamp,
    }
    # a MERGE without a Txn is still stamped (how the write finds its own commit)
    assert sql.txn_session_confs(None, write_stamp(None, "w3")) == {
        "spark.databricks.delta.commitInfo.userMetadata": '{"medallion_write": "w3"}'
    }


def test_build_merge_sql():
    assert sql.build_merge_sql(TABLE, "src_view", ["event_id"]) == (
        f"MERGE INTO {Q} AS t USING `src_view` AS s ON t.`event_id` = s.`event_id` "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    assert sql.build_merge_sql(
        TABLE,
        "src_view",
        ["event_id", "event_date"],
        insert_only=True,
        target_filter="t.event_date IN (DATE '2024-01-01')",
    ) == (
        f"MERGE INTO {Q} AS t USING `src_view` AS s ON t.`event_id` = s.`event_id` "
        "AND t.`event_date` = s.`event_date` AND (t.event_date IN (DATE '2024-01-01')) "
        "WHEN NOT MATCHED THEN INSERT *"
    )
    with pytest.raises(StorageError):
        sql.build_merge_sql(TABLE, "v", [])
    with pytest.raises(StorageError):
        sql.build_merge_sql(TABLE, "v", ["a", "a"])
    with pytest.raises(StorageError):
        sql.build_merge_sql(TABLE, "v", ["a` = 1 OR `b"])
    with pytest.raises(StorageError):
        sql.build_merge_sql(TABLE, "v; DROP", ["a"])
    with pytest.raises(StorageError):
        sql.build_merge_sql(TABLE, "v", ["a"], target_filter="1=1) WHEN MATCHED THEN DELETE --")


# --- maintenance ------------------------------------------------------------------------------
def test_build_optimize_sql():
    assert sql.build_optimize_sql(TABLE) == f"OPTIMIZE {Q}"
    assert sql.build_optimize_sql(TABLE, ["user_id", "event_id"], "event_date >= DATE '2024-01-01'") == (
        f"OPTIMIZE {Q} WHERE event_date >= DATE '2024-01-01' ZORDER BY (`user_id`, `event_id`)"
    )
    with pytest.raises(StorageError):
        sql.build_optimize_sql(TABLE, ["user id"])


def test_build_vacuum_sql():
    assert sql.build_vacuum_sql(TABLE, 168) == f"VACUUM {Q} RETAIN 168 HOURS"
    assert sql.build_vacuum_sql(TABLE, 0, dry_run=True) == f"VACUUM {Q} RETAIN 0 HOURS DRY RUN"
    for bad in (-1, 1.5, "168", True):
        with pytest.raises(StorageError):
            sql.build_vacuum_sql(TABLE, bad)


# --- parsing ------------------------------------------------------------------------------------
def test_write_stamp_round_trip():
    stamp = write_stamp(Txn("a", 3), "w7")
    assert json.loads(stamp) == {"medallion_txn": {"app_id": "a", "version": 3}, "medallion_write": "w7"}
    assert parse_txn_user_metadata(stamp) == Txn("a", 3)
    assert stamp_write_id(stamp) == "w7"
    assert parse_txn_user_metadata(write_stamp()) is None and stamp_write_id(write_stamp())
    assert stamp_write_id(write_stamp()) != stamp_write_id(write_stamp())  # unique per write
    for other in (
        None,
        "",
        "free text",
        "[]",
        '{"medallion_txn": 1}',
        '{"medallion_txn": {"app_id": "a"}}',
        '{"medallion_txn": {"app_id": "a", "version": "3"}}',
        '{"medallion_txn": {"app_id": "", "version": 3}}',
        '{"medallion_txn": {"app_id": "a", "version": -1}}',
    ):
        assert parse_txn_user_metadata(other) is None
        assert stamp_write_id(other) is None


def test_canonical_metrics_of_both_engines():
    spark_write = {"numFiles": "2", "numOutputRows": "10", "numOutputBytes": "900"}
    rs_write = {"num_added_files": 2, "num_removed_files": 0, "num_added_rows": 10}
    assert canonical_metrics(spark_write) == {"rows_added": 10, "files_added": 2}
    assert canonical_metrics(rs_write) == {"rows_added": 10, "files_added": 2, "files_removed": 0}
    assert canonical_metrics({"numTargetFilesBeforeSkipping": "9", "numTargetFilesAfterSkipping": "2"}) == {
        "target_files_scanned": 2,
        "target_files_skipped": 7,
    }
    assert canonical_metrics(None) == {}


def test_parse_optimize_and_merge_metrics():
    metrics = spark_results.parse_optimize_metrics(
        {"numFilesAdded": 2, "numFilesRemoved": 10, "totalConsideredFiles": 10}
    )
    assert metrics["files_added"] == 2 and metrics["files_removed"] == 10
    assert metrics["totalConsideredFiles"] == 10
    assert spark_results.parse_optimize_metrics(None) == {"files_added": 0, "files_removed": 0}
    merge = spark_results.parse_merge_metrics(
        {"num_affected_rows": 5, "num_updated_rows": 2, "num_deleted_rows": 0, "num_inserted_rows": 3}
    )
    assert merge["num_inserted"] == 3 and merge["num_updated"] == 2 and merge["num_affected_rows"] == 5


def test_normalize_history_row_and_file_info():
    local = dt.datetime(2024, 1, 1, 12, 0, 0)
    row = normalize_history_row(
        {
            "version": 3,
            "timestamp": local,
            "operation": "MERGE",
            "operationParameters": None,
            "operationMetrics": {"numTargetRowsInserted": "3"},
        }
    )
    assert row["timestamp"].tzinfo is not None
    assert row["timestamp"] == local.astimezone(dt.timezone.utc)
    assert row["operationParameters"] == {} and row["operationMetrics"] == {"numTargetRowsInserted": "3"}
    info = file_info_from_row(
        {
            "path": "abfss://x/part-0.parquet",
            "size_bytes": 10,
            "num_records": 4,
            "event_date": dt.date(2024, 1, 1),
        },
        ["event_date"],
    )
    assert info.path.endswith("part-0.parquet") and info.size_bytes == 10 and info.num_records == 4
    assert info.partition_values == {"event_date": dt.date(2024, 1, 1)}


# --- pieces that run on the local session -----------------------------------------------------
def test_session_confs_are_restored(spark):
    key_set, key_unset = "spark.sql.shuffle.partitions", sql.TXN_APP_ID_CONF
    before = spark.conf.get(key_set)
    with session_confs(spark, {key_set: "7", key_unset: "app"}):
        assert spark.conf.get(key_set) == "7"
        assert spark.conf.get(key_unset) == "app"
    assert spark.conf.get(key_set) == before
    assert spark.conf.get(key_unset, None) is None
    with pytest.raises(RuntimeError), session_confs(spark, {key_unset: "app"}):
        raise RuntimeError("boom")
    assert spark.conf.get(key_unset, None) is None


def test_engine_validates_names_before_touching_spark(spark):
    storage = SparkDeltaStorage(spark)
    assert storage.engine == "spark-delta"
    with pytest.raises(StorageError):
        storage.exists("main.silver.events; DROP TABLE x")
    assert storage.exists("nosuch_schema_xyz.nosuch_table") is False
    assert storage.version("nosuch_schema_xyz.nosuch_table") is None
    with pytest.raises(StorageError):
        storage.read("nosuch_schema_xyz.nosuch_table")


def test_schema_evolution_and_primary_key_sql():
    assert (
        sql.build_add_columns_sql(
            TABLE, [T.StructField("tags", T.ArrayType(T.StringType())), T.StructField("n", T.LongType())]
        )
        == f"ALTER TABLE {Q} ADD COLUMNS (`tags` ARRAY<STRING>, `n` BIGINT)"
    )
    with pytest.raises(StorageError, match="nullable"):
        sql.build_add_columns_sql(TABLE, [T.StructField("n", T.LongType(), False)])
    with pytest.raises(StorageError):
        sql.build_add_columns_sql(TABLE, [])
    assert sql.build_set_not_null_sql(TABLE, "user_id") == (
        f"ALTER TABLE {Q} ALTER COLUMN `user_id` SET NOT NULL"
    )
    assert sql.build_add_primary_key_sql(TABLE, ["user_id", "event_date"], "event_date") == (
        f"ALTER TABLE {Q} ADD CONSTRAINT `events_pk` PRIMARY KEY (`user_id`, `event_date` TIMESERIES)"
    )
    assert sql.build_add_primary_key_sql(TABLE, ["user_id"]) == (
        f"ALTER TABLE {Q} ADD CONSTRAINT `events_pk` PRIMARY KEY (`user_id`)"
    )
    with pytest.raises(StorageError):
        sql.build_add_primary_key_sql(TABLE, ["user_id"], "event_date")
    with pytest.raises(StorageError):
        sql.build_add_primary_key_sql(TABLE, [])
    assert sql.build_primary_key_exists_sql(TABLE) == (
        "SELECT count(*) AS n FROM `main`.`information_schema`.`table_constraints` "
        "WHERE table_schema = 'dev_silver' AND table_name = 'events' AND constraint_type = 'PRIMARY KEY'"
    )
    with pytest.raises(StorageError):
        sql.build_primary_key_exists_sql("dev_silver.events")

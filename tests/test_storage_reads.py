"""Reads of a table's snapshot: every row of the version and nothing else, whatever the partition
values look like in the files' paths, and (on delta-rs) a large snapshot scanned by Spark from the
snapshot's files instead of brought to the driver.

On delta-rs every read in this module takes the scan wherever it is exact (the row threshold is
set to 0): the rest of the suite's small tables come as Arrow (`test_storage.py` reads every
column type both ways)."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from medallion.storage import delta_rs_files

UTC = dt.timezone.utc


@pytest.fixture(autouse=True)
def scan_every_snapshot(monkeypatch):
    monkeypatch.setattr(delta_rs_files, "SCAN_MIN_ROWS", 0)


SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("label", T.StringType()),
        T.StructField("at", T.TimestampType()),
        T.StructField("day", T.DateType()),
    ]
)

#: partition values a folder name must escape (or that Spark would read as another type)
AWKWARD = ["a b", "x/y", "p=q", "50%", "ü", "007", "2024-01-01"]


def _rows(labels: list[str | None], start: int = 0) -> list[tuple]:
    at = dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    return [
        (start + i, label, at + dt.timedelta(hours=i), dt.date(2024, 1, 1 + i % 3))
        for i, label in enumerate(labels)
    ]


def _sorted(df):
    return df.orderBy("id")


@pytest.mark.slow  # 8 s: a file per partition value, read back four ways
def test_a_table_partitioned_by_awkward_text_reads_back_every_row(storage, spark, warehouse):
    table = str(warehouse / "by_label")
    assert storage.create_if_missing(table, SCHEMA, partition_by=["label"])
    first = spark.createDataFrame(_rows([*AWKWARD, None]), SCHEMA)
    storage.append(first, table)
    assert_df_equality(_sorted(storage.read(table)), _sorted(first))
    assert storage.read(table).schema == SCHEMA
    assert_df_equality(
        _sorted(storage.read(table, where="label IN ('x/y', '50%', '007')")),
        _sorted(first.where("label IN ('x/y', '50%', '007')")),
    )
    assert storage.read(table, where="label IS NULL").count() == 1
    storage.append(spark.createDataFrame(_rows(["a b"], start=100), SCHEMA), table)
    assert storage.read(table, where="label = 'a b'").count() == 2
    assert_df_equality(_sorted(storage.read(table, version=1)), _sorted(first))


def test_a_table_partitioned_by_time_reads_back_every_row(storage, spark, warehouse):
    table = str(warehouse / "by_time")
    assert storage.create_if_missing(table, SCHEMA, partition_by=["at"])
    data = spark.createDataFrame(_rows(["a", "b", None]), SCHEMA)
    storage.append(data, table)
    assert_df_equality(_sorted(storage.read(table)), _sorted(data))
    late = "at >= TIMESTAMP '2024-03-01 13:30:15.123456+00:00'"
    assert_df_equality(_sorted(storage.read(table, where=late)), _sorted(data.where(late)))


def test_a_snapshot_read_holds_exactly_its_version_rows(storage, spark, warehouse):
    """Files an overwrite removed are not read, files added later are not read by an earlier
    version, and a date-partitioned table keeps its NOT NULL columns."""
    table = str(warehouse / "by_day")
    assert storage.create_if_missing(table, SCHEMA, partition_by=["day"])
    storage.append(spark.createDataFrame(_rows(["a", "b", "c"]), SCHEMA), table)  # v1
    replacement = spark.createDataFrame([(10, "z", None, dt.date(2024, 1, 1))], SCHEMA)
    storage.replace_where(replacement, table, "day = DATE '2024-01-01'")  # v2 removes id 0's file
    now = storage.read(table)
    assert now.schema == SCHEMA
    assert sorted(r.id for r in now.collect()) == [1, 2, 10]
    assert sorted(r.id for r in storage.read(table, version=1).collect()) == [0, 1, 2]
    assert [r.id for r in storage.read(table, where="day = DATE '2024-01-01'").collect()] == [10]


def _scanned(df) -> bool:
    execution = df._jdf.queryExecution()
    scanned = "FileScanRDD" in execution.toRdd().toDebugString()
    assert scanned == ("LocalTableScan" not in execution.executedPlan().toString())
    return scanned


def test_delta_rs_scans_a_large_snapshot_and_brings_a_small_one_as_arrow(spark, warehouse, monkeypatch):
    """On delta-rs a large snapshot's rows are not collected into the plan (a local relation that
    Spark's optimizer may evaluate on the driver): Spark scans the snapshot's files. A small one
    comes as Arrow, which costs less."""
    from medallion.config import Config
    from medallion.storage import get_storage

    monkeypatch.setattr(delta_rs_files, "SCAN_MIN_ROWS", 5)
    storage = get_storage(spark, Config(environment="local", engine="delta-rs"))
    table = str(warehouse / "scanned")
    assert storage.create_if_missing(table, SCHEMA, partition_by=["day"])
    storage.append(spark.createDataFrame(_rows(["a", "b", "c", "d"]), SCHEMA), table)
    assert not _scanned(storage.read(table))  # 4 rows
    storage.append(spark.createDataFrame(_rows(["e", "f"], start=4), SCHEMA), table)
    for df in (storage.read(table), storage.read(table, where="day = DATE '2024-01-02'")):
        assert _scanned(df)  # 6 rows
    assert sorted(r.id for r in storage.read(table, where="day = DATE '2024-01-02'").collect()) == [1, 5]
    assert not _scanned(storage.read(table, version=1))  # the 4 rows of version 1
    # a text-partitioned table, however large, is read by delta-rs (its path values are escaped)
    monkeypatch.setattr(delta_rs_files, "SCAN_MIN_ROWS", 0)
    text = str(warehouse / "by_label")
    storage.create_if_missing(text, SCHEMA, partition_by=["label"])
    storage.append(spark.createDataFrame(_rows(["x/y"]), SCHEMA), text)
    assert not _scanned(storage.read(text))
    assert [r.label for r in storage.read(text).collect()] == ["x/y"]

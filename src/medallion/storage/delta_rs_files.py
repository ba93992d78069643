"""The data files of a delta-rs table, read from the add actions of its current version
(``DeltaTable.get_add_actions(flatten=True)``: ``path``, ``size_bytes``, ``num_records`` and the
``min.<column>`` / ``max.<column>`` / ``partition.<column>`` columns): their :class:`.base.FileInfo`
with statistics, and the partitions a predicate selects (OPTIMIZE ... WHERE).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from medallion.storage.arrow import delta_table_schema, to_spark
from medallion.storage.base import FileInfo, StorageError
from medallion.storage.engine_errors import delta_rs_errors

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import SparkSession


def file_infos(dt: DeltaTable, table: str) -> list[FileInfo]:
    """The data files of ``dt`` (the table at folder ``table``) with their Delta statistics; paths
    absolute (like Spark's ``_metadata.file_path``)."""
    with delta_rs_errors("files", table):
        actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    result = []
    for row in actions:
        stats: dict[str, dict[str, Any]] = {"min": {}, "max": {}, "partition": {}}
        for key, value in row.items():
            prefix, _, column = key.partition(".")
            if column and prefix in stats:
                stats[prefix][column] = value
        result.append(
            FileInfo(
                path=os.path.join(str(table), row["path"]),
                size_bytes=int(row["size_bytes"]),
                num_records=row.get("num_records"),
                min_values=stats["min"],
                max_values=stats["max"],
                partition_values=stats["partition"],
            )
        )
    return result


def partition_filters(
    spark: SparkSession, dt: DeltaTable, where: str, table: str
) -> list[list[tuple[str, str, Any]]]:
    """delta-rs partition filters selecting the partitions that satisfy ``where``.

    ``where`` may only reference partition columns (as in Databricks' OPTIMIZE ... WHERE); it
    is evaluated by Spark over the distinct partition values of the current files."""
    partition_columns = list(dt.metadata().partition_columns)
    if not partition_columns:
        raise StorageError(f"optimize with where needs a partitioned table; {table} is not partitioned")
    full_schema = delta_table_schema(dt)
    from pyspark.sql import types as T

    part_schema = T.StructType([full_schema[c] for c in partition_columns])
    actions = pa.table(dt.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return []
    values = pa.table({c: actions.column(f"partition.{c}") for c in partition_columns})
    values = values.group_by(partition_columns).aggregate([])
    try:
        matching = to_spark(spark, values, part_schema).where(where).collect()
    except Exception as exc:
        raise StorageError(
            f"optimize where {where!r} must be a predicate on the partition columns "
            f"{partition_columns} of {table}: {exc}"
        ) from exc
    rows = [r for r in matching if all(r[c] is not None for c in partition_columns)]
    if len(partition_columns) == 1:
        column = partition_columns[0]
        return [[(column, "in", [r[column] for r in rows])]] if rows else []
    return [[(c, "=", r[c]) for c in partition_columns] for r in rows]

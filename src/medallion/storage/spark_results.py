"""Pure readers of what Spark returns to the spark-delta engine: DESCRIBE HISTORY rows, the rows of
:func:`.sql.build_files_sql`, the metrics OPTIMIZE and MERGE INTO return and the paths ``VACUUM ... DRY
RUN`` lists - each turned into what the interface promises. Nothing here touches a SparkSession.
"""

from __future__ import annotations

import datetime as _dt
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from medallion.storage.base import FileInfo
from medallion.storage.commits import canonical_metrics

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def normalize_history_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A DESCRIBE HISTORY row (``Row.asDict(recursive=True)``) with the keys the interface
    promises: timestamp as an aware UTC datetime, parameter/metric maps never None."""
    entry = dict(row)
    ts = entry.get("timestamp")
    if isinstance(ts, _dt.datetime):
        # PySpark returns naive datetimes in the driver's local time zone.
        entry["timestamp"] = ts.astimezone(_dt.timezone.utc)
    entry["operationParameters"] = dict(entry.get("operationParameters") or {})
    entry["operationMetrics"] = dict(entry.get("operationMetrics") or {})
    entry["metrics"] = canonical_metrics(entry["operationMetrics"])
    return entry


def local_path(path: str) -> str:
    """A ``file:`` URI as a plain local path (how delta-rs reports files); other URIs unchanged."""
    if path.startswith("file:"):
        return urllib.parse.unquote(urllib.parse.urlparse(path).path)
    return path


def file_info_from_row(
    row: Mapping[str, Any], partition_by: Sequence[str] = (), stats_columns: Sequence[str] = ()
) -> FileInfo:
    """A row of :func:`.sql.build_files_sql` -> FileInfo (local ``file:`` URIs become paths)."""
    return FileInfo(
        path=local_path(str(row["path"])),
        size_bytes=int(row["size_bytes"]),
        num_records=int(row["num_records"]) if row.get("num_records") is not None else None,
        min_values={c: row.get(f"min__{c}") for c in stats_columns},
        max_values={c: row.get(f"max__{c}") for c in stats_columns},
        partition_values={c: row.get(c) for c in partition_by},
    )


def stats_columns(schema: StructType, partition_by: Sequence[str]) -> list[str]:
    """The columns a file's min/max statistics cover: top-level strings, numbers, dates and
    timestamps that are not partition columns (like Delta's own per-file statistics)."""
    from pyspark.sql import types as T

    kinds = (T.StringType, T.NumericType, T.DateType, T.TimestampType, T.TimestampNTZType)
    return [f.name for f in schema.fields if isinstance(f.dataType, kinds) and f.name not in partition_by]


def parse_optimize_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """OPTIMIZE's ``metrics`` struct -> dict with files_added / files_removed plus the raw keys."""
    raw = dict(metrics or {})
    return {
        **raw,
        "files_added": int(raw.get("numFilesAdded") or 0),
        "files_removed": int(raw.get("numFilesRemoved") or 0),
    }


def parse_merge_metrics(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The one row MERGE INTO returns (num_affected_rows, num_updated_rows, num_deleted_rows,
    num_inserted_rows) -> metrics with num_inserted / num_updated."""
    raw = dict(row or {})
    return {
        **raw,
        "num_inserted": int(raw.get("num_inserted_rows") or 0),
        "num_updated": int(raw.get("num_updated_rows") or 0),
    }


def vacuum_listing(
    listed: Sequence[str], location: str, partition_columns: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The paths ``VACUUM ... DRY RUN`` listed as (data files, directories), distinct, ``file:``
    URIs as plain paths. Delta also lists the empty directories it removes (and Databricks the
    table's own directory). A local path is a directory when it is one on disk; a cloud URI has
    no cheap stat, so there the name decides: the directories in a Delta table are the table's,
    partition directories (``<column>=<value>``), ``_change_data`` and random prefixes (no
    extension), while every file Delta writes has an extension."""
    root = local_path(location).rstrip("/")
    files: set[str] = set()
    directories: set[str] = set()
    for raw in listed:
        path = local_path(str(raw)).rstrip("/")
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/"):
            is_directory = os.path.isdir(path)
        else:
            column = urllib.parse.unquote(name.split("=", 1)[0]) if "=" in name else None
            is_directory = column in partition_columns or name.startswith("_") or "." not in name
        (directories if path == root or is_directory else files).add(path)
    return sorted(files), sorted(directories)

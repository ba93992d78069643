"""Schema rules both engines share: Delta's schema enforcement on writes (:func:`check_compatible`),
the columns additive evolution may add (:func:`check_new_columns`) and the schema of the change data
feed (:func:`change_feed_schema`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from medallion.storage.base import StorageError

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def _strip_nullability(data_type: Any) -> Any:
    """The type with every nullability flag set to True (for write-compatibility checks)."""
    from pyspark.sql import types as T

    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_strip_nullability(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(_strip_nullability(data_type.keyType), _strip_nullability(data_type.valueType), True)
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _strip_nullability(f.dataType), True) for f in data_type])
    return data_type


def check_compatible(df_schema: StructType, table_schema: StructType) -> None:
    """Raise StorageError unless the DataFrame has exactly the table's columns and types
    (nullability aside; order may differ) - Delta's schema enforcement without evolution."""
    df_types = {f.name: f.dataType for f in df_schema.fields}
    table_types = {f.name: f.dataType for f in table_schema.fields}
    problems = []
    missing = [n for n in table_types if n not in df_types]
    extra = [n for n in df_types if n not in table_types]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unknown columns {extra}")
    for name, table_type in table_types.items():
        if name in df_types and _strip_nullability(df_types[name]) != _strip_nullability(table_type):
            problems.append(f"column {name}: {df_types[name].simpleString()} != {table_type.simpleString()}")
    if problems:
        raise StorageError("DataFrame does not match the table schema: " + "; ".join(problems))


def change_feed_schema(table_schema: StructType) -> StructType:
    """The change data feed's columns: the table's, then ``_change_type``, ``_commit_version`` and
    ``_commit_timestamp``."""
    from pyspark.sql import types as T

    return T.StructType(
        [
            *table_schema.fields,
            T.StructField("_change_type", T.StringType(), True),
            T.StructField("_commit_version", T.LongType(), True),
            T.StructField("_commit_timestamp", T.TimestampType(), True),
        ]
    )


def check_new_columns(columns: Sequence[Any], existing: set[str], table: str) -> None:
    """Columns to add must be new, distinct and nullable (additive schema evolution)."""
    names = [c.name for c in columns]
    clash = sorted({n for n in names if n in existing or names.count(n) > 1})
    if clash:
        raise StorageError(f"columns {clash} already exist in {table} or are repeated")
    not_nullable = [c.name for c in columns if not c.nullable]
    if not_nullable:
        raise StorageError(f"added columns must be nullable: {not_nullable}")

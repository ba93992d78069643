"""Spark <-> Arrow: how the delta-rs engine moves data between Spark DataFrames and Delta tables
(``df.toArrow()`` / ``spark.createDataFrame(arrow_table)``).

* Types: Spark TimestampType <-> ``timestamp[us, tz=UTC]``, TimestampNTZType <-> ``timestamp[us]``,
  DateType <-> ``date32``, StringType <-> ``string`` (``large_string``/``string_view`` from delta-rs
  are normalized), BinaryType <-> ``binary``, DecimalType <-> ``decimal128``, arrays, maps and
  structs recursively, nullability kept (see :func:`spark_schema_to_arrow` /
  :func:`arrow_schema_to_spark`).
* Limitation: a NOT NULL field nested in a *nullable* struct (or array element/map value) only
  works while that struct is never null: Spark's Arrow export materializes nulls in the children
  of a null struct, and delta-rs refuses both those nulls and a relaxed nested schema. Such a
  write fails with StorageError.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from medallion.storage.base import StorageError
from medallion.storage.schema import check_compatible

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


def spark_type_to_arrow(data_type: DataType) -> pa.DataType:
    """The Arrow type Delta/delta-rs uses for a Spark type (nested types recursively)."""
    from pyspark.sql import types as T

    simple: dict[type, pa.DataType] = {
        T.BooleanType: pa.bool_(),
        T.ByteType: pa.int8(),
        T.ShortType: pa.int16(),
        T.IntegerType: pa.int32(),
        T.LongType: pa.int64(),
        T.FloatType: pa.float32(),
        T.DoubleType: pa.float64(),
        T.StringType: pa.string(),
        T.BinaryType: pa.binary(),
        T.DateType: pa.date32(),
        T.TimestampType: pa.timestamp("us", tz="UTC"),
        T.TimestampNTZType: pa.timestamp("us"),
    }
    arrow = simple.get(type(data_type))
    if arrow is not None:
        return arrow
    if isinstance(data_type, T.DecimalType):
        return pa.decimal128(data_type.precision, data_type.scale)
    if isinstance(data_type, T.ArrayType):
        return pa.list_(
            pa.field("element", spark_type_to_arrow(data_type.elementType), nullable=data_type.containsNull)
        )
    if isinstance(data_type, T.MapType):
        return pa.map_(
            pa.field("key", spark_type_to_arrow(data_type.keyType), nullable=False),
            pa.field("value", spark_type_to_arrow(data_type.valueType), nullable=data_type.valueContainsNull),
        )
    if isinstance(data_type, T.StructType):
        return pa.struct([spark_field_to_arrow(f) for f in data_type.fields])
    raise StorageError(f"Spark type {data_type!r} has no Delta/Arrow equivalent")


def spark_field_to_arrow(field: Any) -> pa.Field:
    return pa.field(field.name, spark_type_to_arrow(field.dataType), nullable=field.nullable)


def spark_schema_to_arrow(schema: StructType) -> pa.Schema:
    """Spark StructType -> Arrow schema (nullability of fields, array elements, map values kept)."""
    return pa.schema([spark_field_to_arrow(f) for f in schema.fields])


def arrow_type_to_spark(arrow_type: pa.DataType) -> DataType:
    """Arrow type -> Spark type; view/large variants map like their plain types."""
    from pyspark.sql import types as T

    t = arrow_type
    if pa.types.is_dictionary(t):
        return arrow_type_to_spark(t.value_type)
    if pa.types.is_boolean(t):
        return T.BooleanType()
    ints = {
        pa.int8(): T.ByteType(),
        pa.int16(): T.ShortType(),
        pa.int32(): T.IntegerType(),
        pa.int64(): T.LongType(),
        pa.uint8(): T.ShortType(),
        pa.uint16(): T.IntegerType(),
        pa.uint32(): T.LongType(),
        pa.uint64(): T.LongType(),  # e.g. delta-rs' _commit_version; values beyond 2^63 fail the cast
    }
    if t in ints:
        return ints[t]
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return T.FloatType()
    if pa.types.is_float64(t):
        return T.DoubleType()
    if pa.types.is_decimal(t):
        if t.precision > 38:
            raise StorageError(f"decimal precision {t.precision} > 38 is not supported by Spark")
        return T.DecimalType(t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return T.StringType()
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return T.BinaryType()
    if pa.types.is_date(t):
        return T.DateType()
    if pa.types.is_timestamp(t):
        return T.TimestampType() if t.tz is not None else T.TimestampNTZType()
    if pa.types.is_map(t):
        return T.MapType(
            arrow_type_to_spark(t.key_type), arrow_type_to_spark(t.item_type), t.item_field.nullable
        )
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    ):
        return T.ArrayType(arrow_type_to_spark(t.value_type), t.value_field.nullable)
    if pa.types.is_struct(t):
        return T.StructType(
            [
                T.StructField(t.field(i).name, arrow_type_to_spark(t.field(i).type), t.field(i).nullable)
                for i in range(t.num_fields)
            ]
        )
    raise StorageError(f"Arrow type {t} has no Spark equivalent")


def arrow_schema_to_spark(schema: pa.Schema) -> StructType:
    """Arrow schema -> Spark StructType; a field's ``comment`` metadata (a Delta column comment)
    stays a comment, as in the DataFrames Spark reads from a Delta table."""
    from pyspark.sql import types as T

    def comment(field: pa.Field) -> dict[str, str] | None:
        text = (field.metadata or {}).get(b"comment")
        return {"comment": text.decode()} if text else None

    return T.StructType(
        [T.StructField(f.name, arrow_type_to_spark(f.type), f.nullable, comment(f)) for f in schema]
    )


def delta_table_schema(dt: DeltaTable) -> StructType:
    """The Spark schema of a delta-rs table."""
    return arrow_schema_to_spark(pa.schema(dt.schema().to_arrow()))


def to_spark(spark: SparkSession, data: pa.Table, schema: StructType) -> DataFrame:
    """Arrow data (any view/large variants, any column order) -> DataFrame with ``schema``."""
    if data.num_rows == 0:  # a result without batches has chunk-less columns pyarrow cannot cast
        return spark.createDataFrame([], schema=schema)
    target = spark_schema_to_arrow(schema)
    data = data.select(target.names).cast(target)
    return spark.createDataFrame(data, schema=schema)


def to_arrow(df: DataFrame, table_schema: StructType | None) -> pa.Table:
    """The DataFrame as Arrow, columns in table order; its types must match the table's."""
    if table_schema is not None:
        check_compatible(df.schema, table_schema)
        df = df.select(*[df[name] for name in table_schema.fieldNames()])
    return _rebuild_nested_buffers(df.toArrow())


def _rebuild_nested_buffers(data: pa.Table) -> pa.Table:
    """Copy tables with list/map columns into fresh Arrow buffers.

    Spark's (Java) Arrow export writes zero-length offset buffers for empty child vectors, e.g.
    the map inside a null struct; arrow-rs (delta-rs) misreads those. Concatenating with an empty
    table forces pyarrow to build new, canonical buffers. Flat tables are returned unchanged."""

    def nested(t: pa.DataType) -> bool:
        if pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
            return True
        return pa.types.is_struct(t) and any(nested(t.field(i).type) for i in range(t.num_fields))

    if not any(nested(f.type) for f in data.schema):
        return data
    return pa.concat_tables([data, data.schema.empty_table()]).combine_chunks()


def conform_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """A change-feed batch in the target column order and types (``_commit_timestamp`` comes as a
    naive millisecond UTC timestamp, ``_commit_version`` as uint64)."""
    columns = []
    for field in target:
        column = batch.column(field.name)
        if field.name == "_commit_timestamp" and column.type.tz is None:
            column = pc.assume_timezone(column.cast(pa.timestamp("us")), "UTC")
        columns.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=target)


def as_collected(value: Any) -> Any:
    """A value as PySpark's ``collect`` returns it: timestamps as naive local time."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone().replace(tzinfo=None)
    return value

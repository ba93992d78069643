"""The delta-rs engine: Delta tables in local folders through ``deltalake``, data moved between
Spark and Delta as Arrow (``df.toArrow()`` / ``spark.createDataFrame(arrow_table)``).

Used where Spark has no Delta jars (local runs, tests). Notes:

* A table folder is only ever read through :class:`deltalake.DeltaTable` (its transaction log),
  never as plain parquet - files removed by overwrites/merges/optimize would come back.
* Filtered reads run ``SELECT * FROM t WHERE <where>`` in delta-rs' DataFusion
  (:class:`deltalake.QueryBuilder`), which prunes partitions and files by their statistics, so
  only the matching part of the table is brought into memory. DataFusion lower-cases unquoted
  identifiers: keep column names snake_case (or double-quote them in predicates).
* Idempotent writes: delta-rs records but does not check a commit's ``txn`` action, so
  :meth:`DeltaRsStorage._already_committed` reads Delta's own txn state
  (``DeltaTable.transaction_version(app_id)``, from the snapshot: it survives log cleanup) and the
  base class skips the write when the Txn version is <= that. The commit carries the ``txn`` action
  and the Txn stamp in ``userMetadata`` (``CommitProperties``). The check and the commit are not
  one atomic step: two *concurrent* writers with the same app id could both pass the check. The
  pipeline avoids this by running each job with ``max_concurrent_runs=1``.
* Spark <-> Arrow types: Spark TimestampType <-> ``timestamp[us, tz=UTC]``,
  TimestampNTZType <-> ``timestamp[us]``, DateType <-> ``date32``, StringType <-> ``string``
  (``large_string``/``string_view`` from delta-rs are normalized), BinaryType <-> ``binary``,
  DecimalType <-> ``decimal128``, arrays, maps and structs recursively, nullability kept
  (see :func:`spark_schema_to_arrow` / :func:`arrow_schema_to_spark`).
* Limitation: a NOT NULL field nested in a *nullable* struct (or array element/map value) only
  works while that struct is never null: Spark's Arrow export materializes nulls in the children
  of a null struct, and delta-rs refuses both those nulls and a relaxed nested schema. Such a
  write fails with StorageError.
* :meth:`DeltaRsStorage.vacuum` lists absolute file paths; :meth:`DeltaRsStorage.files`
  absolute paths too (like Spark's ``_metadata.file_path``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from medallion.failures import first_line
from medallion.storage.base import (
    VACUUM_LISTING_LIMIT,
    ConcurrentWriteError,
    CorruptTableLogError,
    DeltaStorage,
    FileInfo,
    StorageError,
    TableNotFoundError,
    Txn,
    VacuumResult,
    canonical_metrics,
    check_compatible,
)
from medallion.storage.sql import check_predicate, quote_identifier

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

_QUERY_TABLE = "medallion_source"
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


# --- Spark <-> Arrow type mapping ---------------------------------------------------------------
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
        return pa.struct([_spark_field_to_arrow(f) for f in data_type.fields])
    raise StorageError(f"Spark type {data_type!r} has no Delta/Arrow equivalent")


def _spark_field_to_arrow(field: Any) -> pa.Field:
    return pa.field(field.name, spark_type_to_arrow(field.dataType), nullable=field.nullable)


def spark_schema_to_arrow(schema: StructType) -> pa.Schema:
    """Spark StructType -> Arrow schema (nullability of fields, array elements, map values kept)."""
    return pa.schema([_spark_field_to_arrow(f) for f in schema.fields])


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
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, arrow_type_to_spark(f.type), f.nullable) for f in schema])


# --- the engine ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _delta_errors(action: str, table: str) -> Iterator[None]:
    """Turn deltalake/pyarrow failures into StorageError (TableNotFoundError when missing)."""
    from deltalake import exceptions as dx

    try:
        yield
    except StorageError:
        raise
    except dx.TableNotFoundError as exc:
        raise TableNotFoundError(f"{action}: no Delta table at {table}: {first_line(str(exc))}") from exc
    except dx.CommitFailedError as exc:  # a concurrent writer committed a conflicting version first
        raise ConcurrentWriteError(action, table, first_line(str(exc), 300)) from exc
    except dx.DeltaError as exc:
        if _CORRUPT_LOG.search(str(exc)):  # delta-rs does not name the file; the table it does
            raise CorruptTableLogError(action, table, first_line(str(exc), 300)) from exc
        raise StorageError(f"{action} on {table} failed: {first_line(str(exc))}") from exc
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise StorageError(f"{action} on {table} failed: {exc}") from exc


#: delta-rs' words for a log file (``_delta_log/<version>.json``) that cannot be parsed.
_CORRUPT_LOG = re.compile(
    r"Json error|Invalid JSON|Failed to read delta log object|Failed to parse .*log|EOF while parsing",
    re.IGNORECASE,
)


class DeltaRsStorage(DeltaStorage):
    """Delta through delta-rs; ``table`` is a local folder path."""

    engine = "delta-rs"

    # --- helpers ----------------------------------------------------------------------------
    def _open(self, table: str, version: int | None = None) -> DeltaTable:
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(str(table)):
            raise TableNotFoundError(f"no Delta table at {table}")
        with _delta_errors("open" if version is None else f"open version {version}", table):
            return DeltaTable(str(table), version=version)

    @staticmethod
    def _arrow_schema(dt: DeltaTable) -> pa.Schema:
        return pa.schema(dt.schema().to_arrow())

    def _spark_schema(self, dt: DeltaTable) -> StructType:
        return arrow_schema_to_spark(self._arrow_schema(dt))

    def _to_spark(self, data: pa.Table, schema: StructType) -> DataFrame:
        """Arrow data (any view/large variants, any column order) -> DataFrame with ``schema``."""
        target = spark_schema_to_arrow(schema)
        data = data.select(target.names).cast(target)
        return self.spark.createDataFrame(data, schema=schema)

    def _to_arrow(self, df: DataFrame, table_schema: StructType | None) -> pa.Table:
        """The DataFrame as Arrow, columns in table order; its types must match the table's."""
        if table_schema is not None:
            check_compatible(df.schema, table_schema)
            df = df.select(*[df[name] for name in table_schema.fieldNames()])
        return _rebuild_nested_buffers(df.toArrow())

    @contextlib.contextmanager
    def _native_errors(self, action: str, table: str) -> Iterator[None]:
        with _delta_errors(action, table):
            yield

    @staticmethod
    def _commit_properties(txn: Txn | None, stamp: str) -> Any:
        from deltalake import CommitProperties, Transaction

        return CommitProperties(
            app_transactions=[Transaction(txn.app_id, txn.version)] if txn is not None else None,
            custom_metadata={"userMetadata": stamp},
        )

    def _maybe_open(self, table: str) -> DeltaTable | None:
        try:
            return self._open(table)
        except TableNotFoundError:
            return None

    # --- metadata -------------------------------------------------------------------------------
    def exists(self, table: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(str(table))

    def create_if_missing(
        self,
        table: str,
        schema: StructType,
        partition_by: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        from deltalake import DeltaTable

        if self.exists(table):
            return False
        missing = [c for c in partition_by if c not in schema.fieldNames()]
        if missing:
            raise StorageError(f"partition columns {missing} are not in the schema of {table}")
        arrow_schema = spark_schema_to_arrow(schema)
        try:
            with _delta_errors("create", table):
                DeltaTable.create(
                    str(table),
                    arrow_schema,
                    mode="error",
                    partition_by=list(partition_by) or None,
                    configuration=dict(properties) if properties else None,
                    raise_if_key_not_exists=False,
                )
        except StorageError:
            if self.exists(table):  # created concurrently by someone else
                return False
            raise
        return True

    def version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        return self._open(table).version()

    def schema(self, table: str) -> StructType:
        return self._spark_schema(self._open(table))

    def properties(self, table: str) -> dict[str, str]:
        return dict(self._open(table).metadata().configuration)

    def set_properties(self, table: str, properties: Mapping[str, str]) -> None:
        if not properties:
            return
        dt = self._open(table)
        with _delta_errors("set properties", table):
            dt.alter.set_table_properties(
                {k: str(v) for k, v in properties.items()}, raise_if_not_exists=False
            )

    def add_columns(self, table: str, columns: Sequence[Any]) -> None:
        from deltalake import Field

        dt = self._open(table)
        existing = set(self._spark_schema(dt).fieldNames())
        _check_new_columns(columns, existing, table)
        if not columns:
            return
        fields = [Field.from_arrow(_spark_field_to_arrow(c)) for c in columns]
        with _delta_errors("add columns", table):
            dt.alter.add_columns(fields)

    def history(self, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        dt = self._open(table)
        with _delta_errors("history", table):
            commits = dt.history(limit)
        out = []
        for commit in sorted(commits, key=lambda c: c["version"], reverse=True):
            entry = dict(commit)
            ts = entry.get("timestamp")
            if isinstance(ts, int):
                entry["timestamp"] = _dt.datetime.fromtimestamp(ts / 1000, tz=_dt.timezone.utc)
            entry.setdefault("operationParameters", {})
            entry.setdefault("operationMetrics", {})
            entry["metrics"] = canonical_metrics(entry["operationMetrics"])
            out.append(entry)
        return out

    def table_id(self, table: str) -> str:
        return str(self._open(table).metadata().id)

    def partition_columns(self, table: str) -> list[str]:
        return list(self._open(table).metadata().partition_columns)

    def files(self, table: str) -> list[FileInfo]:
        dt = self._open(table)
        with _delta_errors("files", table):
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

    # --- reads ----------------------------------------------------------------------------------
    def read(self, table: str, where: str | None = None, version: int | None = None) -> DataFrame:
        from deltalake import QueryBuilder

        dt = self._open(table, version)
        schema = self._spark_schema(dt)
        sql = f"SELECT * FROM {_QUERY_TABLE}"
        if where is not None:
            sql += f" WHERE {check_predicate(where)}"
        with _delta_errors("read", table):
            data = pa.table(QueryBuilder().register(_QUERY_TABLE, dt).execute(sql).read_all())
        return self._to_spark(data, schema)

    def read_changes(self, table: str, start_version: int, end_version: int | None = None) -> DataFrame:
        from pyspark.sql import types as T

        if start_version < 0 or (end_version is not None and end_version < start_version):
            raise StorageError(f"invalid change feed range {start_version}..{end_version}")
        dt = self._open(table)
        schema = T.StructType(
            [
                *self._spark_schema(dt).fields,
                T.StructField("_change_type", T.StringType(), True),
                T.StructField("_commit_version", T.LongType(), True),
                T.StructField("_commit_timestamp", T.TimestampType(), True),
            ]
        )
        target = spark_schema_to_arrow(schema)
        current = dt.version()
        batches: list[pa.RecordBatch] = []
        if start_version <= current:
            end = current if end_version is None else min(end_version, current)
            with _delta_errors("read change feed", table):
                reader = pa.RecordBatchReader.from_stream(dt.load_cdf(start_version, end))
                for batch in reader:
                    batch = _conform_batch(batch, target)
                    inserted = batch.filter(pc.equal(batch.column("_change_type"), "insert"))
                    if inserted.num_rows:
                        batches.append(inserted)
        data = pa.Table.from_batches(batches, schema=target) if batches else target.empty_table()
        return self._to_spark(data, schema)

    # --- writes (the Txn bookkeeping is the base class's) -------------------------------------
    def _already_committed(self, table: str, txn: Txn) -> bool:
        committed = self._open(table).transaction_version(txn.app_id)
        return committed is not None and txn.version <= committed

    def _append(
        self, df: DataFrame, table: str, partition_by: Sequence[str], txn: Txn | None, stamp: str
    ) -> Mapping[str, Any]:
        from deltalake import write_deltalake

        dt = self._maybe_open(table)
        if dt is not None and partition_by and list(partition_by) != dt.metadata().partition_columns:
            raise StorageError(
                f"partition_by {list(partition_by)} differs from the partitioning "
                f"{dt.metadata().partition_columns} of {table}"
            )
        data = self._to_arrow(df, self._spark_schema(dt) if dt is not None else None)
        write_deltalake(
            str(table),
            data,
            mode="append",
            partition_by=list(partition_by) or None,
            commit_properties=self._commit_properties(txn, stamp),
        )
        return {}

    def _replace_where(
        self, df: DataFrame, table: str, predicate: str, txn: Txn | None, stamp: str
    ) -> Mapping[str, Any]:
        from deltalake import write_deltalake

        dt = self._open(table)
        data = self._to_arrow(df, self._spark_schema(dt))
        write_deltalake(
            dt,
            data,
            mode="overwrite",
            predicate=predicate,
            commit_properties=self._commit_properties(txn, stamp),
        )
        return {}

    def _merge(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        insert_only: bool,
        target_filter: str | None,
        txn: Txn | None,
        stamp: str,
    ) -> Mapping[str, Any]:
        dt = self._open(table)
        schema = self._spark_schema(dt)
        unknown = [k for k in keys if k not in schema.fieldNames()]
        if unknown:
            raise StorageError(f"merge keys {unknown} are not columns of {table}")
        condition = " AND ".join(f"t.{_df_identifier(k)} = s.{_df_identifier(k)}" for k in keys)
        if target_filter is not None:
            condition += f" AND ({check_predicate(target_filter)})"
        data = self._to_arrow(df, schema)
        merger = dt.merge(
            source=data,
            predicate=condition,
            source_alias="s",
            target_alias="t",
            commit_properties=self._commit_properties(txn, stamp),
        )
        if not insert_only:
            merger = merger.when_matched_update_all()
        raw = merger.when_not_matched_insert_all().execute()
        return {
            **raw,
            "num_inserted": int(raw.get("num_target_rows_inserted", 0)),
            "num_updated": int(raw.get("num_target_rows_updated", 0)),
        }

    # --- maintenance ----------------------------------------------------------------------------
    def optimize(self, table: str, zorder_by: Sequence[str] = (), where: str | None = None) -> dict[str, Any]:
        dt = self._open(table)
        schema = self._spark_schema(dt)
        unknown = [c for c in zorder_by if c not in schema.fieldNames()]
        if unknown:
            raise StorageError(f"z-order columns {unknown} are not columns of {table}")
        conjunctions: list[list[tuple[str, str, Any]] | None] = [None]
        if where is not None:
            conjunctions = self._partition_filters(dt, check_predicate(where), table)
        totals: dict[str, Any] = {"files_added": 0, "files_removed": 0, "runs": []}
        for conjunction in conjunctions:
            with _delta_errors("optimize", table):
                if zorder_by:
                    raw = dt.optimize.z_order(list(zorder_by), partition_filters=conjunction)
                else:
                    raw = dt.optimize.compact(partition_filters=conjunction)
            totals["files_added"] += int(raw.get("numFilesAdded", 0))
            totals["files_removed"] += int(raw.get("numFilesRemoved", 0))
            totals["runs"].append(raw)
            dt = self._open(table)
        return totals

    def _partition_filters(self, dt: DeltaTable, where: str, table: str) -> list[list[tuple[str, str, Any]]]:
        """delta-rs partition filters selecting the partitions that satisfy ``where``.

        ``where`` may only reference partition columns (as in Databricks' OPTIMIZE ... WHERE); it
        is evaluated by Spark over the distinct partition values of the current files."""
        partition_columns = list(dt.metadata().partition_columns)
        if not partition_columns:
            raise StorageError(f"optimize with where needs a partitioned table; {table} is not partitioned")
        full_schema = self._spark_schema(dt)
        from pyspark.sql import types as T

        part_schema = T.StructType([full_schema[c] for c in partition_columns])
        actions = pa.table(dt.get_add_actions(flatten=True))
        if actions.num_rows == 0:
            return []
        values = pa.table({c: actions.column(f"partition.{c}") for c in partition_columns})
        values = values.group_by(partition_columns).aggregate([])
        try:
            matching = self._to_spark(values, part_schema).where(where).collect()
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

    def vacuum(
        self,
        table: str,
        retention_hours: int,
        dry_run: bool = False,
        *,
        listing_limit: int = VACUUM_LISTING_LIMIT,
    ) -> VacuumResult:
        """delta-rs' own listing (dry run), then its VACUUM; the count is the files both listed and
        deleted (delta-rs never lists or removes directories)."""
        if retention_hours < 0:
            raise StorageError("retention_hours must be >= 0")
        VacuumResult.from_listing((), listing_limit)  # validates the limit before anything runs
        dt = self._open(table)

        def run(dry: bool) -> set[str]:
            with _delta_errors("vacuum", table):
                paths = dt.vacuum(
                    retention_hours=int(retention_hours),
                    dry_run=dry,
                    enforce_retention_duration=False,
                    full=True,
                )
            return {os.path.join(str(table), path) for path in paths}

        # delta-rs also lists tombstoned files that are already gone: report only real files.
        candidates = {path for path in run(True) if os.path.isfile(path)}
        if dry_run or not candidates:
            return VacuumResult.from_listing(candidates, listing_limit)
        deleted = candidates & run(False)
        return VacuumResult.from_listing(deleted, listing_limit, deleted=len(deleted))


def _df_identifier(name: str) -> str:
    """A DataFusion column reference (double quotes keep the case), validated like UC names."""
    quote_identifier(name)  # validation only
    return f'"{name}"'


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


def _conform_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """A change-feed batch in the target column order and types (``_commit_timestamp`` comes as a
    naive millisecond UTC timestamp, ``_commit_version`` as uint64)."""
    columns = []
    for field in target:
        column = batch.column(field.name)
        if field.name == "_commit_timestamp" and column.type.tz is None:
            column = pc.assume_timezone(column.cast(pa.timestamp("us")), "UTC")
        columns.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=target)


def _check_new_columns(columns: Sequence[Any], existing: set[str], table: str) -> None:
    """Columns to add must be new, distinct and nullable (additive schema evolution)."""
    names = [c.name for c in columns]
    clash = sorted({n for n in names if n in existing or names.count(n) > 1})
    if clash:
        raise StorageError(f"columns {clash} already exist in {table} or are repeated")
    not_nullable = [c.name for c in columns if not c.nullable]
    if not_nullable:
        raise StorageError(f"added columns must be nullable: {not_nullable}")

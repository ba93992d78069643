"""The delta-rs engine: Delta tables in local folders through ``deltalake``; Spark scans a large
snapshot's files itself, other data moves between Spark and Delta as Arrow (``df.toArrow()`` /
``spark.createDataFrame(arrow_table)``).

Used where Spark has no Delta jars (local runs, tests). Notes:

* A table folder is only ever read through :class:`deltalake.DeltaTable` (its transaction log),
  never as plain parquet - files removed by overwrites/merges/optimize would come back.
* Reads: Spark scans a large snapshot's files and applies ``where`` (:func:`.delta_rs_files.snapshot_scan`);
  a small one, or one a scan would not read exactly, DataFusion reads (``SELECT * FROM t WHERE ...``)
  and it comes as Arrow (DataFusion lower-cases unquoted identifiers: keep column names snake_case).
* Idempotent writes: delta-rs records but does not check a commit's ``txn`` action, so
  :meth:`DeltaRsStorage._already_committed` reads Delta's own txn state
  (``DeltaTable.transaction_version(app_id)``, from the snapshot: it survives log cleanup) and the
  base class skips the write when the Txn version is <= that. The commit carries the ``txn`` action
  and the Txn stamp in ``userMetadata`` (``CommitProperties``). The check and the commit are not
  one atomic step: two *concurrent* writers with the same app id could both pass the check. The
  pipeline avoids this by running each job with ``max_concurrent_runs=1``.
* The Spark <-> Arrow type mapping, and its one limitation (NOT NULL fields nested in nullable
  structs): :mod:`.arrow`.
* :meth:`DeltaRsStorage.vacuum` lists absolute file paths; :meth:`DeltaRsStorage.files`
  absolute paths too (like Spark's ``_metadata.file_path``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from medallion.storage.arrow import (
    as_collected,
    conform_batch,
    delta_table_schema,
    spark_field_to_arrow,
    spark_schema_to_arrow,
    to_arrow,
    to_spark,
)
from medallion.storage.base import (
    VACUUM_LISTING_LIMIT,
    FileInfo,
    StorageError,
    TableNotFoundError,
    Txn,
    VacuumResult,
    WriteResult,
)
from medallion.storage.commits import canonical_metrics
from medallion.storage.delta_rs_files import file_infos, partition_filters, snapshot_scan
from medallion.storage.engine_errors import delta_rs_errors
from medallion.storage.interface import DeltaStorage
from medallion.storage.metadata_engines import DeltaRsMetadata, with_comments
from medallion.storage.quoting import check_predicate, datafusion_identifier
from medallion.storage.rows import Rows
from medallion.storage.schema import change_feed_schema, check_new_columns

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

_QUERY_TABLE = "medallion_source"


class DeltaRsStorage(DeltaRsMetadata, DeltaStorage):
    """Delta through delta-rs; ``table`` is a local folder path."""

    engine = "delta-rs"

    # --- helpers ----------------------------------------------------------------------------
    def _open(self, table: str, version: int | None = None) -> DeltaTable:
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(str(table)):
            raise TableNotFoundError(f"no Delta table at {table}")
        with delta_rs_errors("open" if version is None else f"open version {version}", table):
            return DeltaTable(str(table), version=version)

    @contextlib.contextmanager
    def _native_errors(self, action: str, table: str) -> Iterator[None]:
        with delta_rs_errors(action, table):
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
        comment: str | None = None,
    ) -> bool:
        from deltalake import DeltaTable

        if self.exists(table):
            return False
        missing = [c for c in partition_by if c not in schema.fieldNames()]
        if missing:
            raise StorageError(f"partition columns {missing} are not in the schema of {table}")
        arrow_schema = with_comments(spark_schema_to_arrow(schema), schema)
        try:
            with delta_rs_errors("create", table):
                DeltaTable.create(
                    str(table),
                    arrow_schema,
                    mode="error",
                    partition_by=list(partition_by) or None,
                    configuration=dict(properties) if properties else None,
                    description=comment,
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
        return delta_table_schema(self._open(table))

    def properties(self, table: str) -> dict[str, str]:
        return dict(self._open(table).metadata().configuration)

    def set_properties(self, table: str, properties: Mapping[str, str]) -> None:
        if not properties:
            return
        dt = self._open(table)
        with delta_rs_errors("set properties", table):
            dt.alter.set_table_properties(
                {k: str(v) for k, v in properties.items()}, raise_if_not_exists=False
            )

    def add_columns(self, table: str, columns: Sequence[Any]) -> None:
        from deltalake import Field

        dt = self._open(table)
        existing = set(delta_table_schema(dt).fieldNames())
        check_new_columns(columns, existing, table)
        if not columns:
            return
        fields = [Field.from_arrow(spark_field_to_arrow(c)) for c in columns]
        with delta_rs_errors("add columns", table):
            dt.alter.add_columns(fields)

    def history(self, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        dt = self._open(table)
        with delta_rs_errors("history", table):
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
        return file_infos(self._open(table), table)

    # --- reads ----------------------------------------------------------------------------------
    def read(self, table: str, where: str | None = None, version: int | None = None) -> DataFrame:
        from deltalake import QueryBuilder

        dt = self._open(table, version)
        schema = delta_table_schema(dt)
        scan = snapshot_scan(self.spark, dt, table, schema, where)  # or None: DataFusion reads it
        if scan is not None:
            return scan
        sql = f"SELECT * FROM {_QUERY_TABLE}"
        if where is not None:
            sql += f" WHERE {check_predicate(where)}"
        with delta_rs_errors("read", table):
            data = pa.table(QueryBuilder().register(_QUERY_TABLE, dt).execute(sql).read_all())
        return to_spark(self.spark, data, schema)

    def read_rows(self, table: str, columns: Sequence[str], where: str | None = None) -> list[dict[str, Any]]:
        from deltalake import QueryBuilder

        dt = self._open(table)
        known = set(delta_table_schema(dt).fieldNames())
        missing = [c for c in columns if c not in known]
        if missing:
            raise StorageError(f"columns {missing} are not columns of {table}")
        sql = f"SELECT {', '.join(datafusion_identifier(c) for c in columns)} FROM {_QUERY_TABLE}"
        if where is not None:
            sql += f" WHERE {check_predicate(where)}"
        with delta_rs_errors("read", table):
            rows = pa.table(QueryBuilder().register(_QUERY_TABLE, dt).execute(sql).read_all()).to_pylist()
        return [{k: as_collected(v) for k, v in row.items()} for row in rows]

    def read_changes(self, table: str, start_version: int, end_version: int | None = None) -> DataFrame:
        if start_version < 0 or (end_version is not None and end_version < start_version):
            raise StorageError(f"invalid change feed range {start_version}..{end_version}")
        dt = self._open(table)
        schema = change_feed_schema(delta_table_schema(dt))
        target = spark_schema_to_arrow(schema)
        current = dt.version()
        batches: list[pa.RecordBatch] = []
        if start_version <= current:
            end = current if end_version is None else min(end_version, current)
            with delta_rs_errors("read change feed", table):
                reader = pa.RecordBatchReader.from_stream(dt.load_cdf(start_version, end))
                for batch in reader:
                    batch = conform_batch(batch, target)
                    inserted = batch.filter(pc.equal(batch.column("_change_type"), "insert"))
                    if inserted.num_rows:
                        batches.append(inserted)
        data = pa.Table.from_batches(batches, schema=target) if batches else target.empty_table()
        return to_spark(self.spark, data, schema)

    # --- writes (the Txn bookkeeping is the base class's) -------------------------------------
    def _already_committed(self, table: str, txn: Txn) -> bool:
        committed = self._open(table).transaction_version(txn.app_id)
        return committed is not None and txn.version <= committed

    def _append(
        self, df: DataFrame | Rows, table: str, partition_by: Sequence[str], txn: Txn | None, stamp: str
    ) -> Mapping[str, Any]:
        from deltalake import write_deltalake

        dt = self._maybe_open(table)
        if dt is not None and partition_by and list(partition_by) != dt.metadata().partition_columns:
            raise StorageError(
                f"partition_by {list(partition_by)} differs from the partitioning "
                f"{dt.metadata().partition_columns} of {table}"
            )
        if isinstance(df, Rows):  # driver-side records: straight to Arrow, no Spark job
            data = df.to_arrow()
            if dt is not None:
                data = data.select(delta_table_schema(dt).fieldNames())
        else:
            data = to_arrow(df, delta_table_schema(dt) if dt is not None else None)
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
        data = to_arrow(df, delta_table_schema(dt))
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
        schema = delta_table_schema(dt)
        unknown = [k for k in keys if k not in schema.fieldNames()]
        if unknown:
            raise StorageError(f"merge keys {unknown} are not columns of {table}")
        condition = " AND ".join(f"t.{datafusion_identifier(k)} = s.{datafusion_identifier(k)}" for k in keys)
        if target_filter is not None:
            condition += f" AND ({check_predicate(target_filter)})"
        data = to_arrow(df, schema)
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
        schema = delta_table_schema(dt)
        unknown = [c for c in zorder_by if c not in schema.fieldNames()]
        if unknown:
            raise StorageError(f"z-order columns {unknown} are not columns of {table}")
        conjunctions: list[list[tuple[str, str, Any]] | None] = [None]
        if where is not None:
            conjunctions = partition_filters(self.spark, dt, check_predicate(where), table)
        totals: dict[str, Any] = {"files_added": 0, "files_removed": 0, "runs": []}
        for conjunction in conjunctions:
            with delta_rs_errors("optimize", table):
                if zorder_by:
                    raw = dt.optimize.z_order(list(zorder_by), partition_filters=conjunction)
                else:
                    raw = dt.optimize.compact(partition_filters=conjunction)
            totals["files_added"] += int(raw.get("numFilesAdded", 0))
            totals["files_removed"] += int(raw.get("numFilesRemoved", 0))
            totals["runs"].append(raw)
            dt = self._open(table)
        return totals

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
            with delta_rs_errors("vacuum", table):
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

    def delete(self, table: str, predicate: str) -> WriteResult:
        """delta-rs' DELETE (a DataFusion predicate), stamped like every write (``_transact``)."""
        predicate = check_predicate(predicate)
        dt = self._open(table)

        def run(stamp: str) -> dict[str, Any]:  # the counts come from the commit, as on spark-delta
            with delta_rs_errors("delete", table):
                dt.delete(predicate, commit_properties=self._commit_properties(None, stamp))
            return {}

        return self._transact(table, None, run)

"""The spark-delta engine: Delta through Spark SQL on Databricks; tables are Unity Catalog names.

Every SQL text and writer-option dict comes from the pure builders of :mod:`.sql` (unit-tested
locally, where Spark has no Delta jars); this class only runs them.

Idempotency (Txn) - what is used and why:

* DataFrame writes (append, replace_where) pass the documented DataFrameWriter options
  ``txnAppId`` / ``txnVersion`` (Databricks "Enable idempotent writes across jobs"): Delta itself
  skips a write whose version is <= the last one recorded for the app id, atomically with the
  commit.
* MERGE is SQL, which takes no writer options: it carries the Txn in the session confs
  ``spark.databricks.delta.write.txnAppId`` / ``spark.databricks.delta.write.txnVersion``
  (Delta >= 2.3, delta-io/delta#1555; named in Databricks' DELTA_INVALID_IDEMPOTENT_WRITES_OPTIONS
  error docs). They are set just for the statement and restored afterwards, because a session
  conf would otherwise apply to every later DML statement of the session.
* Reading the last committed Txn version: neither Delta nor Databricks has a public API for a
  table's ``txn`` actions (only internal Scala ``DeltaLog.snapshot.transactions``), and reading
  ``_delta_log`` of a UC managed table directly is not allowed. So every Txn commit is also
  stamped with commitInfo ``userMetadata`` = ``{"medallion_txn": {"app_id": ..., "version": ...}}``
  (writer option ``userMetadata`` / session conf ``spark.databricks.delta.commitInfo.userMetadata``,
  both documented in "Enrich tables with custom metadata"), and :meth:`committed_version` takes
  the newest stamped commit of ``DESCRIBE HISTORY`` (:func:`.sql.committed_version_from_history`).
  Caveats: history only reaches back ``delta.logRetentionDuration`` (30 days by default) - an app
  id whose last Txn commit is older reads as None, but Delta's own txn check still skips stale
  writes; commits made by other tools without the stamp are invisible. A write Delta silently
  skipped is also detected by the table version not moving (``committed=False``).
* The pre-check + write is not atomic across *concurrent* runs of the same job; the pipeline runs
  jobs with ``max_concurrent_runs=1``, and Delta's own txn check covers the DataFrame writes.

Other notes: ``properties`` are the table's explicit configuration (DESCRIBE DETAIL
``properties``, like delta-rs' metadata configuration); ``files`` uses the ``_metadata`` hidden
column (path, size, row count, partition values) - Delta exposes no public per-file statistics,
so min/max values are empty here; ``vacuum`` below 168 hours turns off
``spark.databricks.delta.retentionDurationCheck.enabled`` for the statement (the caller owns the
safety decision), and a real VACUUM returns the files its preceding DRY RUN listed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from medallion.storage import sql
from medallion.storage.base import (
    DeltaStorage,
    FileInfo,
    StorageError,
    TableNotFoundError,
    Txn,
    WriteResult,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructField, StructType

DEFAULT_RETENTION_HOURS = 168


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
    return entry


def file_info_from_row(row: Mapping[str, Any], partition_by: Sequence[str] = ()) -> FileInfo:
    """A row of :func:`.sql.build_files_sql` -> FileInfo."""
    return FileInfo(
        path=str(row["path"]),
        size_bytes=int(row["size_bytes"]),
        num_records=int(row["num_records"]) if row.get("num_records") is not None else None,
        partition_values={c: row.get(c) for c in partition_by},
    )


@contextlib.contextmanager
def session_confs(spark: SparkSession, confs: Mapping[str, str]) -> Iterator[None]:
    """Set session confs for the block, then restore the previous values (or unset)."""
    previous: dict[str, str | None] = {}
    for key, value in confs.items():
        previous[key] = spark.conf.get(key, None)
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


class SparkDeltaStorage(DeltaStorage):
    """Delta through Spark SQL / DataFrameWriter; ``table`` is ``catalog.schema.table``."""

    engine = "spark-delta"
    supports_liquid_clustering = True

    # --- helpers ------------------------------------------------------------------------------
    def _require(self, table: str) -> None:
        if not self.exists(table):
            raise TableNotFoundError(f"table {table} does not exist")

    def _sql(self, text: str) -> DataFrame:
        return self.spark.sql(text)

    def _skip(self, table: str, txn: Txn | None) -> bool:
        if txn is None:
            return False
        committed = self.committed_version(table, txn.app_id)
        return committed is not None and txn.version <= committed

    def _write(
        self,
        df: DataFrame,
        table: str,
        mode: str,
        *,
        partition_by: Sequence[str] = (),
        replace_where: str | None = None,
        txn: Txn | None = None,
    ) -> WriteResult:
        before = self.version(table)
        if before is not None and self._skip(table, txn):
            return WriteResult(committed=False, version=before)
        options = sql.writer_options(mode, txn=txn, replace_where=replace_where)
        writer = df.write.format("delta").mode(mode).options(**options)
        if partition_by:
            for column in partition_by:
                sql.quote_identifier(column)  # validation
            writer = writer.partitionBy(*partition_by)
        writer.saveAsTable(sql.quote_table_name(table))
        after = self.version(table)
        # Delta skips a txn write it has already seen without failing: the version does not move.
        return WriteResult(committed=before is None or after != before, version=after)

    # --- metadata -----------------------------------------------------------------------------
    def exists(self, table: str) -> bool:
        sql.quote_table_name(table)  # validation
        return bool(self.spark.catalog.tableExists(table))

    def create_if_missing(
        self,
        table: str,
        schema: StructType,
        partition_by: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        statement = sql.build_create_table_sql(table, schema, partition_by, properties)
        if self.exists(table):
            return False
        self._sql(statement)
        return True

    def version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        rows = self._sql(sql.build_history_sql(table, 1)).select("version").collect()
        return int(rows[0]["version"]) if rows else None

    def schema(self, table: str) -> StructType:
        self._require(table)
        return self.spark.table(sql.quote_table_name(table)).schema

    def _detail(self, table: str) -> dict[str, Any]:
        self._require(table)
        return self._sql(sql.build_detail_sql(table)).collect()[0].asDict(recursive=True)

    def properties(self, table: str) -> dict[str, str]:
        return dict(self._detail(table).get("properties") or {})

    def set_properties(self, table: str, properties: Mapping[str, str]) -> None:
        if not properties:
            return
        statement = sql.build_set_properties_sql(table, properties)
        self._require(table)
        self._sql(statement)

    def add_columns(self, table: str, columns: Sequence[StructField]) -> None:
        if not columns:
            return
        statement = sql.build_add_columns_sql(table, columns)
        self._require(table)
        self._sql(statement)

    def declare_primary_key(
        self, table: str, columns: Sequence[str], timeseries_column: str | None = None
    ) -> None:
        """UC ``PRIMARY KEY (k, ts TIMESERIES)`` (key columns made NOT NULL first, as UC requires),
        skipped when the table already has one; then the properties (base implementation)."""
        add_constraint = sql.build_add_primary_key_sql(table, list(columns), timeseries_column)
        schema = self.schema(table)
        unknown = [c for c in columns if c not in schema.fieldNames()]
        if unknown:
            raise StorageError(f"primary key columns {unknown} are not columns of {table}")
        has_key = self._sql(sql.build_primary_key_exists_sql(table)).collect()[0]["n"] > 0
        if not has_key:
            for column in columns:
                if schema[column].nullable:
                    self._sql(sql.build_set_not_null_sql(table, column))
            self._sql(add_constraint)
        super().declare_primary_key(table, columns, timeseries_column)

    def history(self, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        statement = sql.build_history_sql(table, limit)
        self._require(table)
        rows = [normalize_history_row(r.asDict(recursive=True)) for r in self._sql(statement).collect()]
        return sorted(rows, key=lambda r: r["version"], reverse=True)

    def files(self, table: str) -> list[FileInfo]:
        partition_by = list(self._detail(table).get("partitionColumns") or [])
        rows = self._sql(sql.build_files_sql(table, partition_by)).collect()
        return [file_info_from_row(r.asDict(), partition_by) for r in rows]

    # --- reads --------------------------------------------------------------------------------
    def read(self, table: str, where: str | None = None, version: int | None = None) -> DataFrame:
        statement = sql.build_select_sql(table, where, version)
        self._require(table)
        return self._sql(statement)

    def read_changes(self, table: str, start_version: int, end_version: int | None = None) -> DataFrame:
        from pyspark.sql import types as T

        options = sql.change_feed_options(start_version, end_version)
        current = self.version(table)
        if current is None:
            raise TableNotFoundError(f"table {table} does not exist")
        if start_version > current:  # nothing committed yet: empty, with the change feed schema
            schema = T.StructType(
                [
                    *self.schema(table).fields,
                    T.StructField("_change_type", T.StringType(), True),
                    T.StructField("_commit_version", T.LongType(), True),
                    T.StructField("_commit_timestamp", T.TimestampType(), True),
                ]
            )
            return self.spark.createDataFrame([], schema)
        if end_version is not None and end_version > current:
            options["endingVersion"] = str(current)
        reader = self.spark.read.format("delta").options(**options)
        return reader.table(sql.quote_table_name(table)).where("_change_type = 'insert'")

    # --- idempotency --------------------------------------------------------------------------
    def committed_version(self, table: str, app_id: str) -> int | None:
        if not self.exists(table):
            return None
        history = self._sql(sql.build_history_sql(table)).select("version", "userMetadata")
        rows = history.where(f"userMetadata LIKE '%{sql.TXN_METADATA_KEY}%'").collect()
        return sql.committed_version_from_history([r.asDict() for r in rows], app_id)

    # --- writes -------------------------------------------------------------------------------
    def append(
        self, df: DataFrame, table: str, partition_by: Sequence[str] = (), txn: Txn | None = None
    ) -> WriteResult:
        return self._write(df, table, "append", partition_by=partition_by, txn=txn)

    def replace_where(self, df: DataFrame, table: str, predicate: str, txn: Txn | None = None) -> WriteResult:
        sql.check_predicate(predicate)
        self._require(table)
        return self._write(df, table, "overwrite", replace_where=predicate, txn=txn)

    def merge(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        *,
        insert_only: bool = False,
        target_filter: str | None = None,
        txn: Txn | None = None,
    ) -> WriteResult:
        view = f"medallion_merge_source_{uuid.uuid4().hex}"
        statement = sql.build_merge_sql(
            table, view, keys, insert_only=insert_only, target_filter=target_filter
        )
        self._require(table)
        before = self.version(table)
        if self._skip(table, txn):
            return WriteResult(committed=False, version=before)
        confs = sql.txn_session_confs(txn) if txn is not None else {}
        df.createOrReplaceTempView(view)
        try:
            with session_confs(self.spark, confs):
                rows = self._sql(statement).collect()
        finally:
            self.spark.catalog.dropTempView(view)
        metrics = sql.parse_merge_metrics(rows[0].asDict() if rows else None)
        if txn is not None and self.committed_version(table, txn.app_id) != txn.version:
            # A MERGE that changes nothing may make no commit; the txn is the caller's progress
            # marker, so record it with an empty idempotent append.
            self.append(self.spark.createDataFrame([], self.schema(table)), table, txn=txn)
        after = self.version(table)
        return WriteResult(committed=after != before, version=after, metrics=metrics)

    # --- maintenance --------------------------------------------------------------------------
    def optimize(self, table: str, zorder_by: Sequence[str] = (), where: str | None = None) -> dict[str, Any]:
        statement = sql.build_optimize_sql(table, zorder_by, where)
        self._require(table)
        rows = self._sql(statement).collect()
        raw = rows[0].asDict(recursive=True).get("metrics") if rows else None
        return sql.parse_optimize_metrics(raw)

    def vacuum(self, table: str, retention_hours: int, dry_run: bool = False) -> list[str]:
        dry_statement = sql.build_vacuum_sql(table, retention_hours, dry_run=True)
        statement = sql.build_vacuum_sql(table, retention_hours, dry_run=False)
        self._require(table)
        confs = {sql.RETENTION_CHECK_CONF: "false"} if retention_hours < DEFAULT_RETENTION_HOURS else {}
        with session_confs(self.spark, confs):
            paths = sorted(str(r["path"]) for r in self._sql(dry_statement).collect())
            if not dry_run and paths:
                self._sql(statement).collect()
        return paths

    def cluster_by(self, table: str, columns: Sequence[str]) -> bool:
        """``ALTER TABLE ... CLUSTER BY`` unless DESCRIBE DETAIL already shows these clustering
        columns (no needless metadata commit). Fails (Delta) on a partitioned table."""
        statement = sql.build_cluster_by_sql(table, columns)
        if list(self._detail(table).get("clusteringColumns") or []) == list(columns):
            return False
        self._sql(statement)
        return True

"""The storage adapter interface: every Delta read, write, merge, optimize, vacuum and history
call of the pipeline goes through one :class:`DeltaStorage`.

Two engines implement it:

* :class:`medallion.storage.spark_delta.SparkDeltaStorage` - Spark SQL and ``delta.tables``
  (Databricks, where the runtime ships Delta). Tables are Unity Catalog names.
* :class:`medallion.storage.delta_rs.DeltaRsStorage` - ``deltalake`` (delta-rs): Spark scans a
  large snapshot's files (the add actions of its version) itself; small reads and writes move
  through Arrow. Tables are local folders.

A *table* argument is whatever :meth:`medallion.config.Config.table` returns for the engine's
environment. DataFrames in and out are Spark DataFrames in both engines. Predicates (``where``)
are SQL boolean expressions over column names, literals, comparison operators, ``AND``/``OR``/
``NOT``, ``IN (...)`` and ``DATE '...'``/``TIMESTAMP '...'`` literals - the common subset of
Spark SQL and DataFusion SQL.

What is engine-independent lives here (with the commit stamps and metrics of :mod:`.commits` and the
schema rules of :mod:`.schema`), so that the engines differ only in I/O:

* **Txn bookkeeping.** Every write stamps its commit's ``userMetadata`` with a unique write id
  (and its :class:`Txn`, if any: :func:`.commits.write_stamp`); a write carrying a Txn also puts
  Delta's own ``txn`` action into its commit. Whether the write *committed* is decided the same way on every
  engine: by finding its write id among the commits made between the version before and the
  version after the write (the newest commit, ``history(limit=1)``, gives the version after and is
  the only one to look at when one commit was made meanwhile; else ``history(limit=after - before)``,
  never a scan of the whole log). A table version that moved because of a concurrent
  OPTIMIZE or VACUUM is therefore not mistaken for our commit. A replayed write is skipped by the
  engine (Delta's own txn check on spark-delta; a ``transaction_version`` pre-check on delta-rs).
* **No progress reads from the history.** Where a job resumes is read from data committed by the
  job itself (:mod:`medallion.progress`), never from stamped commits, so progress survives log
  cleanup and costs the same at commit 10 and commit 100,000.
* **Error mapping.** Every interface method of an engine runs inside the engine's
  :meth:`DeltaStorage._native_errors` (:mod:`.engine_errors`), so an engine failure always surfaces as
  :class:`StorageError` (:class:`TableNotFoundError` when the table is missing,
  :class:`ConcurrentWriteError` when another writer committed first, :class:`CorruptTableLogError`
  when the table's Delta log cannot be read), which is what the jobs' fallbacks catch.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from medallion.storage.base import (
    PRIMARY_KEY_PROPERTY,
    TIMESERIES_KEY_PROPERTY,
    VACUUM_LISTING_LIMIT,
    FileInfo,
    StorageError,
    TableNotFoundError,
    Txn,
    VacuumResult,
    WriteResult,
)
from medallion.storage.commits import canonical_metrics, stamp_write_id, write_stamp
from medallion.storage.metadata import CatalogMetadataMixin
from medallion.storage.quoting import check_predicate
from medallion.storage.rows import Rows
from medallion.storage.schema import check_compatible

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructField, StructType


#: The interface methods every engine runs inside its native-error mapping.
_MAPPED_METHODS = frozenset(
    {
        "exists",
        "create_if_missing",
        "version",
        "schema",
        "properties",
        "set_properties",
        "add_columns",
        "history",
        "files",
        "partition_columns",
        "table_id",
        "read",
        "read_changes",
        "_append",
        "_replace_where",
        "_merge",
        "optimize",
        "vacuum",
        "delete",
        "cluster_by",
        "declare_primary_key",
    }
)


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: DeltaStorage, *args: Any, **kwargs: Any) -> Any:
        table = args[0] if args and isinstance(args[0], str) else kwargs.get("table", "?")
        if method.__name__ in ("_append", "_replace_where", "_merge") and len(args) > 1:
            table = args[1]
        with self._native_errors(method.__name__.lstrip("_"), str(table)):
            return method(self, *args, **kwargs)

    wrapper.__medallion_mapped__ = True  # type: ignore[attr-defined]
    return wrapper


class DeltaStorage(CatalogMetadataMixin, ABC):
    """One interface for every Delta operation the pipeline needs (catalog metadata: :mod:`.metadata`)."""

    engine: str = "abstract"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap the interface methods an engine defines in its native-error mapping."""
        super().__init_subclass__(**kwargs)
        for name in _MAPPED_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__medallion_mapped__", False):
                setattr(cls, name, _mapped(method))

    @contextlib.contextmanager
    def _native_errors(self, action: str, table: str) -> Iterator[None]:
        """Turn the engine's own exceptions into StorageError / TableNotFoundError (engines
        override; StorageError passes through unchanged)."""
        yield

    def errors(self, action: str, table: str) -> contextlib.AbstractContextManager[None]:
        """The engine's error mapping for a caller that *evaluates* a DataFrame the adapter
        returned: Spark reads are lazy, so a missing file of ``read``/``read_changes`` on
        spark-delta only fails when the rows are computed - inside this block that failure is a
        StorageError too (delta-rs reads eagerly and fails inside the call)."""
        return self._native_errors(action, table)

    # --- metadata ----------------------------------------------------------------------
    @abstractmethod
    def exists(self, table: str) -> bool: ...

    @abstractmethod
    def create_if_missing(
        self,
        table: str,
        schema: StructType,
        partition_by: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
        comment: str | None = None,
    ) -> bool:
        """Create an empty table (``comment``: its description, column comments come with the
        schema's field metadata, :mod:`.metadata`); True if created, False if it already existed."""

    @abstractmethod
    def version(self, table: str) -> int | None:
        """Current table version, None if the table does not exist."""

    @abstractmethod
    def schema(self, table: str) -> StructType: ...

    @abstractmethod
    def properties(self, table: str) -> dict[str, str]: ...

    @abstractmethod
    def set_properties(self, table: str, properties: Mapping[str, str]) -> None: ...

    @abstractmethod
    def add_columns(self, table: str, columns: Sequence[StructField]) -> None:
        """Add nullable columns at the end of the schema (additive schema evolution)."""

    @abstractmethod
    def history(self, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commits newest first; each dict has at least version, timestamp, operation,
        operationParameters, operationMetrics (engine-native keys may add more)."""

    @abstractmethod
    def table_id(self, table: str) -> str:
        """Delta's table id (``metaData.id``): new whenever the table is dropped and created again."""

    @abstractmethod
    def partition_columns(self, table: str) -> list[str]:
        """The table's partition columns, in order (empty when not partitioned)."""

    @abstractmethod
    def files(self, table: str) -> list[FileInfo]:
        """Data files of the current version with their Delta statistics."""

    # --- reads -------------------------------------------------------------------------
    @abstractmethod
    def read(self, table: str, where: str | None = None, version: int | None = None) -> DataFrame:
        """The table (or a filtered part of it, optionally at a past version) as a DataFrame."""

    def read_rows(self, table: str, columns: Sequence[str], where: str | None = None) -> list[dict[str, Any]]:
        """``columns`` of the (filtered) table as Python dicts on the driver, values as PySpark's
        ``collect`` returns them (timestamps naive, in local time): for the small ops tables a job
        reads to decide what to do (ledgers, progress). delta-rs reads them without a Spark job."""
        df = self.read(table, where=where).select(*columns)
        with self.errors("read", table):
            return [row.asDict() for row in df.collect()]

    @abstractmethod
    def read_changes(self, table: str, start_version: int, end_version: int | None = None) -> DataFrame:
        """Rows inserted by commits start_version..end_version (inclusive) through the change data
        feed (table property delta.enableChangeDataFeed=true). Columns: the table's columns plus
        _change_type, _commit_version, _commit_timestamp. Only ``insert`` changes are returned."""

    # --- writes (Txn bookkeeping is here, the engines only do the I/O) ----------------------
    @abstractmethod
    def _already_committed(self, table: str, txn: Txn) -> bool:
        """Whether Delta's own txn state for ``txn.app_id`` is at or past ``txn.version`` - where
        the engine can read it cheaply (delta-rs). An engine whose writes check the txn atomically
        themselves (spark-delta) may return False and let the write skip."""

    @abstractmethod
    def _append(
        self, df: DataFrame | Rows, table: str, partition_by: Sequence[str], txn: Txn | None, stamp: str
    ) -> Mapping[str, Any]:
        """Append ``df`` (creating the table if missing); the commit carries ``txn`` (Delta's txn
        action) and ``stamp`` (its userMetadata, see :func:`.commits.write_stamp`). Returns metrics."""

    @abstractmethod
    def _replace_where(
        self, df: DataFrame, table: str, predicate: str, txn: Txn | None, stamp: str
    ) -> Mapping[str, Any]:
        """Atomically replace the rows matching ``predicate`` with ``df``; the commit carries ``txn``
        and ``stamp``."""

    @abstractmethod
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
        """MERGE (see :meth:`merge`); the commit, if any, carries ``txn`` and ``stamp``. Returns
        metrics with num_inserted / num_updated."""

    def _own_commit(self, table: str, write_id: str, before: int | None) -> tuple[int | None, dict | None]:
        """The table's version after a write, and the commit stamped with ``write_id`` among those
        made since ``before``: one history read of the newest commit, which is all of them in the
        usual case (one commit made meanwhile); a second, bounded read when there were more."""
        newest = self.history(table, limit=1) if self.exists(table) else []
        after = int(newest[0]["version"]) if newest else None
        if after is None or after == before:
            return after, None
        made = after - (-1 if before is None else before)
        for commit in newest if made == 1 else self.history(table, limit=made):
            if stamp_write_id(commit.get("userMetadata")) == write_id:
                return after, commit
        return after, None

    def _check_schema(self, df: DataFrame, table: str) -> None:
        """Delta's schema enforcement, with one message on every engine: the DataFrame must have
        exactly the table's columns and types (nullability aside; order may differ)."""
        if self.exists(table):
            check_compatible(df.schema, self.schema(table))

    def _transact(
        self, table: str, txn: Txn | None, write: Callable[[str], Mapping[str, Any]]
    ) -> WriteResult:
        """Run ``write(stamp)`` with the Txn bookkeeping shared by every engine (module docstring)."""
        before = self.version(table)
        if txn is not None and before is not None and self._already_committed(table, txn):
            return WriteResult(committed=False, version=before)
        write_id = uuid.uuid4().hex
        metrics = dict(write(write_stamp(txn, write_id)))
        after, commit = self._own_commit(table, write_id, before)
        if commit is None:  # skipped by Delta's txn check, or (MERGE) nothing to commit
            return WriteResult(committed=False, version=after)
        merged = {**canonical_metrics(commit.get("operationMetrics")), **metrics}
        return WriteResult(committed=True, version=int(commit["version"]), metrics=merged)

    def append(
        self, df: DataFrame | Rows, table: str, partition_by: Sequence[str] = (), txn: Txn | None = None
    ) -> WriteResult:
        """Append ``df`` (creating the table with ``partition_by`` if it does not exist). A Txn
        already committed makes it a no-op (``committed=False``). ``df`` may be driver-side
        :class:`.rows.Rows` (ops records): written without a Spark job where the engine can."""
        self._check_schema(df, table)
        return self._transact(table, txn, lambda stamp: self._append(df, table, partition_by, txn, stamp))

    def replace_where(self, df: DataFrame, table: str, predicate: str, txn: Txn | None = None) -> WriteResult:
        """Atomically replace the rows matching ``predicate`` with ``df`` (Delta replaceWhere).
        Every row of ``df`` must match the predicate."""
        predicate = check_predicate(predicate)
        if not self.exists(table):
            raise TableNotFoundError(f"table {table} does not exist")
        self._check_schema(df, table)
        return self._transact(table, txn, lambda stamp: self._replace_where(df, table, predicate, txn, stamp))

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
        """MERGE ``df`` into ``table`` on equality of ``keys``.

        insert_only=True: WHEN NOT MATCHED THEN INSERT * only (dedup insert).
        insert_only=False: upsert (WHEN MATCHED UPDATE SET * / WHEN NOT MATCHED INSERT *).
        target_filter: extra predicate on the target (columns qualified as ``t.``) to prune files,
        e.g. ``t.event_date IN (DATE '2024-01-01')``. metrics holds num_inserted / num_updated.

        A MERGE that changes nothing may make no commit (delta-rs never does); its Txn is the
        caller's progress marker, so it is then recorded with an empty idempotent append - which
        is itself skipped when the MERGE was skipped as a replay."""
        if not keys:
            raise StorageError("merge needs at least one key column")
        if not self.exists(table):
            raise TableNotFoundError(f"table {table} does not exist")
        self._check_schema(df, table)
        result = self._transact(
            table, txn, lambda stamp: self._merge(df, table, keys, insert_only, target_filter, txn, stamp)
        )
        if result.committed:
            return result
        if txn is None:  # a MERGE that changed nothing and made no commit
            return WriteResult(
                committed=True, version=result.version, metrics={"num_inserted": 0, "num_updated": 0}
            )
        empty = self.append(self.spark.createDataFrame([], self.schema(table)), table, txn=txn)
        if not empty.committed:
            return WriteResult(committed=False, version=empty.version)
        return WriteResult(
            committed=True, version=empty.version, metrics={"num_inserted": 0, "num_updated": 0}
        )

    # --- maintenance -------------------------------------------------------------------
    @abstractmethod
    def optimize(self, table: str, zorder_by: Sequence[str] = (), where: str | None = None) -> dict[str, Any]:
        """Compact small files (Z-order when columns are given). Returns metrics incl.
        files_added / files_removed."""

    @abstractmethod
    def vacuum(
        self,
        table: str,
        retention_hours: int,
        dry_run: bool = False,
        *,
        listing_limit: int = VACUUM_LISTING_LIMIT,
    ) -> VacuumResult:
        """Delete unreferenced files older than the retention (a dry run only lists them). The
        result counts the data files deleted and lists at most ``listing_limit`` of them (see
        :class:`VacuumResult`). Safety checks on the retention are the caller's (maintenance) job."""

    @abstractmethod
    def delete(self, table: str, predicate: str) -> WriteResult:
        """DELETE rows matching ``predicate``; metrics rows_deleted, files_removed (no match: no commit)"""

    #: Whether :meth:`cluster_by` is available (Delta liquid clustering).
    supports_liquid_clustering: bool = False

    def cluster_by(self, table: str, columns: Sequence[str]) -> bool:
        """Make ``columns`` the liquid clustering keys of ``table`` (``ALTER TABLE ... CLUSTER BY``);
        True if they changed, False if they already were. Engines without liquid clustering
        (delta-rs) raise StorageError."""
        raise StorageError(f"liquid clustering (CLUSTER BY) is not supported by the {self.engine} engine")

    # --- feature-table metadata --------------------------------------------------------
    def declare_primary_key(
        self, table: str, columns: Sequence[str], timeseries_column: str | None = None
    ) -> None:
        """Declare ``columns`` (in order) as the primary key of ``table``, ``timeseries_column``
        (one of them) as its point-in-time key.

        Every engine records them as the table properties :data:`PRIMARY_KEY_PROPERTY` /
        :data:`TIMESERIES_KEY_PROPERTY` (this default, enough for delta-rs). The spark-delta engine
        also adds the Unity Catalog constraint ``PRIMARY KEY (k, ts TIMESERIES)`` that Databricks
        Feature Engineering reads. Idempotent; the properties are set last, once the rest worked."""
        columns = list(columns)
        if not columns or len(set(columns)) != len(columns):
            raise StorageError(f"primary key columns must be distinct and not empty, got {columns}")
        if timeseries_column is not None and timeseries_column not in columns:
            raise StorageError(f"timeseries column {timeseries_column!r} is not in the primary key {columns}")
        unknown = [c for c in columns if c not in self.schema(table).fieldNames()]
        if unknown:
            raise StorageError(f"primary key columns {unknown} are not columns of {table}")
        properties = {PRIMARY_KEY_PROPERTY: ",".join(columns)}
        if timeseries_column is not None:
            properties[TIMESERIES_KEY_PROPERTY] = timeseries_column
        self.set_properties(table, properties)

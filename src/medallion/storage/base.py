"""The storage adapter interface: every Delta read, write, merge, optimize, vacuum and history
call of the pipeline goes through one :class:`DeltaStorage`.

Two engines implement it:

* :class:`medallion.storage.spark_delta.SparkDeltaStorage` - Spark SQL and ``delta.tables``
  (Databricks, where the runtime ships Delta). Tables are Unity Catalog names.
* :class:`medallion.storage.delta_rs.DeltaRsStorage` - ``deltalake`` (delta-rs), moving data
  between Spark and Delta through Arrow. Tables are local folders.

A *table* argument is whatever :meth:`medallion.config.Config.table` returns for the engine's
environment. DataFrames in and out are Spark DataFrames in both engines. Predicates (``where``)
are SQL boolean expressions over column names, literals, comparison operators, ``AND``/``OR``/
``NOT``, ``IN (...)`` and ``DATE '...'``/``TIMESTAMP '...'`` literals - the common subset of
Spark SQL and DataFusion SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructField, StructType


class StorageError(RuntimeError):
    """A Delta operation failed or was asked for something invalid."""


class TableNotFoundError(StorageError):
    """The table does not exist."""


@dataclass(frozen=True)
class Txn:
    """Idempotency key of a commit: Delta's ``txn`` action (app id, monotonically rising version).

    A write carrying a Txn whose version is <= the version already committed for that app id
    is skipped (returns ``committed=False``) - that is what makes retries exactly-once.
    """

    app_id: str
    version: int

    def __post_init__(self) -> None:
        if not self.app_id:
            raise StorageError("Txn.app_id must not be empty")
        if self.version < 0:
            raise StorageError("Txn.version must be >= 0")


@dataclass(frozen=True)
class WriteResult:
    committed: bool  # False when skipped because the Txn was already committed
    version: int | None  # table version after the operation (None if unknown)
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileInfo:
    path: str
    size_bytes: int
    num_records: int | None = None
    min_values: Mapping[str, Any] = field(default_factory=dict)
    max_values: Mapping[str, Any] = field(default_factory=dict)
    partition_values: Mapping[str, Any] = field(default_factory=dict)


#: Table properties that declare a feature table's keys on every engine (see declare_primary_key).
PRIMARY_KEY_PROPERTY = "medallion.primary_key"  # comma-separated key columns, timeseries key included
TIMESERIES_KEY_PROPERTY = "medallion.timeseries_key"


class DeltaStorage(ABC):
    """One interface for every Delta operation the pipeline needs."""

    engine: str = "abstract"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

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
    ) -> bool:
        """Create an empty table; return True if created, False if it already existed."""

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
    def files(self, table: str) -> list[FileInfo]:
        """Data files of the current version with their Delta statistics."""

    # --- reads -------------------------------------------------------------------------
    @abstractmethod
    def read(self, table: str, where: str | None = None, version: int | None = None) -> DataFrame:
        """The table (or a filtered part of it, optionally at a past version) as a DataFrame."""

    @abstractmethod
    def read_changes(self, table: str, start_version: int, end_version: int | None = None) -> DataFrame:
        """Rows inserted by commits start_version..end_version (inclusive) through the change data
        feed (table property delta.enableChangeDataFeed=true). Columns: the table's columns plus
        _change_type, _commit_version, _commit_timestamp. Only ``insert`` changes are returned."""

    # --- idempotency -------------------------------------------------------------------
    @abstractmethod
    def committed_version(self, table: str, app_id: str) -> int | None:
        """The last Txn version committed to ``table`` for ``app_id`` (None if never)."""

    # --- writes ------------------------------------------------------------------------
    @abstractmethod
    def append(
        self, df: DataFrame, table: str, partition_by: Sequence[str] = (), txn: Txn | None = None
    ) -> WriteResult: ...

    @abstractmethod
    def replace_where(self, df: DataFrame, table: str, predicate: str, txn: Txn | None = None) -> WriteResult:
        """Atomically replace the rows matching ``predicate`` with ``df`` (Delta replaceWhere).
        Every row of ``df`` must match the predicate."""

    @abstractmethod
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
        e.g. ``t.event_date IN (DATE '2024-01-01')``. metrics holds num_inserted / num_updated."""

    # --- maintenance -------------------------------------------------------------------
    @abstractmethod
    def optimize(self, table: str, zorder_by: Sequence[str] = (), where: str | None = None) -> dict[str, Any]:
        """Compact small files (Z-order when columns are given). Returns metrics incl.
        files_added / files_removed."""

    @abstractmethod
    def vacuum(self, table: str, retention_hours: int, dry_run: bool = False) -> list[str]:
        """Delete unreferenced files older than the retention; returns the files (to be) deleted.
        Safety checks on the retention are the caller's (maintenance) job."""

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

"""The storage adapter's vocabulary: its errors, the values its methods take and return, and the
table properties that declare a feature table's keys - what the interface (:mod:`.interface`), both
engines and the callers of the adapter share.

Every engine failure surfaces as :class:`StorageError`: :class:`TableNotFoundError` when the table is
missing, :class:`ConcurrentWriteError` when another writer committed first,
:class:`CorruptTableLogError` when the table's Delta log cannot be read (:mod:`.engine_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class StorageError(RuntimeError):
    """A Delta operation failed or was asked for something invalid."""


class TableNotFoundError(StorageError):
    """The table does not exist."""


#: Where docs/runbook.md says how to recover a table whose Delta log is unreadable.
RUNBOOK_CORRUPT_LOG = 'docs/runbook.md, "Recover a table whose Delta log is corrupt"'


class ConcurrentWriteError(StorageError):
    """Another writer committed to the table between this write's read and its commit, and Delta
    refused this commit (a concurrent-commit conflict). Nothing of this write was committed."""

    def __init__(self, action: str, table: str, detail: str = "") -> None:
        self.action, self.table, self.detail = action, table, detail
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"{action} on {table} was not committed: another writer committed to the table first{why}. "
            "Nothing of this run's write was committed; rerun the job (every medallion job is "
            "idempotent and continues where it stopped)."
        )


class CorruptTableLogError(StorageError):
    """The table's Delta log (``_delta_log``) cannot be read: a commit file is corrupt or truncated."""

    def __init__(self, action: str, table: str, detail: str = "", log_file: str | None = None) -> None:
        self.action, self.table, self.detail, self.log_file = action, table, detail, log_file
        where = f" (file {log_file})" if log_file else ""
        why = f": {detail}" if detail else ""
        super().__init__(
            f"the Delta log of table {table} is unreadable: a commit file in its _delta_log is corrupt or "
            f"truncated{where}{why}. The table cannot be read or written until it is recovered: see "
            f"{RUNBOOK_CORRUPT_LOG}."
        )


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


#: The most files :meth:`DeltaStorage.vacuum` lists: Databricks' ``VACUUM ... DRY RUN`` returns at most
#: 1,000, so every engine lists at most this many (the count of a real VACUUM is Delta's own, exact).
VACUUM_LISTING_LIMIT = 1000


@dataclass(frozen=True)
class VacuumResult:
    """What one VACUUM deleted (a dry run: would delete).

    files: data files (plain local paths, or URIs), sorted, distinct, never a directory; at most the
      listing limit of the call.
    files_deleted: a real VACUUM: the data files it deleted, as the engine counted them (Delta's
      ``VACUUM END`` metrics on spark-delta, the list delta-rs returns). A dry run: the files its
      listing found - only a lower bound when ``listing_complete`` is False.
    listing_complete: ``files`` names every file counted. False when the listing reached the limit
      (on Databricks there may be more than the 1,000 files it lists) or the count differs from it.
    """

    files: tuple[str, ...] = ()
    files_deleted: int = 0
    listing_complete: bool = True

    @classmethod
    def from_listing(
        cls, found: Iterable[str], limit: int, *, entries: int | None = None, deleted: int | None = None
    ) -> VacuumResult:
        """The result for the data files ``found`` by an engine's listing of ``entries`` paths
        (directories included; default: as many as ``found``) - a listing of ``limit`` entries or
        more may have been cut. ``deleted``: a real VACUUM's own count (default: the files found)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise StorageError(f"the VACUUM listing limit must be a positive integer, got {limit!r}")
        files = sorted(set(found))
        count = len(files) if deleted is None else deleted
        listed = len(files) if entries is None else entries
        return cls(tuple(files[:limit]), count, listed < limit and count == len(files))


#: Table properties that declare a feature table's keys on every engine (see declare_primary_key).
PRIMARY_KEY_PROPERTY = "medallion.primary_key"  # comma-separated key columns, timeseries key included
TIMESERIES_KEY_PROPERTY = "medallion.timeseries_key"

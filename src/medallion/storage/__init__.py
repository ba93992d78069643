"""Storage adapter: the single owner of every Delta operation (see :mod:`.interface`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.storage.base import (
    ConcurrentWriteError,
    CorruptTableLogError,
    FileInfo,
    StorageError,
    TableNotFoundError,
    Txn,
    WriteResult,
)
from medallion.storage.interface import DeltaStorage
from medallion.storage.rows import Rows

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.config import Config

__all__ = [
    "ConcurrentWriteError",
    "CorruptTableLogError",
    "DeltaStorage",
    "FileInfo",
    "Rows",
    "StorageError",
    "TableNotFoundError",
    "Txn",
    "WriteResult",
    "get_storage",
]


def get_storage(spark: SparkSession, config: Config) -> DeltaStorage:
    """The engine for this config: spark-delta on Databricks, delta-rs locally (overridable)."""
    engine = config.resolved_engine
    if engine == "spark-delta":
        from medallion.storage.spark_delta import SparkDeltaStorage

        return SparkDeltaStorage(spark)
    if engine == "delta-rs":
        from medallion.storage.delta_rs import DeltaRsStorage

        return DeltaRsStorage(spark)
    raise StorageError(f"unknown storage engine {engine!r}")

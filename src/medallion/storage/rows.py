"""Driver-side rows: the small records the jobs write about themselves (ops tables: runs, progress,
ledgers, results), built in Python and written by the storage adapter without a Spark job where the
engine can (delta-rs writes them as Arrow straight from the driver; spark-delta makes a
DataFrame of them, as it must)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


@dataclass(frozen=True)
class Rows:
    """Rows with a Spark schema; each record holds one value per column, in schema order.
    ``storage.append`` takes them wherever it takes a DataFrame."""

    schema: StructType
    records: Sequence[tuple[Any, ...]]

    def to_spark(self, spark: SparkSession) -> DataFrame:
        return spark.createDataFrame(list(self.records), self.schema)

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        from medallion.storage.arrow import spark_schema_to_arrow

        target = spark_schema_to_arrow(self.schema)
        columns = list(zip(*self.records, strict=True)) if self.records else [()] * len(target)
        return pa.Table.from_arrays(
            [pa.array(list(values), type=field.type) for values, field in zip(columns, target, strict=True)],
            schema=target,
        )

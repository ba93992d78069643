"""The ops tables' schemas and the dataclasses their rows are built from.

Each row type is a dataclass whose fields are the table's columns, in order; :func:`ops_row` checks
that when the module is imported, and :func:`rows_frame` builds a DataFrame by column *name*, so a
row can never land in the wrong column. The registry (:mod:`medallion.tables.registry`) declares
where each table lives and how it is maintained.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

T = TypeVar("T")


def ops_row(schema: StructType):
    """Class decorator: the dataclass's fields must be ``schema``'s columns, in order."""

    def wrap(cls: type[T]) -> type[T]:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if names != schema.fieldNames():
            raise TypeError(f"{cls.__name__} fields {names} are not the columns {schema.fieldNames()}")
        cls.SCHEMA = schema  # type: ignore[attr-defined]
        return cls

    return wrap


def rows_frame(spark: SparkSession, schema: StructType, rows: Iterable[Any]) -> DataFrame:
    """A DataFrame of ``rows`` (ops-row dataclasses or mappings), each value put in its column by name."""
    data = []
    for row in rows:
        values: Mapping[str, Any] = row if isinstance(row, Mapping) else dataclasses.asdict(row)
        missing = [name for name in schema.fieldNames() if name not in values]
        if missing:
            raise ValueError(f"row {type(row).__name__} lacks columns {missing}")
        data.append(tuple(values[name] for name in schema.fieldNames()))
    return spark.createDataFrame(data, schema)


# --- ops.runs: one row per job run, every layer -------------------------------------------------
RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("layer", StringType(), False),  # bronze | silver | gold | maintenance | quality
        StructField("tables", ArrayType(StringType(), False), False),  # <layer>.<table> written/kept
        StructField("input_range", StringType(), True),  # e.g. bronze versions 3..7, or landing files
        StructField("rows_in", LongType(), False),
        StructField("rows_out", LongType(), False),
        StructField("rows_quarantined", LongType(), False),
        StructField("rows_duplicates", LongType(), False),
        StructField("quality_score", DoubleType(), True),  # lowest gate score of the run; null: none
        StructField("started_time", TimestampType(), False),
        StructField("duration_s", DoubleType(), False),
        StructField("status", StringType(), False),  # succeeded | failed
        StructField("error", StringType(), True),  # first line of the failure
        StructField("mlflow_run_id", StringType(), True),
    ]
)


@ops_row(RUNS_SCHEMA)
@dataclasses.dataclass
class RunRow:
    run_id: str
    layer: str
    tables: list[str]
    input_range: str | None
    rows_in: int
    rows_out: int
    rows_quarantined: int
    rows_duplicates: int
    quality_score: float | None
    started_time: dt.datetime
    duration_s: float
    status: str
    error: str | None
    mlflow_run_id: str | None


# --- ops.progress: where each incremental consumer resumes (medallion.progress) -----------------
PROGRESS_SCHEMA = StructType(
    [
        StructField("consumer", StringType(), False),
        StructField("target_id", StringType(), False),  # Delta table id of the consumer's target
        StructField("status", StringType(), False),
        StructField("start_version", LongType(), False),
        StructField("end_version", LongType(), False),
        StructField("run_id", StringType(), False),
        StructField("recorded_time", TimestampType(), False),
    ]
)


@ops_row(PROGRESS_SCHEMA)
@dataclasses.dataclass(frozen=True)
class ProgressRow:
    consumer: str
    target_id: str
    status: str
    start_version: int
    end_version: int
    run_id: str
    recorded_time: dt.datetime


# --- bronze's landing-file ledgers ---------------------------------------------------------------
# Every landing file bronze ingested: the per-file conservation record (``lines`` = its bronze rows)
# and what a later run compares the landing folder with (a file changed after ingestion is reported,
# a file already recorded is never ingested again, even under a new streaming checkpoint).
LANDING_FILES_SCHEMA = StructType(
    [
        StructField("file_path", StringType(), nullable=False),
        StructField("file_size", LongType(), nullable=False),
        StructField("file_modification_time", TimestampType(), nullable=True),
        StructField("lines", LongType(), nullable=False),
        StructField("ingestion_batch_id", LongType(), nullable=False),
        StructField("stream_app_id", StringType(), nullable=False),
        StructField("ingestion_time", TimestampType(), nullable=False),
    ]
)


@ops_row(LANDING_FILES_SCHEMA)
@dataclasses.dataclass(frozen=True)
class LandingFileRow:
    file_path: str
    file_size: int
    file_modification_time: dt.datetime | None
    lines: int
    ingestion_batch_id: int
    stream_app_id: str
    ingestion_time: dt.datetime


# Landing files bronze could not ingest, with the reason: ``unreadable`` (corrupt or truncated
# compression; nothing of the file was ingested) or ``modified_after_ingestion`` (the file changed
# after bronze ingested it: the change was not ingested).
UNREADABLE = "unreadable"
MODIFIED_AFTER_INGESTION = "modified_after_ingestion"
BAD_FILES_SCHEMA = StructType(
    [
        StructField("file_path", StringType(), nullable=False),
        StructField("file_size", LongType(), nullable=False),
        StructField("file_modification_time", TimestampType(), nullable=True),
        StructField("problem", StringType(), nullable=False),  # unreadable | modified_after_ingestion
        StructField("error", StringType(), nullable=False),
        StructField("ingestion_batch_id", LongType(), nullable=True),  # the batch that read it, if any
        StructField("stream_app_id", StringType(), nullable=True),
        StructField("detected_time", TimestampType(), nullable=False),
    ]
)


@ops_row(BAD_FILES_SCHEMA)
@dataclasses.dataclass(frozen=True)
class BadFileRow:
    file_path: str
    file_size: int
    file_modification_time: dt.datetime | None
    problem: str
    error: str
    ingestion_batch_id: int | None
    stream_app_id: str | None
    detected_time: dt.datetime


# --- ops.silver_runs: silver's per-run detail -------------------------------------------------
SILVER_RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("recorded_time", TimestampType(), False),
        StructField("bronze_start_version", LongType(), False),
        StructField("bronze_end_version", LongType(), False),
        StructField("contract_version", IntegerType(), False),
        StructField("rows_read", LongType(), False),
        StructField("rows_inserted", LongType(), False),
        StructField("rows_quarantined", LongType(), False),
        StructField("duplicates_in_batch", LongType(), False),
        StructField("duplicates_existing", LongType(), False),
        StructField("duplicates_dropped", LongType(), False),
        StructField("event_dates", ArrayType(DateType(), False), False),
        StructField("quarantine_reasons", StringType(), False),  # JSON {reason: count}
    ]
)


@ops_row(SILVER_RUNS_SCHEMA)
@dataclasses.dataclass(frozen=True)
class SilverRunRow:
    run_id: str
    recorded_time: dt.datetime
    bronze_start_version: int
    bronze_end_version: int
    contract_version: int
    rows_read: int
    rows_inserted: int
    rows_quarantined: int
    duplicates_in_batch: int
    duplicates_existing: int
    duplicates_dropped: int
    event_dates: list[dt.date]
    quarantine_reasons: str


# --- ops.quality_results: one row per quality check (medallion.quality.results) -----------------
QUALITY_RESULTS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),  # the job run that ran the check
        StructField("checked_at", TimestampType(), False),  # UTC
        StructField("layer", StringType(), False),  # bronze | silver | gold
        StructField("table_name", StringType(), False),  # logical <layer>.<table>
        StructField("table_location", StringType(), True),  # folder locally, UC name on Databricks
        StructField("suite", StringType(), False),  # suite name(s) validated, comma separated
        StructField("mode", StringType(), False),  # enforce | warn | off
        StructField("status", StringType(), False),  # passed | failed | skipped
        StructField("success", BooleanType(), True),  # null when skipped
        StructField("evaluated_expectations", LongType(), False),
        StructField("successful_expectations", LongType(), False),
        StructField("failed_expectations", LongType(), False),
        StructField("quality_score", DoubleType(), True),  # successful / evaluated; null when skipped
        StructField("alert", BooleanType(), False),  # quality_score < min_quality_score
        StructField("failed_expectation_names", ArrayType(StringType(), False), False),
        # expectation name -> % of rows (of its domain) that broke it; row-level expectations only
        StructField("unexpected_percent", MapType(StringType(), DoubleType(), False), False),
        StructField("details", StringType(), False),  # JSON: every expectation + batch metrics
        StructField("duration_ms", LongType(), False),
        StructField("mlflow_run_id", StringType(), True),
    ]
)


@ops_row(QUALITY_RESULTS_SCHEMA)
@dataclasses.dataclass(frozen=True)
class QualityResultRow:
    run_id: str
    checked_at: dt.datetime
    layer: str
    table_name: str
    table_location: str | None
    suite: str
    mode: str
    status: str
    success: bool | None
    evaluated_expectations: int
    successful_expectations: int
    failed_expectations: int
    quality_score: float | None
    alert: bool
    failed_expectation_names: list[str]
    unexpected_percent: dict[str, float]
    details: str
    duration_ms: int
    mlflow_run_id: str | None


# --- ops.maintenance_runs: one row per maintained table per maintenance run -----------------------
MAINTENANCE_RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("started_at", TimestampType(), False),  # UTC, when this table's maintenance began
        StructField("layer", StringType(), False),
        StructField("table_name", StringType(), False),  # logical <layer>.<table>
        StructField("table_location", StringType(), False),  # folder locally, UC name on Databricks
        StructField("engine", StringType(), False),  # delta-rs | spark-delta
        StructField("outcome", StringType(), False),  # succeeded | failed | skipped: missing
        StructField("error", StringType(), True),
        StructField("zorder_by", ArrayType(StringType(), False), False),
        StructField("liquid_clustering", BooleanType(), False),
        StructField("retention_hours", IntegerType(), True),  # null: the policy does not VACUUM
        StructField("unsafe_retention", BooleanType(), False),  # below 168 h with the override
        StructField("files_before", LongType(), True),  # data files of the current version
        StructField("bytes_before", LongType(), True),
        StructField("files_after", LongType(), True),
        StructField("bytes_after", LongType(), True),
        StructField("partitions_optimized", LongType(), False),
        StructField("files_compacted", LongType(), False),  # files removed (rewritten) by OPTIMIZE
        StructField("files_written", LongType(), False),  # files added by OPTIMIZE
        StructField("vacuum_files_deleted", LongType(), False),
        StructField("properties_set", StringType(), False),  # JSON of the properties changed
        StructField("version_before", LongType(), True),
        StructField("version_after", LongType(), True),
        StructField("duration_ms", LongType(), False),
        # JSON list of the metadata statements not run on a streamed table (null: none); added to
        # existing report tables by write_report
        StructField("metadata_deferred", StringType(), True),
    ]
)


@ops_row(MAINTENANCE_RUNS_SCHEMA)
@dataclasses.dataclass(frozen=True)
class MaintenanceRunRow:
    run_id: str
    started_at: dt.datetime
    layer: str
    table_name: str
    table_location: str
    engine: str
    outcome: str
    error: str | None
    zorder_by: list[str]
    liquid_clustering: bool
    retention_hours: int | None
    unsafe_retention: bool
    files_before: int | None
    bytes_before: int | None
    files_after: int | None
    bytes_after: int | None
    partitions_optimized: int
    files_compacted: int
    files_written: int
    vacuum_files_deleted: int
    properties_set: str
    version_before: int | None
    version_after: int | None
    duration_ms: int
    metadata_deferred: str | None

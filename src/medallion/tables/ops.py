"""The ops tables' rows, and their schemas derived from them.

Each ops table is declared once, as a dataclass whose fields are its columns in order: the Spark
schema (``Row.SCHEMA``) is derived from the field types (``str`` string, ``int`` bigint, ``float``
double, ``bool`` boolean, ``datetime`` timestamp, ``date`` date, ``list[...]`` array, ``dict[...]``
map; ``X | None`` nullable; ``metadata={"spark": IntegerType()}`` where the stored type is
narrower). :func:`ops_rows` builds the rows to write by column *name*, so a value can never land in the
wrong column. The registry (:mod:`medallion.tables.registry`) declares where each table lives and
how it is maintained.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
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

from medallion.storage.rows import Rows

T = TypeVar("T")

_SPARK_TYPES: dict[Any, DataType] = {
    str: StringType(),
    int: LongType(),
    float: DoubleType(),
    bool: BooleanType(),
    dt.datetime: TimestampType(),
    dt.date: DateType(),
}
_INT = {"spark": IntegerType()}  # a column stored as int (4 bytes), not bigint


def _spark_type(tp: Any) -> DataType:
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return ArrayType(_spark_type(item), containsNull=False)
    if origin is dict:
        key, value = typing.get_args(tp)
        return MapType(_spark_type(key), _spark_type(value), valueContainsNull=False)
    return _SPARK_TYPES[tp]


def ops_table(cls: type[T]) -> type[T]:
    """Class decorator of an ops-row dataclass: derive its table's schema, ``cls.SCHEMA``."""
    hints = typing.get_type_hints(cls)
    columns = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp, args = hints[f.name], typing.get_args(hints[f.name])
        nullable = type(None) in args
        if nullable:
            (tp,) = [a for a in args if a is not type(None)]
        columns.append(StructField(f.name, f.metadata.get("spark") or _spark_type(tp), nullable))
    cls.SCHEMA = StructType(columns)  # type: ignore[attr-defined]
    return cls


def ops_rows(schema: StructType, rows: Iterable[Any]) -> Rows:
    """``rows`` (ops-row dataclasses) as driver-side :class:`~medallion.storage.Rows` for
    ``storage.append``, each value put in its column by name."""
    return Rows(schema, [tuple(getattr(row, name) for name in schema.fieldNames()) for row in rows])


@ops_table
@dataclass
class RunRow:
    """``ops.runs``: one row per job run, every layer."""

    run_id: str
    layer: str  # bronze | silver | gold | maintenance
    tables: list[str]  # <layer>.<table> written (or maintained)
    input_range: str | None  # e.g. bronze versions 3..7, or files source: 4 new files
    rows_in: int
    rows_out: int
    rows_quarantined: int
    rows_duplicates: int
    quality_score: float | None  # lowest gate score of the run; null: no gate ran
    started_time: dt.datetime
    duration_s: float
    status: str  # succeeded | failed
    error: str | None  # first line of the failure
    mlflow_run_id: str | None


@ops_table
@dataclass(frozen=True)
class ProgressRow:
    """``ops.progress``: where each incremental consumer resumes (:mod:`medallion.progress`)."""

    consumer: str
    target_id: str  # Delta table id of the consumer's target
    status: str  # started | committed
    start_version: int
    end_version: int
    run_id: str
    recorded_time: dt.datetime


@ops_table
@dataclass(frozen=True)
class LandingFileRow:
    """``ops.landing_files``: every landing file bronze ingested - the per-file conservation record
    (``lines`` = its bronze rows) and what a later run compares the landing folder with (a file
    changed after ingestion is reported, a file already recorded is never ingested again, even under
    a new streaming checkpoint)."""

    file_path: str
    file_size: int
    file_modification_time: dt.datetime | None
    lines: int
    ingestion_batch_id: int
    stream_app_id: str
    ingestion_time: dt.datetime


#: ``ops.bad_files`` problems: nothing of the file was ingested (corrupt or truncated compression),
#: or the file changed after bronze ingested it (the change was not ingested).
UNREADABLE = "unreadable"
MODIFIED_AFTER_INGESTION = "modified_after_ingestion"


@ops_table
@dataclass(frozen=True)
class BadFileRow:
    """``ops.bad_files``: landing files bronze could not ingest, with the reason."""

    file_path: str
    file_size: int
    file_modification_time: dt.datetime | None
    problem: str  # unreadable | modified_after_ingestion
    error: str
    ingestion_batch_id: int | None  # the batch that read it, if any
    stream_app_id: str | None
    detected_time: dt.datetime


@ops_table
@dataclass(frozen=True)
class SilverRunRow:
    """``ops.silver_runs``: silver's per-run detail."""

    run_id: str
    recorded_time: dt.datetime
    bronze_start_version: int
    bronze_end_version: int
    contract_version: int = field(metadata=_INT)
    rows_read: int = 0
    rows_inserted: int = 0
    rows_quarantined: int = 0
    duplicates_in_batch: int = 0
    duplicates_existing: int = 0
    duplicates_dropped: int = 0
    event_dates: list[dt.date] = field(default_factory=list)
    quarantine_reasons: str = "{}"  # JSON {reason: count}


@ops_table
@dataclass(frozen=True)
class QualityResultRow:
    """``ops.quality_results``: one row per quality check (:mod:`medallion.quality.results`)."""

    run_id: str  # the job run that ran the check
    checked_at: dt.datetime  # UTC
    layer: str  # bronze | silver | gold
    table_name: str  # logical <layer>.<table>
    table_location: str | None  # folder locally, UC name on Databricks
    suite: str  # suite name(s) validated, comma separated
    mode: str  # enforce | warn | off
    status: str  # passed | failed | skipped
    success: bool | None  # null when skipped
    evaluated_expectations: int
    successful_expectations: int
    failed_expectations: int
    quality_score: float | None  # successful / evaluated; null when skipped
    alert: bool  # quality_score < min_quality_score
    failed_expectation_names: list[str]
    # expectation name -> % of rows (of its domain) that broke it; row-level expectations only
    unexpected_percent: dict[str, float]
    details: str  # JSON: every expectation + batch metrics
    duration_ms: int
    mlflow_run_id: str | None


@ops_table
@dataclass(frozen=True)
class MaintenanceRunRow:
    """``ops.maintenance_runs``: one row per maintained table per maintenance run."""

    run_id: str
    started_at: dt.datetime  # UTC, when this table's maintenance began
    layer: str
    table_name: str  # logical <layer>.<table>
    table_location: str  # folder locally, UC name on Databricks
    engine: str  # delta-rs | spark-delta
    outcome: str  # succeeded | failed | skipped: missing
    error: str | None
    zorder_by: list[str]
    liquid_clustering: bool
    retention_hours: int | None = field(metadata=_INT)  # null: the policy does not VACUUM
    unsafe_retention: bool = False  # below 168 h with the override
    files_before: int | None = None  # data files of the current version
    bytes_before: int | None = None
    files_after: int | None = None
    bytes_after: int | None = None
    partitions_optimized: int = 0
    files_compacted: int = 0  # files removed (rewritten) by OPTIMIZE
    files_written: int = 0  # files added by OPTIMIZE
    vacuum_files_deleted: int = 0
    properties_set: str = "{}"  # JSON of the properties changed
    version_before: int | None = None
    version_after: int | None = None
    duration_ms: int = 0
    # JSON list of the metadata statements not run on a streamed table (null: none); added to
    # existing report tables by write_report
    metadata_deferred: str | None = None
    # bronze retention (null on the other tables, and when retention is off); added like metadata_deferred
    data_retention_days: int | None = None  # --bronze-retention-days
    partitions_deleted: int | None = None  # partitions past the retention deleted by this run
    rows_deleted: int | None = None  # their rows (Delta's count of the DELETE)
    partitions_kept_unprocessed: int | None = None  # past the retention, kept: silver has not read them


RUNS_SCHEMA: StructType = RunRow.SCHEMA  # type: ignore[attr-defined]
PROGRESS_SCHEMA: StructType = ProgressRow.SCHEMA  # type: ignore[attr-defined]
LANDING_FILES_SCHEMA: StructType = LandingFileRow.SCHEMA  # type: ignore[attr-defined]
BAD_FILES_SCHEMA: StructType = BadFileRow.SCHEMA  # type: ignore[attr-defined]
SILVER_RUNS_SCHEMA: StructType = SilverRunRow.SCHEMA  # type: ignore[attr-defined]
QUALITY_RESULTS_SCHEMA: StructType = QualityResultRow.SCHEMA  # type: ignore[attr-defined]
MAINTENANCE_RUNS_SCHEMA: StructType = MaintenanceRunRow.SCHEMA  # type: ignore[attr-defined]

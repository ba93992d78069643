"""Silver job: new bronze rows -> validated, typed, deduplicated ``silver.events`` (insert-only
MERGE) plus ``silver.events_quarantine``, exactly once, with a run-metrics row per run.

Incremental and exactly-once
----------------------------
Progress is the last bronze version processed, kept in ``ops.progress``
(:class:`medallion.progress.ProgressLog`, consumer :data:`APP_ID`) - data committed by the job
itself, so it survives Delta log cleanup and costs the same to read at any table age. A run reads
the bronze change data feed for versions ``(last, end]`` and writes, in this order:

1. a ``started`` progress row for ``(last, end]``,
2. the run-metrics row (``ops.silver_runs``), 3. the quarantined rows
   (``silver.events_quarantine``), 4. the MERGE into ``silver.events`` - each carrying
   ``Txn(APP_ID, end)``, so Delta itself skips a write it has already committed,
5. a ``committed`` progress row.

A crash anywhere before (5) leaves a ``started`` row without its ``committed`` row; the next run
re-processes exactly that range (not a larger one), its earlier writes are recognised by their Txn
and skipped, and the run completes. Nothing is lost or doubled.

Deduplication
-------------
On ``event_id``: first within the new rows (first delivered wins: earliest enqueued time, then
partition and offset), then against silver with an insert-only MERGE whose target is pruned to
the partitions of the batch's event dates, widened by ``dedup_lookback_days`` either side. A
re-delivered copy carries the same body and so the same timestamp and date; a copy whose
timestamp moved by up to ``dedup_lookback_days`` days is still found. A copy whose date differs
by more is outside the pruned target: that is the price of a MERGE whose cost follows the new
data instead of the table (see README, "Deduplication").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.bronze.schema import BRONZE_TABLE
from medallion.contract import EventContract, assert_compatible, load_contract
from medallion.errors import JobFailedError
from medallion.progress import PROGRESS_TABLE, ProgressLog
from medallion.silver.schema import (
    EVENTS_PARTITION,
    EVENTS_PROPERTIES,
    EVENTS_TABLE,
    QUARANTINE_PARTITION,
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    events_schema,
)
from medallion.silver.transforms import (
    date_in_predicate,
    dedup_window_dates,
    deduplicate,
    to_events,
    to_quarantine,
    validate,
)
from medallion.storage import DeltaStorage, Txn

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config

log = logging.getLogger(__name__)

APP_ID = "medallion.silver.events<-bronze.events"
RUNS_TABLE = ("ops", "silver_runs")
CONTRACT_VERSION_PROPERTY = "medallion.contract.version"
CONTRACT_PROPERTY = "medallion.contract"

RUNS_SCHEMA = StructType(
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

# A gate validates a candidate DataFrame before it is published; it raises to stop the run.
Gate = Callable[[str, "DataFrame", dict[str, Any]], None]


@dataclass
class SilverResult:
    run_id: str
    bronze_start_version: int | None = None
    bronze_end_version: int | None = None
    rows_read: int = 0
    rows_inserted: int = 0
    rows_quarantined: int = 0
    duplicates_in_batch: int = 0
    duplicates_existing: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    event_dates: list[dt.date] = field(default_factory=list)
    resumed: bool = False
    # the range's MERGE was committed before this run wrote it (by a concurrent run on the same
    # tables, or by an earlier attempt): this run committed nothing, and reports so
    already_committed: bool = False
    seconds: float = 0.0

    @property
    def duplicates_dropped(self) -> int:
        return self.duplicates_in_batch + self.duplicates_existing

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.rows_inserted + self.rows_quarantined + self.duplicates_dropped

    def summary(self) -> str:
        if self.bronze_end_version is None:
            return f"silver: nothing new in bronze ({self.seconds:.1f} s)"
        if self.already_committed:
            by = "the interrupted run this one finished" if self.resumed else "another run"
            return (
                f"silver: bronze versions {self.bronze_start_version}..{self.bronze_end_version} were "
                f"already merged into silver by {by}: this run inserted nothing ({self.seconds:.1f} s)"
            )
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.quarantine_reasons.items())) or "none"
        return (
            f"silver: bronze versions {self.bronze_start_version}..{self.bronze_end_version}"
            f"{' (resumed)' if self.resumed else ''}: {self.rows_read} read = {self.rows_inserted} inserted"
            f" + {self.rows_quarantined} quarantined + {self.duplicates_dropped} duplicates dropped"
            f" ({self.duplicates_in_batch} within the batch, {self.duplicates_existing} already in silver);"
            f" quarantine reasons: {reasons}; {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["duplicates_dropped"] = self.duplicates_dropped
        out["event_dates"] = [d.isoformat() for d in self.event_dates]
        return out


class ContractChangeError(JobFailedError):
    """The configured contract cannot replace the one silver was built with."""


def prepare_tables(storage: DeltaStorage, config: Config, contract: EventContract) -> None:
    """Create the silver tables, or evolve silver.events to ``contract``. The compatibility check
    runs before anything is written: a breaking change raises :class:`ContractChangeError`."""
    events = config.table(*EVENTS_TABLE)
    if storage.exists(events):
        props = storage.properties(events)
        if CONTRACT_PROPERTY in props:
            stored = EventContract.from_dict(json.loads(props[CONTRACT_PROPERTY]))
            try:
                assert_compatible(stored, contract, "backward")
            except ValueError as exc:
                raise ContractChangeError(
                    f"contract v{contract.version} is not backward compatible with v{stored.version}, which "
                    f"{events} was built with; nothing was written. {exc}"
                ) from None
        have = {f.name for f in storage.schema(events).fields}
        missing = [f for f in events_schema(contract).fields if f.name not in have]
        if missing:
            log.warning(
                "silver.events: adding columns %s for contract v%s",
                [f.name for f in missing],
                contract.version,
            )
            storage.add_columns(events, missing)
    else:
        storage.create_if_missing(events, events_schema(contract), EVENTS_PARTITION, EVENTS_PROPERTIES)
    wanted = {
        CONTRACT_VERSION_PROPERTY: str(contract.version),
        CONTRACT_PROPERTY: json.dumps(contract.json_schema(), sort_keys=True),
    }
    current = storage.properties(events)
    if any(current.get(k) != v for k, v in wanted.items()):  # no empty commit when nothing changed
        storage.set_properties(events, wanted)
    storage.create_if_missing(config.table(*QUARANTINE_TABLE), QUARANTINE_SCHEMA, QUARANTINE_PARTITION)
    storage.create_if_missing(config.table(*RUNS_TABLE), RUNS_SCHEMA)


def dedup_target(event_dates: list[dt.date], lookback_days: int, alias: str | None = None) -> str:
    """The predicate that prunes silver.events to the partitions a batch can have copies in."""
    column = f"{alias}.event_date" if alias else "event_date"
    return date_in_predicate(column, dedup_window_dates(event_dates, lookback_days))


def _pending_range(
    progress: ProgressLog, storage: DeltaStorage, config: Config
) -> tuple[int, int, bool] | None:
    """(start, end, resumed) of the bronze versions to process, or None when up to date."""
    state = progress.state(APP_ID, storage.table_id(config.table(*EVENTS_TABLE)))
    if state.pending is not None:  # a previous run wrote part of its output and stopped: finish it
        return state.pending[0], state.pending[1], True
    last = -1 if state.committed is None else state.committed
    current = storage.version(config.table(*BRONZE_TABLE))
    if current is None or current <= last:
        return None
    return last + 1, current, False


def read_bronze(storage: DeltaStorage, bronze: str, start: int, end: int) -> DataFrame:
    """Bronze rows of versions start..end with ``bronze_version``.

    From the change data feed, except on a first run (start 0: a new silver, or a replay into an
    emptied one): then the bronze snapshot at ``end`` is read instead, because after OPTIMIZE and
    VACUUM the files of bronze's early versions no longer exist while the snapshot is complete.
    Those rows get ``bronze_version = end`` (the version they were read at).
    """
    if start == 0:
        return storage.read(bronze, version=end).withColumn("bronze_version", F.lit(end).cast(LongType()))
    changes = storage.read_changes(bronze, start, end)
    return changes.where(F.col("_change_type") == "insert").withColumn(
        "bronze_version", F.col("_commit_version").cast(LongType())
    )


def run(
    config: Config,
    spark: SparkSession,
    storage: DeltaStorage,
    contract: EventContract | None = None,
    gate: Gate | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> SilverResult:
    started = time.monotonic()
    clock = now or (lambda: dt.datetime.now(dt.timezone.utc))
    contract = contract or load_contract(config.contract_version or None)
    result = SilverResult(run_id=uuid.uuid4().hex)
    bronze = config.table(*BRONZE_TABLE)
    if not storage.exists(bronze):
        raise JobFailedError(f"bronze table {bronze} does not exist: run the bronze job first")
    storage.version(bronze)  # reads bronze's log: a broken one fails here, before anything is created
    prepare_tables(storage, config, contract)
    progress = ProgressLog(storage, config.table(*PROGRESS_TABLE))
    progress.ensure()

    pending = _pending_range(progress, storage, config)
    if pending is None:
        result.seconds = time.monotonic() - started
        return result
    start, end, result.resumed = pending
    result.bronze_start_version, result.bronze_end_version = start, end
    run_time = clock()

    bronze_rows = read_bronze(storage, bronze, start, end)
    validated = validate(bronze_rows, contract).persist()
    try:
        _process(config, storage, contract, validated, run_time, result, gate, Txn(APP_ID, end), progress)
    finally:
        validated.unpersist()
    result.seconds = time.monotonic() - started
    return result


def _process(
    config: Config,
    storage: DeltaStorage,
    contract: EventContract,
    validated: DataFrame,
    run_time: dt.datetime,
    result: SilverResult,
    gate: Gate | None,
    txn: Txn,
    progress: ProgressLog,
) -> None:
    events_t = config.table(*EVENTS_TABLE)
    start, end = result.bronze_start_version, result.bronze_end_version
    quarantine = to_quarantine(validated, contract, run_time, [f.name for f in QUARANTINE_SCHEMA.fields])
    events = to_events(validated, contract, run_time)
    unique = deduplicate(events).persist()
    try:
        counts = validated.agg(
            F.count(F.lit(1)).alias("read"), F.sum((F.size("reasons") > 0).cast("long")).alias("quarantined")
        ).first()
        result.rows_read = int(counts["read"])
        result.rows_quarantined = int(counts["quarantined"] or 0)
        result.quarantine_reasons = {
            r["reason"]: int(r["n"])
            for r in validated.select(F.explode("reasons").alias("reason"))
            .groupBy("reason")
            .agg(F.count("*").alias("n"))
            .collect()
        }
        result.event_dates = sorted(r["event_date"] for r in unique.select("event_date").distinct().collect())
        unique_count = unique.count()
        result.duplicates_in_batch = result.rows_read - result.rows_quarantined - unique_count

        target = dedup_target(result.event_dates, config.dedup_lookback_days)
        existing = storage.read(events_t, where=target).select("event_id")
        new_rows = unique.join(existing, "event_id", "left_anti")
        result.rows_inserted = new_rows.count()
        result.duplicates_existing = unique_count - result.rows_inserted
        if not result.conserved:  # a bug, never data: refuse to publish
            raise JobFailedError(f"silver conservation violated, nothing written: {result.as_dict()}")

        if gate is not None:
            gate("silver", new_rows, {**result.as_dict(), "table": events_t})

        metrics = _metrics_frame(validated.sparkSession, result, contract, run_time)
        target_id = storage.table_id(events_t)
        progress.start(APP_ID, target_id, start, end, result.run_id)
        storage.append(metrics, config.table(*RUNS_TABLE), txn=txn)
        storage.append(quarantine, config.table(*QUARANTINE_TABLE), QUARANTINE_PARTITION, txn=txn)
        source = unique.select(
            *[
                F.col(f.name) if f.name in unique.columns else F.lit(None).cast(f.dataType).alias(f.name)
                for f in storage.schema(events_t).fields
            ]
        )
        merged = storage.merge(
            source,
            events_t,
            ["event_id"],
            insert_only=True,
            target_filter=dedup_target(result.event_dates, config.dedup_lookback_days, "t"),
            txn=txn,
        )
        inserted = merged.metrics.get("num_inserted")
        if not merged.committed:  # Delta's txn check: this range's MERGE is in silver already
            result.already_committed = True
            result.rows_inserted = 0
        elif inserted is not None and int(inserted) != result.rows_inserted:
            log.error(
                "silver MERGE inserted %s rows, %s expected (a concurrent writer inserted the others)",
                inserted,
                result.rows_inserted,
            )
            result.duplicates_existing += result.rows_inserted - int(inserted)
            result.rows_inserted = int(inserted)  # report what this run committed
        progress.commit(APP_ID, target_id, start, end, result.run_id)
    finally:
        unique.unpersist()


def _metrics_frame(spark: SparkSession, result: SilverResult, contract: EventContract, run_time: dt.datetime):
    row = (
        result.run_id,
        run_time.astimezone(dt.timezone.utc),
        result.bronze_start_version,
        result.bronze_end_version,
        contract.version,
        result.rows_read,
        result.rows_inserted,
        result.rows_quarantined,
        result.duplicates_in_batch,
        result.duplicates_existing,
        result.duplicates_dropped,
        result.event_dates,
        json.dumps(result.quarantine_reasons, sort_keys=True),
    )
    return spark.createDataFrame([row], RUNS_SCHEMA)

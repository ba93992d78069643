"""Bronze data retention in the maintenance job (issue 16), on real Delta tables and both engines:
``storage.delete``, the pure retention plan, and the job - partitions past the retention that silver
has processed are deleted, unprocessed ones are kept however old, a dry run changes nothing, silver
and gold are unchanged (also after a rerun), and bronze's history holds only appends plus retention
deletes (the append-only guarantee is kept by code, not by ``delta.appendOnly``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from medallion.bronze import job as bronze_job
from medallion.config import Config, ConfigError
from medallion.gold import job as gold_job
from medallion.maintenance import job
from medallion.maintenance.plan import DELETE, SET_PROPERTIES, Step
from medallion.maintenance.report import DRY_RUN, SUCCEEDED
from medallion.maintenance.retention import (
    APPEND_ONLY,
    NOT_PROCESSED,
    as_date,
    plan_retention,
    retention_steps,
)
from medallion.progress import ProgressLog
from medallion.silver import job as silver_job
from medallion.storage import FileInfo, Rows, StorageError
from medallion.tables import (
    BRONZE_EVENTS,
    FEATURE_TABLES,
    MAINTENANCE_RUNS,
    PROGRESS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from medallion.tables.schemas import BRONZE_SCHEMA

UTC = dt.timezone.utc
TODAY = dt.datetime.now(UTC).date()  # the bronze job stamps today's (UTC) ingestion_date
OLD1, OLD2, OLD3 = (TODAY - dt.timedelta(days=n) for n in (200, 150, 120))
RECENT = TODAY - dt.timedelta(days=10)
RETENTION_COLUMNS = ("data_retention_days", "partitions_deleted", "rows_deleted")
RETENTION_COLUMNS += ("partitions_kept_unprocessed",)


def body(event_id: str, day: dt.date, user: str = "u1") -> bytes:
    ts = int(dt.datetime.combine(day, dt.time(12), tzinfo=UTC).timestamp() * 1000)
    event = {"event_id": event_id, "event_type": "watch", "user_id": user, "video_id": "v1", "timestamp": ts}
    return json.dumps({**event, "watch_time_ms": 1000}).encode()


def bronze_rows(day: dt.date, ids: list[str]) -> Rows:
    """Bronze rows of ``ingestion_date`` ``day`` (as the bronze job writes them, minus the stream)."""
    at = dt.datetime.combine(day, dt.time(13), tzinfo=UTC)
    rows = [
        (body(i, day, user=f"u{n % 3}"), "files", None, n + 1, None, at, None, f"f-{day}", at, 0, day)
        for n, i in enumerate(ids)
    ]
    return Rows(BRONZE_SCHEMA, rows)


def land_bronze(storage, config, day: dt.date, ids: list[str]) -> None:
    table = BRONZE_EVENTS.create_if_missing(storage, config)
    storage.append(bronze_rows(day, ids), table)


def bronze_days(storage, config) -> dict[dt.date, int]:
    out: dict[dt.date, int] = {}
    for row in storage.read_rows(BRONZE_EVENTS.location(config), ["ingestion_date"]):
        out[row["ingestion_date"]] = out.get(row["ingestion_date"], 0) + 1
    return out


def contents(storage, table: str) -> list[str]:
    """Every row of ``table`` as sorted JSON text (read_rows: no Spark job, any column type)."""
    rows = storage.read_rows(table, storage.schema(table).fieldNames())
    return sorted(json.dumps(row, sort_keys=True, default=repr) for row in rows)


def downstream(storage, config) -> dict[str, list[str]]:
    """Full sorted contents of silver and gold (the tables retention must never change)."""
    specs = (SILVER_EVENTS, SILVER_QUARANTINE, *FEATURE_TABLES)
    return {spec.key: contents(storage, spec.location(config)) for spec in specs}


def retention_run(spark, storage, config, **kw):
    return job.run(config.replace(maintenance_tables="bronze.events", **kw), spark, storage, today=TODAY)


def commit_silver_progress(storage, config) -> int:
    """Record that silver has processed bronze up to its current version (as silver's commit does)."""
    silver = config.table("silver", "events")
    from medallion.contract import load_contract

    SILVER_EVENTS.create_if_missing(storage, config, load_contract())
    log = ProgressLog(storage, PROGRESS.location(config))
    log.ensure()
    end = storage.version(BRONZE_EVENTS.location(config))
    log.commit(SILVER_EVENTS.progress_app_id, storage.table_id(silver), 0, end, "test-run")
    return end


# --- storage.delete on both engines -----------------------------------------------------------------
def test_delete_removes_the_matching_rows_once(storage, spark, local_config):
    land_bronze(storage, local_config, OLD1, ["a", "b"])
    land_bronze(storage, local_config, OLD2, ["c"])
    table = BRONZE_EVENTS.location(local_config)
    before = storage.version(table)
    old_files = [f for f in storage.files(table) if as_date(f.partition_values["ingestion_date"]) == OLD1]

    deleted = storage.delete(table, f"ingestion_date IN (DATE '{OLD1}')")

    assert deleted.committed and deleted.version == before + 1
    assert (deleted.metrics["rows_deleted"], deleted.metrics["files_removed"]) == (2, len(old_files))
    assert bronze_days(storage, local_config) == {OLD2: 1}
    assert storage.history(table, limit=1)[0]["operation"] == "DELETE"
    assert storage.read_changes(table, deleted.version).count() == 0  # the feed's inserts only
    nothing = storage.delete(table, f"ingestion_date = DATE '{OLD1}'")  # no row left to match
    assert not nothing.committed and storage.version(table) == deleted.version
    with pytest.raises(StorageError, match="predicate"):
        storage.delete(table, "true; DROP TABLE x")


def test_delete_is_refused_on_an_append_only_table(storage, spark, warehouse):
    table = str(warehouse / "bronze" / "events")
    storage.create_if_missing(table, BRONZE_SCHEMA, ["ingestion_date"], {APPEND_ONLY: "true"})
    storage.append(bronze_rows(OLD1, ["a"]), table)
    with pytest.raises(StorageError):
        storage.delete(table, f"ingestion_date = DATE '{OLD1}'")
    assert bronze_days(storage, Config(root=str(warehouse))) == {OLD1: 1}


# --- the pure plan ----------------------------------------------------------------------------------
def files(*days: dt.date, rows: int | None = 2) -> list[FileInfo]:
    return [FileInfo(f"f{n}", 10, rows, partition_values={"ingestion_date": d}) for n, d in enumerate(days)]


def test_plan_deletes_only_old_partitions_silver_has_processed():
    today = dt.date(2026, 4, 10)  # 90 days: partitions before 2026-01-10 are past the retention
    edge, past = dt.date(2026, 1, 10), dt.date(2026, 1, 9)
    plan = plan_retention(
        files(dt.date(2025, 1, 1), past, past, edge, today, dt.date(2025, 6, 1)),
        today,
        90,
        unprocessed={dt.date(2025, 6, 1), today},
        guard="silver has processed bronze up to version 7 (of 9)",
    )
    assert plan.cutoff == edge
    assert plan.delete == (dt.date(2025, 1, 1), past)
    assert plan.kept_unprocessed == (dt.date(2025, 6, 1),)
    assert plan.kept_recent == (edge, today)  # exactly 90 days old is kept
    assert plan.rows == 6
    assert plan.predicate() == "ingestion_date IN (DATE '2025-01-01', DATE '2026-01-09')"
    assert Step(DELETE, "b", where=plan.predicate()).sql("bronze.events") == (
        "DELETE FROM `bronze`.`events` WHERE ingestion_date IN (DATE '2025-01-01', DATE '2026-01-09')"
    )
    unknown = plan_retention(files(dt.date(2025, 1, 1)), today, 90, None, "silver has not run yet")
    assert (unknown.delete, unknown.kept_unprocessed) == ((), (dt.date(2025, 1, 1),))
    assert plan_retention(files(past, rows=None), today, 90, set(), "").rows is None
    with pytest.raises(ValueError, match="at least 1 day"):
        plan_retention(files(past), today, 0, set(), "")


def test_an_append_only_table_gets_the_property_unset_first_deferred_on_a_streamed_table():
    plan = plan_retention(files(dt.date(2025, 1, 1)), dt.date(2026, 1, 1), 90, set(), "g")
    steps, blocked = retention_steps(plan, "t", {APPEND_ONLY: "true"}, defer_metadata=False)
    assert [(s.kind, dict(s.properties), s.deferred) for s in steps] == [
        (SET_PROPERTIES, {APPEND_ONLY: "false"}, False),
        (DELETE, {}, False),
    ]
    assert blocked is None
    steps, blocked = retention_steps(plan, "t", {APPEND_ONLY: "true"}, defer_metadata=True)
    assert [(s.kind, s.deferred) for s in steps] == [(SET_PROPERTIES, True)]
    assert "Delta refuses DELETE" in blocked
    assert retention_steps(plan, "t", {}, defer_metadata=True)[0][0].kind == DELETE
    nothing = plan_retention(files(dt.date(2025, 12, 31)), dt.date(2026, 1, 1), 90, set(), "g")
    assert retention_steps(nothing, "t", {APPEND_ONLY: "true"}, defer_metadata=True) == ([], None)


def test_bronze_retention_days_config():
    assert Config().bronze_retention_days == 90
    assert Config.from_sources(env={"MEDALLION_BRONZE_RETENTION_DAYS": "30"}).bronze_retention_days == 30
    assert Config.from_sources({"bronze_retention_days": "0"}, env={}).bronze_retention_days == 0
    with pytest.raises(ConfigError, match="bronze_retention_days=-1"):
        Config(bronze_retention_days=-1)


# --- the job ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_retention_deletes_processed_partitions_and_leaves_silver_and_gold_unchanged(
    spark, storage, local_config, tmp_path: Path
):
    """The real pipeline: old partitions (and today's, from the bronze job) processed by silver and
    gold. A dry run changes nothing; the real run deletes exactly the old partitions, then VACUUM runs
    (the deleted files stay until the deleted-file retention); silver and gold are unchanged, also
    after rerunning them (no phantom rows from the DELETE in bronze's change feed)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "today.jsonl").write_bytes(b"\n".join(body(f"t{n}", TODAY) for n in range(3)) + b"\n")
    config = local_config.replace(events_dir=str(landing))
    bronze_job.run(config, spark, storage)
    land_bronze(storage, config, OLD1, ["a1", "a2"])
    land_bronze(storage, config, OLD2, ["b1", "b2", "b3"])
    land_bronze(storage, config, RECENT, ["r1"])
    silver_job.run(config, spark, storage)
    gold_job.run(config, spark, storage)
    bronze = BRONZE_EVENTS.location(config)
    before, versions = downstream(storage, config), storage.version(bronze)
    files_before = {f.path for f in storage.files(bronze)}

    dry = retention_run(spark, storage, config, dry_run=True)

    out = dry.outcome("bronze.events")
    assert out.outcome == DRY_RUN, dry.summary()
    assert (out.retention.delete, out.retention.kept_unprocessed) == ((OLD1, OLD2), ())
    assert out.retention.kept_recent == (RECENT, TODAY) and out.retention.rows == 5
    assert any(s.startswith("DELETE FROM") for s in out.statements)
    text = dry.summary(verbose=True)
    assert "would delete 2 partition(s) (5 rows)" in text and f"delete ingestion_date={OLD1}" in text
    assert storage.version(bronze) == versions and bronze_days(storage, config)[OLD1] == 2
    assert not storage.exists(MAINTENANCE_RUNS.location(config))  # no report row either

    real = retention_run(spark, storage, config)

    out = real.outcome("bronze.events")
    assert out.outcome == SUCCEEDED and real.ok, real.summary()
    assert (out.partitions_deleted, out.rows_deleted) == (2, 5)
    assert bronze_days(storage, config) == {RECENT: 1, TODAY: 3}
    assert "deleted 2 partition(s) (5 rows)" in real.summary()
    assert out.retention_hours == 168  # VACUUM ran after the DELETE; the removed files wait 168 h
    gone = files_before - {f.path for f in storage.files(bronze)}
    assert gone and all(Path(p).exists() for p in gone)
    [row] = storage.read_rows(MAINTENANCE_RUNS.location(config), list(RETENTION_COLUMNS))
    assert row == {
        "data_retention_days": 90,
        "partitions_deleted": 2,
        "rows_deleted": 5,
        "partitions_kept_unprocessed": 0,
    }
    assert downstream(storage, config) == before

    rerun = silver_job.run(config, spark, storage)
    gold_job.run(config, spark, storage)
    assert rerun.rows_read == 0  # the DELETE's change rows are not new bronze rows
    assert downstream(storage, config) == before
    again = retention_run(spark, storage, config)
    assert again.outcome("bronze.events").partitions_deleted == 0

    # bronze stays append-only by code: the bronze job appends, retention deletes old partitions,
    # maintenance compacts and vacuums - nothing else ever commits to it
    history = storage.history(bronze)
    allowed = {"CREATE TABLE", "WRITE", "STREAMING UPDATE", "DELETE", "OPTIMIZE", "VACUUM START"}
    allowed.add("VACUUM END")
    assert {c["operation"] for c in history} <= allowed, [c["operation"] for c in history]
    for commit in history:
        if commit["operation"] == "WRITE":
            assert str(commit["operationParameters"].get("mode")).lower() == "append", commit
        if commit["operation"] == "DELETE":
            assert "ingestion_date" in str(commit["operationParameters"]["predicate"]), commit
    assert [c["operation"] for c in history].count("DELETE") == 1  # the one retention run that deleted


def test_unprocessed_partitions_are_kept_however_old(spark, storage, local_config):
    land_bronze(storage, local_config, OLD1, ["a1", "a2"])
    land_bronze(storage, local_config, OLD2, ["b1"])

    never = retention_run(spark, storage, local_config).outcome("bronze.events")  # silver never ran
    assert never.partitions_deleted == 0 and never.retention.kept_unprocessed == (OLD1, OLD2)
    assert "silver has not run yet" in never.retention.guard

    committed = commit_silver_progress(storage, local_config)
    land_bronze(storage, local_config, OLD2, ["b2"])  # late rows in an old partition, after silver ran
    land_bronze(storage, local_config, OLD3, ["c1"])  # a whole old partition silver has not read
    bronze = BRONZE_EVENTS.location(local_config)
    version = storage.version(bronze)

    dry = retention_run(spark, storage, local_config, dry_run=True)
    assert storage.version(bronze) == version
    text = dry.summary(verbose=True)
    assert f"keep ingestion_date={OLD2}: {NOT_PROCESSED}" in text
    assert f"silver has processed bronze up to version {committed}" in text

    result = retention_run(spark, storage, local_config)

    out = result.outcome("bronze.events")
    assert result.ok, result.summary()
    assert out.retention.delete == (OLD1,) and out.retention.kept_unprocessed == (OLD2, OLD3)
    assert bronze_days(storage, local_config) == {OLD2: 2, OLD3: 1}
    report = storage.read_rows(MAINTENANCE_RUNS.location(local_config), ["table_name", *RETENTION_COLUMNS])
    [row] = [r for r in report if r["table_name"] == "bronze.events" and r["partitions_deleted"]]
    assert (row["partitions_deleted"], row["rows_deleted"], row["partitions_kept_unprocessed"]) == (1, 2, 2)

    commit_silver_progress(storage, local_config)  # silver catches up: now they may go
    assert retention_run(spark, storage, local_config).outcome("bronze.events").partitions_deleted == 2
    assert bronze_days(storage, local_config) == {}
    assert (
        retention_run(spark, storage, local_config, bronze_retention_days=0)
        .outcome("bronze.events")
        .retention
        is None
    )  # 0: retention off


def test_a_legacy_append_only_bronze_is_unset_only_when_the_stream_is_stopped(spark, storage, local_config):
    bronze = BRONZE_EVENTS.location(local_config)
    properties = {**BRONZE_EVENTS.properties, APPEND_ONLY: "true"}  # created before retention existed
    storage.create_if_missing(bronze, BRONZE_SCHEMA, BRONZE_EVENTS.partition_by, properties)
    storage.append(bronze_rows(OLD1, ["a"]), bronze)
    commit_silver_progress(storage, local_config)
    version = storage.version(bronze)

    nightly = retention_run(spark, storage, local_config).outcome("bronze.events")

    assert nightly.outcome == SUCCEEDED and nightly.partitions_deleted == 0
    unset = "ALTER TABLE `bronze`.`events` SET TBLPROPERTIES ('delta.appendOnly' = 'false')"
    assert unset in nightly.metadata_deferred and "Delta refuses DELETE" in nightly.retention_blocked
    assert "NOT deleted" in nightly.line()
    assert storage.properties(bronze)[APPEND_ONLY] == "true" and bronze_days(storage, local_config)
    assert storage.version(bronze) == version  # no commit at all on the streamed table

    stopped = job.run(
        local_config.replace(maintenance_tables="bronze.events"),
        spark,
        storage,
        apply_deferred_metadata=True,
        today=TODAY,
    ).outcome("bronze.events")

    delete = f"DELETE FROM `bronze`.`events` WHERE ingestion_date IN (DATE '{OLD1}')"
    assert stopped.statements[:2] == [unset, delete]
    assert stopped.partitions_deleted == 1 and bronze_days(storage, local_config) == {}
    assert storage.properties(bronze)[APPEND_ONLY] == "false"

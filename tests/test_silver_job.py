"""Silver end to end on real landing files, real local Spark and real Delta tables."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from medallion.bronze import job as bronze_job
from medallion.contract import EventContract, load_contract
from medallion.errors import JobFailedError
from medallion.silver import job as silver_job
from medallion.silver.plan import SilverResult
from medallion.silver.tables import CONTRACT_VERSION_PROPERTY, ContractChangeError
from medallion.tables import BRONZE_EVENTS, SILVER_EVENTS, SILVER_QUARANTINE, SILVER_RUNS

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ev(event_id: str, *, ts: int = T0 + 3_600_000, user: str = "u1", etype: str = "watch", **extra) -> bytes:
    body = {"event_id": event_id, "event_type": etype, "user_id": user, "video_id": "v1", "timestamp": ts}
    if etype == "watch":
        body["watch_time_ms"] = 1000
    body.update(extra)
    return json.dumps(body).encode()


class Pipeline:
    """Lands files and runs bronze then silver on one warehouse."""

    def __init__(self, spark, storage, config, landing: Path):
        self.spark, self.storage, self.landing = spark, storage, landing
        self.config = config.replace(events_dir=str(landing))
        self.n = 0

    def land(self, lines: list[bytes]) -> None:
        self.landing.mkdir(parents=True, exist_ok=True)
        self.n += 1
        (self.landing / f"part-{self.n:03d}.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    def run(self, contract: EventContract | None = None, storage=None) -> SilverResult:
        bronze_job.run(self.config, self.spark, self.storage)
        return silver_job.run(self.config, self.spark, storage or self.storage, contract=contract)

    def table(self, ref) -> str:
        return self.config.table(*ref)

    def rows(self, ref):
        return self.storage.read(self.table(ref)).collect()

    def versions(self) -> tuple:
        refs = (SILVER_EVENTS.id, SILVER_QUARANTINE.id, SILVER_RUNS.id)
        return tuple(self.storage.version(self.table(r)) for r in refs)


@pytest.fixture
def pipe(spark, storage, local_config, tmp_path) -> Pipeline:
    return Pipeline(spark, storage, local_config, tmp_path / "landing")


def test_landing_to_silver_end_to_end(pipe):
    pipe.land(
        [
            ev("a"),
            ev("b", etype="like"),
            ev("a"),  # re-delivered copy
            b'{"event_id": "x", ',  # malformed
            ev("c", user=""),  # invalid value
            b"\xff\xfe",  # not UTF-8
        ]
    )
    result = pipe.run()
    assert (result.rows_read, result.rows_inserted, result.rows_quarantined, result.duplicates_dropped) == (
        6,
        2,
        3,
        1,
    )
    assert result.conserved
    events = {r["event_id"]: r for r in pipe.rows(SILVER_EVENTS.id)}
    assert sorted(events) == ["a", "b"]
    assert events["a"]["event_ts"] == dt.datetime(2026, 1, 1, 1)
    assert events["a"]["event_date"] == dt.date(2026, 1, 1)
    assert events["b"]["watch_time_ms"] is None
    assert events["a"]["source_file"].endswith("part-001.jsonl")
    quarantine = sorted((bytes(r["body"]), r["reasons"]) for r in pipe.rows(SILVER_QUARANTINE.id))
    assert quarantine == sorted(
        [
            (b'{"event_id": "x", ', ["malformed_json"]),
            (ev("c", user=""), ["invalid_value:user_id"]),
            (b"\xff\xfe", ["invalid_utf8"]),
        ]
    )
    (metrics,) = pipe.rows(SILVER_RUNS.id)
    assert (
        metrics["rows_read"]
        == metrics["rows_inserted"] + metrics["rows_quarantined"] + metrics["duplicates_dropped"]
    )
    assert (metrics["rows_read"], metrics["duplicates_in_batch"], metrics["duplicates_existing"]) == (6, 1, 0)
    assert json.loads(metrics["quarantine_reasons"]) == {
        "invalid_utf8": 1,
        "invalid_value:user_id": 1,
        "malformed_json": 1,
    }
    assert metrics["event_dates"] == [dt.date(2026, 1, 1)]
    # silver is partitioned by event_date
    assert all("event_date=2026-01-01" in f.path for f in pipe.storage.files(pipe.table(SILVER_EVENTS.id)))


@pytest.mark.slow
def test_rerun_with_nothing_new_changes_nothing(pipe):
    pipe.land([ev("a"), b"{"])
    pipe.run()
    before = pipe.versions()
    again = pipe.run()
    assert again.bronze_end_version is None and again.rows_read == 0
    assert pipe.versions() == before


@pytest.mark.slow
def test_dedup_across_runs_first_delivered_wins(pipe):
    pipe.land([ev("a", user="first"), ev("b")])
    pipe.run()
    # later copies: identical, differing payload, and one that moved across midnight
    pipe.land([ev("a", user="second"), ev("b"), ev("b", ts=T0 - 1), ev("c")])
    result = pipe.run()
    assert (
        result.rows_read,
        result.rows_inserted,
        result.duplicates_in_batch,
        result.duplicates_existing,
    ) == (
        4,
        1,
        1,
        2,
    )
    events = {r["event_id"]: r for r in pipe.rows(SILVER_EVENTS.id)}
    assert sorted(events) == ["a", "b", "c"]
    assert events["a"]["user_id"] == "first"
    assert events["b"]["event_date"] == dt.date(2026, 1, 1)
    runs = sorted(pipe.rows(SILVER_RUNS.id), key=lambda r: r["bronze_end_version"])
    assert [
        r["rows_read"] - r["rows_inserted"] - r["rows_quarantined"] - r["duplicates_dropped"] for r in runs
    ] == [
        0,
        0,
    ]


@pytest.mark.slow
def test_copy_whose_date_moved_within_lookback_is_a_duplicate(pipe):
    pipe.land([ev("a", ts=T0 + 10)])
    pipe.run()
    pipe.land([ev("a", ts=T0 - 10)])  # the producer re-stamped it: now on the previous day
    result = pipe.run()
    assert (result.rows_inserted, result.duplicates_existing) == (0, 1)
    assert len(pipe.rows(SILVER_EVENTS.id)) == 1


@pytest.mark.slow
def test_copy_beyond_lookback_is_outside_the_pruned_merge(pipe):
    """Documented limit: the MERGE only looks at event dates +- dedup_lookback_days. A copy
    re-stamped by more than that is inserted again; the nightly full-table uniqueness check
    (quality suite on the whole table) is what detects it."""
    pipe.config = pipe.config.replace(dedup_lookback_days=0)
    pipe.land([ev("a", ts=T0 + 10)])
    pipe.run()
    pipe.land([ev("a", ts=T0 - 10)])
    assert pipe.run().rows_inserted == 1
    assert sorted(r["event_date"] for r in pipe.rows(SILVER_EVENTS.id)) == [
        dt.date(2025, 12, 31),
        dt.date(2026, 1, 1),
    ]


@pytest.mark.slow
def test_late_events_are_accepted(pipe):
    pipe.land([ev("new", ts=T0 + 30 * DAY)])
    pipe.run()
    pipe.land([ev("late", ts=T0 - 400 * DAY)])
    result = pipe.run()
    assert result.rows_inserted == 1 and result.event_dates == [dt.date(2024, 11, 27)]
    assert {r["event_id"] for r in pipe.rows(SILVER_EVENTS.id)} == {"new", "late"}


def crashing_before_merge(storage):
    """The real adapter of the engine under test with one injected crash: the process dies before
    the MERGE."""

    class CrashingStorage(type(storage)):
        def merge(self, *args, **kwargs):
            raise KeyboardInterrupt("simulated crash before the silver MERGE")

    return CrashingStorage(storage.spark)


@pytest.mark.slow
def test_crash_mid_run_then_rerun_neither_loses_nor_duplicates(pipe, spark):
    pipe.land([ev("a"), ev("b"), b"{"])
    pipe.run()
    pipe.land([ev("c"), ev("a"), b"not json"])
    bronze_job.run(pipe.config, spark, pipe.storage)
    with pytest.raises(KeyboardInterrupt):
        silver_job.run(pipe.config, spark, crashing_before_merge(pipe.storage))
    # metrics and quarantine of the crashed run are committed, silver.events is not
    assert len(pipe.rows(SILVER_RUNS.id)) == 2
    assert len(pipe.rows(SILVER_QUARANTINE.id)) == 2
    assert {r["event_id"] for r in pipe.rows(SILVER_EVENTS.id)} == {"a", "b"}

    pipe.land([ev("d")])  # more data arrives before the rerun
    bronze_job.run(pipe.config, spark, pipe.storage)
    resumed = silver_job.run(pipe.config, spark, pipe.storage)
    assert resumed.resumed and (resumed.rows_read, resumed.rows_inserted) == (3, 1)
    final = silver_job.run(pipe.config, spark, pipe.storage)  # then the newer data
    assert not final.resumed and final.rows_inserted == 1
    assert sorted(r["event_id"] for r in pipe.rows(SILVER_EVENTS.id)) == ["a", "b", "c", "d"]
    assert len(pipe.rows(SILVER_QUARANTINE.id)) == 2  # not doubled
    runs = pipe.rows(SILVER_RUNS.id)
    assert len(runs) == 3
    bronze_rows = len(pipe.rows(BRONZE_EVENTS.id))
    assert bronze_rows == sum(r["rows_read"] for r in runs) == 7


def _v2(**field_spec) -> EventContract:
    doc = copy.deepcopy(load_contract(1).json_schema())
    doc["x-version"] = 2
    doc["properties"].update(field_spec)
    return EventContract.from_dict(doc)


@pytest.mark.slow
def test_additive_contract_change_adds_a_column(pipe):
    pipe.land([ev("a", device="tv")])
    pipe.run()
    v2 = _v2(device={"type": "string", "description": "client device"})
    pipe.land([ev("b", device="phone"), ev("c", device=7)])
    result = pipe.run(contract=v2)
    assert (result.rows_inserted, result.rows_quarantined) == (1, 1)
    events = {r["event_id"]: r for r in pipe.rows(SILVER_EVENTS.id)}
    assert events["a"]["device"] is None and events["b"]["device"] == "phone"
    assert pipe.storage.properties(pipe.table(SILVER_EVENTS.id))[CONTRACT_VERSION_PROPERTY] == "2"
    (bad,) = pipe.rows(SILVER_QUARANTINE.id)
    assert bad["reasons"] == ["invalid_type:device"] and bad["contract_version"] == 2


@pytest.mark.slow
def test_breaking_contract_change_is_rejected_before_anything_is_written(pipe):
    pipe.land([ev("a")])
    pipe.run()
    before = pipe.versions()
    doc = copy.deepcopy(load_contract(1).json_schema())
    doc["x-version"] = 2
    doc["properties"]["user_id"] = {"type": "integer"}  # a type change
    pipe.land([ev("b")])
    with pytest.raises(
        ContractChangeError, match=r"(?s)not backward compatible.*nothing was written.*user_id"
    ):
        pipe.run(contract=EventContract.from_dict(doc))
    assert pipe.versions() == before
    assert pipe.storage.properties(pipe.table(SILVER_EVENTS.id))[CONTRACT_VERSION_PROPERTY] == "1"


def test_silver_without_bronze_is_a_clear_error(spark, storage, local_config):
    with pytest.raises(JobFailedError, match="run the bronze job first"):
        silver_job.run(local_config, spark, storage)


@pytest.mark.slow
def test_run_with_only_duplicates_and_invalid_rows_still_advances(pipe):
    pipe.land([ev("a")])
    pipe.run()
    pipe.land([ev("a"), b"{"])  # nothing to insert
    result = pipe.run()
    assert (result.rows_inserted, result.duplicates_existing, result.rows_quarantined) == (0, 1, 1)
    before = pipe.versions()
    again = pipe.run()
    assert again.bronze_end_version is None and not again.resumed
    assert pipe.versions() == before


@pytest.mark.slow
def test_replay_from_bronze_after_optimize_and_vacuum(pipe):
    """Runbook 'replay from bronze': drop silver and rerun. Bronze's early files are gone after
    OPTIMIZE + VACUUM, so the first run reads the bronze snapshot, not the change feed."""
    import shutil

    for i in range(3):
        pipe.land([ev(f"e{i}"), b"{"])
        bronze_job.run(pipe.config, pipe.spark, pipe.storage)
    bronze = pipe.table(BRONZE_EVENTS.id)
    assert pipe.storage.optimize(bronze)["files_removed"] >= 3
    assert pipe.storage.vacuum(bronze, retention_hours=0).files_deleted >= 3  # test only: early files go
    first = pipe.run()
    assert (first.rows_read, first.rows_inserted, first.rows_quarantined) == (6, 3, 3)

    for ref in (SILVER_EVENTS.id, SILVER_QUARANTINE.id, SILVER_RUNS.id):
        shutil.rmtree(pipe.table(ref))
    replay = pipe.run()
    assert (replay.rows_read, replay.rows_inserted, replay.rows_quarantined) == (6, 3, 3)
    assert sorted(r["event_id"] for r in pipe.rows(SILVER_EVENTS.id)) == ["e0", "e1", "e2"]

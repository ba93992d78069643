"""Defects of the Databricks path (issue 11) pinned on the real engines: every test runs on
spark-delta (real Delta Lake jars on local Spark) and on delta-rs, with the same assertions.

1. No history scan on the write path: its cost must not grow with the number of commits.
2. Progress survives Delta log cleanup (it no longer comes from stamped commits in the history).
3. A change feed that cannot be read surfaces as StorageError, so gold falls back to a full
   recompute instead of failing.
7. A write's ``committed`` flag comes from its own commit, not from the table version moving (a
   concurrent OPTIMIZE or property change also moves it).

(4: tests/test_bundle.py; 5 and 6: tests/test_maintenance.py.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from pathlib import Path

import pytest
from pyspark.sql import types as T

from medallion.bronze import job as bronze_job
from medallion.gold import job as gold_job
from medallion.gold import plan as gold_plan
from medallion.progress import ProgressLog
from medallion.silver import job as silver_job
from medallion.storage import StorageError, Txn
from medallion.tables import BRONZE_EVENTS, PROGRESS, SILVER_EVENTS, SILVER_QUARANTINE, SILVER_RUNS

SCHEMA = T.StructType([T.StructField("id", T.LongType(), False), T.StructField("day", T.DateType(), False)])
DAY = dt.date(2026, 1, 1)
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def frame(spark, ids):
    return spark.createDataFrame([(i, DAY) for i in ids], SCHEMA)


def ev(event_id: str, *, ts: int = T0 + 3_600_000, user: str = "u1") -> bytes:
    body = {"event_id": event_id, "event_type": "watch", "user_id": user, "video_id": "v1", "timestamp": ts}
    body["watch_time_ms"] = 1000
    return json.dumps(body).encode()


# --- 1: the write path reads a bounded history ---------------------------------------------------
@pytest.mark.slow
def test_write_path_reads_no_unbounded_history(spark, storage, warehouse):
    """A Txn append on a table with 40 commits reads at most the commits made during the write -
    the old spark-delta committed_version ran ``DESCRIBE HISTORY`` without LIMIT (twice per bronze
    micro-batch), a cost that grew with every commit of a continuous stream."""
    table = str(warehouse / "bronze" / "events")
    storage.create_if_missing(table, SCHEMA)
    for batch in range(40):
        storage.append(frame(spark, [batch]), table, txn=Txn("stream", batch))
    reads: list[int] = []
    original = storage.history

    def counting_history(t, limit=None):
        entries = original(t, limit)
        reads.append(len(entries))
        return entries

    storage.history = counting_history  # observe the engine's history reads (they still run)
    statements: list[str] = []
    if storage.engine == "spark-delta":
        run_sql = storage._sql

        def recording_sql(text):
            statements.append(text)
            return run_sql(text)

        storage._sql = recording_sql
    written = storage.append(frame(spark, [40]), table, txn=Txn("stream", 40))
    replay = storage.append(frame(spark, [40]), table, txn=Txn("stream", 40))
    assert written.committed and not replay.committed
    assert storage.read(table).count() == 41
    assert reads and max(reads) <= 1  # the one commit the write made
    history_statements = [s for s in statements if s.startswith("DESCRIBE HISTORY")]
    assert all(re.search(r" LIMIT [12]$", s) for s in history_statements), history_statements


# --- 2: progress survives log cleanup ---------------------------------------------------------------
def _clean_log(path: str) -> int:
    """Force Delta log cleanup: age every commit file, checkpoint, and delete the commits before it
    (``delta.logRetentionDuration`` 0). Returns the number of commit files removed."""
    from deltalake import DeltaTable

    table = DeltaTable(path)
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 days"})
    table = DeltaTable(path)
    table.create_checkpoint()
    old = time.time() - 3 * 86_400
    log_dir = Path(path) / "_delta_log"
    for commit in log_dir.glob("*.json"):
        os.utime(commit, (old, old))
    removed = DeltaTable(path).cleanup_metadata()
    return len(list(log_dir.glob("*.json"))) if removed is None else removed


@pytest.mark.slow
def test_progress_survives_log_cleanup(spark, storage, local_config, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    config = local_config.replace(events_dir=str(landing))
    (landing / "part-1.jsonl").write_bytes(b"\n".join([ev("a"), ev("b"), b"{broken"]) + b"\n")
    bronze_job.run(config, spark, storage)
    first = silver_job.run(config, spark, storage)
    gold_job.run(config, spark, storage)
    assert (first.rows_inserted, first.rows_quarantined) == (2, 1)

    tables = [config.table(*ref) for ref in (SILVER_EVENTS.id, SILVER_QUARANTINE.id, SILVER_RUNS.id)]
    tables.append(PROGRESS.location(config))
    for table in tables:
        _clean_log(table)
        # the commits the silver run made (and stamped) are gone from the history
        assert min(int(h["version"]) for h in storage.history(table)) > 0

    progress = ProgressLog(storage, PROGRESS.location(config))
    silver_id = storage.table_id(SILVER_EVENTS.location(config))
    assert progress.state(SILVER_EVENTS.progress_app_id, silver_id).committed == storage.version(
        BRONZE_EVENTS.location(config)
    )
    again = silver_job.run(config, spark, storage)
    assert again.bronze_end_version is None  # nothing new: it did not restart at bronze version 0
    assert storage.read(SILVER_QUARANTINE.location(config)).count() == 1
    assert storage.read(SILVER_RUNS.location(config)).count() == 1
    assert gold_job.run(config, spark, storage).rows_written == 0

    (landing / "part-2.jsonl").write_bytes(ev("c") + b"\n")
    bronze_job.run(config, spark, storage)
    third = silver_job.run(config, spark, storage)
    assert (third.rows_read, third.rows_inserted) == (1, 1)
    assert sorted(r["event_id"] for r in storage.read(SILVER_EVENTS.location(config)).collect()) == [
        "a",
        "b",
        "c",
    ]


# --- 3: an unreadable change feed is a StorageError and gold falls back -------------------------
@pytest.mark.slow
def test_vacuumed_change_feed_falls_back_to_a_full_recompute(spark, storage, local_config, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    config = local_config.replace(events_dir=str(landing))
    (landing / "part-1.jsonl").write_bytes(ev("a") + b"\n")
    bronze_job.run(config, spark, storage)
    silver_job.run(config, spark, storage)
    gold_job.run(config, spark, storage)
    silver = SILVER_EVENTS.location(config)
    done = storage.version(silver)
    for n, user in enumerate(("u2", "u3"), start=2):  # two more silver commits with rows
        (landing / f"part-{n}.jsonl").write_bytes(ev(f"e{n}", user=user) + b"\n")
        bronze_job.run(config, spark, storage)
        silver_job.run(config, spark, storage)
    storage.optimize(silver)  # compacts the files of those commits ...
    storage.vacuum(silver, retention_hours=0)  # ... and deletes them: their change feed is gone
    with pytest.raises(StorageError), storage.errors("read change feed", silver):
        storage.read_changes(silver, done + 1).collect()

    result = gold_job.run(config, spark, storage)
    assert {t.mode for t in result.tables.values()} == {gold_plan.FULL}
    users = storage.read(config.table("gold", "user_features")).select("user_id").distinct().collect()
    assert sorted(r["user_id"] for r in users) == ["u1", "u2", "u3"]


# --- 7: committed means "this write made a commit" ------------------------------------------------
def test_committed_comes_from_the_writes_own_commit(spark, storage, warehouse):
    """Another writer commits while a write runs (as a concurrent OPTIMIZE or property change
    does): a skipped replay is still reported as skipped, a real write as committed with the
    version of its own commit."""
    table = str(warehouse / "bronze" / "events")
    storage.create_if_missing(table, SCHEMA)
    assert storage.append(frame(spark, [1]), table, txn=Txn("stream", 1)).committed
    engine = type(storage)
    concurrent_commits = []

    class ConcurrentWriter(engine):
        def _append(self, df, target, partition_by, txn, stamp):
            other = engine(self.spark)  # another process commits to the same table meanwhile
            other.set_properties(target, {"concurrent.commit": str(len(concurrent_commits))})
            concurrent_commits.append(other.version(target))
            return super()._append(df, target, partition_by, txn, stamp)

    racing = ConcurrentWriter(spark)
    replay = racing.append(frame(spark, [1]), table, txn=Txn("stream", 1))
    assert not replay.committed
    assert storage.read(table).count() == 1
    if storage.engine == "delta-rs":  # delta-rs skips before writing: no concurrent commit happened
        assert concurrent_commits == []
    else:  # spark-delta skips inside the write (Delta's txn check) while the version moved
        assert len(concurrent_commits) == 1 and replay.version == concurrent_commits[0]

    new = racing.append(frame(spark, [2]), table, txn=Txn("stream", 2))
    assert new.committed and new.version == concurrent_commits[-1] + 1
    assert sorted(r["id"] for r in storage.read(table).collect()) == [1, 2]

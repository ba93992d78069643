"""Bronze end to end on real files, real local Spark streaming and real Delta tables (delta-rs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medallion.bronze import job
from medallion.bronze.plan import BronzeResult
from medallion.tables import BRONZE_EVENTS, LANDING_FILES
from medallion.tables.schemas import BRONZE_SCHEMA

GOOD = b'{"event_id":"e1","event_type":"watch","user_id":"u1","video_id":"v1","timestamp":1767225600000}'
MALFORMED = b'{"event_id": "e2", "event_type": '
NON_UTF8 = b'{"event_id":"e3","user_id":"\xff\xfe\xc3\x28"}'


def _land(folder: Path, name: str, lines: list[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _bronze_rows(storage, config):
    return storage.read(BRONZE_EVENTS.location(config)).collect()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.mark.slow
def test_files_to_delta_preserves_every_line_byte_for_byte(spark, storage, local_config, landing):
    _land(landing, "a.jsonl", [GOOD, MALFORMED, NON_UTF8, b"", b"  not json at all  "])
    cfg = local_config.replace(events_dir=str(landing))
    result = job.run(cfg, spark, storage)

    assert result.rows_ingested == 5 and result.files_read == 1 and result.batches == 1
    table = BRONZE_EVENTS.location(cfg)
    assert table == str(Path(cfg.root) / "bronze" / "events")
    df = storage.read(table)
    assert [f.name for f in df.schema.fields] == [f.name for f in BRONZE_SCHEMA.fields]
    rows = df.collect()
    assert sorted(bytes(r["body"]) for r in rows) == sorted(
        [GOOD, MALFORMED, NON_UTF8, b"", b"  not json at all  "]
    )
    for r in rows:
        assert r["source"] == "files"
        assert r["source_file"].endswith("/landing/a.jsonl")
        assert r["enqueued_time"] is not None and r["ingestion_time"] is not None
        assert r["ingestion_date"] == r["ingestion_time"].date()
        assert r["ingestion_batch_id"] == 0
    # partitioned by ingestion date, change data feed on for silver
    assert storage.properties(table)["delta.enableChangeDataFeed"] == "true"
    assert any("ingestion_date=" in f.path for f in storage.files(table))


@pytest.mark.slow
def test_second_run_ingests_only_new_files(spark, storage, local_config, landing):
    cfg = local_config.replace(events_dir=str(landing))
    _land(landing, "a.jsonl", [GOOD, MALFORMED])
    first = job.run(cfg, spark, storage)
    assert first.rows_ingested == 2

    again = job.run(cfg, spark, storage)  # nothing new: no batch, no commit
    assert again.rows_ingested == 0 and again.batches == 0
    version_before = storage.version(BRONZE_EVENTS.location(cfg))

    _land(landing, "b.jsonl", [NON_UTF8, GOOD, GOOD])
    second = job.run(cfg, spark, storage)
    assert second.rows_ingested == 3 and second.files_read == 1
    assert storage.version(BRONZE_EVENTS.location(cfg)) == version_before + 1
    rows = _bronze_rows(storage, cfg)
    assert len(rows) == 5
    by_file = {}
    for r in rows:
        by_file.setdefault(Path(r["source_file"]).name, set()).add(r["ingestion_batch_id"])
    assert by_file == {"a.jsonl": {0}, "b.jsonl": {1}}


@pytest.mark.slow
def test_rerun_with_nothing_new_starts_no_stream(spark, storage, local_config, landing):
    """Available-now with every landed file in the ledger: the stream is not started at all (the
    listener hears of every query start, synchronously with start()); a new file starts it."""
    from pyspark.sql.streaming import StreamingQueryListener

    class Starts(StreamingQueryListener):
        def __init__(self) -> None:
            self.names: list[str] = []

        def onQueryStarted(self, event) -> None:
            self.names.append(event.name)

        def onQueryProgress(self, event) -> None: ...

        def onQueryIdle(self, event) -> None: ...

        def onQueryTerminated(self, event) -> None: ...

    starts = Starts()
    spark.streams.addListener(starts)
    try:
        cfg = local_config.replace(events_dir=str(landing))
        _land(landing, "a.jsonl", [GOOD, NON_UTF8])
        assert job.run(cfg, spark, storage).rows_ingested == 2
        assert starts.names == [job.STREAM_NAME]
        rerun = job.run(cfg, spark, storage)
        assert (rerun.rows_ingested, rerun.files_read, rerun.batches) == (0, 0, 0)
        assert starts.names == [job.STREAM_NAME]  # not started
        _land(landing, "b.jsonl", [GOOD])
        assert job.run(cfg, spark, storage).rows_ingested == 1
        assert starts.names == [job.STREAM_NAME] * 2
        assert len(_bronze_rows(storage, cfg)) == 3
    finally:
        spark.streams.removeListener(starts)


@pytest.mark.slow
def test_micro_batches_follow_max_files_per_trigger(spark, storage, local_config, landing):
    for i in range(3):
        _land(landing, f"f{i}.jsonl", [GOOD])
    cfg = local_config.replace(events_dir=str(landing), max_files_per_trigger=1)
    result = job.run(cfg, spark, storage)
    assert result.batches == 3 and result.batch_ids == [0, 1, 2] and result.rows_ingested == 3


@pytest.mark.slow
def test_crash_after_write_before_checkpoint_commit_does_not_duplicate(spark, storage, local_config, landing):
    cfg = local_config.replace(events_dir=str(landing))
    _land(landing, "a.jsonl", [GOOD, MALFORMED, NON_UTF8])
    job.run(cfg, spark, storage)
    table = BRONZE_EVENTS.location(cfg)
    version = storage.version(table)

    # The state a crash leaves between the Delta commit and the checkpoint commit: the batch's
    # offsets are logged, its commit marker is not. Spark replays batch 0 on restart.
    commit_marker = Path(cfg.checkpoint(job.STREAM_NAME)) / "commits" / "0"
    assert commit_marker.exists()
    commit_marker.unlink()
    crc = commit_marker.parent / ".0.crc"
    if crc.exists():
        crc.unlink()

    # the batch's files are in ops.landing_files already: the replay ingests nothing
    replay = job.run(cfg, spark, storage)
    assert replay.files_already_ingested == 1 and replay.rows_ingested == 0
    assert storage.version(table) == version
    assert len(_bronze_rows(storage, cfg)) == 3

    # a crash between the bronze commit and the ops.landing_files commit: the batch's own txn
    # key makes Delta skip the replayed bronze append, and the ledger is completed
    commit_marker.unlink()
    if crc.exists():
        crc.unlink()
    ledger = LANDING_FILES.location(cfg)
    shutil.rmtree(ledger)
    replay = job.run(cfg, spark, storage)
    assert replay.batches_skipped == 1 and replay.rows_ingested == 0
    assert storage.version(table) == version
    assert len(_bronze_rows(storage, cfg)) == 3
    assert [(Path(r["file_path"]).name, r["lines"]) for r in storage.read(ledger).collect()] == [
        ("a.jsonl", 3)
    ]

    # and the stream carries on normally afterwards
    _land(landing, "b.jsonl", [GOOD])
    assert job.run(cfg, spark, storage).rows_ingested == 1
    assert len(_bronze_rows(storage, cfg)) == 4


@pytest.mark.slow
def test_lost_checkpoint_neither_reingests_nor_skips_new_files(spark, storage, local_config, landing):
    """A new checkpoint means a new query id, so batch ids restarting at 0 are not mistaken for
    committed ones; the files already in ops.landing_files are not ingested again."""
    cfg = local_config.replace(events_dir=str(landing))
    _land(landing, "a.jsonl", [GOOD, MALFORMED])
    job.run(cfg, spark, storage)
    shutil.rmtree(cfg.checkpoint(job.STREAM_NAME))
    _land(landing, "b.jsonl", [GOOD])
    rerun = job.run(cfg, spark, storage)
    assert (rerun.rows_ingested, rerun.batches_skipped, rerun.files_already_ingested) == (1, 0, 1)
    assert rerun.batch_ids == [0]  # batch 0 of the new query: committed, not mistaken for the old one
    assert "1 files skipped: already in ops.landing_files" in rerun.summary()
    assert len(_bronze_rows(storage, cfg)) == 3


def test_gzipped_landing_files_are_read(spark, storage, local_config, landing):
    import gzip

    landing.mkdir(parents=True)
    (landing / "a.jsonl.gz").write_bytes(gzip.compress(GOOD + b"\n" + NON_UTF8 + b"\n"))
    result = job.run(local_config.replace(events_dir=str(landing)), spark, storage)
    assert result.rows_ingested == 2
    bodies = sorted(bytes(r["body"]) for r in _bronze_rows(storage, local_config))
    assert bodies == sorted([GOOD, NON_UTF8])


@pytest.mark.slow
def test_empty_landing_file_is_recorded_and_does_not_block(spark, storage, local_config, landing):
    """An empty file holds no records: nothing to ingest, never a reason to stop. (Spark does not
    read 0-byte files at all, so it is not in ops.landing_files either.)"""
    from medallion.quality import QualityGate

    _land(landing, "a.jsonl", [GOOD])
    (landing / "empty.jsonl").write_bytes(b"")
    cfg = local_config.replace(events_dir=str(landing))
    gate = QualityGate(cfg, storage)
    result = job.run(cfg, spark, storage, gate=gate)
    assert (result.rows_ingested, result.files_read, result.bad_files) == (1, 1, [])
    assert [r.status for r in gate.results] == ["passed"]
    ledger = {
        Path(r["file_path"]).name: r["lines"] for r in storage.read(LANDING_FILES.location(cfg)).collect()
    }
    assert ledger == {"a.jsonl": 1}
    (landing / "blank.jsonl").write_bytes(b"\n")  # one empty line: one record (quarantined by silver)
    assert job.run(cfg, spark, storage, gate=gate).rows_ingested == 1


@pytest.mark.slow
def test_quality_gate_stops_a_batch_before_anything_is_written(spark, storage, local_config):
    """bronze gate: a batch breaking the suite (a Kafka tombstone: null body) is not appended in
    enforce mode; warn publishes it and records the failure."""
    import datetime as dt

    from medallion.quality import QualityGate, QualityGateError

    table = BRONZE_EVENTS.location(local_config)
    storage.create_if_missing(table, BRONZE_SCHEMA, BRONZE_EVENTS.partition_by, BRONZE_EVENTS.properties)
    version = storage.version(table)
    source_schema = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in BRONZE_SCHEMA.fields[:8])
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    batch = spark.createDataFrame(
        [
            (None, "kafka", "0", 7, None, now, None, None),
            (bytearray(GOOD), "kafka", "0", 8, None, now, None, None),
        ],
        source_schema,
    )

    def write(config, gate, batch_id):
        result = BronzeResult(table=table)
        writer = job.BronzeBatchWriter(storage, table, config.checkpoint(job.STREAM_NAME), result, gate=gate)
        writer._app_id = "medallion.bronze_events.test"
        writer(batch, batch_id)
        return result

    with pytest.raises(QualityGateError, match="bronze"):
        write(local_config, QualityGate(local_config, storage), 0)
    assert storage.version(table) == version

    warn = local_config.replace(quality_bronze="warn")
    gate = QualityGate(warn, storage)
    assert write(warn, gate, 1).rows_ingested == 2  # published, and the failure recorded
    assert [r.status for r in gate.results] == ["failed"]
    assert storage.version(table) == version + 1

"""Hostile input, end to end on both engines: every landing line is accounted for, a file that
cannot be read is quarantined instead of blocking the pipeline, a file changed after ingestion
is reported, and a run that lost a race reports what it committed.

The corpus is generated here, small: each case is one line with its exact expected outcome
(a silver row, quarantine reasons, or a duplicate of an earlier line)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import Row

from medallion.bronze import job as bronze_job
from medallion.cli import main
from medallion.contract import load_contract
from medallion.silver import job as silver_job
from medallion.silver.plan import SilverResult
from medallion.silver.transforms import validate
from medallion.tables import BAD_FILES, BRONZE_EVENTS, LANDING_FILES, SILVER_EVENTS, SILVER_QUARANTINE

TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BOM = b"\xef\xbb\xbf"


def event(event_id: str, **fields) -> dict:
    out = {
        "event_id": event_id,
        "user_id": "u1",
        "video_id": "v1",
        "event_type": "watch",
        "timestamp": TS,
        "watch_time_ms": 1000,
    }
    out.update(fields)
    return {k: v for k, v in out.items() if v is not ...}


def line(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    body: bytes  # the line's bytes as they must land in bronze (no line ending)
    outcome: str  # silver | quarantine | duplicate
    expect: object = None  # silver: {column: value}; quarantine: set of reasons; duplicate: event_id


def corpus() -> list[Case]:
    ok = line(event("ok-1"))
    deep = b'{"event_id":"deep","user_id":"u1","video_id":"v1","event_type":"like","timestamp":%d,"x":' % TS
    deep += b"[" * 10_000 + b"]" * 10_000 + b"}"
    big = line(event("big", padding="x" * 5_000_000))
    bare_cr = line(event("cr")).replace(b', "user_id"', b',\r"user_id"')  # JSON whitespace inside
    H, Q = "hostile.jsonl", "quarantine"
    return [
        Case("valid", H, ok, "silver", {"event_id": "ok-1", "user_id": "u1"}),
        Case("two objects on a line", H, line(event("a")) + line(event("b")), Q,
             {"multiple_json_values"}),
        Case("object then a number", H, line(event("c")) + b" 5", Q, {"multiple_json_values"}),
        Case("trailing garbage", H, line(event("d")) + b" xyz", Q, {"trailing_content"}),
        Case("trailing comma", H, line(event("e")) + b",", Q, {"trailing_content"}),
        Case("empty line", H, b"", Q, {"empty_body"}),
        Case("whitespace-only line", H, b" \t ", Q, {"malformed_json"}),
        Case("invalid UTF-8", H, b"\xff\xfe" + ok, Q, {"invalid_utf8"}),
        Case("nesting depth 10,000", H, deep, Q, {"malformed_json"}),
        Case("NaN literal", H, line(event("nan", watch_time_ms=0)).replace(b"0}", b"NaN}"),
             Q, {"malformed_json"}),
        Case("Infinity literal", H, line(event("inf", watch_time_ms=0)).replace(b"0}", b"Infinity}"),
             Q, {"malformed_json"}),
        Case("duplicate keys", H, b'{"event_id":"k1","event_id":"k2"}', Q, {"malformed_json"}),
        Case("null id", H, line(event("nul", user_id=None)), Q, {"missing_field:user_id"}),
        Case("unicode ids", H, line(event("ü-ευ-😀", user_id="ユーザー😀")), "silver",
             {"event_id": "ü-ευ-😀", "user_id": "ユーザー😀"}),
        Case("surrogate pair escape", H, line(event("pair")).replace(b'"u1"', b'"\\ud83d\\ude00"'),
             "silver", {"event_id": "pair", "user_id": "😀"}),
        Case("lone surrogate escape", H, line(event("lone")).replace(b'"u1"', b'"\\ud800x"'),
             Q, {"invalid_unicode_escape"}),
        Case("far future timestamp", H, line(event("future", timestamp=4_102_444_800_000)),
             Q, {"timestamp_out_of_range"}),
        Case("before 2000", H, line(event("old", timestamp=915_148_800_000)), Q,
             {"timestamp_out_of_range"}),
        Case("integral exponent", H, line(event("exp")).replace(str(TS).encode(), b"1.7e12"),
             "silver", {"event_id": "exp", "timestamp": 1_700_000_000_000}),
        Case("integral decimal", H, line(event("dec")).replace(b"1000}", b"1500.0}"), "silver",
             {"event_id": "dec", "watch_time_ms": 1500}),
        Case("fraction", H, line(event("frac")).replace(b"1000}", b"1.5}"), Q,
             {"invalid_type:watch_time_ms"}),
        Case("array", H, b"[1,2]", Q, {"not_json_object"}),
        Case("re-delivered copy", H, ok, "duplicate", "ok-1"),
        Case("CRLF 1", "crlf.jsonl", line(event("crlf-1")), "silver", {"event_id": "crlf-1"}),
        Case("CRLF 2", "crlf.jsonl", line(event("crlf-2")), "silver", {"event_id": "crlf-2"}),
        Case("byte-order mark", "bom.jsonl", BOM + line(event("bom")), "silver", {"event_id": "bom"}),
        Case("after the BOM line", "bom.jsonl", line(event("bom-2")), "silver", {"event_id": "bom-2"}),
        Case("bare CR inside an event", "cr.jsonl", bare_cr, "silver", {"event_id": "cr", "user_id": "u1"}),
        Case("5 MB line", "big.jsonl", big, "silver", {"event_id": "big"}),
    ]  # fmt: skip


def write_corpus(landing: Path, cases: list[Case]) -> dict[str, list[Case]]:
    """Write the landing files; {file name: its cases in line order}."""
    landing.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Case]] = {}
    for case in cases:
        files.setdefault(case.file, []).append(case)
    for name, file_cases in files.items():
        ending = b"\r\n" if name == "crlf.jsonl" else b"\n"
        (landing / name).write_bytes(b"".join(c.body + ending for c in file_cases))
    # an unreadable file beside them: a truncated gzip
    poison = gzip.compress(b"".join(line(event(f"poison-{i}")) + b"\n" for i in range(20)))
    (landing / "poison.jsonl.gz").write_bytes(poison[: len(poison) // 2])
    return files


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


@pytest.mark.slow
def test_hostile_corpus_every_line_accounted_for(spark, local_config, storage, tmp_path):
    cases = corpus()
    files = write_corpus(tmp_path / "landing", cases)
    config = local_config.replace(events_dir=str(tmp_path / "landing"))

    bronze = bronze_job.run(config, spark, storage)
    silver = silver_job.run(config, spark, storage)

    # bronze: one row per line, bytes exactly as they were written (BOM, bare CR kept; CRLF framing not)
    bronze_rows = {
        (_name(r["source_file"]), r["source_offset"]): bytes(r["body"])
        for r in storage.read(BRONZE_EVENTS.location(config)).collect()
    }
    expected_lines = {(name, i): c.body for name, fc in files.items() for i, c in enumerate(fc, start=1)}
    assert bronze_rows == expected_lines
    assert bronze.rows_ingested == len(cases) and bronze.files_read == len(files)
    ledger = {
        _name(r["file_path"]): r["lines"] for r in storage.read(LANDING_FILES.location(config)).collect()
    }
    assert ledger == {name: len(fc) for name, fc in files.items()}
    [bad] = storage.read(BAD_FILES.location(config)).collect()
    assert (_name(bad["file_path"]), bad["problem"]) == ("poison.jsonl.gz", "unreadable")
    assert bad["error"].startswith("gzip: truncated")

    # silver: every line is exactly one of silver row / quarantine row / duplicate, as expected
    silver_rows = {
        (_name(r["source_file"]), r["source_offset"]): r
        for r in storage.read(SILVER_EVENTS.location(config)).collect()
    }
    quarantined = {
        (_name(r["source_file"]), r["source_offset"]): set(r["reasons"])
        for r in storage.read(SILVER_QUARANTINE.location(config)).collect()
    }
    silver_ids = {r["event_id"] for r in silver_rows.values()}
    outcomes: dict[str, int] = {"silver": 0, "quarantine": 0, "duplicate": 0}
    for name, file_cases in files.items():
        for number, case in enumerate(file_cases, start=1):
            key = (name, number)
            assert (key in silver_rows) + (key in quarantined) == (case.outcome != "duplicate"), case.name
            if case.outcome == "silver":
                row = silver_rows[key]
                assert {k: row[k] for k in case.expect} == case.expect, case.name
            elif case.outcome == "quarantine":
                assert quarantined[key] == case.expect, case.name
            else:
                assert case.expect in silver_ids and key not in silver_rows, case.name
            outcomes[case.outcome] += 1
    assert len(silver_rows) == outcomes["silver"] and len(quarantined) == outcomes["quarantine"]
    # the conservation law, per run: lines in = silver rows + quarantine rows + duplicates
    assert silver.rows_read == len(cases) == sum(outcomes.values())
    assert (silver.rows_inserted, silver.rows_quarantined, silver.duplicates_dropped) == (
        outcomes["silver"],
        outcomes["quarantine"],
        outcomes["duplicate"],
    )
    assert silver.conserved


def test_kafka_message_bodies_follow_the_same_rules(spark):
    """One Kafka message is one record: two objects in one message are not two events."""
    now = dt.datetime(2026, 1, 2)
    bodies = [line(event("k1")), line(event("k2")) + line(event("k3")), line(event("k4")) + b" xyz"]
    rows = [
        Row(body=bytearray(b), source="kafka", source_partition="0", source_offset=i, source_key=None,
            enqueued_time=now, source_properties=None, source_file=None, ingestion_time=now,
            ingestion_batch_id=0, ingestion_date=now.date(), bronze_version=1)
        for i, b in enumerate(bodies)
    ]  # fmt: skip
    schema = (
        "body binary, source string, source_partition string, source_offset long, source_key binary, "
        "enqueued_time timestamp, source_properties map<string,string>, source_file string, "
        "ingestion_time timestamp, ingestion_batch_id long, ingestion_date date, bronze_version long"
    )
    validated = validate(spark.createDataFrame(rows, schema), load_contract())
    reasons = {
        r["source_offset"]: r["reasons"] for r in validated.select("source_offset", "reasons").collect()
    }
    assert reasons == {0: [], 1: ["multiple_json_values"], 2: ["trailing_content"]}


# --- poison and changed files through the CLI ----------------------------------------------------
def _events(prefix: str, n: int) -> bytes:
    return b"".join(line(event(f"{prefix}-{i}")) + b"\n" for i in range(n))


def _bronze(config, landing: Path, capsys) -> tuple[int, str, str]:
    code = main(
        [
            *("bronze", "--root", config.root, "--events-dir", str(landing), "--engine", config.engine),
            *("--shuffle-partitions", "2", "--log-level", "WARNING"),
        ]
    )
    out = capsys.readouterr()
    return code, out.out, out.err


def _bronze_ids(storage, config) -> list[str]:
    rows = storage.read(BRONZE_EVENTS.location(config)).collect()
    return sorted(json.loads(bytes(r["body"]))["event_id"] for r in rows)


@pytest.mark.slow
def test_corrupt_gzip_beside_good_files_is_quarantined_not_fatal(local_config, storage, tmp_path, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_bytes(_events("a", 3))
    (landing / "b.jsonl.gz").write_bytes(gzip.compress(_events("b", 2)))
    broken = gzip.compress(_events("c", 40))
    (landing / "c.jsonl.gz").write_bytes(broken[:-30])  # truncated in transit
    (landing / "d.jsonl.gz").write_bytes(_events("d", 1))  # not gzip at all

    code, out, err = _bronze(local_config, landing, capsys)
    assert code == 1  # enforce mode (the default): the run that finds it fails, after ingesting the rest
    assert "Traceback" not in err + out
    assert "bronze: 2 landing file(s) NOT ingested, recorded in ops.bad_files" in out + err
    assert "c.jsonl.gz" in err and "gzip: truncated" in err and "d.jsonl.gz" in err
    assert "land a repaired copy under a new file name" in err
    assert _bronze_ids(storage, local_config) == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    bad = {_name(r["file_path"]): r for r in storage.read(BAD_FILES.location(local_config)).collect()}
    assert sorted(bad) == ["c.jsonl.gz", "d.jsonl.gz"]
    assert bad["c.jsonl.gz"]["file_size"] == len(broken) - 30
    assert bad["c.jsonl.gz"]["file_modification_time"] is not None
    assert bad["c.jsonl.gz"]["error"].startswith("gzip: truncated")
    assert bad["d.jsonl.gz"]["error"].startswith("gzip: corrupt or not gzip data")

    # a rerun does not fail again for the same file, and ingests nothing twice
    code, out, err = _bronze(local_config, landing, capsys)
    assert code == 0 and "NOT ingested" not in out + err
    assert len(_bronze_ids(storage, local_config)) == 5

    # the repaired file, landed under a new name, is ingested by the next run - once
    (landing / "c-repaired.jsonl.gz").write_bytes(broken)
    code, out, err = _bronze(local_config, landing, capsys)
    assert code == 0, err
    ids = _bronze_ids(storage, local_config)
    assert len(ids) == 45 and len(set(ids)) == 45 and "c-39" in ids
    assert storage.read(BAD_FILES.location(local_config)).count() == 2


@pytest.mark.slow
def test_file_changed_after_ingestion_is_reported_once(local_config, storage, tmp_path, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_bytes(_events("a", 10))
    assert _bronze(local_config, landing, capsys)[0] == 0
    with (landing / "a.jsonl").open("ab") as f:  # 50 events appended to an ingested file
        f.write(_events("late", 50))

    code, out, err = _bronze(local_config, landing, capsys)
    assert code == 1 and "Traceback" not in out + err
    assert "modified_after_ingestion: " in err and "a.jsonl" in err and "the change was not ingested" in err
    [bad] = storage.read(BAD_FILES.location(local_config)).collect()
    assert (bad["problem"], bad["file_size"]) == (
        "modified_after_ingestion",
        (landing / "a.jsonl").stat().st_size,
    )
    assert len(_bronze_ids(storage, local_config)) == 10  # nothing of the change, nothing twice

    code, out, err = _bronze(local_config, landing, capsys)
    assert code == 0 and "modified_after_ingestion" not in out + err  # reported once

    # even a new checkpoint neither re-ingests the file nor reports it again
    shutil.rmtree(Path(local_config.root) / "_checkpoints")
    code, out, err = _bronze(local_config, landing, capsys)
    assert code == 0 and "modified_after_ingestion" not in out + err
    assert len(_bronze_ids(storage, local_config)) == 10


# --- a silver run that lost the race reports what it committed -------------------------------------
@pytest.mark.slow
def test_silver_run_that_lost_the_race_reports_nothing_inserted(spark, local_config, storage, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_bytes(_events("a", 7))
    config = local_config.replace(events_dir=str(landing))
    bronze_job.run(config, spark, storage)
    winner: list[SilverResult] = []

    def clock_with_a_competing_run() -> dt.datetime:
        # called after this run chose its bronze range and before it writes anything: exactly the
        # window in which a concurrent run on the same tables commits the same range
        winner.append(silver_job.run(config, spark, storage))
        return dt.datetime.now(dt.timezone.utc)

    loser = silver_job.run(config, spark, storage, now=clock_with_a_competing_run)
    assert winner[0].rows_inserted == 7 and not winner[0].already_committed
    assert loser.already_committed and loser.rows_inserted == 0
    assert "already merged into silver by another run: this run inserted nothing" in loser.summary()
    assert storage.read(SILVER_EVENTS.location(config)).count() == 7

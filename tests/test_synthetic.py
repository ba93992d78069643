"""The synthetic event generator: determinism, exact counts, realistic mess, and the real pipeline
(bronze then silver on local Spark) reproducing the generator's ground truth."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import jsonschema
import pytest

from medallion.cli import main
from medallion.contract import load_contract
from medallion.synthetic import EXPECTED_REASONS, INVALID_KINDS, SyntheticSpec, write_landing

MS_PER_DAY = 86_400_000
SMALL = SyntheticSpec(seed=7, users=60, videos=40, days=2, events_per_day=300, files_per_day=2)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _day_start_ms(path: Path) -> int:
    day = dt.date.fromisoformat(path.name[len("events-") : len("events-YYYY-MM-DD")])
    return (day - dt.date(1970, 1, 1)).days * MS_PER_DAY


_VALIDATOR = jsonschema.Draft202012Validator(load_contract(1).json_schema())


def classify(line: bytes) -> tuple[str, dict | None]:
    """'valid' or the invalid kind of one landing line, decided independently of the generator."""
    if line == b"":
        return "empty_line", None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "non_utf8", None
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return "truncated_json", None
    if "user_id" not in body:
        return "missing_user_id", body
    if isinstance(body.get("timestamp"), str):
        return "string_timestamp", body
    if body.get("event_type") not in ("watch", "like", "comment", "share", "follow"):
        return "unknown_event_type", body
    if body.get("watch_time_ms", 0) < 0:
        return "negative_watch_time", body
    _VALIDATOR.validate(body)  # anything else must be a valid event under the contract
    return "valid", body


def scan(folder: Path) -> dict:
    """Counts of what is really in the landing files, in arrival (= file name) order."""
    seen: dict[str, bytes] = {}
    out: Counter = Counter()
    kinds: Counter = Counter()
    types: Counter = Counter()
    bodies = []
    for path in _files(folder):
        day_start = _day_start_ms(path)
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n")
        for line in data.split(b"\n")[:-1]:
            out["records"] += 1
            kind, body = classify(line)
            if kind != "valid":
                kinds[kind] += 1
                continue
            previous = seen.get(body["event_id"])
            if previous is not None:
                assert previous == line, "a re-delivery must be an exact byte copy"
                out["duplicates"] += 1
                continue
            seen[body["event_id"]] = line
            out["valid"] += 1
            out["late"] += body["timestamp"] < day_start
            types[body["event_type"]] += 1
            bodies.append(body)
    return {"counts": out, "invalid": kinds, "types": types, "bodies": bodies}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_landing(SMALL, tmp_path / "a")
    b = write_landing(SMALL, tmp_path / "b")
    other = write_landing(replace(SMALL, seed=8), tmp_path / "c")
    assert a == b and other != a
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert [p.name for p in files_a] == [p.name for p in files_b] == list(a.files)
    for pa, pb in zip(files_a, files_b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
        assert pa.stat().st_mtime_ns == pb.stat().st_mtime_ns
    assert [p.read_bytes() for p in _files(tmp_path / "c")] != [p.read_bytes() for p in files_a]


def test_files_are_named_and_timed_in_arrival_order(tmp_path):
    summary = write_landing(SMALL, tmp_path)
    assert list(summary.files) == SMALL.file_names() == sorted(summary.files)
    assert summary.files[0] == "events-2026-01-01-000.jsonl"
    mtimes = [p.stat().st_mtime_ns for p in _files(tmp_path)]
    assert mtimes == sorted(mtimes) and len(set(mtimes)) == len(mtimes)
    with pytest.raises(FileExistsError):
        write_landing(SMALL, tmp_path)
    assert write_landing(SMALL, tmp_path, overwrite=True) == summary


def test_summary_counts_match_the_files(tmp_path):
    spec = replace(SMALL, duplicate_rate=0.1, late_rate=0.1, invalid_rate=0.1)
    summary = write_landing(spec, tmp_path)
    found = scan(tmp_path)
    counts = found["counts"]
    assert counts["records"] == summary.events == spec.days * spec.events_per_day
    assert counts["valid"] == summary.valid_events
    assert counts["duplicates"] == summary.duplicates
    assert counts["late"] == summary.late
    assert dict(found["invalid"]) == {k: n for k, n in summary.invalid.items() if n}
    assert dict(found["types"]) == {k: n for k, n in summary.event_types.items() if n}
    assert summary.events == summary.valid_events + summary.duplicates + summary.invalid_total
    assert summary.bytes_written == sum(p.stat().st_size for p in _files(tmp_path))
    assert summary.expected_quarantine_reasons == {
        EXPECTED_REASONS[k]: n for k, n in summary.invalid.items() if n
    }


@pytest.mark.slow
def test_mess_and_behaviour_at_roughly_the_configured_rates(tmp_path):
    spec = SyntheticSpec(
        seed=1,
        users=400,
        videos=300,
        days=3,
        events_per_day=6_000,
        duplicate_rate=0.04,
        late_rate=0.05,
        invalid_rate=0.02,
    )
    summary = write_landing(spec, tmp_path)
    n = summary.events
    assert summary.duplicates / n == pytest.approx(0.04, abs=0.002)
    assert 0 < summary.duplicates_in_later_file < summary.duplicates
    assert summary.invalid_total / n == pytest.approx(0.02, abs=0.002)
    assert all(summary.invalid[k] > 0 for k in INVALID_KINDS)  # every kind of mess is present
    assert summary.late / summary.valid_events == pytest.approx(0.05, abs=0.025)
    mix = {t: c / summary.valid_events for t, c in summary.event_types.items()}
    expected_mix = {"watch": 0.80, "like": 0.10, "comment": 0.04, "share": 0.03, "follow": 0.03}
    for t, share in expected_mix.items():
        assert mix[t] == pytest.approx(share, abs=0.015), (t, mix)

    bodies = scan(tmp_path)["bodies"]
    watches = [b for b in bodies if b["event_type"] == "watch"]
    per_video = sorted(Counter(b["video_id"] for b in watches).values(), reverse=True)
    per_user = sorted(Counter(b["user_id"] for b in bodies).values(), reverse=True)
    assert sum(per_video[:15]) > 0.25 * len(watches)  # top 5 % of videos: a quarter of all views
    assert sum(per_user[:40]) > 0.25 * len(bodies)  # top 10 % of users: a quarter of all activity
    with_duration = [b for b in watches if "video_duration_ms" in b]
    assert 0.8 < len(with_duration) / len(watches) < 0.99  # known for most, absent for some
    assert all(0 <= b["watch_time_ms"] <= 3 * b["video_duration_ms"] for b in with_duration)
    assert sum(b["watch_time_ms"] <= b["video_duration_ms"] for b in with_duration) > 0.8 * len(with_duration)
    # sessions: a user's consecutive watches are mostly minutes apart, not hours
    by_user: dict[str, list[int]] = {}
    for b in watches:
        by_user.setdefault(b["user_id"], []).append(b["timestamp"])
    gaps = [y - x for times in by_user.values() for x, y in pairwise(sorted(times))]
    assert sum(g < 10 * 60_000 for g in gaps) > 0.5 * len(gaps)
    dates = {dt.datetime.fromtimestamp(b["timestamp"] / 1000, dt.timezone.utc).date() for b in bodies}
    assert min(dates) < spec.start_date  # late events from before the first file's day
    assert spec.end_date in dates


def test_a_subset_of_days_is_written_exactly_as_in_the_full_run(tmp_path):
    full = write_landing(SMALL, tmp_path / "full")
    first = write_landing(SMALL, tmp_path / "parts", days=[0])
    second = write_landing(SMALL, tmp_path / "parts", days=[1])
    for name in full.files:
        assert (tmp_path / "parts" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    assert first.files + second.files == full.files
    for field in ("events", "valid_events", "duplicates", "late", "bytes_written"):
        assert getattr(first, field) + getattr(second, field) == getattr(full, field), field


def test_invalid_specs_are_rejected():
    with pytest.raises(ValueError, match="users"):
        SyntheticSpec(users=0)
    with pytest.raises(ValueError, match="duplicate_rate"):
        SyntheticSpec(duplicate_rate=1.5)
    assert SyntheticSpec(start_date="2026-03-01").start_date == dt.date(2026, 3, 1)


def test_generate_command_prints_the_summary(tmp_path, capsys):
    argv = ["generate", "--events", str(tmp_path / "landing"), "--days", "1", "--events-per-day", "200"]
    assert main([*argv, "--seed", "3", "--users", "30", "--videos", "20", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    reported = json.loads(out[-1])
    assert out[0].startswith("generated 200 records in 4 files")
    assert reported["events"] == 200
    assert reported["files"] == [p.name for p in _files(tmp_path / "landing")]
    again = write_landing(
        SyntheticSpec(seed=3, users=30, videos=20, days=1, events_per_day=200), tmp_path / "again"
    )
    assert reported["valid_events"] == again.valid_events and reported["invalid"] == again.invalid
    assert main(argv) == 2  # the files exist: refused, nothing overwritten


@pytest.mark.slow
def test_the_pipeline_reproduces_the_ground_truth(spark, storage, local_config, tmp_path):
    """Bronze then silver, one day at a time: silver's counts equal what the generator wrote."""
    from medallion.bronze import job as bronze_job
    from medallion.silver import job as silver_job
    from medallion.tables import SILVER_EVENTS, SILVER_QUARANTINE

    spec = replace(SMALL, duplicate_rate=0.1, invalid_rate=0.05, late_rate=0.1)
    landing = tmp_path / "landing"
    config = local_config.replace(events_dir=str(landing))
    duplicates_existing = 0
    reasons: Counter = Counter()
    truths = []
    for day in range(spec.days):
        truth = write_landing(spec, landing, days=[day])
        truths.append(truth)
        bronze = bronze_job.run(config, spark, storage)
        silver = silver_job.run(config, spark, storage)
        assert bronze.rows_ingested == truth.events
        assert silver.conserved
        assert silver.rows_read == truth.events
        assert silver.rows_inserted == truth.valid_events
        assert silver.rows_quarantined == truth.invalid_total
        assert silver.duplicates_dropped == truth.duplicates
        duplicates_existing += silver.duplicates_existing
        reasons.update(silver.quarantine_reasons)
    # the second day holds copies of first-day events: dropped against what silver already has
    assert truths[1].duplicates_in_later_file > 0 and duplicates_existing > 0
    assert dict(reasons) == dict(sum((Counter(t.expected_quarantine_reasons) for t in truths), Counter()))
    events = storage.read(SILVER_EVENTS.location(config))
    assert (
        events.count() == events.select("event_id").distinct().count() == sum(t.valid_events for t in truths)
    )
    assert storage.read(SILVER_QUARANTINE.location(config)).count() == sum(t.invalid_total for t in truths)

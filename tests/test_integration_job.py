"""``medallion integration-test`` (src/medallion/integration.py) at a tiny size on the session's Spark:
real synthetic landing files, real bronze/silver/gold jobs with their quality gates, real Delta
tables. The report's numbers are checked against the tables themselves, and a run whose outcome
cannot match the ground truth (a repeated seed re-delivers every event) must fail."""

from __future__ import annotations

import datetime as dt

import pytest

from medallion.cli import build_parser
from medallion.config import Config, ConfigError
from medallion.integration import (
    IntegrationTestFailed,
    make_spec,
    raise_for_mismatches,
    run_integration_test,
    seed_for,
)

TODAY = dt.date(2026, 11, 20)


def _tiny(seed: int):
    return make_spec(seed, days=2, events_per_day=150, today=TODAY)


@pytest.mark.slow
def test_integration_run_matches_the_ground_truth_and_a_replay_is_caught(spark, storage, engine, tmp_path):
    root = tmp_path / "warehouse"
    config = Config(environment="local", root=str(root), engine=engine, shuffle_partitions=2)
    work_root = tmp_path / "runs"

    report = run_integration_test(
        config, spark, storage, run_id="run-1", spec=_tiny(seed_for("run-1")), work_root=str(work_root)
    )
    assert report.ok, report.summary()
    raise_for_mismatches(report)  # does not raise
    truth = report.truth
    assert truth.invalid_total > 0 and truth.duplicates > 0  # the tiny set still has every kind of mess
    landing = work_root / "run-1" / "landing"
    assert report.landing == str(landing)
    assert sorted(p.name for p in landing.iterdir()) == sorted(truth.files)
    assert (work_root / "run-1" / "_checkpoints").is_dir()  # per-run checkpoints, not the warehouse's

    # the report's claims hold in the tables themselves
    def rows(layer: str, name: str) -> int:
        return storage.read(config.table(layer, name)).count()

    assert rows("bronze", "events") == truth.events
    assert rows("silver", "events") == truth.valid_events
    assert rows("silver", "events_quarantine") == truth.invalid_total
    assert rows("gold", "user_features") > 0 and rows("gold", "video_features") > 0
    checked = {c.name: c for c in report.checks}
    assert checked["silver rows inserted = valid unique events"].actual == truth.valid_events
    assert checked["silver rows quarantined = invalid records"].actual == truth.invalid_total
    assert "PASSED" in report.summary() and "MISMATCH" not in report.summary()

    # a second run with the same seed (another run id): every event is already in silver, so silver
    # inserts nothing - the mismatch is reported and the run fails.
    replay = run_integration_test(
        config, spark, storage, run_id="run-2", spec=_tiny(seed_for("run-1")), work_root=str(work_root)
    )
    assert not replay.ok
    failed = {c.name for c in replay.failures}
    assert "silver rows inserted = valid unique events" in failed
    assert "silver duplicates dropped = re-deliveries" in failed
    assert "bronze rows ingested = records written" not in failed  # bronze did ingest the new files
    assert "MISMATCH" in replay.summary() and "FAILED" in replay.summary()
    with pytest.raises(IntegrationTestFailed, match="silver rows inserted"):
        raise_for_mismatches(replay)
    assert rows("silver", "events") == truth.valid_events  # nothing was inserted twice


def test_seeds_and_specs():
    assert seed_for("123") == seed_for("123") != seed_for("124")
    spec = _tiny(1)
    assert spec.end_date == TODAY - dt.timedelta(days=1)  # nothing in the future of its ingestion
    with pytest.raises(ConfigError):
        make_spec(1, days=0)


def test_the_command_and_its_options_parse():
    """What the bundle's integration_test task passes is accepted by the command's parser."""
    args = build_parser().parse_args(
        [
            "integration-test",
            "--environment=databricks",
            "--catalog=dev",
            "--schema-prefix=dev_jane_it_",
            "--run-id=4711",
            "--work-root=/Volumes/dev/dev_jane_it_ops/checkpoints/integration",
            "--days=2",
            "--events-per-day=500",
        ]
    )
    assert args.command == "integration-test" and args.run_id == "4711" and args.days == 2
    assert args.func.__name__ == "cmd_integration_test"

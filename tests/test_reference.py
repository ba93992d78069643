"""The DuckDB single-node reference (benchmarks/reference.py) computes what the pipeline computes:
on one synthetic landing set with re-deliveries, late and invalid records, the real bronze, silver
and gold jobs (delta-rs) and the reference agree on every count and every feature value - and a
reference with another window length does not."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from medallion.bronze import job as bronze_job
from medallion.config import Config
from medallion.gold import job as gold_job
from medallion.silver import job as silver_job
from medallion.storage import get_storage
from medallion.synthetic import SyntheticSpec, write_landing
from medallion.tables import USER_FEATURES, VIDEO_FEATURES

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
#: Silver's reasons for lines a JSON reader cannot read at all (the reference counts them as one).
UNREADABLE_REASONS = ("malformed_json", "invalid_utf8", "empty_body")


def _load_reference():
    """benchmarks/reference.py as a module (the folder is not a package; it imports ``common``)."""
    added = str(BENCHMARKS) not in sys.path
    if added:
        sys.path.append(str(BENCHMARKS))
    try:
        path = BENCHMARKS / "reference.py"
        spec = importlib.util.spec_from_file_location("medallion_benchmarks_reference", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        if added and str(BENCHMARKS) in sys.path:
            sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def reference():
    return _load_reference()


@pytest.mark.slow
def test_reference_agrees_with_the_pipeline_on_counts_and_every_feature(spark, tmp_path, reference):
    spec = SyntheticSpec(
        seed=11,
        users=120,
        videos=60,
        days=4,
        events_per_day=1_000,
        files_per_day=3,
        duplicate_rate=0.04,
        late_rate=0.08,
        invalid_rate=0.03,
    )
    landing = tmp_path / "landing"
    truth = write_landing(spec, landing)
    assert truth.duplicates > 0 and truth.late > 0 and truth.duplicates_in_later_file > 0
    assert all(truth.invalid.values()), truth.invalid  # every kind of invalid record

    config = Config(
        environment="local",
        root=str(tmp_path / "warehouse"),
        events_dir=str(landing),
        engine="delta-rs",
        shuffle_partitions=2,
    )
    storage = get_storage(spark, config)
    bronze = bronze_job.run(config, spark, storage)
    silver = silver_job.run(config, spark, storage)
    gold = gold_job.run(config, spark, storage)

    result = reference.run_reference(landing)

    # silver's counts
    assert result.rows_read == bronze.rows_ingested == truth.events
    assert result.rows_inserted == silver.rows_inserted == truth.valid_events
    assert result.rows_quarantined == silver.rows_quarantined == truth.invalid_total
    assert result.duplicates_dropped == silver.duplicates_dropped == truth.duplicates
    assert result.conserved
    expected_reasons = dict(silver.quarantine_reasons)
    unreadable = sum(expected_reasons.pop(reason, 0) for reason in UNREADABLE_REASONS)
    expected_reasons[reference.UNREADABLE] = unreadable
    assert result.quarantine_reasons == expected_reasons

    # gold: the same rows (keys) and every value
    assert len(result.user_features) == gold.tables[USER_FEATURES.name].rows_written > 0
    assert len(result.video_features) == gold.tables[VIDEO_FEATURES.name].rows_written > 0
    assert list(result.user_features.columns) == USER_FEATURES.schema.fieldNames()
    assert list(result.video_features.columns) == VIDEO_FEATURES.schema.fieldNames()
    assert reference.compare_with_pipeline(result, storage, config) == {
        USER_FEATURES.name: 0,
        VIDEO_FEATURES.name: 0,
    }

    # the comparison can fail: a 6-day window, or one changed value, is caught
    six_days = reference.run_reference(landing, window_days=6)
    mismatches = reference.compare_with_pipeline(six_days, storage, config)
    assert mismatches[USER_FEATURES.name] > 0 and mismatches[VIDEO_FEATURES.name] > 0
    gold_frames = reference.read_gold(storage, config)
    changed = result.user_features.copy()
    changed.loc[changed.index[0], "watch_time_7d"] += 0.001
    assert reference.compare_frames(changed, gold_frames[USER_FEATURES.name], USER_FEATURES.schema) == 1
    fewer = result.video_features.iloc[1:]
    assert reference.compare_frames(fewer, gold_frames[VIDEO_FEATURES.name], VIDEO_FEATURES.schema) == 1

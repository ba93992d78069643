"""The gold job on real Delta tables (delta-rs) and real local Spark: incremental runs equal a full
recompute (late events and consecutive runs included), idempotent reruns, crash between the two
table commits, key metadata, MLflow tracking."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from medallion.contract import load_contract
from medallion.gold import job, plan
from medallion.gold.transforms import DateRange, user_features, video_features
from medallion.runs import RunRecorder, measure
from medallion.storage import TableNotFoundError
from medallion.tables import PROGRESS, SILVER_EVENTS, USER_FEATURES, VIDEO_FEATURES
from medallion.tables.schemas import events_schema

UTC = dt.timezone.utc
D0 = dt.date(2026, 1, 1)
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def at(n: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    d = day(n)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC)


class Silver:
    """A real silver.events table (schema, partitioning and change feed as the silver job makes
    it) that tests fill through the insert-only MERGE the silver job uses."""

    def __init__(self, spark, storage, config):
        self.spark, self.storage, self.config = spark, storage, config
        self.table = SILVER_EVENTS.location(config)
        self.schema = events_schema(load_contract())
        storage.create_if_missing(
            self.table, self.schema, SILVER_EVENTS.partition_by, SILVER_EVENTS.properties
        )
        self._next = 0

    def rows(self, events):
        """(event_type, user, video, ts, watch_ms, duration_ms) tuples -> silver rows."""
        out = []
        for event_type, user, video, ts, watch_ms, duration_ms in events:
            self._next += 1
            values = {
                "event_id": f"e{self._next:05d}",
                "event_type": event_type,
                "user_id": user,
                "video_id": video,
                "timestamp": int(ts.timestamp() * 1000),
                "watch_time_ms": watch_ms,
                "video_duration_ms": duration_ms,
                "schema_version": 1,
                "event_ts": ts,
                "event_date": ts.astimezone(UTC).date(),
                "source": "files",
                "source_file": "test.jsonl",
                "ingestion_time": NOW,
                "ingestion_batch_id": 0,
                "bronze_version": 0,
                "processed_time": NOW,
            }
            out.append(tuple(values.get(name) for name in self.schema.fieldNames()))
        return self.spark.createDataFrame(out, self.schema)

    def insert(self, events):
        return self.storage.merge(self.rows(events), self.table, keys=["event_id"], insert_only=True)

    def all(self):
        return self.storage.read(self.table)


def watch(user, video, n, watch_ms=1_000, duration_ms=None, hour=12):
    return ("watch", user, video, at(n, hour), watch_ms, duration_ms)


def other(event_type, user, video, n, hour=12):
    return (event_type, user, video, at(n, hour), None, None)


def history(first: int, last: int):
    """A few users and videos active on days first..last, with gaps per entity."""
    events = []
    for n in range(first, last + 1):
        events += [
            watch("u1", "v1", n, 1_000 * (n + 1), 60_000),
            watch("u2", f"v{n % 3}", n, 2_500, None if n % 2 else 10_000),
            other("like", "u2", "v1", n),
        ]
        if n % 3 == 0:
            events += [other("share", "u3", "v2", n), watch("u4", "v2", n, 700, 700, hour=23)]
    return events


@pytest.fixture(scope="session")
def shared_tracking_uri(tmp_path_factory):
    """One MLflow database for the tests that do not look at MLflow (creating one costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def config(local_config, shared_tracking_uri, request):
    return local_config.replace(mlflow_tracking_uri=shared_tracking_uri, mlflow_experiment=request.node.name)


@pytest.fixture
def silver(spark, storage, config):
    return Silver(spark, storage, config)


def gold_table(config, spec):
    return spec.location(config)


def assert_gold_equals_full_recompute(storage, config, silver):
    """Both gold tables hold exactly what the transforms compute over all of silver."""
    events = silver.all()
    dates = [r.event_date for r in events.select("event_date").distinct().collect()]
    first, last = min(dates), max(dates)
    for spec, transform in ((USER_FEATURES, user_features), (VIDEO_FEATURES, video_features)):
        actual = storage.read(gold_table(config, spec))
        expected = transform(events, first, last)
        # (the table's columns carry its catalog comments, the computed frame silver's)
        assert_df_equality(
            actual, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
        )
        assert actual.count() > 0


def gold_versions(storage, config):
    return {spec.name: storage.version(gold_table(config, spec)) for spec in (USER_FEATURES, VIDEO_FEATURES)}


@pytest.mark.slow
def test_incremental_runs_equal_a_full_recompute(spark, storage, config, silver):
    # run 1: first run over days 0..9 -> full
    silver.insert(history(0, 9))
    first = job.run(config, spark, storage)
    for t in first.tables.values():
        assert t.mode == plan.FULL and t.feature_ranges == [DateRange(day(0), day(9))]
        assert t.committed and t.rows_written > 0
    assert_gold_equals_full_recompute(storage, config, silver)

    # run 2: the next day arrives -> only that feature date
    silver.insert(history(10, 10))
    second = job.run(config, spark, storage)
    for t in second.tables.values():
        assert t.mode == plan.INCREMENTAL and t.feature_ranges == [DateRange(day(10), day(10))]
    assert_gold_equals_full_recompute(storage, config, silver)

    # run 3 (consecutive, one batch): a late event on day 2 and a new day 13 after two silent
    # days -> the late event's 7 dates, and 11..13 (users active on 7..10 appear on 11 and 12)
    silver.insert([watch("u9", "v1", 2, 4_000, 8_000), other("like", "u1", "v9", 2), *history(13, 13)])
    third = job.run(config, spark, storage)
    for t in third.tables.values():
        assert t.mode == plan.INCREMENTAL
        assert t.feature_ranges == [DateRange(day(2), day(8)), DateRange(day(11), day(13))]
    assert_gold_equals_full_recompute(storage, config, silver)
    gold = storage.read(gold_table(config, USER_FEATURES))
    assert gold.where(f"feature_date = DATE '{day(11)}' AND user_id = 'u1'").count() == 1  # no event on 11

    # run 4: a late event before the earliest date -> new earliest feature dates, nothing earlier
    silver.insert([other("comment", "u7", "v7", -3)])
    fourth = job.run(config, spark, storage)
    assert fourth.tables["user_features"].feature_ranges == [DateRange(day(-3), day(3))]
    assert_gold_equals_full_recompute(storage, config, silver)

    # a full refresh rewrites everything and finds the same result
    refreshed = job.run(config.replace(full_refresh=True), spark, storage)
    assert refreshed.tables["video_features"].mode == plan.FULL
    assert_gold_equals_full_recompute(storage, config, silver)


@pytest.mark.slow
def test_rerun_with_nothing_new_changes_nothing(spark, storage, config, silver):
    from pyspark.sql import functions as F

    silver.insert(history(0, 4))
    job.run(config, spark, storage)
    before = gold_versions(storage, config)
    rows_before = storage.read(gold_table(config, USER_FEATURES)).collect()

    again = job.run(config, spark, storage)
    assert {t.mode for t in again.tables.values()} == {plan.UP_TO_DATE}
    assert again.rows_written == 0
    assert gold_versions(storage, config) == before
    assert sorted(storage.read(gold_table(config, USER_FEATURES)).collect()) == sorted(rows_before)

    # a silver commit that inserts nothing (every row already there) writes nothing either
    existing_id = silver.all().first()["event_id"]
    duplicate = silver.rows([watch("u1", "v1", 1)]).withColumn("event_id", F.lit(existing_id))
    storage.merge(duplicate, silver.table, keys=["event_id"], insert_only=True)
    after_empty_commit = job.run(config, spark, storage)
    assert {t.mode for t in after_empty_commit.tables.values()} in ({plan.NO_NEW_ROWS}, {plan.UP_TO_DATE})
    assert gold_versions(storage, config) == before


def progress(storage, config, spec):
    """The silver version ``spec``'s table was last computed from (its ops.progress row)."""
    from medallion.progress import ProgressLog

    target_id = storage.table_id(gold_table(config, spec))
    return ProgressLog(storage, PROGRESS.location(config)).state(spec.progress_app_id, target_id).committed


@pytest.mark.slow
def test_crash_between_the_two_table_commits_is_completed_by_the_rerun(spark, storage, config, silver):
    from pyspark.sql import functions as F

    silver.insert(history(0, 5))
    job.run(config, spark, storage)
    v_first = storage.version(silver.table)
    silver.insert([*history(6, 7), watch("u5", "v5", 1, 9_000, 9_000)])
    v_second = storage.version(silver.table)

    class Crash(RuntimeError):
        pass

    seen = {}

    class CrashBeforeVideoFeatures:
        """A gate (medallion.runs.Gate) that fails the second table's check."""

        def warm_up(self, layer):
            seen["warm_up"] = layer

        def check(self, spec, candidate, metrics=None):
            seen[spec.name] = (spec, candidate.count(), metrics, measure(candidate))
            if spec.name == "video_features":
                raise Crash("simulated failure between the two commits")

    with pytest.raises(Crash):
        job.run(config, spark, storage, gate=CrashBeforeVideoFeatures())
    # the gate saw the user_features candidate with its spec and metrics before it was written
    spec, rows, metrics, measured = seen["user_features"]
    assert seen["warm_up"] == "gold"
    assert rows > 0 and metrics["silver_version"] == v_second
    assert spec is USER_FEATURES and spec.primary_key == ("user_id", "feature_date")
    assert metrics["feature_ranges"] == [DateRange(day(1), day(7))]
    # the rows and bytes it measured, and the silver events per day of the version it read
    assert (metrics["candidate_rows"], metrics["candidate_bytes"]) == measured and measured[0] == rows
    read = storage.read(silver.table, version=v_second).groupBy("event_date").count().collect()
    window = (day(1) - dt.timedelta(days=6), day(7))
    assert metrics["silver_events_per_day"] == {d: n for d, n in read if window[0] <= d <= window[1]}
    video_table = gold_table(config, VIDEO_FEATURES)
    assert progress(storage, config, USER_FEATURES) == v_second
    assert progress(storage, config, VIDEO_FEATURES) == v_first

    resumed = job.run(config, spark, storage)
    assert resumed.tables["user_features"].mode == plan.UP_TO_DATE
    video = resumed.tables["video_features"]
    assert video.mode == plan.INCREMENTAL and video.previous_silver_version == v_first
    assert video.feature_ranges == [DateRange(day(1), day(7))]
    assert progress(storage, config, VIDEO_FEATURES) == v_second
    assert_gold_equals_full_recompute(storage, config, silver)
    assert storage.read(video_table).where(F.col("video_id") == "v5").count() == 7  # days 1..7


def test_tables_carry_keys_and_are_partitioned_by_feature_date(spark, storage, config, silver):
    silver.insert(history(0, 2))
    job.run(config, spark, storage)
    for spec, key in ((USER_FEATURES, "user_id"), (VIDEO_FEATURES, "video_id")):
        table = gold_table(config, spec)
        properties = storage.properties(table)
        assert properties["medallion.primary_key"] == f"{key},feature_date"
        assert properties["medallion.timeseries_key"] == "feature_date"
        assert [f.name for f in storage.schema(table).fields] == spec.schema.fieldNames()
        files = storage.files(table)
        assert {f.partition_values["feature_date"] for f in files} == {day(0), day(1), day(2)}
        assert all("feature_date=" in f.path for f in files)
        # one row per key
        df = storage.read(table)
        assert df.count() == df.select(key, "feature_date").distinct().count()


@pytest.mark.slow
def test_every_run_is_logged_to_mlflow(spark, storage, local_config, silver):
    from mlflow import MlflowClient

    silver.insert(history(0, 3))
    result = job.run(local_config, spark, storage, recorder=RunRecorder(local_config, storage))
    assert result.mlflow_run_id
    client = MlflowClient(tracking_uri=local_config.tracking_uri)
    assert (
        local_config.tracking_uri.startswith("sqlite:///") and local_config.root in local_config.tracking_uri
    )
    experiment = client.get_experiment_by_name(local_config.experiment)
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [result.mlflow_run_id]
    logged = runs[0].data
    assert runs[0].info.run_name == "gold" and runs[0].info.status == "FINISHED"
    assert logged.params["user_features.feature_dates"] == f"{day(0)}..{day(3)}"
    assert logged.params["video_features.mode"] == "full"
    assert logged.params["silver_version"] == str(result.silver_version)
    users = storage.read(gold_table(local_config, USER_FEATURES)).count()
    assert logged.metrics["rows_written_user_features"] == users
    assert logged.metrics["rows_written_video_features"] == result.tables["video_features"].rows_written > 0
    assert logged.metrics["feature_dates_user_features"] == 4
    assert logged.metrics["duration_s"] > 0
    assert logged.tags["medallion.job"] == "gold" and logged.tags["medallion.status"] == "OK"

    # the no-op rerun is recorded too
    job.run(local_config, spark, storage, recorder=RunRecorder(local_config, storage))
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    assert len(runs) == 2
    assert runs[0].data.params["user_features.mode"] == "up-to-date"
    assert runs[0].data.metrics["rows_out"] == 0


@pytest.mark.slow
def test_empty_silver_writes_nothing_and_missing_silver_fails(spark, storage, config, silver):
    result = job.run(config, spark, storage)
    assert {t.mode for t in result.tables.values()} == {plan.NO_NEW_ROWS}
    assert storage.read(gold_table(config, USER_FEATURES)).count() == 0
    assert progress(storage, config, USER_FEATURES) is None
    # the first rows after that are a full computation
    silver.insert(history(0, 1))
    assert job.run(config, spark, storage).tables["user_features"].mode == plan.FULL
    assert_gold_equals_full_recompute(storage, config, silver)

    with pytest.raises(TableNotFoundError, match="run the silver job first"):
        job.run(config.replace(root=config.root + "-elsewhere"), spark, storage)

"""Quality gates on real local Spark, real Great Expectations 1.x and real Delta tables (delta-rs).

* every suite passes on good data, and a DataFrame breaking one expectation fails the suite with
  that expectation named (parametrised over every expectation);
* enforce raises with the expectation names and sample values, warn records and returns, off
  skips; every check writes a row to ops/quality_results and an MLflow run;
* write-audit-publish through the real silver and gold jobs: a failing batch in enforce mode
  leaves the published table at the same Delta version, warn publishes; ``medallion quality``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from pyspark.sql.types import StructField, StructType

from medallion.config import Config
from medallion.contract import load_contract
from medallion.errors import JobFailedError
from medallion.quality import QualityAlertError, QualityGate, QualityGateError, SuiteRunner, default_params
from medallion.quality.suites import MAX_WATCH_TIME_MS, suite_of
from medallion.storage.delta_rs import DeltaRsStorage
from medallion.tables import BRONZE_EVENTS, QUALITY_RESULTS, SILVER_EVENTS, USER_FEATURES, VIDEO_FEATURES
from medallion.tables.ops import QUALITY_RESULTS_SCHEMA
from medallion.tables.schemas import BRONZE_SCHEMA, USER_FEATURES_SCHEMA, VIDEO_FEATURES_SCHEMA, events_schema

D = dt.date(2026, 1, 2)
TS = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.timezone.utc)
SILVER_PARAMS = {"min_event_date": dt.date(2025, 12, 1), "max_event_date": dt.date(2026, 1, 31)}


def nullable(schema: StructType) -> StructType:
    """Candidate DataFrames are built with nullable columns so that tests can put nulls in."""
    return StructType([StructField(f.name, f.dataType, True) for f in schema.fields])


def frame(spark, schema: StructType, rows: list[dict]):
    names = schema.fieldNames()
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], nullable(schema))


# --- good data -------------------------------------------------------------------------------
SILVER_SCHEMA = events_schema(load_contract())


def silver_rows(n: int = 6) -> list[dict]:
    rows = []
    for i in range(n):
        watch = i % 2 == 0
        rows.append(
            {
                "event_id": f"e{i}",
                "event_type": "watch" if watch else ("like", "share", "comment", "follow")[i % 4],
                "user_id": f"u{i % 3}",
                "video_id": f"v{i % 2}",
                "timestamp": int(TS.timestamp() * 1000),
                "watch_time_ms": 1_000 * (i + 1) if watch else None,
                "video_duration_ms": 60_000,
                "schema_version": 1,
                "event_ts": TS,
                "event_date": D,
                "source": "files",
                "ingestion_time": TS,
                "ingestion_batch_id": 0,
                "bronze_version": 1,
                "processed_time": TS,
            }
        )
    rows[0]["watch_time_ms"] = 0  # both bounds are inclusive
    if n > 4:
        rows[4]["watch_time_ms"] = MAX_WATCH_TIME_MS
    return rows


def bronze_rows(n: int = 4) -> list[dict]:
    return [
        {
            "body": f'{{"event_id":"e{i}"}}'.encode(),
            "source": "files",
            "source_file": "landing/a.jsonl",
            "enqueued_time": TS,
            "ingestion_time": TS,
            "ingestion_batch_id": 3,
            "ingestion_date": D,
        }
        for i in range(n)
    ]


def user_rows() -> list[dict]:
    base = {
        "feature_date": D,
        "watch_time_7d": 12.5,
        "video_count_7d": 2,
        "watch_count_7d": 3,
        "like_count_7d": 1,
        "active_days_7d": 7,
        "last_event_ts": TS,
        "share_count_7d": 0,
        "comment_count_7d": 0,
    }
    return [
        {**base, "user_id": "u1"},
        {
            **base,
            "user_id": "u2",
            "video_count_7d": 0,
            "watch_count_7d": 0,
            "watch_time_7d": 0.0,
            "active_days_7d": 1,
        },
        {**base, "user_id": "u1", "feature_date": D + dt.timedelta(days=1)},
    ]


def video_rows() -> list[dict]:
    base = {
        "feature_date": D,
        "view_count_7d": 4,
        "unique_viewers_7d": 2,
        "watch_time_7d": 30.0,
        "like_count_7d": 0,
        "share_count_7d": 1,
        "comment_count_7d": 0,
    }
    return [
        {**base, "video_id": "v1"},
        {**base, "video_id": "v2"},
        {**base, "video_id": "v1", "feature_date": D - dt.timedelta(days=1)},
    ]


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runner():
    """One GX context for the whole module (as one per job run in production)."""
    return SuiteRunner()


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    """One MLflow database for the module (creating one costs seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('quality-mlflow') / 'mlflow.db'}"


@pytest.fixture
def config(local_config, tracking_uri, request) -> Config:
    return local_config.replace(
        mlflow_tracking_uri=tracking_uri, mlflow_experiment=f"quality-{request.node.name}"
    )


@pytest.fixture(scope="module")
def validator(spark, runner, tmp_path_factory):
    """A gate that only validates (records nothing): for the suite tests."""
    cfg = Config(environment="local", root=str(tmp_path_factory.mktemp("quality-suites")), engine="delta-rs")
    return QualityGate(cfg, DeltaRsStorage(spark), record=False, runner=runner)


@pytest.fixture
def gate(config, storage, runner):
    return QualityGate(config, storage, runner=runner)


def failed_names(result) -> set[str]:
    return {o.name for o in result.failures}


def results_rows(storage, config) -> list:
    return storage.read(QUALITY_RESULTS.location(config)).collect()


# --- silver suite ----------------------------------------------------------------------------
def test_silver_suite_passes_on_good_data(spark, validator):
    result = validator.validate(
        SILVER_EVENTS, frame(spark, SILVER_SCHEMA, silver_rows()), params=SILVER_PARAMS
    )
    assert result.success, result.message()
    assert result.status == "passed" and result.score == 1.0 and result.evaluated == 8
    # a passed row-level expectation reports 0 % unexpected
    assert result.unexpected_percent == {o.name: 0.0 for o in result.outcomes}


def _set(**values):
    def mutate(rows):
        rows[-1].update(values)
        return rows

    return mutate


SILVER_BREAKS = {
    "event_id_not_null": _set(event_id=None),
    "event_id_unique": _set(event_id="e0"),
    "user_id_not_null": _set(user_id=None),
    "video_id_not_null": _set(video_id=None),
    "event_type_in_contract": _set(event_type="download", watch_time_ms=None),
    "watch_time_ms_in_range_for_watch": _set(event_type="watch", watch_time_ms=MAX_WATCH_TIME_MS + 1),
    "watch_time_ms_in_range_for_watch/negative": _set(event_type="watch", watch_time_ms=-1),
    "watch_time_ms_not_null_for_watch": _set(event_type="watch", watch_time_ms=None),
    "event_date_in_accepted_range": _set(event_date=dt.date(2010, 1, 1)),
    "event_date_in_accepted_range/future": _set(event_date=dt.date(2026, 2, 1)),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(SILVER_BREAKS))
def test_silver_suite_fails_on_each_broken_expectation(spark, validator, case):
    expectation = case.split("/")[0]
    df = frame(spark, SILVER_SCHEMA, SILVER_BREAKS[case](silver_rows()))
    result = validator.validate(SILVER_EVENTS, df, params=SILVER_PARAMS)
    assert not result.success
    assert failed_names(result) == {expectation}, result.message()
    (failure,) = result.failures
    assert failure.unexpected_count >= 1 and failure.unexpected_percent > 0
    assert failure.sample_values, failure
    assert expectation in result.message()


def test_watch_time_range_applies_to_watch_events_only(spark, validator):
    """The row condition scopes the rule: a like with an out-of-range value is not flagged."""
    rows = silver_rows()
    rows[1].update(event_type="like", watch_time_ms=-5)
    result = validator.validate(SILVER_EVENTS, frame(spark, SILVER_SCHEMA, rows), params=SILVER_PARAMS)
    assert result.success, result.message()


def test_silver_default_params_come_from_contract_and_config(local_config):
    params = default_params(local_config.replace(max_quarantine_rate=0.07), SILVER_EVENTS, today=D)
    assert set(params["event_types"]) == {"watch", "like", "share", "comment", "follow"}
    assert params["max_event_date"] == D + dt.timedelta(days=1)
    assert params["min_event_date"] <= dt.date(2020, 1, 1)
    assert params["max_quarantine_rate"] == 0.07


@pytest.mark.parametrize(
    ("read", "quarantined", "passes"), [(100, 30, False), (100, 4, True), (100, 5, True), (0, 0, True)]
)
@pytest.mark.slow
def test_quarantine_rate_gate(spark, validator, read, quarantined, passes):
    df = frame(spark, SILVER_SCHEMA, silver_rows())
    result = validator.validate(
        SILVER_EVENTS,
        df,
        {"rows_read": read, "rows_quarantined": quarantined},
        params=SILVER_PARAMS,
    )
    assert result.success is passes, result.message()
    assert result.evaluated == 9 and "silver.events.batch" in result.suite
    rate = quarantined / read if read else 0.0
    assert result.batch_metrics["quarantine_rate"] == pytest.approx(rate)
    if not passes:
        assert failed_names(result) == {"quarantine_rate_at_most_max"}
        assert result.failures[0].sample_values == ("0.3",)


def test_quarantine_threshold_is_configurable(spark, validator):
    df = frame(spark, SILVER_SCHEMA, silver_rows())
    metrics = {"rows_read": 100, "rows_quarantined": 30}
    params = {**SILVER_PARAMS, "max_quarantine_rate": 0.5}
    assert validator.validate(SILVER_EVENTS, df, metrics, params=params).success


# --- bronze suite ----------------------------------------------------------------------------
@pytest.mark.slow
def test_bronze_suite_passes_on_good_data(spark, validator):
    df = frame(spark, BRONZE_SCHEMA, bronze_rows())
    result = validator.validate(BRONZE_EVENTS, df, {"inputs_read": 1})
    assert result.success, result.message()
    assert result.batch_metrics == {"inputs_read": 1, "rows": 4}


@pytest.mark.parametrize(
    "column", ["body", "source", "ingestion_time", "ingestion_batch_id", "ingestion_date"]
)
@pytest.mark.slow
def test_bronze_suite_fails_on_each_null_column(spark, validator, column):
    rows = bronze_rows()
    rows[2][column] = None
    result = validator.validate(BRONZE_EVENTS, frame(spark, BRONZE_SCHEMA, rows))
    assert failed_names(result) == {f"{column}_not_null"}, result.message()
    assert result.failures[0].sample_values == ("null",)


@pytest.mark.slow
def test_bronze_empty_batch_fails_only_when_input_was_read(spark, validator):
    empty = frame(spark, BRONZE_SCHEMA, [])
    read = validator.validate(BRONZE_EVENTS, empty, {"inputs_read": 2})
    assert failed_names(read) == {"batch_not_empty_when_input_read"}, read.message()
    nothing_read = validator.validate(BRONZE_EVENTS, empty, {"inputs_read": 0})
    assert nothing_read.success, nothing_read.message()


# --- gold suites -----------------------------------------------------------------------------
@pytest.mark.slow
def test_gold_suites_pass_on_good_data(spark, validator):
    for name, schema, rows, n in [
        (USER_FEATURES, USER_FEATURES_SCHEMA, user_rows(), 11),
        (VIDEO_FEATURES, VIDEO_FEATURES_SCHEMA, video_rows(), 9),
    ]:
        result = validator.validate(name, frame(spark, schema, rows))
        assert result.success, result.message()
        # the counts plus the extra *_count_7d columns the table has
        assert result.evaluated == n, [o.name for o in result.outcomes]


USER_BREAKS = {
    "user_id_not_null": (_set(user_id=None), set()),
    "feature_date_not_null": (_set(feature_date=None), set()),
    "user_id_feature_date_unique": (_set(feature_date=D), set()),
    "video_count_7d_non_negative": (_set(video_count_7d=-1), set()),
    # watch_count >= video_count >= 0: a negative watch count also breaks the pair rule
    "watch_count_7d_non_negative": (
        _set(video_count_7d=0, watch_count_7d=-1),
        {"video_count_7d_le_watch_count_7d"},
    ),
    "like_count_7d_non_negative": (_set(like_count_7d=-3), set()),
    "share_count_7d_non_negative": (_set(share_count_7d=-1), set()),
    "watch_time_7d_non_negative": (_set(watch_time_7d=-0.5), set()),
    "active_days_7d_in_1_7": (_set(active_days_7d=0), set()),
    "active_days_7d_in_1_7/eight": (_set(active_days_7d=8), set()),
    "video_count_7d_le_watch_count_7d": (_set(video_count_7d=4, watch_count_7d=3), set()),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(USER_BREAKS))
def test_user_features_suite_fails_on_each_broken_expectation(spark, validator, case):
    expectation = case.split("/")[0]
    mutate, also = USER_BREAKS[case]
    result = validator.validate(USER_FEATURES, frame(spark, USER_FEATURES_SCHEMA, mutate(user_rows())))
    assert failed_names(result) == {expectation} | also, result.message()
    assert expectation in result.message()


VIDEO_BREAKS = {
    "video_id_not_null": _set(video_id=None),
    "feature_date_not_null": _set(feature_date=None),
    "video_id_feature_date_unique": _set(feature_date=D),
    "view_count_7d_non_negative": _set(view_count_7d=-1),
    "unique_viewers_7d_non_negative": _set(unique_viewers_7d=-1),
    "like_count_7d_non_negative": _set(like_count_7d=-1),
    "watch_time_7d_non_negative": _set(watch_time_7d=-1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(VIDEO_BREAKS))
def test_video_features_suite_fails_on_each_broken_expectation(spark, validator, case):
    df = frame(spark, VIDEO_FEATURES_SCHEMA, VIDEO_BREAKS[case](video_rows()))
    result = validator.validate(VIDEO_FEATURES, df)
    assert failed_names(result) == {case}, result.message()


@pytest.mark.slow
def test_gold_recomputed_dates_need_rows_when_silver_had_events(spark, validator):
    df = frame(spark, USER_FEATURES_SCHEMA, user_rows())  # rows for D and D+1
    ok = {"silver_events": {D: 5, D + dt.timedelta(days=1): 2, D + dt.timedelta(days=2): 0}}
    assert validator.validate(USER_FEATURES, df, ok).success
    missing = {"silver_events": {D: 5, D + dt.timedelta(days=3): 1}}
    result = validator.validate(USER_FEATURES, df, missing)
    assert failed_names(result) == {"rows_per_recomputed_date"}, result.message()
    assert result.failures[0].sample_values == ("0",)


def test_batch_suites_run_on_the_driver_without_a_spark_job(spark, runner):
    """A batch-metrics frame holds figures the driver already has: GX's pandas engine validates it
    (same expectation, same outcome fields) and no Spark job is launched."""
    from medallion.quality.runner import driver_frame
    from medallion.quality.suites import gold_batch_suite

    ddl = "feature_date date, silver_events long, rows long"
    day = dt.timedelta(days=1)
    rows = [
        {"feature_date": D, "silver_events": 5, "rows": 3},
        {"feature_date": D + day, "silver_events": 2, "rows": 0},  # events but no row: unexpected
        {"feature_date": D + 2 * day, "silver_events": 0, "rows": 0},  # outside the row condition
    ]
    next_job = spark.sparkContext._jsc.sc().dagScheduler().nextJobId
    before = int(next_job())
    (outcome,) = runner.run(gold_batch_suite("user_features"), driver_frame(rows, ddl))
    (empty,) = runner.run(gold_batch_suite("user_features"), driver_frame([], ddl))
    assert int(next_job()) == before
    assert (outcome.name, outcome.success, outcome.unexpected_count, outcome.element_count) == (
        "rows_per_recomputed_date",
        False,
        1,
        2,
    )
    assert outcome.sample_values == ("0",) and outcome.unexpected_percent == 50.0
    assert empty.success


# --- the two GX engines: candidates on the driver (pandas) and on Spark -----------------------
def _many(*mutations):
    def mutate(rows):
        for i, values in enumerate(mutations):
            rows[i % len(rows)].update(values)
        return rows

    return mutate


ENGINE_CASES = {
    # several broken expectations at once, nulls in integer, double and timestamp columns
    "silver/many": (
        SILVER_EVENTS,
        SILVER_SCHEMA,
        silver_rows,
        _many(
            {"event_id": "e1", "watch_time_ms": None},
            {"video_id": None, "event_ts": None, "event_type": "download"},
            {"event_type": "watch", "watch_time_ms": -7, "event_date": dt.date(2010, 1, 1)},
        ),
    ),
    "user_features/many": (
        USER_FEATURES,
        USER_FEATURES_SCHEMA,
        user_rows,
        _many(
            {"video_count_7d": None, "watch_time_7d": None, "last_event_ts": None},
            {"watch_count_7d": -1, "active_days_7d": 9, "feature_date": D},
            {"user_id": None, "like_count_7d": None},
        ),
    ),
    "video_features/many": (
        VIDEO_FEATURES,
        VIDEO_FEATURES_SCHEMA,
        video_rows,
        _many({"video_id": "v2", "view_count_7d": -2}, {"feature_date": None, "watch_time_7d": -0.25}),
    ),
    "bronze/nulls": (
        BRONZE_EVENTS,
        BRONZE_SCHEMA,
        bronze_rows,
        _many({"body": None}, {"ingestion_time": None}),
    ),
}
for _case, _mutate in SILVER_BREAKS.items():
    ENGINE_CASES[f"silver/{_case}"] = (SILVER_EVENTS, SILVER_SCHEMA, silver_rows, _mutate)
for _case, (_mutate, _) in USER_BREAKS.items():
    ENGINE_CASES[f"user_features/{_case}"] = (USER_FEATURES, USER_FEATURES_SCHEMA, user_rows, _mutate)
for _case, _mutate in VIDEO_BREAKS.items():
    ENGINE_CASES[f"video_features/{_case}"] = (VIDEO_FEATURES, VIDEO_FEATURES_SCHEMA, video_rows, _mutate)


@pytest.fixture(scope="module")
def on_spark(spark, runner, tmp_path_factory):
    """A validating gate that never collects a candidate to the driver (GX's Spark engine)."""
    cfg = Config(environment="local", root=str(tmp_path_factory.mktemp("quality-spark")), engine="delta-rs")
    return QualityGate(cfg, DeltaRsStorage(spark), record=False, runner=runner, driver_max_bytes=0)


@pytest.mark.parametrize(
    "case",
    # the fast tier: one case breaking several kinds of expectation (pair, compound key, ranges,
    # not null) with nulls in string, integer, double, date and timestamp columns; the full tier:
    # every break of every suite
    [c if c == "user_features/many" else pytest.param(c, marks=pytest.mark.slow) for c in ENGINE_CASES],
)
def test_both_gx_engines_give_the_same_outcomes(spark, validator, on_spark, case):
    """A small candidate is validated by GX's pandas engine on the driver, a large one by its Spark
    engine: every outcome (success, counts, percentages, sample values, observed values) is the
    same either way, failures included."""
    from medallion.quality.runner import on_driver

    table, schema, rows, mutate = ENGINE_CASES[case]
    df = frame(spark, schema, mutate(rows()))
    params = SILVER_PARAMS if table is SILVER_EVENTS else None
    suite = suite_of(table).rows({**default_params(validator.config, table), **(params or {})})
    assert on_driver(df, suite) is not None  # the default gate takes the driver path for this frame
    driver = validator.validate(table, df, params=params)
    spark_engine = on_spark.validate(table, df, params=params)
    assert not driver.success
    assert driver.outcomes == spark_engine.outcomes, driver.message() + "\n---\n" + spark_engine.message()


def test_only_a_small_candidate_is_collected_without_the_columns_it_cannot_hold(spark):
    import great_expectations.expectations as gxe

    from medallion.quality.runner import on_driver
    from medallion.quality.suites import _suite, bronze_events_suite
    from medallion.runs import measure

    rows = bronze_rows(40)
    df = frame(spark, BRONZE_SCHEMA, rows)
    fixed = [f.name for f in BRONZE_SCHEMA.fields if f.dataType.typeName() not in ("string", "binary", "map")]
    size = 40 * 8 * len(fixed) + sum(len(r["body"]) + len(r["source"]) + len(r["source_file"]) for r in rows)
    assert measure(df) == (40, size)  # what the jobs pass as candidate_rows, candidate_bytes
    suite = bronze_events_suite()
    collected = on_driver(df, suite, max_bytes=size)
    assert len(collected) == 40
    assert "source_properties" not in collected.columns  # a map column the suite never names
    assert on_driver(df, suite, max_bytes=size - 1) is None
    assert on_driver(df, suite, max_bytes=0) is None
    # the job's count of the candidate: decided without a Spark job when the fixed-width values
    # alone are over the bound
    next_job = spark.sparkContext._jsc.sc().dagScheduler().nextJobId
    before = int(next_job())
    assert on_driver(df, suite, max_bytes=40 * 8 * len(fixed) - 1, rows=40) is None
    assert on_driver(df, suite, max_bytes=size - 1, rows=40, size=size) is None
    assert int(next_job()) == before
    on_map = _suite("t", [gxe.ExpectColumnValuesToNotBeNull(column="source_properties")])
    assert on_driver(df, on_map) is None  # named by the suite: validated on Spark


def test_a_missing_column_fails_with_the_error(spark, validator):
    df = frame(spark, SILVER_SCHEMA, silver_rows()).drop("video_id")
    result = validator.validate(SILVER_EVENTS, df, params=SILVER_PARAMS)
    assert failed_names(result) == {"video_id_not_null"}
    assert "video_id" in (result.failures[0].exception or "")


def test_a_file_context_can_replace_the_ephemeral_one(spark, storage, config, tmp_path):
    """For data docs: a gx/ project on disk, reused by a second run."""
    import great_expectations as gx

    for _ in range(2):
        context = gx.get_context(mode="file", project_root_dir=str(tmp_path))
        gate = QualityGate(config, storage, context=context, record=False)
        assert gate.validate(BRONZE_EVENTS, frame(spark, BRONZE_SCHEMA, bronze_rows())).success
    assert (tmp_path / "gx" / "great_expectations.yml").exists()
    assert any((tmp_path / "gx" / "checkpoints").iterdir())


# --- the gate: modes, results table, MLflow -------------------------------------------------
def bad_silver(spark):
    return frame(spark, SILVER_SCHEMA, SILVER_BREAKS["event_id_unique"](silver_rows()))


@pytest.mark.slow
def test_enforce_raises_naming_expectations_and_samples_and_records(spark, storage, gate, config):
    with pytest.raises(QualityGateError) as info:
        gate.check(
            SILVER_EVENTS, bad_silver(spark), {"rows_read": 10, "rows_quarantined": 3}, params=SILVER_PARAMS
        )
    message = str(info.value)
    assert "event_id_unique" in message and "'e0'" in message
    assert "quarantine_rate_at_most_max" in message and "0.3" in message
    assert "FAILED (enforce)" in message and "nothing was published" in message
    assert isinstance(info.value, JobFailedError)
    assert info.value.result.failed == 2 and info.value.result.alert

    (row,) = results_rows(storage, config)
    assert row["run_id"] == gate.run_id and row["layer"] == "silver" and row["table_name"] == "silver.events"
    assert row["status"] == "failed" and row["success"] is False and row["mode"] == "enforce"
    assert row["evaluated_expectations"] == 9 and row["failed_expectations"] == 2
    assert row["quality_score"] == pytest.approx(7 / 9) and row["alert"] is True
    assert set(row["failed_expectation_names"]) == {"event_id_unique", "quarantine_rate_at_most_max"}
    assert row["unexpected_percent"]["event_id_unique"] == pytest.approx(100 * 2 / 6)
    assert row["unexpected_percent"]["quarantine_rate_at_most_max"] == 100.0
    assert row["unexpected_percent"]["user_id_not_null"] == 0.0
    details = json.loads(row["details"])
    assert details["batch_metrics"]["rows_quarantined"] == 3
    assert {e["name"] for e in details["expectations"] if not e["success"]} == set(
        row["failed_expectation_names"]
    )


@pytest.mark.slow
def test_warn_returns_the_failure_records_it_and_alerts(spark, storage, gate, config):
    result = gate.check(SILVER_EVENTS, bad_silver(spark), params=SILVER_PARAMS, mode="warn")
    assert not result.success and result.status == "failed" and result.mode == "warn"
    assert result.score == pytest.approx(7 / 8) and result.alert  # 0.875 < 0.95
    (row,) = results_rows(storage, config)
    assert row["status"] == "failed" and row["mode"] == "warn" and row["alert"] is True
    with pytest.raises(QualityAlertError, match="event_id_unique"):
        gate.raise_for_alerts()


@pytest.mark.slow
def test_warn_mode_comes_from_the_config(spark, storage, runner, config):
    gate = QualityGate(config.replace(quality_silver="warn", min_quality_score=0.5), storage, runner=runner)
    result = gate.check(SILVER_EVENTS, bad_silver(spark), params=SILVER_PARAMS)
    assert result.mode == "warn" and not result.success and not result.alert
    gate.raise_for_alerts()  # score 0.875 >= 0.5: no alert


def test_off_skips_validation_and_records_a_skipped_row(spark, storage, runner, config):
    gate = QualityGate(config.replace(quality_gold="off"), storage, runner=runner)
    broken = frame(spark, USER_FEATURES_SCHEMA, USER_BREAKS["user_id_not_null"][0](user_rows()))
    result = gate.check(USER_FEATURES, broken)
    assert result.status == "skipped" and result.success and result.evaluated == 0
    (row,) = results_rows(storage, config)
    assert row["status"] == "skipped" and row["success"] is None and row["quality_score"] is None
    assert row["mode"] == "off" and row["evaluated_expectations"] == 0 and row["alert"] is False


@pytest.mark.slow
def test_passing_check_writes_results_row_and_mlflow_run(spark, storage, gate, config):
    result = gate.check(SILVER_EVENTS, frame(spark, SILVER_SCHEMA, silver_rows()), params=SILVER_PARAMS)
    assert result.success and result.score == 1.0 and not result.alert
    table = QUALITY_RESULTS.location(config)
    assert table == str(Path(config.root) / "ops" / "quality_results")
    assert storage.schema(table).fieldNames() == QUALITY_RESULTS_SCHEMA.fieldNames()
    (row,) = results_rows(storage, config)
    assert row["status"] == "passed" and row["success"] is True and row["quality_score"] == 1.0
    assert row["failed_expectation_names"] == [] and row["mlflow_run_id"] == result.mlflow_run_id
    assert row["duration_ms"] >= 0 and row["checked_at"] is not None

    run = MlflowClient(tracking_uri=config.tracking_uri).get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["quality_score"] == 1.0 and run.data.metrics["failed_expectations"] == 0
    assert run.data.metrics["unexpected_percent.event_id_unique"] == 0.0
    assert run.data.tags["medallion.run_id"] == gate.run_id and run.data.tags["medallion.status"] == "passed"
    assert run.data.params["table"] == "silver.events"

    # a second check of the same run appends a second row
    gate.check(SILVER_EVENTS, frame(spark, SILVER_SCHEMA, silver_rows()), params=SILVER_PARAMS)
    assert len(results_rows(storage, config)) == 2


# --- write-audit-publish through the real jobs ----------------------------------------------
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def event(i: int, **extra) -> bytes:
    body = {"event_id": f"evt-{i}", "event_type": "watch", "user_id": f"u{i % 4}", "video_id": f"v{i % 3}"}
    body.update(timestamp=T0 + i * 60_000, watch_time_ms=1_000 + i)
    body.update(extra)
    return json.dumps(body).encode()


@pytest.mark.slow
def test_silver_job_enforce_leaves_table_unchanged_then_warn_publishes(
    spark, storage, runner, config, tmp_path
):
    from medallion.bronze import job as bronze_job
    from medallion.silver import job as silver_job

    landing = tmp_path / "landing"
    landing.mkdir()
    cfg = config.replace(events_dir=str(landing))
    events_t = SILVER_EVENTS.location(cfg)

    def land(name, lines):
        (landing / name).write_bytes(b"\n".join(lines) + b"\n")
        bronze_job.run(cfg, spark, storage)

    land("a.jsonl", [event(i) for i in range(20)])
    first = silver_job.run(cfg, spark, storage, gate=QualityGate(cfg, storage, runner=runner))
    assert first.rows_inserted == 20
    published = storage.version(events_t)
    before = sorted(tuple(r) for r in storage.read(events_t).collect())

    # 7 valid + 3 invalid (watch without watch_time_ms): a 30 % quarantine rate
    land(
        "b.jsonl", [event(100 + i) for i in range(7)] + [event(200 + i, watch_time_ms=None) for i in range(3)]
    )
    with pytest.raises(QualityGateError, match=r"quarantine_rate_at_most_max.*0\.3"):
        silver_job.run(cfg, spark, storage, gate=QualityGate(cfg, storage, runner=runner))
    assert storage.version(events_t) == published
    assert sorted(tuple(r) for r in storage.read(events_t).collect()) == before

    warn = cfg.replace(quality_silver="warn")
    result = silver_job.run(warn, spark, storage, gate=QualityGate(warn, storage, runner=runner))
    assert result.rows_inserted == 7 and result.rows_quarantined == 3
    assert storage.version(events_t) > published
    rows = sorted(results_rows(storage, cfg), key=lambda r: r["checked_at"])
    assert [(r["mode"], r["status"]) for r in rows] == [
        ("enforce", "passed"),
        ("enforce", "failed"),
        ("warn", "failed"),
    ]
    assert rows[-1]["unexpected_percent"]["quarantine_rate_at_most_max"] == 100.0


def insert_silver(spark, storage, config, events):
    """(event_id, user, video, watch_time_ms) watch events on date D straight into silver.events."""
    schema = events_schema(load_contract())
    table = SILVER_EVENTS.location(config)
    storage.create_if_missing(table, schema, SILVER_EVENTS.partition_by, SILVER_EVENTS.properties)
    rows = []
    for event_id, user, video, watch_ms in events:
        row = {
            **silver_rows(1)[0],
            "event_id": event_id,
            "user_id": user,
            "video_id": video,
            "watch_time_ms": watch_ms,
        }
        rows.append(row)
    df = spark.createDataFrame([tuple(r.get(n) for n in schema.fieldNames()) for r in rows], schema)
    storage.merge(df, table, keys=["event_id"], insert_only=True)


@pytest.mark.slow
def test_gold_job_enforce_leaves_tables_unchanged(spark, storage, runner, config):
    from medallion.gold import job as gold_job

    insert_silver(spark, storage, config, [("g1", "u1", "v1", 5_000), ("g2", "u2", "v1", 7_000)])
    gold_job.run(config, spark, storage, gate=QualityGate(config, storage, runner=runner))
    tables = [USER_FEATURES.location(config), VIDEO_FEATURES.location(config)]
    published = [storage.version(t) for t in tables]
    ok = results_rows(storage, config)
    assert sorted(r["table_name"] for r in ok) == ["gold.user_features", "gold.video_features"]
    assert all(r["status"] == "passed" for r in ok)
    # the batch suite ran on the recomputed dates, with silver counts looked up per window
    details = json.loads(ok[0]["details"])
    assert all(d["silver_events"] >= 1 and d["rows"] >= 1 for d in details["batch_metrics"]["dates"])

    # a silver row that bypassed validation makes watch_time_7d negative
    insert_silver(spark, storage, config, [("g3", "u1", "v2", -90_000_000)])
    with pytest.raises(QualityGateError, match="watch_time_7d_non_negative"):
        gold_job.run(config, spark, storage, gate=QualityGate(config, storage, runner=runner))
    assert [storage.version(t) for t in tables] == published


@pytest.mark.slow
def test_medallion_quality_command(spark, storage, config, capsys):
    from medallion.cli import main

    insert_silver(spark, storage, config, [("q1", "u1", "v1", 5_000), ("q2", "u2", "v1", -1)])
    args = ["quality", "--layer", "silver", "--table", "events", "--root", config.root]
    args += ["--mlflow-tracking-uri", config.tracking_uri]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "watch_time_ms_in_range_for_watch" in err and "-1" in err

    assert main([*args, "--where", "event_id = 'q1'"]) == 0
    assert "passed (enforce)" in capsys.readouterr().out
    assert main([*args, "--quality-silver", "warn"]) == 0
    assert "FAILED (warn)" in capsys.readouterr().out
    statuses = [
        (r["mode"], r["status"]) for r in sorted(results_rows(storage, config), key=lambda r: r["checked_at"])
    ]
    assert statuses == [("enforce", "failed"), ("enforce", "passed"), ("warn", "failed")]

    assert main(["quality", "--layer", "gold", "--table", "user_features", "--root", config.root]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_warm_up_imports_gx_in_the_background_only_where_a_gate_validates():
    """A job calls warm_up once it has new data: GX's import (seconds) overlaps its Spark work. A
    layer whose gate is off never imports GX (checked in a fresh process, where GX is not loaded)."""
    import subprocess
    import sys

    code = "\n".join(
        [
            "import sys, threading",
            "from medallion.config import Config",
            "from medallion.quality import QualityGate",
            "gate = QualityGate(Config(environment='local', quality_silver='off'), storage=None)",
            "gate.warm_up('silver')",
            "print('off', 'great_expectations' in sys.modules, threading.active_count())",
            "gate.warm_up('gold'); names = [t.name for t in threading.enumerate()]; gate._warmed()",
            "print('gold', 'medallion-gx-warm-up' in names, 'great_expectations' in sys.modules)",
            "print(gate.runner.ready)",
        ]
    )
    argv = [sys.executable, "-c", code]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["off", "False", "1", "gold", "True", "True", "True"]

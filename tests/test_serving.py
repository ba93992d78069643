"""The serving layer's definitions, configuration and pure transforms (no online store).

The Feast feature views are generated from the table registry; these tests fail when a gold column
has no feature or a feature has no gold column, and pin the pure transforms with chispa."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from medallion.config import Config, ConfigError, redact_url
from medallion.secrets import SecretProvider
from medallion.serving.definitions import EVENT_TIMESTAMP, TTL, VIEWS, feast_objects
from medallion.serving.plan import INACTIVE, available_at, changed_rows, inactive_values, training_set
from medallion.serving.store import REDIS, SQLITE, online_target, parse_redis
from medallion.tables import FEATURE_TABLES, USER_FEATURES

D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)


# --- definitions --------------------------------------------------------------------------
@pytest.mark.parametrize("table", FEATURE_TABLES, ids=lambda t: t.name)
def test_every_gold_column_is_a_feature_and_every_feature_a_gold_column(table):
    view = VIEWS[table.name]
    columns = [f.name for f in table.schema_for().fields]
    assert [*table.primary_key] == [view.join_key, table.timeseries_key]
    assert list(view.feature_names) == [c for c in columns if c not in table.primary_key]


def test_feast_objects_follow_the_registry():
    from feast import Entity, FeatureView

    objects = feast_objects(lambda t: f"delta.`/wh/{t.layer}/{t.name}`")
    views = {o.name: o for o in objects if isinstance(o, FeatureView)}
    entities = {o.name: o for o in objects if isinstance(o, Entity)}
    assert set(views) == {t.name for t in FEATURE_TABLES}
    assert set(entities) == {"user", "video"}
    for name, fv in views.items():
        spec = VIEWS[name]
        assert [f.name for f in fv.features] == list(spec.feature_names)
        assert fv.entities == [spec.entity]
        assert fv.ttl == TTL == dt.timedelta(days=1)
        assert fv.batch_source.timestamp_field == EVENT_TIMESTAMP
        assert f"delta.`/wh/gold/{name}`" in fv.batch_source.query
        assert "date_add(feature_date, 1)" in fv.batch_source.query


def test_feature_row_becomes_known_at_the_end_of_its_day():
    assert available_at(D1) == dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)


def test_inactive_values_read_as_no_activity():
    values = inactive_values(VIEWS["user_features"])
    assert values["watch_count_7d"] == 0 and values["watch_time_7d"] == 0.0
    assert values["last_event_ts"] is None and values["avg_watch_time_7d"] is None


# --- configuration --------------------------------------------------------------------------
def test_redis_urls_and_azure_connection_strings():
    feast, options, where = parse_redis("redis://:p%40ss@127.0.0.1:6390/2")
    assert options == {"host": "127.0.0.1", "port": 6390, "db": 2, "password": "p@ss"}
    assert feast == '127.0.0.1:6390,db=2,password="p@ss"' and where == "redis://127.0.0.1:6390/2"
    feast, options, where = parse_redis(
        "c.redis.cache.windows.net:6380,password=abc+/=,ssl=True,abortConnect=False"
    )
    assert options == {
        "host": "c.redis.cache.windows.net",
        "port": 6380,
        "db": 0,
        "password": "abc+/=",
        "ssl": True,
    }
    assert where == "rediss://c.redis.cache.windows.net:6380/0" and "abortConnect" not in feast
    assert parse_redis("rediss://h/0")[1]["port"] == 6380
    for bad in ("http://h:1/0", "redis://h:1/x", "nohostport"):
        with pytest.raises(ConfigError):
            parse_redis(bad)


def test_online_store_from_flag_secret_or_embedded(tmp_path):
    config = Config(root=str(tmp_path))
    empty = SecretProvider("medallion", env={})
    target = online_target(config, empty)
    assert target.kind == SQLITE and target.where == f"sqlite:{tmp_path}/serving/online.db"
    from_secret = SecretProvider(
        "medallion", env={"MEDALLION_SECRET_REDIS_CONNECTION_STRING": "redis://:pw@h:1/0"}
    )
    target = online_target(config, from_secret)
    assert target.kind == REDIS and target.where == "redis://h:1/0" and "pw" not in repr(target)
    assert online_target(config.replace(redis_url="redis://h:2/0"), empty).where == "redis://h:2/0"
    with pytest.raises(ConfigError, match="needs a Redis"):
        online_target(config.replace(environment="databricks"), empty)
    # on Databricks the connection string comes from the secret scope, through dbutils
    scope = SecretProvider("medallion", dbutils_get=lambda scope, key: f"rediss://:pw@{scope}-{key}:6380/0")
    target = online_target(config.replace(environment="databricks"), scope)
    assert target.where == "rediss://medallion-redis-connection-string:6380/0"
    assert target.redis_options["ssl"] is True and "pw" not in target.where


def test_the_redis_password_is_never_shown():
    config = Config(redis_url="redis://:s3cret@h:1/0")
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.describe())
    assert redact_url("rediss://user:p@ss@h:1/0") == "rediss://user:***@h:1/0"
    azure = "c.redis.cache.windows.net:6380,password=abc+/=,ssl=True"
    assert redact_url(azure) == "c.redis.cache.windows.net:6380,password=***,ssl=True"
    assert "abc+/=" not in str(Config(redis_url=azure).describe())


# --- pure transforms ---------------------------------------------------------------------
def _user_rows(spark, rows):
    """Gold user rows from (user_id, feature_date, watch_count); the other features follow."""
    schema = USER_FEATURES.schema_for()
    last = dt.datetime(2026, 1, 1, 12)
    data = [(u, d, n * 10.0, n, n, 0, 1, last, 0, 0, 10.0, 0.5) for u, d, n in rows]
    return spark.createDataFrame(data, schema)


def test_changed_rows_writes_new_changed_and_inactive_rows_only(spark):
    view = VIEWS["user_features"]
    served = _user_rows(spark, [("a", D1, 1), ("b", D1, 2), ("c", D1, 3)])
    current = _user_rows(spark, [("a", D2, 5), ("b", D2, 2), ("d", D2, 1)])
    out = changed_rows(current, served, view, D2)
    got = {r["user_id"]: (r["watch_count_7d"], r[INACTIVE], r[EVENT_TIMESTAMP]) for r in out.collect()}
    at = dt.datetime(2026, 1, 3)
    assert got == {"a": (5, False, at), "d": (1, False, at), "c": (0, True, at)}  # b is unchanged
    inactive = out.where("user_id = 'c'").drop(INACTIVE, EVENT_TIMESTAMP)
    expected = spark.createDataFrame([("c", 0.0, 0, 0, 0, 0, None, 0, 0, None, None)], inactive.schema)
    assert_df_equality(inactive, expected)


def test_full_changed_rows_cover_every_entity_gold_has_seen(spark):
    view = VIEWS["user_features"]
    current = _user_rows(spark, [("a", D2, 5)])
    every = _user_rows(spark, [("a", D1, 1), ("z", D1, 1), ("a", D2, 5)]).select("user_id")
    out = changed_rows(current, current.limit(0), view, D2, every)
    assert sorted((r["user_id"], r[INACTIVE]) for r in out.collect()) == [("a", False), ("z", True)]


def test_training_set_uses_the_previous_days_row_only(spark):
    view = VIEWS["user_features"]
    gold = _user_rows(spark, [("a", D1, 1), ("a", D2, 2), ("b", D2, 7)])
    labels = spark.createDataFrame(
        [
            ("a", dt.datetime(2026, 1, 1, 23, 59), 1),  # same day as a's first events: before them
            ("a", dt.datetime(2026, 1, 2, 8, 0), 1),  # the row of D1
            ("a", dt.datetime(2026, 1, 3, 0, 0), 0),  # midnight: D2 is complete
            ("b", dt.datetime(2026, 1, 2, 9, 0), 1),  # no row on D1: inactive
            ("a", dt.datetime(2026, 1, 4, 9, 0), 1),  # D3 is after gold's latest date: unknown
            ("n", dt.datetime(2025, 12, 1, 9, 0), 0),  # before anything: inactive
        ],
        "user_id string, label_ts timestamp, label int",
    )
    out = training_set(labels, gold, view, D2).orderBy("label_ts")
    got = [(r["user_id"], r["label_ts"].date(), r["user_features__watch_count_7d"]) for r in out.collect()]
    assert got == [
        ("n", dt.date(2025, 12, 1), 0),
        ("a", D1, 0),
        ("a", D2, 1),
        ("b", D2, 0),
        ("a", D3, 2),
        ("a", dt.date(2026, 1, 4), None),
    ]
    assert out.columns[:3] == ["user_id", "label_ts", "label"]
    assert len(out.columns) == 3 + len(view.feature_names)


@pytest.mark.slow
def test_the_shipped_feature_repo_applies_with_the_feast_cli(tmp_path):
    """``feast apply`` on the feature repository the wheel ships registers both feature views."""
    import os
    import shutil
    import subprocess
    import sys
    from importlib.resources import files
    from pathlib import Path

    repo = tmp_path / "repo"
    shutil.copytree(Path(str(files("medallion.serving") / "feature_repo")), repo)
    feast = str(Path(sys.executable).parent / "feast")
    env = {**os.environ, "MEDALLION_ROOT": str(tmp_path / "wh"), "FEAST_USAGE": "False"}
    run = subprocess.run(
        [feast, "apply", "--skip-source-validation"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    listed = subprocess.run(
        [feast, "feature-views", "list"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert {"user_features", "video_features"} <= set(listed.stdout.split()), listed.stdout

"""``medallion materialize`` against real online stores - Debian's redis-server (tests/redis_server.py)
and Feast's embedded SQLite store - on both storage engines: after every materialisation the online
store answers, for every entity gold has seen, exactly what gold says for its latest feature date
(brute force over all entities), including entities that left the 7-day window; writes are
incremental; a crash between the online writes and the commit is repaired by the rerun; a bad
Redis fails clearly with nothing changed."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from medallion.cli import main
from medallion.serving import job
from medallion.serving.definitions import VIEWS
from medallion.serving.lookup import lookup
from medallion.serving.plan import inactive_values
from medallion.serving.store import feature_store, online_target
from medallion.tables import FEATURE_TABLES, ONLINE_TABLES, PROGRESS, USER_FEATURES, VIDEO_FEATURES

D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)
LAST = dt.datetime(2026, 1, 1, 12, 0, 0)


def user_row(user, day, n, last=LAST):
    return (user, day, n * 10.0, n, n, n % 2, 1, last, 0, 0, 10.0, None if n == 3 else 0.5)


def video_row(video, day, n):
    return (video, day, n, n, n * 10.0, 0, 0, 0, 10.0, 0.25)


class Gold:
    """The two gold tables, written through the storage adapter of the engine under test."""

    def __init__(self, spark, storage, config):
        self.spark, self.storage, self.config = spark, storage, config
        for spec in FEATURE_TABLES:
            spec.create_if_missing(storage, config)

    def put(self, spec, day, rows):
        """Replace feature date ``day`` of a gold table with ``rows`` (as the gold job does)."""
        df = self.spark.createDataFrame(rows, spec.schema_for())
        self.storage.replace_where(df, spec.location(self.config), f"feature_date = DATE'{day.isoformat()}'")

    def expected(self, spec) -> dict[str, dict]:
        """Brute force: every entity gold has seen -> its values of the latest feature date, or the
        inactive values when it has no row there."""
        view = VIEWS[spec.name]
        rows = [r.asDict() for r in self.storage.read(spec.location(self.config)).collect()]
        latest = max(r["feature_date"] for r in rows)
        out = {}
        for r in rows:
            out.setdefault(r[view.join_key], dict(inactive_values(view)))
        for r in rows:
            if r["feature_date"] == latest:
                out[r[view.join_key]] = {n: r[n] for n in view.feature_names}
        return out


def online(store, spec, ids) -> dict[str, dict]:
    view = VIEWS[spec.name]
    return {r[view.join_key]: {n: r[n] for n in view.feature_names} for r in lookup(store, view, sorted(ids))}


def _comparable(values: dict) -> dict:
    # Feast keeps timestamps to the second (UnixTimestamp); lookup renders them as UTC ISO text
    return {
        k: (v.replace(microsecond=0).isoformat() + "+00:00" if isinstance(v, dt.datetime) else v)
        for k, v in values.items()
    }


def assert_online_equals_gold(store, gold):
    for spec in FEATURE_TABLES:
        expected = gold.expected(spec)
        got = online(store, spec, expected)
        assert got == {k: _comparable(v) for k, v in expected.items()}, spec.name


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.slow), "sqlite"])
def online_config(request, local_config, tmp_path):
    """The local config with an online store: a fresh Redis database, or the embedded store."""
    if request.param == "sqlite":
        return local_config
    server = request.getfixturevalue("redis_server")
    server.client(db=3).flushdb()
    return local_config.replace(redis_url=server.url(db=3))


def test_online_store_follows_gold_incrementally(spark, storage, online_config):
    config = online_config
    gold = Gold(spark, storage, config)
    gold.put(USER_FEATURES, D1, [user_row("a", D1, 1), user_row("b", D1, 2), user_row("c", D1, 3)])
    gold.put(VIDEO_FEATURES, D1, [video_row("x", D1, 1), video_row("y", D1, 2)])
    target = online_target(config)
    first = job.run(config, spark, storage, target=target)
    store = feature_store(config, target)
    assert {v.mode for v in first.views.values()} == {job.FULL}
    assert first.views["user_features"].rows_written == 3
    assert_online_equals_gold(store, gold)

    # a new day: a changes, b is the same, c leaves the window, d arrives; video y leaves
    gold.put(USER_FEATURES, D2, [user_row("a", D2, 5), user_row("b", D2, 2), user_row("d", D2, 1)])
    gold.put(VIDEO_FEATURES, D2, [video_row("x", D2, 4)])
    second = job.run(config, spark, storage, target=target)
    users = second.views["user_features"]
    assert (users.mode, users.latest_feature_date) == (job.INCREMENTAL, D2)
    assert (users.rows_written, users.inactive_written) == (3, 1)  # a, d and c (inactive); not b
    assert second.views["video_features"].inactive_written == 1
    assert_online_equals_gold(store, gold)
    c = online(store, USER_FEATURES, ["c"])["c"]
    assert c["watch_count_7d"] == 0 and c["last_event_ts"] is None  # not yesterday's numbers

    # late events recompute the latest date: only the changed entity is written
    gold.put(USER_FEATURES, D2, [user_row("a", D2, 6), user_row("b", D2, 2), user_row("d", D2, 1)])
    third = job.run(config, spark, storage, target=target)
    assert third.views["user_features"].rows_written == 1
    assert third.views["video_features"].mode == job.UP_TO_DATE
    assert_online_equals_gold(store, gold)
    assert job.run(config, spark, storage, target=target).rows_written == 0  # nothing new

    # a full refresh rewrites every entity gold has seen, and agrees
    full = job.run(config.replace(full_refresh=True), spark, storage, target=target)
    assert full.views["user_features"].rows_written == 4
    assert_online_equals_gold(store, gold)


class Crash(RuntimeError):
    pass


@pytest.mark.slow
def test_crash_between_online_writes_and_commit_then_rerun_equals_a_clean_run(
    spark, storage, local_config, redis_server
):
    gold = Gold(spark, storage, local_config)
    gold.put(USER_FEATURES, D1, [user_row("a", D1, 1), user_row("b", D1, 2), user_row("c", D1, 3)])
    gold.put(VIDEO_FEATURES, D1, [video_row("x", D1, 1)])
    crashed, clean = (local_config.replace(redis_url=redis_server.url(db=db)) for db in (4, 5))
    for db in (4, 5):
        redis_server.client(db=db).flushdb()
    for config in (crashed, clean):
        job.run(config, spark, storage)
    gold.put(USER_FEATURES, D2, [user_row("a", D2, 7), user_row("d", D2, 1)])
    gold.put(VIDEO_FEATURES, D2, [video_row("x", D2, 2), video_row("z", D2, 1)])

    def crash(view):
        if view == "user_features":
            raise Crash("the process died after writing Redis")

    served = ONLINE_TABLES["user_features"].location(local_config)
    before = storage.version(served)
    with pytest.raises(Crash):
        job.run(crashed, spark, storage, after_online_write=crash)
    assert storage.version(served) == before  # nothing committed for the crashed view
    rerun = job.run(crashed, spark, storage)
    assert rerun.views["user_features"].rows_written == 4  # the same rows again: a, d; b, c inactive
    job.run(clean, spark, storage)
    stores = [feature_store(c, online_target(c)) for c in (crashed, clean)]
    for spec in FEATURE_TABLES:
        ids = gold.expected(spec)
        assert online(stores[0], spec, ids) == online(stores[1], spec, ids), spec.name
    assert_online_equals_gold(stores[0], gold)


@pytest.mark.parametrize("problem", [pytest.param("wrong password", marks=pytest.mark.slow), "unreachable"])
def test_bad_redis_fails_clearly_and_changes_nothing(
    spark, storage, local_config, redis_server, capsys, problem
):
    gold = Gold(spark, storage, local_config)
    gold.put(USER_FEATURES, D1, [user_row("a", D1, 1)])
    gold.put(VIDEO_FEATURES, D1, [video_row("x", D1, 1)])
    secret = "not-the-password-0123"
    if problem == "wrong password":
        url = redis_server.url(password=secret)
    else:
        url = f"redis://:{secret}@127.0.0.1:1/0"  # nothing listens on port 1
    versions = {s.key: storage.version(s.location(local_config)) for s in (*FEATURE_TABLES, PROGRESS)}
    code = main(
        ["materialize", "--root", local_config.root, "--engine", local_config.engine, "--redis-url", url]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert ("authentication failed" if problem == "wrong password" else "is unreachable") in err
    assert "medallion materialize: FAILED: online store redis://" in err
    assert secret not in out + err
    assert versions == {s.key: storage.version(s.location(local_config)) for s in (*FEATURE_TABLES, PROGRESS)}
    assert not any(storage.exists(t.location(local_config)) for t in ONLINE_TABLES.values())


def test_features_get_prints_one_json_object_per_entity(spark, storage, local_config, capsys):
    gold = Gold(spark, storage, local_config)
    gold.put(USER_FEATURES, D1, [user_row("a", D1, 2)])
    gold.put(VIDEO_FEATURES, D1, [video_row("x", D1, 1)])
    job.run(local_config, spark, storage)  # the embedded online store: nothing to configure
    capsys.readouterr()
    argv = ["features", "get", "--root", local_config.root, "--user-id", "a", "--user-id", "nobody"]
    assert main([*argv, "--video-id", "x"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r.get("user_id") or r.get("video_id"), r["feature_view"]) for r in lines] == [
        ("a", "user_features"),
        ("nobody", "user_features"),
        ("x", "video_features"),
    ]
    assert lines[0]["watch_count_7d"] == 2 and lines[0]["last_event_ts"] == "2026-01-01T12:00:00+00:00"
    assert all(lines[1][n] is None for n in VIEWS["user_features"].feature_names)  # never seen
    assert set(lines[2]) == {"video_id", "feature_view", *VIEWS["video_features"].feature_names}


def test_http_endpoint_serves_the_online_features(spark, storage, local_config, redis_server):
    import threading
    import time
    import urllib.request

    import uvicorn

    from medallion.serving.lookup import app

    config = local_config.replace(redis_url=redis_server.url(db=6))
    redis_server.client(db=6).flushdb()
    gold = Gold(spark, storage, config)
    gold.put(USER_FEATURES, D1, [user_row("a", D1, 2)])
    gold.put(VIDEO_FEATURES, D1, [video_row("x", D1, 3)])
    job.run(config, spark, storage)
    server = uvicorn.Server(
        uvicorn.Config(
            app(feature_store(config, online_target(config))), host="127.0.0.1", port=0, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]

        def get(path):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                return response.status, json.loads(response.read())

        assert get("/health") == (200, {"status": "ok"})
        status, user = get("/features/user/a")
        assert status == 200 and user["user_id"] == "a" and user["watch_count_7d"] == 2
        assert get("/features/video/x")[1]["view_count_7d"] == 3
        assert get("/features/user/nobody")[1]["watch_count_7d"] is None
        with pytest.raises(urllib.error.HTTPError) as refused:  # read-only: no Feast write routes
            urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/push", data=b"{}", method="POST"), timeout=10
            )
        assert refused.value.code in (404, 405)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_generated_pipeline_then_materialize_serves_gold_for_every_entity(
    spark, storage, local_config, redis_server, tmp_path
):
    """The real pipeline (bronze -> silver -> gold) on generated events, then materialise into
    Redis: every user and video online equals gold's latest feature date, brute force."""
    from medallion.bronze import job as bronze
    from medallion.gold import job as gold_job
    from medallion.silver import job as silver
    from medallion.synthetic import SyntheticSpec, write_landing

    landing = tmp_path / "landing"
    spec = SyntheticSpec(seed=11, users=60, videos=30, days=9, events_per_day=80, files_per_day=1)
    write_landing(spec, landing)
    redis_server.client(db=7).flushdb()
    config = local_config.replace(events_dir=str(landing), redis_url=redis_server.url(db=7))
    bronze.run(config, spark, storage)
    silver.run(config, spark, storage)
    gold_job.run(config, spark, storage)
    result = job.run(config, spark, storage)
    gold = Gold(spark, storage, config)
    store = feature_store(config, online_target(config))
    assert_online_equals_gold(store, gold)
    users = gold.expected(USER_FEATURES)
    inactive = [u for u, v in users.items() if v == inactive_values(VIEWS["user_features"])]
    assert inactive, "the generated data should have users who left the window"
    assert result.views["user_features"].inactive_written == len(inactive)

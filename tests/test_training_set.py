"""``medallion training-set``: labelled examples get the features known *before* each label's date
(no leakage), checked against brute-force references - over hand-written gold rows on both engines,
and over the real pipeline's gold on generated events, where the reference counts silver events
itself; Feast's own ``get_historical_features`` over the same feature views gives the same values."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from medallion.cli import main
from medallion.serving.definitions import VIEWS
from medallion.serving.plan import inactive_values
from medallion.tables import USER_FEATURES, VIDEO_FEATURES
from test_serving_job import D1, D2, D3, Gold, user_row, video_row


def reference(gold_rows: list[dict], view, key: str, label_ts: dt.datetime) -> dict:
    """Brute force: the row of the day before the label's date; none there: inactive if gold
    has computed that date, unknown (None) if not."""
    as_of = label_ts.date() - dt.timedelta(days=1)
    latest = max(r["feature_date"] for r in gold_rows)
    for r in gold_rows:
        if r[view.join_key] == key and r["feature_date"] == as_of:
            return {n: r[n] for n in view.feature_names}
    if as_of > latest:
        return dict.fromkeys(view.feature_names)
    return inactive_values(view)


def _plain(value):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    return value.item() if hasattr(value, "item") else value


@pytest.mark.parametrize("out_format", ["parquet", pytest.param("delta", marks=pytest.mark.slow)])
def test_training_set_matches_the_brute_force_reference(
    spark, storage, local_config, tmp_path, capsys, out_format
):
    gold = Gold(spark, storage, local_config)
    gold.put(USER_FEATURES, D1, [user_row("a", D1, 1), user_row("b", D1, 2)])
    gold.put(USER_FEATURES, D2, [user_row("a", D2, 3)])
    gold.put(VIDEO_FEATURES, D1, [video_row("x", D1, 1)])
    gold.put(VIDEO_FEATURES, D2, [video_row("x", D2, 5), video_row("y", D2, 2)])
    labels = pd.DataFrame(
        [
            ("a", "x", "2025-12-31 10:00:00", 1),  # before any event
            ("a", "x", "2026-01-01 23:00:00", 0),  # same day as the first events: none known yet
            ("a", "y", "2026-01-02 00:00:00", 1),  # midnight: D1 is complete
            ("b", "y", "2026-01-03 07:30:00", 0),  # b left the window on D2: inactive
            ("a", "x", "2026-01-03 18:00:00", 1),
            ("a", "x", "2026-01-04 09:00:00", 0),  # D3 is not computed yet: unknown
            ("zz", "x", "2026-01-02 09:00:00", 1),  # never seen
        ],
        columns=["user_id", "video_id", "label_ts", "label"],
    )
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    out = str(tmp_path / ("training.parquet" if out_format == "parquet" else "training"))
    argv = ["training-set", "--labels", str(path), "--out", out, "--out-format", out_format]
    assert main([*argv, "--root", local_config.root, "--engine", local_config.engine]) == 0
    assert "training-set: 7 labelled rows" in capsys.readouterr().out
    written = spark.read.parquet(out) if out_format == "parquet" else storage.read(out)
    rows = sorted((r.asDict() for r in written.collect()), key=lambda r: (r["label_ts"], r["user_id"]))
    assert len(rows) == 7
    for spec in (USER_FEATURES, VIDEO_FEATURES):
        view = VIEWS[spec.name]
        gold_rows = [r.asDict() for r in storage.read(spec.location(local_config)).collect()]
        for row in rows:
            got = {n: row[f"{view.name}__{n}"] for n in view.feature_names}
            assert got == reference(gold_rows, view, row[view.join_key], row["label_ts"]), (view.name, row)
    assert rows[0]["user_features__watch_count_7d"] == 0 and rows[-1]["user_features__watch_count_7d"] is None
    assert {D3} == {r["label_ts"].date() for r in rows if r["user_features__watch_count_7d"] == 3}


@pytest.mark.slow
def test_generated_pipeline_training_set_has_no_leakage_and_agrees_with_feast(
    spark, storage, local_config, tmp_path, capsys
):
    from medallion.bronze import job as bronze
    from medallion.gold import job as gold_job
    from medallion.serving import job as materialize
    from medallion.serving.store import feature_store, online_target
    from medallion.serving.training import feast_historical_features
    from medallion.silver import job as silver
    from medallion.synthetic import SyntheticSpec, write_landing
    from medallion.tables import SILVER_EVENTS

    landing = tmp_path / "landing"
    spec = SyntheticSpec(seed=3, users=40, videos=20, days=8, events_per_day=60, files_per_day=1)
    write_landing(spec, landing)
    config = local_config.replace(events_dir=str(landing))
    for stage in (bronze, silver, gold_job, materialize):
        stage.run(config, spark, storage)
    events = storage.read(SILVER_EVENTS.location(config)).select(
        "user_id", "event_type", "event_date", "event_ts", "watch_time_ms"
    )
    events = [r.asDict() for r in events.collect()]
    rng = random.Random(7)
    users = sorted({e["user_id"] for e in events})
    first = min(e["event_date"] for e in events)
    labels = []
    for e in rng.sample(events, 40):  # the same day as a real event, after it: must not count it
        labels.append((e["user_id"], e["event_ts"] + dt.timedelta(seconds=1), 1))
    for _ in range(40):
        day = first + dt.timedelta(days=rng.randint(-2, 9))
        labels.append((rng.choice(users), dt.datetime.combine(day, dt.time(rng.randint(0, 23), 30)), 0))
    frame = pd.DataFrame(labels, columns=["user_id", "label_ts", "label"])
    path = tmp_path / "labels.parquet"
    frame.to_parquet(path, index=False, coerce_timestamps="us")
    out = str(tmp_path / "training.parquet")
    argv = ["training-set", "--labels", str(path), "--out", out]
    assert main([*argv, "--root", config.root, "--engine", config.engine]) == 0
    capsys.readouterr()
    result = [r.asDict() for r in spark.read.parquet(out).collect()]
    latest = max(e["event_date"] for e in events)
    # the reference counts silver events itself: watch events of [as_of - 6, as_of], as_of = label date - 1
    for row in result:
        as_of = row["label_ts"].date() - dt.timedelta(days=1)
        window = [
            e
            for e in events
            if e["user_id"] == row["user_id"] and as_of - dt.timedelta(days=6) <= e["event_date"] <= as_of
        ]
        watches = [e for e in window if e["event_type"] == "watch"]
        if as_of > latest:
            assert row["user_features__watch_count_7d"] is None, row
            continue
        assert row["user_features__watch_count_7d"] == len(watches), row
        assert row["user_features__like_count_7d"] == sum(e["event_type"] == "like" for e in window), row
        total = sum(e["watch_time_ms"] or 0 for e in watches) / 1000
        assert row["user_features__watch_time_7d"] == pytest.approx(total), row
        assert all(e["event_ts"] < row["label_ts"] for e in window)  # nothing from the label's day
    # Feast's point-in-time join over the same feature views agrees wherever it finds a row
    store = feature_store(config, online_target(config))
    feast = feast_historical_features(store, spark, frame, ["user_features"])
    assert spark.conf.get("spark.sql.parser.quotedRegexColumnNames") == "false"
    ours = {(r["user_id"], r["label_ts"]): r for r in result}
    compared = 0
    for r in feast.to_dict("records"):
        key = (r["user_id"], pd.Timestamp(r["label_ts"]).tz_localize(None).to_pydatetime())
        if pd.isna(r["user_features__watch_count_7d"]):
            continue  # no row within the TTL: ours says inactive (0) or unknown
        compared += 1
        for name in VIEWS["user_features"].feature_names:
            column = f"user_features__{name}"
            theirs, mine = _plain(r[column]), ours[key][column]
            assert theirs == (pytest.approx(mine) if isinstance(mine, float) else mine), (key, name)
    assert compared > 20

"""Gold transforms on small hand-built silver inputs (real local Spark, chispa comparisons), plus
the pure date arithmetic of incremental runs."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import DateType, LongType, StringType, StructField, StructType, TimestampType

from medallion.gold.transforms import (
    DateRange,
    affected_feature_dates,
    date_range_predicate,
    merge_ranges,
    source_event_dates,
    user_features,
    video_features,
)
from medallion.tables.schemas import USER_FEATURES_SCHEMA, VIDEO_FEATURES_SCHEMA

UTC = dt.timezone.utc
D = dt.date(2026, 1, 10)

EVENTS_SCHEMA = StructType(
    [
        StructField("event_type", StringType(), False),
        StructField("user_id", StringType(), False),
        StructField("video_id", StringType(), False),
        StructField("event_ts", TimestampType(), False),
        StructField("event_date", DateType(), False),
        StructField("watch_time_ms", LongType(), True),
        StructField("video_duration_ms", LongType(), True),
    ]
)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def at(day: dt.date, hh: int = 12, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


def ev(event_type, user, video, ts: dt.datetime, watch_ms=None, duration_ms=None):
    """One silver event (only the columns the transforms read); event_date is ts's UTC date."""
    return (event_type, user, video, ts, ts.astimezone(UTC).date(), watch_ms, duration_ms)


def events_df(spark, rows):
    return spark.createDataFrame(rows, EVENTS_SCHEMA)


def expected_df(spark, rows, schema):
    return spark.createDataFrame(rows, schema)


# One window, every edge: D-7 and D+1 are outside the window of feature date D, D-6 and D inside.
EDGE_EVENTS = [
    ev("watch", "u1", "v1", at(D - days(7), 23, 59, 59), 100_000),  # 1 day too early
    ev("watch", "u1", "v1", at(D - days(6), 0, 0, 0), 10_000, 20_000),  # first day of the window
    ev("watch", "u1", "v2", at(D - days(3), 9), 5_000, None),  # duration unknown
    ev("like", "u1", "v2", at(D - days(3), 9, 5)),
    ev("watch", "u1", "v1", at(D, 8), 2_000, 1_000),  # watched longer than the video: capped
    ev("watch", "u1", "v1", at(D, 23, 59, 59), 3_000, 4_000),  # last instant of D
    ev("share", "u1", "v3", at(D, 12)),
    ev("comment", "u1", "v3", at(D + days(1), 0, 0, 0)),  # first instant after D
    ev("watch", "u1", "v4", at(D + days(1), 10), 7_000, 7_000),  # after D
    ev("like", "u2", "v1", at(D - days(2), 10)),  # u2 has no watch event at all
    ev("share", "u2", "v1", at(D - days(2), 11)),
    ev("comment", "u2", "v2", at(D, 7)),
    ev("follow", "u3", "v5", at(D - days(7), 12)),  # u3 / v5 only before the window: no row
    ev("watch", "u4", "v1", at(D - days(1), 18), 6_000, 12_000),
    ev("watch", "u4", "v1", at(D - days(1), 19), 4_000, 12_000),  # same video twice on one day
    ev("watch", "u4", "v1", at(D - days(5), 10), 500, None),  # and on another day
]


def test_user_features_every_column_at_the_window_edges(spark):
    actual = user_features(events_df(spark, EDGE_EVENTS), D, D)
    # user, date, watch_time_7d, video_count_7d, watch_count_7d, like_count_7d, active_days_7d,
    # last_event_ts, share_count_7d, comment_count_7d, avg_watch_time_7d, completion_ratio_7d
    expected = expected_df(
        spark,
        [
            # watches 10 s (D-6) + 5 s + 2 s + 3 s (D); videos v1, v2; days D-6, D-3, D;
            # completion (10000 + 5000 not known + 1000 capped + 3000) / (20000 + 1000 + 4000)
            ("u1", D, 20.0, 2, 4, 1, 3, at(D, 23, 59, 59), 1, 0, 5.0, 14_000 / 25_000),
            # only non-watch events: zero watch features, null ratios, still a row
            ("u2", D, 0.0, 0, 0, 1, 2, at(D, 7), 1, 1, None, None),
            # one video watched three times on two days
            ("u4", D, 10.5, 1, 3, 0, 2, at(D - days(1), 19), 0, 0, 3.5, 10_000 / 24_000),
        ],
        USER_FEATURES_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_video_features_every_column_at_the_window_edges(spark):
    actual = video_features(events_df(spark, EDGE_EVENTS), D, D)
    # video, date, view_count_7d, unique_viewers_7d, watch_time_7d, like_count_7d,
    # share_count_7d, comment_count_7d, avg_watch_time_7d, completion_ratio_7d
    expected = expected_df(
        spark,
        [
            # watches: u1 10 s + 2 s + 3 s, u4 6 s + 4 s + 0.5 s; D-7 excluded
            ("v1", D, 6, 2, 25.5, 1, 1, 0, 25.5 / 6, 24_000 / 49_000),
            ("v2", D, 1, 1, 5.0, 1, 0, 1, 5.0, None),
            # only a share on D (the comment on D+1 does not count)
            ("v3", D, 0, 0, 0.0, 0, 1, 0, None, None),
        ],
        VIDEO_FEATURES_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_output_schemas_match_the_tables(spark):
    df = events_df(spark, EDGE_EVENTS)
    assert [(f.name, f.dataType) for f in user_features(df, D, D).schema.fields] == [
        (f.name, f.dataType) for f in USER_FEATURES_SCHEMA.fields
    ]
    assert [(f.name, f.dataType) for f in video_features(df, D, D).schema.fields] == [
        (f.name, f.dataType) for f in VIDEO_FEATURES_SCHEMA.fields
    ]


def test_one_event_appears_on_the_seven_feature_dates_of_its_window_only(spark):
    x = dt.date(2026, 3, 1)
    df = events_df(
        spark,
        [
            ev("like", "u1", "v1", at(x, 6)),
            # outside [start-6, end] of the range asked below: ignored even though passed in
            ev("like", "u9", "v9", at(x - days(30))),
            ev("like", "u9", "v9", at(x + days(30))),
        ],
    )
    actual = user_features(df, x - days(2), x + days(10))
    rows = actual.select("user_id", "feature_date", "like_count_7d", "active_days_7d").collect()
    assert sorted((r.user_id, r.feature_date, r.like_count_7d, r.active_days_7d) for r in rows) == [
        ("u1", x + days(k), 1, 1) for k in range(7)
    ]
    # the range clips the window: asking for x+3..x+4 gives exactly those two dates
    clipped = video_features(df, x + days(3), x + days(4)).select("video_id", "feature_date").collect()
    assert sorted(tuple(r) for r in clipped) == [("v1", x + days(3)), ("v1", x + days(4))]


def test_distinct_counts_are_distinct_over_the_window_not_summed_per_day(spark):
    d0 = dt.date(2026, 2, 1)
    df = events_df(
        spark,
        [
            ev("watch", "u1", "v1", at(d0, 1), 1_000),
            ev("watch", "u1", "v1", at(d0, 2), 1_000),  # same video twice on one day
            ev("watch", "u1", "v2", at(d0 + days(3)), 1_000),
            ev("watch", "u1", "v1", at(d0 + days(6)), 1_000),  # v1 again, another day
            ev("like", "u1", "v3", at(d0 + days(6))),  # a like is no watch: v3 not counted
            ev("watch", "u2", "v1", at(d0 + days(6)), 1_000),
        ],
    )
    users = {
        (r.feature_date - d0).days: (r.video_count_7d, r.watch_count_7d)
        for r in user_features(df, d0, d0 + days(14)).where("user_id = 'u1'").collect()
    }
    assert users == {
        0: (1, 2),
        1: (1, 2),
        2: (1, 2),
        3: (2, 3),
        4: (2, 3),
        5: (2, 3),
        6: (2, 4),  # v1 on d0 and d6 counts once (summing daily distincts would say 3)
        7: (2, 2),  # window d1..d7: v2 (d3) and v1 (d6)
        8: (2, 2),
        9: (2, 2),
        10: (1, 1),  # window d4..d10: v1 (d6) only
        11: (1, 1),
        12: (1, 1),  # last feature date of d6's events; d13 has no row
    }
    videos = {
        (r.feature_date - d0).days: (r.unique_viewers_7d, r.view_count_7d)
        for r in video_features(df, d0, d0 + days(14)).where("video_id = 'v1'").collect()
    }
    assert videos[0] == (1, 2)  # u1 twice on one day: one viewer
    assert videos[6] == (2, 4)  # u1 (d0, d6) and u2 (d6)
    assert videos[7] == (2, 2)  # d0 left the window: u1 (d6) and u2 (d6)
    assert videos[12] == (2, 2)
    assert 13 not in videos


@pytest.mark.slow
def test_ranges_computed_separately_equal_one_range(spark):
    df = events_df(spark, EDGE_EVENTS)
    start, end = D - days(8), D + days(3)
    whole = user_features(df, start, end)
    parts = user_features(df, start, D - days(1)).unionByName(user_features(df, D, end))
    assert_df_equality(parts, whole, ignore_row_order=True, ignore_nullable=True)
    assert whole.count() > 0


def test_rejects_an_inverted_range(spark):
    with pytest.raises(ValueError, match="after end"):
        user_features(events_df(spark, EDGE_EVENTS), D, D - days(1))


# --- a brute-force reference over random data ---------------------------------------------------
def _reference(events, entity_index: int, other_index: int, start: dt.date, end: dt.date):
    """Feature rows computed the obvious way: for each feature date, scan every event."""
    rows = {}
    day = start
    while day <= end:
        window = [e for e in events if day - days(6) <= e[4] <= day]
        by_entity = defaultdict(list)
        for e in window:
            by_entity[e[entity_index]].append(e)
        for key, evs in by_entity.items():
            watches = [e for e in evs if e[0] == "watch"]
            watch_ms = sum(e[5] for e in watches)
            known = [e for e in watches if e[6]]
            rows[(key, day)] = {
                "watch_time_7d": watch_ms / 1000.0,
                "distinct_other": len({e[other_index] for e in watches}),
                "watch_count_7d": len(watches),
                "like_count_7d": sum(e[0] == "like" for e in evs),
                "share_count_7d": sum(e[0] == "share" for e in evs),
                "comment_count_7d": sum(e[0] == "comment" for e in evs),
                "active_days_7d": len({e[4] for e in evs}),
                "last_event_ts": max(e[3] for e in evs),
                "avg_watch_time_7d": (watch_ms / 1000.0) / len(watches) if watches else None,
                "completion_ratio_7d": (
                    sum(min(e[5], e[6]) for e in known) / sum(e[6] for e in known) if known else None
                ),
            }
        day += days(1)
    return rows


def _random_events(seed: int, n: int = 300):
    rng = random.Random(seed)
    first = dt.date(2026, 4, 1)
    events = []
    for _ in range(n):
        day = first + days(rng.randrange(20))
        ts = at(day, rng.randrange(24), rng.randrange(60), rng.randrange(60))
        kind = rng.choice(["watch", "watch", "watch", "like", "share", "comment", "follow"])
        user, video = f"u{rng.randrange(6)}", f"v{rng.randrange(5)}"
        if kind == "watch":
            duration = rng.choice([None, 0, rng.randrange(1, 90_000)])
            events.append(ev(kind, user, video, ts, rng.randrange(0, 120_000), duration))
        else:
            events.append(ev(kind, user, video, ts))
    return events, first, first + days(19)


def test_transforms_match_a_brute_force_reference_on_random_events(spark):
    events, first, last = _random_events(seed=7)
    df = events_df(spark, events)
    # a range that starts inside the history: events before it still feed its first windows
    start, end = first + days(4), last + days(2)
    # event tuples: (type, user, video, ts, date, watch_ms, duration_ms) -> collect gives naive UTC
    naive = [(*e[:3], e[3].replace(tzinfo=None), *e[4:]) for e in events]
    for transform, entity, entity_index, other_index, renames in (
        (user_features, "user_id", 1, 2, {"video_count_7d": "distinct_other"}),
        (
            video_features,
            "video_id",
            2,
            1,
            {"unique_viewers_7d": "distinct_other", "view_count_7d": "watch_count_7d"},
        ),
    ):
        expected = _reference(naive, entity_index, other_index, start, end)
        actual = {}
        for row in transform(df, start, end).collect():
            values = {renames.get(k, k): v for k, v in row.asDict().items()}
            actual[(values.pop(entity), values.pop("feature_date"))] = values
        assert actual.keys() == expected.keys()
        for key, values in actual.items():
            for column, value in values.items():
                # exact equality, doubles included: integer sums and one final division
                assert value == expected[key][column], (transform.__name__, key, column)


# --- date arithmetic ------------------------------------------------------------------------------
L = dt.date(2026, 1, 31)


def r(a: dt.date, b: dt.date) -> DateRange:
    return DateRange(a, b)


@pytest.mark.parametrize(
    ("new_event_dates", "previous_latest", "new_latest", "expected"),
    [
        pytest.param(
            {L - days(20), L - days(19), L - days(5), L},
            None,
            L,
            [r(L - days(20), L - days(13)), r(L - days(5), L)],
            id="first-run-covers-every-date-with-gaps-kept",
        ),
        pytest.param({L + days(1)}, L, L + days(1), [r(L + days(1), L + days(1))], id="one-new-day"),
        pytest.param({L - days(10)}, L, L, [r(L - days(10), L - days(4))], id="late-event"),
        pytest.param({L - days(2)}, L, L, [r(L - days(2), L)], id="late-event-clipped-at-latest"),
        pytest.param(
            {L - days(10), L + days(1)},
            L,
            L + days(1),
            [r(L - days(10), L - days(4)), r(L + days(1), L + days(1))],
            id="late-and-new-day-are-separate-ranges",
        ),
        pytest.param(
            {L + days(3)},
            L,
            L + days(3),
            [r(L + days(1), L + days(3))],
            id="dates-between-old-and-new-latest-are-added",
        ),
        pytest.param({L - days(40)}, L, L, [r(L - days(40), L - days(34))], id="before-earliest-date"),
        pytest.param({L - days(7), L}, L, L, [r(L - days(7), L)], id="adjacent-ranges-merge"),
        pytest.param(set(), L, L, [], id="nothing-new"),
        pytest.param(set(), None, None, [], id="empty-silver"),
    ],
)
def test_affected_feature_dates(new_event_dates, previous_latest, new_latest, expected):
    assert affected_feature_dates(new_event_dates, previous_latest, new_latest) == expected


def test_affected_feature_dates_rejects_event_dates_after_the_latest():
    with pytest.raises(ValueError, match="after the latest"):
        affected_feature_dates({L + days(1)}, L, L)


def test_merge_and_source_ranges():
    a = dt.date(2026, 1, 1)
    assert merge_ranges([(a + days(5), a + days(6)), (a, a + days(2)), (a + days(3), a + days(3))]) == [
        r(a, a + days(3)),
        r(a + days(5), a + days(6)),
    ]
    assert source_event_dates([(a + days(10), a + days(12)), (a + days(20), a + days(20))]) == [
        r(a + days(4), a + days(12)),
        r(a + days(14), a + days(20)),
    ]
    assert r(a, a + days(6)).days == 7 and str(r(a, a)) == "2026-01-01..2026-01-01"


def test_date_range_predicate():
    a = dt.date(2026, 1, 1)
    assert date_range_predicate("feature_date", [(a + days(9), a + days(9)), (a, a + days(2))]) == (
        "(feature_date >= DATE '2026-01-01' AND feature_date <= DATE '2026-01-03') OR "
        "(feature_date >= DATE '2026-01-10' AND feature_date <= DATE '2026-01-10')"
    )
    with pytest.raises(ValueError, match="at least one range"):
        date_range_predicate("feature_date", [])
    with pytest.raises(ValueError, match="invalid column"):
        date_range_predicate("x; DROP TABLE t", [(a, a)])

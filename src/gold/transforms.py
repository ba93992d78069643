"""Pure gold transforms: silver events -> daily 7-day feature rows, and the date arithmetic of
incremental runs. DataFrames in, DataFrames out; no I/O, no session state, no globals.

Windows
-------
Feature date D (the "as of" date) aggregates the events whose UTC ``event_date`` lies in
``[D-6, D]`` (:data:`medallion.gold.schema.WINDOW_DAYS` = 7). Events after D never count. A row exists
for (entity, D) when the entity has at least one event of any type in that window.

Formulation
-----------
Additive features are aggregated once per (entity, event_date) ("daily" rows), each daily row
is expanded to the (at most) 7 feature dates it contributes to (``event_date .. event_date+6``,
clipped to the requested ``[start, end]``), and the expanded rows are summed per
(entity, feature_date). ``active_days_7d`` is the number of daily rows that land on a feature
date (daily rows are unique per entity and date). Distinct counts (``video_count_7d``,
``unique_viewers_7d``) cannot be summed from daily distincts (a video watched on two days would
count twice): the distinct (entity, event_date, other id) triples of watch events are expanded
the same way and counted distinct per (entity, feature_date). Both parts are joined on the key.
Only silver rows with ``event_date`` in ``[start-6, end]`` are read; callers may pass more.

Determinism: every sum is an integer sum (milliseconds, counts); doubles are produced by one
final division, so a feature date computes to the same bits whatever the partitioning or the
batch it was computed in - incremental runs equal a full recompute exactly.

Feature definitions beyond the issue's list
-------------------------------------------
* ``share_count_7d`` / ``comment_count_7d``: number of share / comment events.
* ``avg_watch_time_7d``: ``watch_time_7d / watch_count_7d`` in seconds; null without watches.
* ``completion_ratio_7d``: over watch events whose ``video_duration_ms`` is known and > 0,
  ``sum(least(watch_time_ms, video_duration_ms)) / sum(video_duration_ms)`` - the share of the
  watched videos' length that was actually watched (time-weighted, capped at 1 per watch);
  null when no watch event has a known duration.

Incremental date ranges
-----------------------
:func:`affected_feature_dates` turns the event dates E of newly arrived silver rows into the
feature dates to recompute: each event date e affects ``[e, min(e+6, L_new)]``; when the latest
silver date advances from ``L_old`` to ``L_new``, the new dates ``(L_old, L_new]`` are added even
if no new event falls on them (entities active in the six days before appear there). The result
is a sorted list of disjoint ranges (overlapping or adjacent ones merged), so a single late event
from weeks ago costs its own 7 days, not a recompute of everything since.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from pyspark.sql import functions as F

from medallion.gold.schema import WINDOW_DAYS
from medallion.tables.schemas import USER_FEATURES_SCHEMA, VIDEO_FEATURES_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

#: The silver columns the transforms read (any other columns are ignored).
SILVER_COLUMNS = (
    "event_type",
    "user_id",
    "video_id",
    "event_date",
    "event_ts",
    "watch_time_ms",
    "video_duration_ms",
)

_ONE_DAY = dt.timedelta(days=1)
_LOOKBACK = dt.timedelta(days=WINDOW_DAYS - 1)


# --- date ranges -----------------------------------------------------------------------------
class DateRange(NamedTuple):
    """An inclusive range of dates."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def merge_ranges(ranges: Iterable[tuple[dt.date, dt.date]]) -> list[DateRange]:
    """Sorted, disjoint ranges covering exactly the given ones (overlapping or adjacent merged)."""
    merged: list[DateRange] = []
    for start, end in sorted(ranges):
        if start > end:
            raise ValueError(f"empty date range {start}..{end}")
        if merged and start <= merged[-1].end + _ONE_DAY:
            if end > merged[-1].end:
                merged[-1] = DateRange(merged[-1].start, end)
        else:
            merged.append(DateRange(start, end))
    return merged


def affected_feature_dates(
    new_event_dates: Iterable[dt.date],
    previous_latest: dt.date | None,
    new_latest: dt.date | None,
    window_days: int = WINDOW_DAYS,
) -> list[DateRange]:
    """Feature dates to (re)compute after silver rows with ``new_event_dates`` arrived.

    ``previous_latest`` is the latest feature date computed before (None: nothing computed yet),
    ``new_latest`` the latest silver event date now. Each new event date e affects feature dates
    ``[e, min(e + window_days - 1, new_latest)]``; the new dates ``(previous_latest, new_latest]``
    are always included. Nothing before the earliest new event date or ``previous_latest + 1``
    is returned - i.e. never a date before the earliest silver date. Empty when nothing changed.
    """
    if window_days < 1:
        raise ValueError("window_days must be >= 1")
    if new_latest is None:
        return []
    lookahead = dt.timedelta(days=window_days - 1)
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in set(new_event_dates):
        if day > new_latest:
            raise ValueError(f"new event date {day} is after the latest silver date {new_latest}")
        ranges.append((day, min(day + lookahead, new_latest)))
    if previous_latest is not None and new_latest > previous_latest:
        ranges.append((previous_latest + _ONE_DAY, new_latest))
    return merge_ranges(ranges)


def source_event_dates(feature_ranges: Sequence[tuple[dt.date, dt.date]], window_days: int = WINDOW_DAYS):
    """The silver event dates needed to compute ``feature_ranges``: each ``[start-6, end]``, merged."""
    lookback = dt.timedelta(days=window_days - 1)
    return merge_ranges((start - lookback, end) for start, end in feature_ranges)


def date_range_predicate(column: str, ranges: Sequence[tuple[dt.date, dt.date]]) -> str:
    """A SQL predicate (Spark SQL and DataFusion) selecting ``column`` within any of ``ranges``."""
    if not ranges:
        raise ValueError("date_range_predicate needs at least one range")
    if not column.isidentifier():
        raise ValueError(f"invalid column name {column!r}")
    parts = [
        f"({column} >= DATE '{start.isoformat()}' AND {column} <= DATE '{end.isoformat()}')"
        for start, end in merge_ranges(ranges)
    ]
    return " OR ".join(parts)


# --- features --------------------------------------------------------------------------------
def _window_events(silver: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    return silver.select(*SILVER_COLUMNS).where(
        (F.col("event_date") >= F.lit(start - _LOOKBACK)) & (F.col("event_date") <= F.lit(end))
    )


def _expand_to_feature_dates(df: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """Each row (with event_date e in [start-6, end]) once per feature date in
    [max(e, start), min(e+6, end)] - the feature dates whose window contains e."""
    first = F.greatest(F.col("event_date"), F.lit(start))
    last = F.least(F.date_add(F.col("event_date"), WINDOW_DAYS - 1), F.lit(end))
    return df.withColumn("feature_date", F.explode(F.sequence(first, last)))


def _count_type(event_type: str) -> Column:
    return F.count(F.when(F.col("event_type") == event_type, F.lit(1)))


def _entity_features(silver: DataFrame, entity: str, other: str, start: dt.date, end: dt.date) -> DataFrame:
    """All aggregates of ``entity`` per feature date in [start, end] (``distinct_other`` = distinct
    ``other`` ids over watch events)."""
    events = _window_events(silver, start, end)
    is_watch = F.col("event_type") == "watch"
    known_duration = is_watch & F.col("watch_time_ms").isNotNull() & (F.col("video_duration_ms") > 0)
    daily = events.groupBy(entity, "event_date").agg(
        F.sum(F.when(is_watch, F.col("watch_time_ms"))).alias("watch_ms"),
        _count_type("watch").alias("watch_count"),
        _count_type("like").alias("like_count"),
        _count_type("share").alias("share_count"),
        _count_type("comment").alias("comment_count"),
        F.max("event_ts").alias("last_event_ts"),
        F.sum(F.when(known_duration, F.least(F.col("watch_time_ms"), F.col("video_duration_ms")))).alias(
            "completed_ms"
        ),
        F.sum(F.when(known_duration, F.col("video_duration_ms"))).alias("duration_ms"),
    )
    windowed = (
        _expand_to_feature_dates(daily, start, end)
        .groupBy(entity, "feature_date")
        .agg(
            F.sum("watch_ms").alias("watch_ms"),
            F.sum("watch_count").alias("watch_count"),
            F.sum("like_count").alias("like_count"),
            F.sum("share_count").alias("share_count"),
            F.sum("comment_count").alias("comment_count"),
            F.count(F.lit(1)).alias("active_days"),
            F.max("last_event_ts").alias("last_event_ts"),
            F.sum("completed_ms").alias("completed_ms"),
            F.sum("duration_ms").alias("duration_ms"),
        )
    )
    watched = events.where(is_watch).select(entity, "event_date", other).distinct()
    distinct_other = (
        _expand_to_feature_dates(watched, start, end)
        .groupBy(entity, "feature_date")
        .agg(F.countDistinct(other).alias("distinct_other"))
    )
    joined = windowed.join(distinct_other, [entity, "feature_date"], "left")
    watch_seconds = F.coalesce(F.col("watch_ms"), F.lit(0)).cast("double") / F.lit(1000.0)
    completion = F.col("completed_ms").cast("double") / F.col("duration_ms").cast("double")
    return joined.select(
        entity,
        "feature_date",
        watch_seconds.alias("watch_time_7d"),
        F.coalesce(F.col("distinct_other"), F.lit(0)).cast("bigint").alias("distinct_other"),
        F.col("watch_count").cast("bigint").alias("watch_count_7d"),
        F.col("like_count").cast("bigint").alias("like_count_7d"),
        F.col("share_count").cast("bigint").alias("share_count_7d"),
        F.col("comment_count").cast("bigint").alias("comment_count_7d"),
        F.col("active_days").cast("bigint").alias("active_days_7d"),
        F.col("last_event_ts"),
        F.when(F.col("watch_count") > 0, watch_seconds / F.col("watch_count")).alias("avg_watch_time_7d"),
        F.when(F.col("duration_ms") > 0, completion).alias("completion_ratio_7d"),
    )


def _conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Columns in schema order with the schema's types (nullability is the table's business)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def user_features(silver: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """``gold.user_features`` rows for feature dates [start, end] (see the module docstring)."""
    features = _entity_features(silver, "user_id", "video_id", start, end)
    return _conform(features.withColumnRenamed("distinct_other", "video_count_7d"), USER_FEATURES_SCHEMA)


def video_features(silver: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """``gold.video_features`` rows for feature dates [start, end] (see the module docstring)."""
    features = _entity_features(silver, "video_id", "user_id", start, end)
    renamed = features.withColumnRenamed("distinct_other", "unique_viewers_7d").withColumnRenamed(
        "watch_count_7d", "view_count_7d"
    )
    return _conform(renamed, VIDEO_FEATURES_SCHEMA)

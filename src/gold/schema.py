"""Gold tables: ``gold.user_features`` and ``gold.video_features``, daily 7-day ML features.

Both are keyed by (entity id, ``feature_date``) and partitioned by ``feature_date`` so that a run
replaces exactly the feature dates it recomputed (Delta replaceWhere on the partition column).

Feature-table metadata
----------------------
Every gold table carries its keys as table properties on both engines:

* ``medallion.primary_key`` - comma-separated primary key columns, timeseries column included
  (``user_id,feature_date``);
* ``medallion.timeseries_key`` - the point-in-time column (``feature_date``).

On Databricks the spark-delta engine also declares the Unity Catalog constraint the Feature
Engineering client looks for (``PRIMARY KEY (user_id, feature_date TIMESERIES)``, key columns
NOT NULL), which makes the table a time series feature table usable in ``FeatureLookup`` with
``timestamp_lookup_key``. See ``docs/features.md`` for the lookup semantics (``feature_date`` D
holds events up to the *end* of day D) and the Feast equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from medallion.storage.base import PRIMARY_KEY_PROPERTY, TIMESERIES_KEY_PROPERTY

#: Length of the feature window in days: feature date D aggregates event dates [D-6, D].
WINDOW_DAYS = 7

PARTITION_COLUMNS = ("feature_date",)
TIMESERIES_KEY = "feature_date"

USER_FEATURES_SCHEMA = StructType(
    [
        StructField("user_id", StringType(), nullable=False),
        StructField("feature_date", DateType(), nullable=False),
        # --- the features of the issue (fixed names and meanings) ---
        StructField("watch_time_7d", DoubleType(), nullable=False),  # seconds watched
        StructField("video_count_7d", LongType(), nullable=False),  # distinct videos watched
        StructField("watch_count_7d", LongType(), nullable=False),
        StructField("like_count_7d", LongType(), nullable=False),
        StructField("active_days_7d", LongType(), nullable=False),  # distinct event dates, any type
        StructField("last_event_ts", TimestampType(), nullable=False),  # any type
        # --- extra features ---
        StructField("share_count_7d", LongType(), nullable=False),
        StructField("comment_count_7d", LongType(), nullable=False),
        StructField("avg_watch_time_7d", DoubleType(), nullable=True),  # seconds per watch; null: none
        StructField("completion_ratio_7d", DoubleType(), nullable=True),  # see gold.transforms
    ]
)

VIDEO_FEATURES_SCHEMA = StructType(
    [
        StructField("video_id", StringType(), nullable=False),
        StructField("feature_date", DateType(), nullable=False),
        # --- the features of the issue (fixed names and meanings) ---
        StructField("view_count_7d", LongType(), nullable=False),  # watch events
        StructField("unique_viewers_7d", LongType(), nullable=False),  # distinct watching users
        StructField("watch_time_7d", DoubleType(), nullable=False),  # seconds watched
        StructField("like_count_7d", LongType(), nullable=False),
        # --- extra features ---
        StructField("share_count_7d", LongType(), nullable=False),
        StructField("comment_count_7d", LongType(), nullable=False),
        StructField("avg_watch_time_7d", DoubleType(), nullable=True),
        StructField("completion_ratio_7d", DoubleType(), nullable=True),
    ]
)


@dataclass(frozen=True)
class GoldTable:
    """One gold feature table: where it lives, its shape and its keys."""

    name: str  # table name in the gold layer, also the key of the job's per-table results
    entity_key: str
    schema: StructType

    @property
    def id(self) -> tuple[str, str]:
        return ("gold", self.name)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return (self.entity_key, TIMESERIES_KEY)

    @property
    def properties(self) -> dict[str, str]:
        return feature_table_properties(self.primary_key, TIMESERIES_KEY)

    @property
    def app_id(self) -> str:
        """Txn app id of this table's progress (its Txn version = the last silver version processed)."""
        return f"medallion.gold.{self.name}"


USER_FEATURES = GoldTable("user_features", "user_id", USER_FEATURES_SCHEMA)
VIDEO_FEATURES = GoldTable("video_features", "video_id", VIDEO_FEATURES_SCHEMA)
GOLD_TABLES = (USER_FEATURES, VIDEO_FEATURES)

USER_FEATURES_TABLE = USER_FEATURES.id
VIDEO_FEATURES_TABLE = VIDEO_FEATURES.id


def feature_table_properties(primary_key: tuple[str, ...], timeseries_key: str) -> dict[str, str]:
    """The engine-neutral key metadata stored as Delta table properties."""
    if timeseries_key not in primary_key:
        raise ValueError(f"timeseries key {timeseries_key!r} must be part of the primary key {primary_key}")
    return {
        PRIMARY_KEY_PROPERTY: ",".join(primary_key),
        TIMESERIES_KEY_PROPERTY: timeseries_key,
    }

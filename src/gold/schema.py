"""Gold's own constants. The gold tables ``gold.user_features`` and ``gold.video_features``
(schemas, keys, partitioning, properties) are declared in the table registry,
:data:`medallion.tables.USER_FEATURES` and :data:`medallion.tables.VIDEO_FEATURES`.

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

#: Length of the feature window in days: feature date D aggregates event dates [D-6, D].
WINDOW_DAYS = 7

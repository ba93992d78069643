"""The table registry: one :class:`TableSpec` per table the pipeline creates, in pipeline order
(upstream first; the maintenance job runs them in this order). Add a table here and every part of
the pipeline - creation, quality gate, maintenance, docs and the registry test - knows it."""

from __future__ import annotations

from typing import Any

from medallion.tables import ops, schemas
from medallion.tables.policy import TablePolicy
from medallion.tables.spec import TableSpec

FEATURE_DATE = "feature_date"


def _spec(layer: str, name: str, *, maintenance: dict[str, Any], **facts: Any) -> TableSpec:
    """A spec whose maintenance policy names the same table (layer and name spelled once)."""
    return TableSpec(layer, name, maintenance=TablePolicy(layer, name, **maintenance), **facts)


def _ops(name: str, schema: Any, description: str, reason: str) -> TableSpec:
    return _spec("ops", name, schema=schema, description=description, maintenance={"reason": reason})


BRONZE_EVENTS = _spec(
    "bronze",
    "events",
    schema=schemas.BRONZE_SCHEMA,
    description="raw event bodies as received, with source metadata; append-only",
    partition_by=("ingestion_date",),
    # silver reads bronze incrementally through the change data feed. Not delta.appendOnly: the
    # maintenance job's retention DELETE of old partitions is the one sanctioned delete; the bronze
    # job only appends (tests/test_retention.py checks bronze's history), docs/maintenance.md.
    base_properties={"delta.enableChangeDataFeed": "true"},
    quality_suite="bronze.events",
    progress_app_id="medallion.bronze_events",  # + the streaming query id (see medallion.bronze.job)
    maintenance={
        "streamed": True,  # prod: a continuous stream appends to it (no metadata commits while it runs)
        "reason": "append-only raw events read by version (change data feed), never by key: compaction only",
    },
)

SILVER_EVENTS = _spec(
    "silver",
    "events",
    schema=schemas.events_schema,
    description="valid, typed, unique events (one row per event_id) of the event contract",
    partition_by=("event_date",),
    base_properties={"delta.enableChangeDataFeed": "true"},  # gold reads silver's change data feed
    primary_key=("event_id",),
    quality_suite="silver.events",
    progress_app_id="medallion.silver.events<-bronze.events",
    maintenance={
        "zorder_by": ("user_id",),
        "reason": "point lookups and per-user scans filter on user_id inside each event_date partition",
    },
)

SILVER_QUARANTINE = _spec(
    "silver",
    "events_quarantine",
    schema=schemas.QUARANTINE_SCHEMA,
    description="every bronze row silver could not accept, with its reasons",
    partition_by=("ingestion_date",),
    maintenance={"reason": "small, read by ingestion_date for triage: compaction only"},
)


def _features(name: str, entity_key: str, schema: Any, description: str) -> TableSpec:
    return _spec(
        "gold",
        name,
        schema=schema,
        description=description,
        partition_by=(FEATURE_DATE,),
        primary_key=(entity_key, FEATURE_DATE),
        timeseries_key=FEATURE_DATE,
        quality_suite=f"gold.{name}",
        progress_app_id=f"medallion.gold.{name}",
        maintenance={
            "zorder_by": (entity_key,),
            "reason": "feature lookups by the entity key within a feature_date",
        },
    )


USER_FEATURES = _features(
    "user_features", "user_id", schemas.USER_FEATURES_SCHEMA, "7-day features per user and feature_date"
)
VIDEO_FEATURES = _features(
    "video_features", "video_id", schemas.VIDEO_FEATURES_SCHEMA, "7-day features per video and feature_date"
)

RUNS = _ops(
    "runs",
    ops.RUNS_SCHEMA,
    "one row per job run of every layer: input range, rows in/out, quality score, status",
    "one small row per job run: compaction only",
)
PROGRESS = _ops(
    "progress",
    ops.PROGRESS_SCHEMA,
    "where each incremental consumer resumes (started/committed source version ranges)",
    "one small row per incremental run and target: compaction only",
)
SILVER_RUNS = _ops(
    "silver_runs",
    ops.SILVER_RUNS_SCHEMA,
    "silver's per-run detail: bronze range, duplicates, quarantine reasons",
    "one small row per run: compaction only",
)
QUALITY_RESULTS = _ops(
    "quality_results",
    ops.QUALITY_RESULTS_SCHEMA,
    "one row per quality check: suite, score, failed expectations",
    "one small row per quality check: compaction only",
)
MAINTENANCE_RUNS = _ops(
    "maintenance_runs",
    ops.MAINTENANCE_RUNS_SCHEMA,
    "one row per maintained table per maintenance run",
    "one small row per maintained table per night: compaction only",
)
LANDING_FILES = _ops(
    "landing_files",
    ops.LANDING_FILES_SCHEMA,
    "every landing file bronze ingested (path, size, mtime, lines)",
    "one small row per landing file, appended per batch: compaction only",
)
BAD_FILES = _ops(
    "bad_files",
    ops.BAD_FILES_SCHEMA,
    "landing files bronze could not ingest, with the problem",
    "a row per landing file bronze could not ingest: compaction only",
)

ONLINE_USER_FEATURES = _ops(
    "online_user_features",
    schemas.served(schemas.USER_FEATURES_SCHEMA),
    "per online store, the gold.user_features rows it was last given (medallion materialize)",
    "one row per active user, overwritten by each materialisation: compaction only",
)
ONLINE_VIDEO_FEATURES = _ops(
    "online_video_features",
    schemas.served(schemas.VIDEO_FEATURES_SCHEMA),
    "per online store, the gold.video_features rows it was last given (medallion materialize)",
    "one row per active video, overwritten by each materialisation: compaction only",
)

#: Every table, upstream first.
TABLES: tuple[TableSpec, ...] = (
    BRONZE_EVENTS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    USER_FEATURES,
    VIDEO_FEATURES,
    RUNS,
    PROGRESS,
    SILVER_RUNS,
    QUALITY_RESULTS,
    MAINTENANCE_RUNS,
    LANDING_FILES,
    BAD_FILES,
    ONLINE_USER_FEATURES,
    ONLINE_VIDEO_FEATURES,
)

#: The gold feature tables.
FEATURE_TABLES: tuple[TableSpec, ...] = tuple(t for t in TABLES if t.timeseries_key is not None)
#: Per gold feature table, the ops table of the rows its online store was last given.
ONLINE_TABLES: dict[str, TableSpec] = {
    USER_FEATURES.name: ONLINE_USER_FEATURES,
    VIDEO_FEATURES.name: ONLINE_VIDEO_FEATURES,
}


def by_key(key: str) -> TableSpec:
    """The spec of ``<layer>.<table>``; unknown names raise KeyError listing the known ones."""
    for spec in TABLES:
        if spec.key == key:
            return spec
    raise KeyError(f"no table {key!r} in the registry; known: {', '.join(t.key for t in TABLES)}")

"""The table registry: every table's facts, declared once (see docs/architecture.md)."""

from medallion.tables.policy import TablePolicy
from medallion.tables.registry import (
    BAD_FILES,
    BRONZE_EVENTS,
    FEATURE_TABLES,
    LANDING_FILES,
    MAINTENANCE_RUNS,
    ONLINE_TABLES,
    ONLINE_USER_FEATURES,
    ONLINE_VIDEO_FEATURES,
    PROGRESS,
    QUALITY_RESULTS,
    RUNS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    SILVER_RUNS,
    TABLES,
    USER_FEATURES,
    VIDEO_FEATURES,
    by_key,
)
from medallion.tables.spec import TableSpec, feature_table_properties

__all__ = [
    "BAD_FILES",
    "BRONZE_EVENTS",
    "FEATURE_TABLES",
    "LANDING_FILES",
    "MAINTENANCE_RUNS",
    "ONLINE_TABLES",
    "ONLINE_USER_FEATURES",
    "ONLINE_VIDEO_FEATURES",
    "PROGRESS",
    "QUALITY_RESULTS",
    "RUNS",
    "SILVER_EVENTS",
    "SILVER_QUARANTINE",
    "SILVER_RUNS",
    "TABLES",
    "USER_FEATURES",
    "VIDEO_FEATURES",
    "TablePolicy",
    "TableSpec",
    "by_key",
    "feature_table_properties",
]

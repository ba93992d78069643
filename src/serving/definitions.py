"""Feast definitions of the gold feature tables, generated from the table registry.

Every gold feature table (:data:`medallion.tables.FEATURE_TABLES`) becomes one feature view of the
same name: its entity is the table's entity key (``user_id`` -> entity ``user``), its features are
every other column except the timeseries key, with the Feast type of the column's Spark type.
``tests/test_serving.py`` checks both directions against the gold schemas, so a gold column
without a feature (or a feature without a column) fails the suite.

Event timestamp
---------------
The row of feature date D holds the events of [D-6, D] up to the *end* of day D, so it becomes
known at ``D + 1 day 00:00 UTC``: that instant is the feature view's timestamp
(:data:`EVENT_TIMESTAMP`, computed in the source query; gold has no such column). A lookup at
time t therefore sees rows of feature dates strictly before t's date - never the day itself
(no leakage).

TTL
---
Gold writes a row for every entity active in the 7-day window of every feature date, so the row
describing the window that ends yesterday is always the newest one; an entity without a row for
that date has had no activity in 7 days. The TTL is therefore one day (:data:`TTL`): a row older
than that describes a 7-day window that has since moved on, and serving it would be a stale number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from medallion.tables import FEATURE_TABLES, TableSpec

#: The Feast project name.
PROJECT = "medallion"
#: The timestamp column of every feature view: the start of the day after the feature date.
EVENT_TIMESTAMP = "available_at"
#: How long a row stays the current one (see the module docstring).
TTL = dt.timedelta(days=1)
#: Feast entity names of the entity keys.
ENTITY_NAMES = {"user_id": "user", "video_id": "video"}
_FEAST_TYPES = {
    "string": "String",
    "double": "Float64",
    "float": "Float32",
    "bigint": "Int64",
    "int": "Int32",
    "boolean": "Bool",
    "timestamp": "UnixTimestamp",
}


@dataclass(frozen=True)
class ViewSpec:
    """One feature view: the gold table it serves, its entity and its features (name, type)."""

    table: TableSpec
    entity: str
    join_key: str
    features: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)

    def references(self) -> list[str]:
        """``<view>:<feature>`` for every feature, as ``get_online_features`` takes them."""
        return [f"{self.name}:{name}" for name in self.feature_names]


def view_spec(table: TableSpec) -> ViewSpec:
    """The feature view of one gold feature table (every column but the keys is a feature)."""
    key = table.entity_key
    schema = table.schema_for()
    features = []
    for field in schema.fields:
        if field.name in table.primary_key:
            continue
        kind = field.dataType.simpleString()
        if kind not in _FEAST_TYPES:
            raise ValueError(f"{table.key}.{field.name}: no Feast type for Spark type {kind}")
        features.append((field.name, _FEAST_TYPES[kind]))
    return ViewSpec(table, ENTITY_NAMES.get(key, key.removesuffix("_id")), key, tuple(features))


#: One feature view per gold feature table, by name.
VIEWS: dict[str, ViewSpec] = {t.name: view_spec(t) for t in FEATURE_TABLES}
#: The feature view serving each entity key.
VIEW_OF_KEY: dict[str, ViewSpec] = {v.join_key: v for v in VIEWS.values()}


def source_query(table_ref: str) -> str:
    """The Spark SQL of a feature view's source: the gold table plus its event timestamp."""
    return f"SELECT *, CAST(date_add(feature_date, 1) AS TIMESTAMP) AS {EVENT_TIMESTAMP} FROM {table_ref}"


def quiet_feast() -> None:
    """Silence the warning Feast prints for every SparkSource it builds (also when it reads the
    registry: the Spark source API is marked experimental). Feast's import resets the warning
    filters for RuntimeWarning, so this runs after it."""
    import warnings

    # the modules whose import resets the filters (warnings.simplefilter("once", RuntimeWarning))
    import feast.batch_feature_view
    import feast.infra.offline_stores.contrib.spark_offline_store.spark
    import feast.infra.offline_stores.offline_store
    import feast.repo_config
    import feast.stream_feature_view  # noqa: F401

    for message in (
        "The spark data source API is an experimental",
        "The spark offline store is an experimental",
    ):
        warnings.filterwarnings("ignore", message=message, category=RuntimeWarning)


def feast_objects(
    table_ref: Callable[[TableSpec], str], views: Iterable[ViewSpec] | None = None
) -> list[Any]:
    """The Feast entities and feature views; ``table_ref`` names a gold table in Spark SQL (a
    Unity Catalog name on Databricks, ``delta.`<folder>``` locally)."""
    from feast import Entity, FeatureView, Field, ValueType, types
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    quiet_feast()
    objects: list[Any] = []
    for view in views if views is not None else VIEWS.values():
        entity = Entity(
            name=view.entity,
            join_keys=[view.join_key],
            value_type=ValueType.STRING,
            description=f"{view.entity}, by {view.join_key} (pseudonymous identifier)",
        )
        source = SparkSource(
            name=f"gold_{view.name}",
            query=source_query(table_ref(view.table)),
            timestamp_field=EVENT_TIMESTAMP,
        )
        objects += [
            entity,
            FeatureView(
                name=view.name,
                entities=[entity],
                ttl=TTL,
                schema=[
                    Field(name=view.join_key, dtype=types.String),
                    *(Field(name=n, dtype=getattr(types, t)) for n, t in view.features),
                ],
                source=source,
                online=True,
                description=view.table.description,
                tags={"layer": "gold", "table": view.table.key},
            ),
        ]
    return objects

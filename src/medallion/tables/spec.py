"""One declaration per table: :class:`TableSpec`. Every fact about a table lives in its spec; jobs,
the quality gate, the maintenance job and the tests ask the registry (:mod:`medallion.tables`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from medallion.storage.base import PRIMARY_KEY_PROPERTY, TIMESERIES_KEY_PROPERTY
from medallion.tables.policy import TablePolicy

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

    from medallion.config import Config
    from medallion.contract import EventContract
    from medallion.storage import DeltaStorage


def feature_table_properties(primary_key: tuple[str, ...], timeseries_key: str) -> dict[str, str]:
    """The engine-neutral key metadata of a feature table, stored as Delta table properties."""
    if timeseries_key not in primary_key:
        raise ValueError(f"timeseries key {timeseries_key!r} must be part of the primary key {primary_key}")
    return {PRIMARY_KEY_PROPERTY: ",".join(primary_key), TIMESERIES_KEY_PROPERTY: timeseries_key}


@dataclass(frozen=True)
class TableSpec:
    """Everything the pipeline knows about one table.

    ``schema`` is a StructType, or for ``silver.events`` a function of the event contract (its
    columns follow the contract version). ``primary_key`` is unique in the table (the tests check
    it on the data); a ``timeseries_key`` makes it a time series feature table whose keys are also
    stored as table properties (:func:`feature_table_properties`). ``maintenance`` is the nightly
    policy (:class:`TablePolicy`), ``quality_suite`` the name of the table's Great Expectations
    suite (``medallion.quality.suites``), ``progress_app_id`` the Delta ``txn`` application id (and
    ``ops.progress`` consumer) of the job writing it incrementally.
    """

    layer: str
    name: str
    schema: StructType | Callable[[EventContract], StructType]
    description: str
    maintenance: TablePolicy
    partition_by: tuple[str, ...] = ()
    base_properties: Mapping[str, str] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    timeseries_key: str | None = None
    quality_suite: str | None = None
    progress_app_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_properties", MappingProxyType(dict(self.base_properties)))
        if self.maintenance.key != self.key:
            raise ValueError(f"{self.key}: its maintenance policy is for {self.maintenance.key}")
        if self.timeseries_key is not None and self.timeseries_key not in self.primary_key:
            raise ValueError(f"{self.key}: timeseries key {self.timeseries_key!r} is not in its primary key")

    @property
    def key(self) -> str:
        """``<layer>.<table>``: the logical name used in reports, ``--tables`` and suites."""
        return f"{self.layer}.{self.name}"

    @property
    def id(self) -> tuple[str, str]:
        return (self.layer, self.name)

    def location(self, config: Config) -> str:
        """The table's identifier: a Unity Catalog name on Databricks, a folder locally."""
        return config.table(self.layer, self.name)

    def schema_for(self, contract: EventContract | None = None) -> StructType:
        if callable(self.schema):
            if contract is None:
                raise ValueError(f"the schema of {self.key} follows the event contract: pass it")
            return self.schema(contract)
        return self.schema

    @property
    def properties(self) -> dict[str, str]:
        """The table properties set when the table is created (keys included)."""
        keys = (
            feature_table_properties(self.primary_key, self.timeseries_key)
            if self.timeseries_key is not None
            else {}
        )
        return {**self.base_properties, **keys}

    @property
    def entity_key(self) -> str:
        """The entity column of a feature table (its primary key without the timeseries key)."""
        entity = [c for c in self.primary_key if c != self.timeseries_key]
        if len(entity) != 1:
            raise ValueError(f"{self.key} has no single entity key (primary key {self.primary_key})")
        return entity[0]

    def ensure_at(
        self,
        storage: DeltaStorage,
        location: str,
        contract: EventContract | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        """Create the table at ``location`` from this spec when it does not exist, with its catalog
        metadata (:mod:`medallion.tables.catalog`: comments and tags) in the create commit, plus
        ``properties``; give an existing table the metadata it lacks (no commit when it has it all).
        True if the table was created."""
        from medallion.storage.metadata import annotate
        from medallion.tables.catalog import table_metadata

        wanted = table_metadata(self, contract)
        created = storage.create_if_missing(
            location,
            annotate(self.schema_for(contract), wanted.column_comments),
            self.partition_by,
            {**self.base_properties, **(properties or {}), **wanted.tag_properties()},
            comment=wanted.comment,
        )
        if not created:
            storage.apply_catalog_metadata(location, wanted)
        return created

    def create_if_missing(
        self, storage: DeltaStorage, config: Config, contract: EventContract | None = None
    ) -> str:
        """Create the table from its spec when it does not exist (:meth:`ensure_at`: with its catalog
        metadata), and declare its keys (a feature table's key properties; on Databricks also its
        Unity Catalog primary key constraint) when they are not declared yet; return its location."""
        location = self.location(config)
        self.ensure_at(storage, location, contract)
        if self.timeseries_key is not None:
            declared = storage.properties(location)
            wanted = feature_table_properties(self.primary_key, self.timeseries_key)
            if any(declared.get(k) != v for k, v in wanted.items()):
                storage.declare_primary_key(location, self.primary_key, self.timeseries_key)
        return location

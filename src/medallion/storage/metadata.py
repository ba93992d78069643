"""Catalog metadata of a table - its comment, column comments and tags - the same on both engines.

Where each part lives in the Delta table itself (so both engines read and write the same thing):

* the table comment is Delta's table description (``metaData.description``; Spark's
  ``ALTER TABLE ... SET TBLPROPERTIES ('comment' = ...)`` / delta-rs ``set_table_description``);
* a column comment is the ``comment`` key of the column's metadata in the Delta schema (Spark's
  ``ALTER TABLE ... ALTER COLUMN c COMMENT ...`` / delta-rs ``set_column_metadata``);
* tags are table properties, ``medallion.tag.<name>`` for the table and
  ``medallion.tag.column.<column>.<name>`` for a column.

On Databricks the spark-delta engine also gives Unity Catalog tables the same tags as Unity Catalog
tags (``ALTER TABLE ... SET TAGS``; :func:`uc_tag_statements`), the tags Catalog Explorer shows and
governance policies match. :class:`CatalogMetadataMixin` is the engine-independent part of
:class:`medallion.storage.DeltaStorage`: it writes only what differs (no commit when nothing does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.storage.quoting import quote_identifier, quote_string

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

COMMENT = "comment"
TAG_PREFIX = "medallion.tag."
COLUMN_TAG_PREFIX = "medallion.tag.column."


@dataclass(frozen=True)
class TableMetadata:
    """What the catalog shows about a table. Empty parts mean "nothing wanted / nothing set"."""

    comment: str | None = None
    column_comments: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    column_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def tag_properties(self) -> dict[str, str]:
        """The tags as the table properties that record them."""
        props = {f"{TAG_PREFIX}{k}": v for k, v in self.tags.items()}
        for column, tags in self.column_tags.items():
            props.update({f"{COLUMN_TAG_PREFIX}{column}.{k}": v for k, v in tags.items()})
        return props

    @property
    def empty(self) -> bool:
        return not (self.comment or self.column_comments or self.tags or self.column_tags)


def from_delta(
    description: str | None, column_comments: Mapping[str, str], properties: Mapping[str, str]
) -> TableMetadata:
    """The metadata recorded in a Delta table: its description, column comments and tag properties."""
    tags: dict[str, str] = {}
    column_tags: dict[str, dict[str, str]] = {}
    for key, value in properties.items():
        if key.startswith(COLUMN_TAG_PREFIX):
            column, _, name = key[len(COLUMN_TAG_PREFIX) :].rpartition(".")
            column_tags.setdefault(column, {})[name] = value
        elif key.startswith(TAG_PREFIX):
            tags[key[len(TAG_PREFIX) :]] = value
    return TableMetadata(description or None, dict(column_comments), tags, column_tags)


def missing(current: TableMetadata, wanted: TableMetadata) -> TableMetadata:
    """The part of ``wanted`` that ``current`` does not have yet (or has with another value).
    Tags and comments not in ``wanted`` are left alone: a tag someone added stays."""
    return TableMetadata(
        comment=wanted.comment if wanted.comment and wanted.comment != current.comment else None,
        column_comments={
            c: v for c, v in wanted.column_comments.items() if current.column_comments.get(c) != v
        },
        tags={k: v for k, v in wanted.tags.items() if current.tags.get(k) != v},
        column_tags={
            c: diff
            for c, tags in wanted.column_tags.items()
            if (diff := {k: v for k, v in tags.items() if current.column_tags.get(c, {}).get(k) != v})
        },
    )


def annotate(schema: StructType, comments: Mapping[str, str]) -> StructType:
    """``schema`` with each column's comment in its metadata (how a new table gets them in its
    create commit on both engines)."""
    from pyspark.sql.types import StructField, StructType

    return StructType(
        [
            StructField(f.name, f.dataType, f.nullable, {**(f.metadata or {}), COMMENT: comments[f.name]})
            if f.name in comments
            else f
            for f in schema.fields
        ]
    )


def uc_tag_statements(quoted_table: str, metadata: TableMetadata) -> list[str]:
    """The Unity Catalog statements giving a table (``catalog.schema.table``, quoted) its tags."""
    statements = []
    if metadata.tags:
        pairs = ", ".join(f"{quote_string(k)} = {quote_string(v)}" for k, v in sorted(metadata.tags.items()))
        statements.append(f"ALTER TABLE {quoted_table} SET TAGS ({pairs})")
    for column, tags in sorted(metadata.column_tags.items()):
        pairs = ", ".join(f"{quote_string(k)} = {quote_string(v)}" for k, v in sorted(tags.items()))
        column_sql = quote_identifier(column)
        statements.append(f"ALTER TABLE {quoted_table} ALTER COLUMN {column_sql} SET TAGS ({pairs})")
    return statements


class CatalogMetadataMixin:
    """Reading and applying :class:`TableMetadata` over an engine's two primitives,
    ``_comments`` and ``_set_comments`` (and the table properties every engine has)."""

    def _comments(self, table: str) -> tuple[str | None, dict[str, str]]:
        """The table's description and its column comments (each engine)."""
        raise NotImplementedError

    def _set_comments(self, table: str, comment: str | None, columns: Mapping[str, str]) -> None:
        """Set the description (when not None) and the given column comments (each engine)."""
        raise NotImplementedError

    def _set_uc_tags(self, table: str, metadata: TableMetadata) -> None:
        """Unity Catalog tags of a catalog table (spark-delta on Databricks; nothing elsewhere)."""

    def catalog_metadata(self, table: str) -> TableMetadata:
        """The comment, column comments and tags recorded in ``table``."""
        description, columns = self._comments(table)
        return from_delta(description, columns, self.properties(table))  # type: ignore[attr-defined]

    def apply_catalog_metadata(self, table: str, wanted: TableMetadata) -> TableMetadata:
        """Give ``table`` what ``wanted`` has and it lacks; return what was applied (empty: no
        change, no commit). Unknown columns in ``wanted`` are ignored (a table of an older shape)."""
        columns: Any = set(self.schema(table).fieldNames())  # type: ignore[attr-defined]
        wanted = TableMetadata(
            wanted.comment,
            {c: v for c, v in wanted.column_comments.items() if c in columns},
            wanted.tags,
            {c: v for c, v in wanted.column_tags.items() if c in columns},
        )
        todo = missing(self.catalog_metadata(table), wanted)
        if todo.empty:
            return todo
        if todo.comment or todo.column_comments:
            self._set_comments(table, todo.comment, todo.column_comments)
        if todo.tags or todo.column_tags:
            self.set_properties(table, todo.tag_properties())  # type: ignore[attr-defined]
            self._set_uc_tags(table, todo)
        return todo

"""The two engines' primitives of :class:`medallion.storage.metadata.CatalogMetadataMixin`: reading
and writing a table's description and column comments, with delta-rs and with Spark SQL. Mixed into
:class:`~medallion.storage.delta_rs.DeltaRsStorage` and
:class:`~medallion.storage.spark_delta.SparkDeltaStorage` (``self`` is the engine: ``_open``,
``_detail``, ``_sql``, ``_require`` are its own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medallion.storage import quoting
from medallion.storage.engine_errors import delta_rs_errors
from medallion.storage.metadata import (
    COMMENT,
    CatalogMetadataMixin,
    TableMetadata,
    from_delta,
    uc_tag_statements,
)


def _commented(fields: Any) -> dict[str, str]:
    return {f.name: f.metadata[COMMENT] for f in fields if (f.metadata or {}).get(COMMENT)}


class DeltaRsMetadata(CatalogMetadataMixin):
    """delta-rs: ``metaData.description`` and the ``comment`` of each column's schema metadata."""

    def _comments(self, table: str) -> tuple[str | None, dict[str, str]]:
        engine: Any = self
        dt = engine._open(table)
        return dt.metadata().description, _commented(dt.schema().fields)

    def _set_comments(self, table: str, comment: str | None, columns: Mapping[str, str]) -> None:
        engine: Any = self
        dt = engine._open(table)
        with delta_rs_errors("set comments", table):
            if comment is not None:
                dt.alter.set_table_description(comment)
            for column, text in columns.items():
                dt.alter.set_column_metadata(column, {COMMENT: text})


class SparkMetadata(CatalogMetadataMixin):
    """Spark SQL: ``SET TBLPROPERTIES ('comment' = ...)`` (Delta keeps it as the description) and
    ``ALTER COLUMN ... COMMENT``; Unity Catalog tables also get Unity Catalog tags."""

    def catalog_metadata(self, table: str) -> TableMetadata:
        engine: Any = self
        detail = engine._detail(table)  # description and properties from one DESCRIBE DETAIL
        columns = _commented(engine.schema(table).fields)
        return from_delta(detail.get("description"), columns, detail.get("properties") or {})

    def _comments(self, table: str) -> tuple[str | None, dict[str, str]]:
        metadata = self.catalog_metadata(table)
        return metadata.comment, dict(metadata.column_comments)

    def _set_comments(self, table: str, comment: str | None, columns: Mapping[str, str]) -> None:
        engine: Any = self
        quoted = quoting.quote_table_name(table)
        engine._require(table)
        if comment is not None:
            engine._sql(
                f"ALTER TABLE {quoted} SET TBLPROPERTIES ('comment' = {quoting.quote_string(comment)})"
            )
        for column, text in columns.items():
            column_sql, text_sql = quoting.quote_identifier(column), quoting.quote_string(text)
            engine._sql(f"ALTER TABLE {quoted} ALTER COLUMN {column_sql} COMMENT {text_sql}")

    def _set_uc_tags(self, table: str, metadata: TableMetadata) -> None:
        if quoting.is_path_table(table):  # a folder has no Unity Catalog entry to tag
            return
        engine: Any = self
        for statement in uc_tag_statements(quoting.quote_table_name(table), metadata):
            engine._sql(statement)


def with_comments(arrow_schema: Any, schema: Any) -> Any:
    """``arrow_schema`` (converted from the Spark ``schema``) with each field's comment (delta-rs
    keeps Arrow field metadata in the Delta schema it creates)."""
    import pyarrow as pa

    fields = []
    for arrow_field, field in zip(arrow_schema, schema.fields, strict=True):
        comment = (field.metadata or {}).get(COMMENT)
        fields.append(arrow_field.with_metadata({COMMENT: comment}) if comment else arrow_field)
    return pa.schema(fields)

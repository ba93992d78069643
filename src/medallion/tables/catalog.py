"""Catalog metadata of every registry table: its comment, a comment on every column, and tags.

* table comment: the spec's description;
* column comments: :mod:`medallion.tables.comments` (the event contract's descriptions for the
  contract fields of ``silver.events``);
* table tags: ``layer``, ``owner`` (:data:`OWNER`), ``contains_pii`` (``true`` when a column holds
  personal data);
* column tags: ``pii`` on the columns holding personal data (:data:`PERSONAL_DATA`).

The jobs apply them through the storage adapter when they create a table (in the create commit) and
add what an existing table lacks (:meth:`TableSpec.create_if_missing`); see
:mod:`medallion.storage.metadata` for where each part is stored on both engines and in Unity Catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medallion.storage.metadata import TableMetadata
from medallion.tables.comments import COLUMN_COMMENTS, TABLE_COLUMN_COMMENTS

if TYPE_CHECKING:
    from medallion.contract import EventContract
    from medallion.tables.spec import TableSpec

#: The ``owner`` tag of every table: the team that runs the pipeline and answers for its data.
OWNER = "data-platform"

#: Columns holding personal data, with their classification (the ``pii`` column tag). user_id is a
#: pseudonymous identifier: not a name, but it links every event to one person. The raw body and
#: the Kafka/Event Hubs key (producers partition by user) carry the same id.
PERSONAL_DATA: dict[str, str] = {
    "user_id": "pseudonymous_identifier",
    "body": "contains_pseudonymous_identifier",
    "source_key": "contains_pseudonymous_identifier",
}


def column_comments(spec: TableSpec, contract: EventContract | None = None) -> dict[str, str]:
    """A comment for every column of ``spec`` (KeyError naming the column when one has none)."""
    contract_docs = (  # the columns of silver.events that are contract fields
        {f.name: f.description for f in contract.fields if f.description}
        if contract is not None and callable(spec.schema)
        else {}
    )
    overrides = TABLE_COLUMN_COMMENTS.get(spec.key, {})
    comments = {}
    for name in spec.schema_for(contract).fieldNames():
        comment = overrides.get(name) or contract_docs.get(name) or COLUMN_COMMENTS.get(name)
        if not comment:
            raise KeyError(f"{spec.key}.{name} has no catalog comment: add it to medallion.tables.comments")
        comments[name] = comment
    return comments


def table_metadata(spec: TableSpec, contract: EventContract | None = None) -> TableMetadata:
    """The comment, column comments and tags ``spec``'s table carries in the catalog."""
    columns = spec.schema_for(contract).fieldNames()
    pii = {c: {"pii": PERSONAL_DATA[c]} for c in columns if c in PERSONAL_DATA}
    return TableMetadata(
        comment=spec.description,
        column_comments=column_comments(spec, contract),
        tags={"layer": spec.layer, "owner": OWNER, "contains_pii": "true" if pii else "false"},
        column_tags=pii,
    )

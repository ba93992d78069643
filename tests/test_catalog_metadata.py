"""Catalog metadata from the table registry: a comment on every table and column, tags on every
table (layer, owner, contains_pii) and on the personal-data columns - built from the registry, written
by the storage adapter on both engines (in the create commit, or added to an existing table), and read
back the same by either engine. ``tests/test_registry.py`` checks it on the tables a real pipeline
run creates."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from medallion.config import Config
from medallion.contract import load_contract
from medallion.storage import get_storage
from medallion.storage.metadata import TableMetadata, from_delta, missing, uc_tag_statements
from medallion.tables import TABLES, by_key
from medallion.tables.catalog import OWNER, column_comments, table_metadata
from medallion.tables.spec import TableSpec

CONTRACT = load_contract()


def _wanted(spec: TableSpec) -> TableMetadata:
    return table_metadata(spec, CONTRACT)


# --- the registry's metadata (pure) ----------------------------------------------------------


@pytest.mark.parametrize("spec", TABLES, ids=[t.key for t in TABLES])
def test_every_table_and_column_has_a_comment_and_the_table_its_tags(spec: TableSpec) -> None:
    wanted = _wanted(spec)
    assert wanted.comment == spec.description
    columns = spec.schema_for(CONTRACT).fieldNames()
    assert list(wanted.column_comments) == columns
    assert all(len(text) > 10 for text in wanted.column_comments.values()), wanted.column_comments
    assert wanted.tags["layer"] == spec.layer
    assert wanted.tags["owner"] == OWNER
    assert wanted.tags["contains_pii"] == ("true" if wanted.column_tags else "false")


def test_personal_data_is_classified() -> None:
    pii = {spec.key: _wanted(spec).column_tags for spec in TABLES if _wanted(spec).column_tags}
    assert pii["silver.events"] == {"user_id": {"pii": "pseudonymous_identifier"}}
    assert pii["gold.user_features"] == {"user_id": {"pii": "pseudonymous_identifier"}}
    assert pii["ops.online_user_features"] == {"user_id": {"pii": "pseudonymous_identifier"}}
    assert pii["bronze.events"] == {
        "body": {"pii": "contains_pseudonymous_identifier"},
        "source_key": {"pii": "contains_pseudonymous_identifier"},
    }
    assert set(pii) == {
        "bronze.events",
        "silver.events",
        "silver.events_quarantine",
        "gold.user_features",
        "ops.online_user_features",
    }
    assert _wanted(by_key("gold.video_features")).tags["contains_pii"] == "false"


def test_contract_fields_take_the_contract_descriptions_and_features_their_own_meaning() -> None:
    silver = column_comments(by_key("silver.events"), CONTRACT)
    by_name = {f.name: f.description for f in CONTRACT.fields}
    assert silver["event_id"] == by_name["event_id"]
    assert silver["watch_time_ms"] == by_name["watch_time_ms"]
    user = column_comments(by_key("gold.user_features"))
    video = column_comments(by_key("gold.video_features"))
    assert "user watched" in user["watch_time_7d"] and "video was watched" in video["watch_time_7d"]


def test_a_column_without_a_comment_is_named() -> None:
    spec = by_key("ops.runs")
    bare = TableSpec(
        "ops",
        "runs",
        schema=T.StructType([*spec.schema_for().fields, T.StructField("mystery", T.StringType())]),
        description="x",
        maintenance=spec.maintenance,
    )
    with pytest.raises(KeyError, match=r"ops.runs.mystery has no catalog comment"):
        column_comments(bare)


def test_tags_round_trip_through_table_properties_and_only_differences_are_applied() -> None:
    wanted = _wanted(by_key("gold.user_features"))
    props = wanted.tag_properties()
    assert props["medallion.tag.layer"] == "gold"
    assert props["medallion.tag.column.user_id.pii"] == "pseudonymous_identifier"
    read = from_delta(wanted.comment, wanted.column_comments, {**props, "delta.appendOnly": "false"})
    assert read == wanted
    assert missing(read, wanted).empty
    current = TableMetadata("old", {"user_id": "old"}, {"layer": "gold", "team": "x"}, {})
    todo = missing(current, wanted)
    assert todo.comment == wanted.comment
    assert set(todo.column_comments) == set(wanted.column_comments)  # every comment differs or lacks
    assert todo.tags == {"owner": OWNER, "contains_pii": "true"}  # layer is right; "team" is left alone
    assert todo.column_tags == {"user_id": {"pii": "pseudonymous_identifier"}}


def test_unity_catalog_tag_statements() -> None:
    wanted = _wanted(by_key("gold.user_features"))
    assert uc_tag_statements("`prod`.`gold`.`user_features`", wanted) == [
        "ALTER TABLE `prod`.`gold`.`user_features` SET TAGS "
        "('contains_pii' = 'true', 'layer' = 'gold', 'owner' = 'data-platform')",
        "ALTER TABLE `prod`.`gold`.`user_features` ALTER COLUMN `user_id` SET TAGS "
        "('pii' = 'pseudonymous_identifier')",
    ]
    quoted = uc_tag_statements("t", TableMetadata(tags={"note": "it's"}))
    assert quoted == ["ALTER TABLE t SET TAGS ('note' = 'it\\'s')"]


# --- written and read by the storage adapter, both engines ----------------------------------


def test_a_new_table_gets_its_metadata_in_the_create_commit(storage, tmp_path) -> None:
    spec = by_key("gold.user_features")
    location = str(tmp_path / "user_features")
    assert spec.ensure_at(storage, location) is True
    assert storage.version(location) == 0  # one commit: the create
    assert storage.catalog_metadata(location) == _wanted(spec)
    assert spec.ensure_at(storage, location) is False
    assert storage.version(location) == 0  # nothing missing: no commit


def test_an_existing_table_gets_what_it_lacks_and_keeps_other_tags(storage, tmp_path) -> None:
    spec = by_key("silver.events")
    location = str(tmp_path / "events")
    schema = spec.schema_for(CONTRACT)
    storage.create_if_missing(location, schema, spec.partition_by, {"medallion.tag.team": "growth"})
    assert storage.catalog_metadata(location) == TableMetadata(tags={"team": "growth"})
    storage.append(storage.spark.createDataFrame([], schema), location)
    spec.ensure_at(storage, location, CONTRACT)
    got = storage.catalog_metadata(location)
    assert got == TableMetadata(
        _wanted(spec).comment,
        _wanted(spec).column_comments,
        {**_wanted(spec).tags, "team": "growth"},
        _wanted(spec).column_tags,
    )
    assert storage.schema(location).fieldNames() == schema.fieldNames()  # columns untouched
    before = storage.version(location)
    spec.ensure_at(storage, location, CONTRACT)
    assert storage.version(location) == before


@pytest.mark.slow
def test_both_engines_read_the_same_metadata(spark, tmp_path) -> None:
    """Written by one engine, read by the other: the metadata lives in the Delta table itself."""
    engines = {
        e: get_storage(spark, Config(environment="local", engine=e)) for e in ("delta-rs", "spark-delta")
    }
    spec = by_key("bronze.events")
    for writer, reader in (("delta-rs", "spark-delta"), ("spark-delta", "delta-rs")):
        location = str(tmp_path / writer)
        spec.ensure_at(engines[writer], location)
        assert engines[reader].catalog_metadata(location) == _wanted(spec), (writer, reader)
        # and a comment changed through the reader is seen by the writer
        engines[reader].apply_catalog_metadata(location, TableMetadata(column_comments={"body": "changed"}))
        assert engines[writer].catalog_metadata(location).column_comments["body"] == "changed"

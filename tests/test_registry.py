"""The table registry is the truth about every table: after a real ``medallion local --maintenance
--materialize`` run (which creates every table the pipeline has), each table matches its spec - schema,
partitioning, properties, keys, catalog metadata (comments and tags) - on both engines; and
``ops.runs`` holds one row per job run of every layer, with counts that match the tables."""

from __future__ import annotations

import dataclasses

import pytest
from pyspark.sql import functions as F

from medallion.cli import main
from medallion.contract import load_contract
from medallion.maintenance.policy import POLICIES
from medallion.storage import get_storage
from medallion.synthetic import SyntheticSpec, write_landing
from medallion.tables import (
    BRONZE_EVENTS,
    FEATURE_TABLES,
    LANDING_FILES,
    ONLINE_TABLES,
    RUNS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    TABLES,
    by_key,
    ops,
    schemas,
)
from medallion.tables.catalog import table_metadata


@pytest.fixture
def pipeline(spark, local_config, tmp_path, capsys):
    """A warehouse after one ``medallion local --maintenance --materialize`` run over synthetic
    events with duplicates and invalid records; returns (config, storage)."""
    landing = tmp_path / "landing"
    spec = SyntheticSpec(seed=5, users=20, videos=10, days=2, events_per_day=60, files_per_day=2)
    write_landing(dataclasses.replace(spec, invalid_rate=0.05, duplicate_rate=0.05), landing)
    argv = ["local", "--events", str(landing), "--root", local_config.root, "--engine", local_config.engine]
    extra = ["--maintenance", "--materialize", "--shuffle-partitions", "2", "--log-level", "WARNING"]
    assert main([*argv, *extra]) == 0
    capsys.readouterr()
    return local_config, get_storage(spark, local_config)


def _columns(schema) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


@pytest.mark.slow
def test_every_table_the_pipeline_creates_matches_its_spec(pipeline):
    config, storage = pipeline
    contract = load_contract(config.contract_version or None)
    for spec in TABLES:
        location = spec.location(config)
        assert storage.exists(location), f"{spec.key} was not created at {location}"
        assert _columns(storage.schema(location)) == _columns(spec.schema_for(contract)), spec.key
        assert tuple(storage.partition_columns(location)) == spec.partition_by, spec.key
        properties = storage.properties(location)
        missing = {k: v for k, v in spec.properties.items() if properties.get(k) != v}
        assert not missing, f"{spec.key} lacks the properties {missing}"
        # the maintenance job applied the table's own retention properties (a streamed table's are
        # deferred to a window without the stream: a metadata commit would fail its micro-batch)
        if not spec.maintenance.streamed:
            assert {
                k: properties.get(k) for k in spec.maintenance.properties
            } == spec.maintenance.properties, spec.key
        # the jobs gave every table its catalog metadata: comments on it and every column, tags
        assert storage.catalog_metadata(location) == table_metadata(spec, contract), spec.key
        if spec.primary_key:
            rows = storage.read(location)
            assert rows.count() == rows.select(*spec.primary_key).distinct().count() > 0, spec.key
    for spec in FEATURE_TABLES:  # the keys are declared on the table, not only held by the data
        properties = storage.properties(spec.location(config))
        assert properties["medallion.primary_key"] == ",".join(spec.primary_key)
        assert properties["medallion.timeseries_key"] == spec.timeseries_key


def test_registry_is_the_one_declaration():
    keys = [spec.key for spec in TABLES]
    assert len(keys) == len(set(keys))
    assert [p.key for p in POLICIES] == keys  # every table is maintained, in registry order
    assert by_key("silver.events") is SILVER_EVENTS
    with pytest.raises(KeyError, match="known: bronze.events"):
        by_key("silver.nope")
    # every ops table's schema is derived from the dataclass its rows are built from
    rows = {spec.key: spec for spec in TABLES if spec.layer == "ops"}
    for key, row_type in {
        "ops.runs": ops.RunRow,
        "ops.progress": ops.ProgressRow,
        "ops.landing_files": ops.LandingFileRow,
        "ops.bad_files": ops.BadFileRow,
        "ops.silver_runs": ops.SilverRunRow,
        "ops.quality_results": ops.QualityResultRow,
        "ops.maintenance_runs": ops.MaintenanceRunRow,
    }.items():
        assert rows.pop(key).schema_for() is row_type.SCHEMA
        assert row_type.SCHEMA.fieldNames() == [f.name for f in dataclasses.fields(row_type)]
    # the rows served to each online store are gold's rows, per store
    for gold, served in ONLINE_TABLES.items():
        assert rows.pop(served.key).schema_for() == schemas.served(by_key(f"gold.{gold}").schema_for())
    assert set(ONLINE_TABLES) == {t.name for t in FEATURE_TABLES}
    assert not rows, f"ops tables without a row dataclass: {sorted(rows)}"


@pytest.mark.slow
def test_ops_runs_has_one_row_per_job_run_with_counts_matching_the_tables(pipeline):
    config, storage = pipeline

    def count(spec) -> int:
        return storage.read(spec.location(config)).count()

    runs = {r["layer"]: r for r in storage.read(RUNS.location(config)).collect()}
    assert storage.read(RUNS.location(config)).count() == len(runs) == 5  # one row per job run
    assert set(runs) == {"bronze", "silver", "gold", "serving", "maintenance"}
    for run in runs.values():
        assert run["status"] == "succeeded" and run["error"] is None, run
        assert run["mlflow_run_id"], f"{run['layer']} run not logged to MLflow"
        assert run["duration_s"] > 0
    landed = storage.read(LANDING_FILES.location(config)).agg(F.sum("lines")).first()[0]
    bronze, silver, gold = runs["bronze"], runs["silver"], runs["gold"]
    assert bronze["tables"] == ["bronze.events"]
    assert bronze["rows_in"] == landed == bronze["rows_out"] == count(BRONZE_EVENTS)
    assert bronze["quality_score"] == 1.0
    assert silver["tables"] == ["silver.events", "silver.events_quarantine"]
    assert silver["input_range"].startswith("bronze versions 0..")
    assert silver["rows_in"] == count(BRONZE_EVENTS)
    assert silver["rows_out"] == count(SILVER_EVENTS)
    assert silver["rows_quarantined"] == count(SILVER_QUARANTINE) > 0
    assert silver["rows_duplicates"] > 0
    assert silver["rows_in"] == silver["rows_out"] + silver["rows_quarantined"] + silver["rows_duplicates"]
    assert gold["tables"] == [spec.key for spec in FEATURE_TABLES]
    assert gold["rows_in"] == count(SILVER_EVENTS)
    assert gold["rows_out"] == sum(count(spec) for spec in FEATURE_TABLES) > 0
    served = runs["serving"]
    assert served["tables"] == [ONLINE_TABLES[spec.name].key for spec in FEATURE_TABLES]
    assert (
        served["rows_out"]
        >= served["rows_in"]
        == sum(count(ONLINE_TABLES[spec.name]) for spec in FEATURE_TABLES)
    )
    assert runs["maintenance"]["tables"] == [spec.key for spec in TABLES]
    assert len({r["run_id"] for r in runs.values()}) == 5
    assert by_key("ops.runs") is RUNS

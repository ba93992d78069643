"""One behaviour, two engines: ``medallion local`` over the same landing folder on delta-rs and on
spark-delta (real Delta Lake jars) gives the same silver ids, the same quarantine rows and the same
gold values."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from medallion.cli import main
from medallion.config import Config
from medallion.storage import get_storage
from medallion.synthetic import SyntheticSpec, write_landing
from medallion.tables.schemas import LINEAGE_FIELDS

#: Columns stamped at processing time (wall clock, micro-batch, table version): not data.
RUN_TIME_COLUMNS = {
    "ingestion_time",
    "ingestion_date",
    "ingestion_batch_id",
    "processed_time",
    "quarantined_time",
    "bronze_version",
}


@pytest.mark.slow
def test_local_runs_on_both_engines_give_the_same_tables(spark, tmp_path, capsys):
    landing = tmp_path / "landing"
    spec = SyntheticSpec(seed=11, users=40, videos=20, days=3, events_per_day=120, files_per_day=2)
    spec = SyntheticSpec(**{**spec.__dict__, "invalid_rate": 0.05, "duplicate_rate": 0.05})
    write_landing(spec, landing)
    tables = {}
    for engine in ("delta-rs", "spark-delta"):
        root = tmp_path / engine
        argv = ["local", "--events", str(landing), "--root", str(root), "--engine", engine]
        assert main([*argv, "--shuffle-partitions", "2", "--log-level", "WARNING"]) == 0
        config = Config(environment="local", root=str(root), engine=engine)
        storage = get_storage(spark, config)
        assert storage.engine == engine
        tables[engine] = {
            name: storage.read(config.table(*name.split(".")))
            for name in (
                "silver.events",
                "silver.events_quarantine",
                "gold.user_features",
                "gold.video_features",
            )
        }
    capsys.readouterr()
    rs, sd = tables["delta-rs"], tables["spark-delta"]

    ids = {
        engine: {r["event_id"] for r in t["silver.events"].select("event_id").collect()}
        for engine, t in tables.items()
    }
    assert ids["delta-rs"] == ids["spark-delta"] and len(ids["delta-rs"]) > 300

    def comparable(df, keys):
        kept = [c for c in df.columns if c not in RUN_TIME_COLUMNS]
        return df.select(*kept).orderBy(*keys)

    quarantine_keys = ["body", "reasons"]
    assert rs["silver.events_quarantine"].count() == sd["silver.events_quarantine"].count() > 0
    assert_df_equality(
        comparable(rs["silver.events_quarantine"], [*quarantine_keys, "source_file"]),
        comparable(sd["silver.events_quarantine"], [*quarantine_keys, "source_file"]),
        ignore_nullable=True,
    )
    for name, key in (("gold.user_features", "user_id"), ("gold.video_features", "video_id")):
        assert rs[name].count() == sd[name].count() > 0
        assert_df_equality(
            comparable(rs[name], [key, "feature_date"]),
            comparable(sd[name], [key, "feature_date"]),
            ignore_nullable=True,
        )
    # the event itself (which of two re-delivered copies was kept may differ in its lineage columns)
    lineage = {f.name for f in LINEAGE_FIELDS}
    silver_cols = [c for c in rs["silver.events"].columns if c not in lineage]
    assert_df_equality(
        rs["silver.events"].select(*silver_cols).orderBy("event_id"),
        sd["silver.events"].select(*silver_cols).orderBy("event_id"),
        ignore_nullable=True,
    )
    assert rs["silver.events"].where(F.col("event_id").isNull()).count() == 0

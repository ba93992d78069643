"""``medallion training-set``: labelled examples joined with the features known before each label
(pure join: :func:`medallion.serving.plan.training_set`), on Spark.

Labels file: CSV (with a header), Parquet or JSON lines, by extension; columns ``label_ts`` (a
timestamp, UTC), ``label`` and at least one entity key (``user_id``, ``video_id``); any other column
is kept. Every feature view whose entity key is a column of the labels adds its features, named
``<view>__<feature>``. The output is Parquet (a ``.parquet`` path, written by Spark as a folder) or
a Delta table (``--out-format delta``, written through the storage adapter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medallion.config import ConfigError
from medallion.serving.definitions import VIEWS
from medallion.serving.plan import LABEL_TS, training_set
from medallion.storage import DeltaStorage, TableNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config

log = logging.getLogger(__name__)

FORMATS = ("parquet", "delta")


@dataclass
class TrainingSetResult:
    out: str
    out_format: str
    rows: int
    views: list[str]

    def summary(self) -> str:
        return (
            f"training-set: {self.rows} labelled rows with the features of {', '.join(self.views)} "
            f"-> {self.out} ({self.out_format})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"out": self.out, "format": self.out_format, "rows": self.rows, "views": self.views}


def read_labels(spark: SparkSession, path: str) -> DataFrame:
    """The labels file as a DataFrame (see the module docstring), ``label_ts`` as a timestamp."""
    from pyspark.sql import functions as F

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"--labels {path}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        labels = spark.read.option("header", True).option("inferSchema", True).csv(str(p))
    elif suffix == ".parquet":
        try:
            labels = spark.read.parquet(str(p))
        except Exception as exc:
            if "TIMESTAMP(NANOS" not in str(exc):
                raise
            raise ConfigError(
                f"--labels {path}: Spark cannot read nanosecond Parquet timestamps; write them in "
                "microseconds (pandas: to_parquet(..., coerce_timestamps='us'))"
            ) from None
    elif suffix in (".json", ".jsonl"):
        labels = spark.read.json(str(p))
    else:
        raise ConfigError(f"--labels {path}: use a .csv, .parquet, .json or .jsonl file")
    keys = [v.join_key for v in VIEWS.values() if v.join_key in labels.columns]
    if LABEL_TS not in labels.columns or not keys:
        raise ConfigError(
            f"--labels {path}: needs a {LABEL_TS} column and an entity key "
            f"({', '.join(v.join_key for v in VIEWS.values())}); it has {', '.join(labels.columns)}"
        )
    return labels.withColumn(LABEL_TS, F.col(LABEL_TS).cast("timestamp"))


def build(config: Config, storage: DeltaStorage, labels: DataFrame) -> tuple[DataFrame, list[str]]:
    """The training set of ``labels`` (every view whose entity key the labels carry)."""
    from medallion.gold.job import latest_feature_date

    out, used = labels, []
    for view in VIEWS.values():
        if view.join_key not in labels.columns:
            continue
        gold = view.table.location(config)
        version = storage.version(gold)
        if version is None:
            raise TableNotFoundError(f"training-set reads {gold}, which does not exist: run gold first")
        features = storage.read(gold, version=version)
        out = training_set(out, features, view, latest_feature_date(storage, gold))
        used.append(view.name)
    return out, used


def run(
    config: Config, spark: SparkSession, storage: DeltaStorage, labels_path: str, out: str, out_format: str
) -> TrainingSetResult:
    if out_format not in FORMATS:
        raise ConfigError(f"--out-format {out_format!r}: use {' or '.join(FORMATS)}")
    if out_format == "delta" and storage.exists(out):
        raise ConfigError(f"--out {out}: a Delta table is already there; name a new one")
    labels = read_labels(spark, labels_path)
    result, views = build(config, storage, labels)
    result = result.persist()
    try:
        rows = result.count()
        if out_format == "delta":
            storage.create_if_missing(out, result.schema)
            storage.append(result, out)
        else:
            result.write.mode("overwrite").parquet(out)
    finally:
        result.unpersist()
    outcome = TrainingSetResult(out, out_format, rows, views)
    log.info("%s", outcome.summary())
    return outcome


def feast_historical_features(store: Any, spark: SparkSession, labels: Any, views: list[str]) -> Any:
    """Feast's own point-in-time join (``get_historical_features``, Spark offline store) of a pandas
    ``labels`` frame (entity key, ``label_ts``, ...) with ``views``' features, as pandas with
    ``<view>__<feature>`` columns - the cross-check of :func:`build`. Feast reads the gold tables
    with Spark SQL (``delta.`<folder>``` locally), so the session needs the Delta jars (the
    spark-delta engine, or Databricks). Feast switches ``spark.sql.parser.quotedRegexColumnNames``
    on for the session; it is restored afterwards."""
    key = "spark.sql.parser.quotedRegexColumnNames"
    before = spark.conf.get(key, "false")
    entity_df = labels.rename(columns={LABEL_TS: "event_timestamp"})
    features = [ref for name in views for ref in VIEWS[name].references()]
    try:
        job = store.get_historical_features(entity_df=entity_df, features=features, full_feature_names=True)
        return job.to_df().rename(columns={"event_timestamp": LABEL_TS})
    finally:
        spark.conf.set(key, before)

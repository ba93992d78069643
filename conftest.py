"""Shared pytest fixtures: one local SparkSession for the whole suite and fresh warehouses."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

IVY_DIR = Path(__file__).parent / ".cache" / "ivy"

# Keep test runs hermetic: never pick up a developer's MEDALLION_* settings or a Databricks env.
for _key in list(os.environ):
    if _key.startswith("MEDALLION_") or _key == "DATABRICKS_RUNTIME_VERSION":
        del os.environ[_key]
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("TZ", "UTC")


@pytest.fixture(scope="session")
def spark():
    """One small local SparkSession for the suite (cold start is ~8 s), stopped at teardown."""
    from medallion.spark import local_session_builder, start_session

    warehouse = tempfile.mkdtemp(prefix="medallion-spark-warehouse-")
    # The Delta and Kafka jars are resolved from Maven Central (cached in the ignored .cache/ivy).
    # No fallback: when they cannot be had the session fails and so does the suite.
    session = start_session(
        local_session_builder(
            app_name="medallion-tests",
            shuffle_partitions=2,
            warehouse=warehouse,
            delta=True,
            kafka=True,
            ivy_dir=str(IVY_DIR),
        )
        .master("local[2]")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.rdd.compress", "false")
        # Measured on the 2-core machine (benchmarks/RESULTS.md): the parallel collector with both JIT
        # tiers beat the C1 compiler alone by about 30 % per spark-delta test once warm (the suite's
        # JVM runs for an hour) and left the fast tier no slower; interpreted plans (no whole-stage
        # code generation per query) are as quick for small test data and compile nothing.
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC -XX:+UseParallelGC")
        .config("spark.sql.codegen.wholeStage", "false")
        # Expressions interpreted too (projections, predicates, orderings): Spark otherwise
        # generates and compiles Java for each one with Janino, a third of the JVM's samples in a
        # spark-delta test. Interpreted: spark-delta tests 14 % and the fast tier 9 % quicker
        # (RESULTS.md, "Test suite: where a spark-delta test's time goes"). Spark's own expression
        # tests check that both paths agree.
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    )
    yield session
    session.stop()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A fresh, empty local warehouse root (tables go to <root>/<layer>/<table>)."""
    root = tmp_path / "warehouse"
    root.mkdir()
    return root


#: The two storage engines every behavioural test runs on: delta-rs (the local default) and
#: spark-delta (what runs on Databricks), on the same data with the same assertions.
ENGINES = ("delta-rs", "spark-delta")


def pytest_collection_modifyitems(config, items):
    """The fast tier (``pytest -m "not slow"``) runs the behavioural tests on delta-rs, the local
    default engine; their spark-delta runs belong to the full tier, with the tests marked slow."""
    slow = pytest.mark.slow
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("engine") == "spark-delta":
            item.add_marker(slow)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """The storage engine under test (tests that use ``storage`` or ``local_config`` run on both)."""
    return request.param


@pytest.fixture
def local_config(warehouse: Path, engine: str):
    """A local Config rooted at a fresh warehouse, on the engine under test."""
    from medallion.config import Config

    return Config(environment="local", root=str(warehouse), engine=engine, shuffle_partitions=2)


@pytest.fixture
def storage(spark, engine: str):
    """The storage adapter of the engine under test, on the shared session."""
    from medallion.config import Config
    from medallion.storage import get_storage

    return get_storage(spark, Config(environment="local", engine=engine))


# --- suite time per engine (printed at the end of every run) ---------------------------------
_ENGINE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    engine = "engine-independent"
    for name in ENGINES:
        if f"[{name}" in report.nodeid or f"-{name}]" in report.nodeid or f"-{name}-" in report.nodeid:
            engine = name
    _ENGINE_SECONDS[engine] = _ENGINE_SECONDS.get(engine, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if _ENGINE_SECONDS:
        parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in sorted(_ENGINE_SECONDS.items()))
        terminalreporter.write_line(f"test time per storage engine (setup + call + teardown): {parts}")


# --- a real Redis (serving tests) --------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server():
    """The Redis of ``.ci/run`` (``TEST_REDIS_URL``), or a private ``redis-server`` for the session."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "tests"))
    from redis_server import from_environment, start_redis

    server = from_environment()
    started = server is None
    if started:
        server = start_redis()
    yield server
    if started:
        server.stop()

"""What every ``medallion`` command shares: its config from flags and environment, logging, the
preconditions and the root lock, the Spark session and storage adapter, the quality gate and the run
recorder, and running one pipeline stage with its summary."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from medallion.config import Config
from medallion.errors import JobFailedError
from medallion.preflight import preflight
from medallion.runlock import LOCKED_COMMANDS, root_lock

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EXIT_CODES_HELP = """exit codes:
  0  success
  1  the run failed (a job, a quality gate, a table, the storage, a landing file bronze could
     not ingest (enforce mode), another run holding the root's lock); the one-line message
     says what is wrong and what to do
  2  usage error: a bad flag or value, a missing --events folder, a --root that is a file or
     cannot be written, maintenance on a folder without a medallion warehouse; nothing was changed
--log-level DEBUG also prints the full traceback of a failure."""


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Config:
    values = {k: v for k, v in vars(args).items() if k in Config.field_names()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config.from_sources(values)


#: Libraries whose INFO logging drowns a run's own summary (Great Expectations alone logs hundreds
#: of lines per checkpoint): WARNING and above only, unless --log-level DEBUG.
THIRD_PARTY_LOGGERS = ("great_expectations", "mlflow", "alembic", "urllib3", "deltalake")
#: Never below WARNING, not even with DEBUG: py4j's DEBUG log prints every command sent to the JVM,
#: the Kafka/Event Hubs connector options (credentials) included.
NEVER_VERBOSE_LOGGERS = ("py4j", "pyspark")


def setup_logging(config: Config) -> None:
    """``--log-level`` is the level of medallion's own loggers (all under ``medallion.``); other
    libraries log WARNING and above, everything only with DEBUG."""
    level = getattr(logging, config.log_level.upper(), logging.INFO)
    debug = level <= logging.DEBUG
    logging.basicConfig(
        level=level if debug else max(level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("medallion").setLevel(level)
    if not debug:  # MLflow sets its own logger's level when it is imported (later, lazily)
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for noisy in THIRD_PARTY_LOGGERS:
        logging.getLogger(noisy).setLevel(level if debug else max(level, logging.WARNING))
    for secretive in NEVER_VERBOSE_LOGGERS:
        logging.getLogger(secretive).setLevel(max(level, logging.WARNING))


def start(args: argparse.Namespace, **overrides: Any) -> Config:
    """The command's config, its preconditions checked (ConfigError, exit 2, with nothing changed)
    and, for a command that writes, the lock of its local root taken (released when the command
    ends)."""
    config = config_from_args(args, **overrides)
    setup_logging(config)
    args.medallion_config = config  # for the failure explanation of main()
    preflight(config, args.command)
    cleanup = getattr(args, "medallion_cleanup", None)
    if args.command in LOCKED_COMMANDS and cleanup is not None:
        cleanup.enter_context(root_lock(config, args.command))
    return config


#: Imported in the background while the JVM starts (the main thread mostly waits on it): every
#: command that starts Spark records its runs in MLflow, whose import alone takes seconds. Great
#: Expectations is not: a run with nothing new never validates, and its import on a second thread
#: would slow the JVM start (measured: benchmarks/RESULTS.md, "Speed"); a job with new data starts
#: it once the JVM is up (``QualityGate.warm_up``).
PRELOADED_MODULES = ("mlflow",)


def preload(modules: Sequence[str] = PRELOADED_MODULES, config: Config | None = None) -> threading.Thread:
    """Import ``modules`` on a daemon thread, then open ``config``'s MLflow tracking store (creating
    a local one's database, the first run's largest MLflow cost); a failure is left for the real
    import or run to report."""

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        if config is not None:
            from medallion.tracking import open_store

            with contextlib.suppress(Exception):
                open_store(config)

    thread = threading.Thread(target=load, name="medallion-preload", daemon=True)
    thread.start()
    return thread


def spark_and_storage(config: Config, *, tracking: bool = True):
    """The command's Spark session and storage adapter; ``tracking=False`` for a command that
    records no run (its local MLflow database is then not opened, nor created)."""
    from medallion.spark import get_spark
    from medallion.storage import get_storage

    preload(config=config if tracking else None)
    spark = get_spark(config)
    quiet_jvm_logs(spark, config)
    return spark, get_storage(spark, config)


def quiet_jvm_logs(spark, config: Config) -> None:
    """Locally, Spark's own log4j output (a failed task or streaming query logs its Java stack trace
    at ERROR) is off unless --log-level DEBUG: a failure is explained in one line by main()."""
    if config.environment == "databricks":
        return  # the driver log keeps the runtime's own logging
    spark.sparkContext.setLogLevel("WARN" if config.log_level.upper() == "DEBUG" else "OFF")


def gate_for(config: Config, storage):
    """One quality gate (one GX context) per process, shared by every stage it runs."""
    from medallion.quality import QualityGate

    return QualityGate(config, storage)


def recorder_for(config: Config, storage):
    """The run recorder of a command: one ops.runs row (and MLflow run) per job run."""
    from medallion.runs import RunRecorder

    return RunRecorder(config, storage)


def run_stage(layer: str, config: Config, spark, storage, gate, recorder) -> Any:
    """Run one pipeline stage with its quality gate and print its summary and gate outcomes."""
    job = importlib.import_module(f"medallion.{layer}.job")
    seen = len(gate.results)
    result = job.run(config, spark, storage, gate=gate, recorder=recorder)
    print(result.summary())
    for outcome in gate.results[seen:]:
        print(f"  quality: {outcome.summary()}")
    return result


def cmd_stage(layer: str, args: argparse.Namespace) -> int:
    config = start(args)
    spark, storage = spark_and_storage(config)
    gate = gate_for(config, storage)
    result = run_stage(layer, config, spark, storage, gate, recorder_for(config, storage))
    gate.raise_for_alerts()  # warn mode published; a score below min_quality_score fails the task
    raise_for_bad_files(config, result)
    return EXIT_OK


def raise_for_bad_files(config: Config, result: Any) -> None:
    """Landing files bronze could not ingest (recorded in ops.bad_files) fail the task in enforce
    mode - once, in the run that found them, after every other file was ingested."""
    if getattr(result, "bad_files", None) and config.quality_mode("bronze") == "enforce":
        raise JobFailedError(result.failure_message())

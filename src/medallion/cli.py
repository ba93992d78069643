"""``medallion`` command line: one subcommand per job, plus ``local`` (the whole pipeline on a
landing folder). Each job is also a wheel entry point (``medallion-<job>``) for Databricks
``python_wheel_task``; job parameters arrive as the same ``--flags``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from medallion import __version__, failures
from medallion.config import Config, ConfigError
from medallion.demo import DEMO_SIZES
from medallion.errors import JobFailedError
from medallion.options import add_config_arguments
from medallion.preflight import preflight
from medallion.runlock import LOCKED_COMMANDS, root_lock

log = logging.getLogger("medallion")

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


def _config_from_args(args: argparse.Namespace, **overrides: Any) -> Config:
    values = {k: v for k, v in vars(args).items() if k in Config.field_names()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config.from_sources(values)


#: Libraries whose INFO logging drowns a run's own summary (Great Expectations alone logs hundreds
#: of lines per checkpoint): WARNING and above only, unless --log-level DEBUG.
THIRD_PARTY_LOGGERS = ("great_expectations", "mlflow", "alembic", "urllib3", "deltalake")
#: Never below WARNING, not even with DEBUG: py4j's DEBUG log prints every command sent to the JVM,
#: the Kafka/Event Hubs connector options (credentials) included.
NEVER_VERBOSE_LOGGERS = ("py4j", "pyspark")


def _setup_logging(config: Config) -> None:
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


def _start(args: argparse.Namespace, **overrides: Any) -> Config:
    """The command's config, its preconditions checked (ConfigError, exit 2, with nothing changed)
    and, for a command that writes, the lock of its local root taken (released when the command
    ends)."""
    config = _config_from_args(args, **overrides)
    _setup_logging(config)
    args.medallion_config = config  # for the failure explanation of main()
    preflight(config, args.command)
    cleanup = getattr(args, "medallion_cleanup", None)
    if args.command in LOCKED_COMMANDS and cleanup is not None:
        cleanup.enter_context(root_lock(config, args.command))
    return config


def _runtime(config: Config):
    from medallion.spark import get_spark
    from medallion.storage import get_storage

    spark = get_spark(config)
    _quiet_jvm_logs(spark, config)
    return spark, get_storage(spark, config)


def _quiet_jvm_logs(spark, config: Config) -> None:
    """Locally, Spark's own log4j output (a failed task or streaming query logs its Java stack trace
    at ERROR) is off unless --log-level DEBUG: a failure is explained in one line by main()."""
    if config.environment == "databricks":
        return  # the driver log keeps the runtime's own logging
    spark.sparkContext.setLogLevel("WARN" if config.log_level.upper() == "DEBUG" else "OFF")


# --- commands ------------------------------------------------------------------------------
def _gate(config: Config, storage):
    """One quality gate (one GX context) per process, shared by every stage it runs."""
    from medallion.quality import QualityGate

    return QualityGate(config, storage)


def _recorder(config: Config, storage):
    """The run recorder of a command: one ops.runs row (and MLflow run) per job run."""
    from medallion.runs import RunRecorder

    return RunRecorder(config, storage)


def _run_stage(layer: str, config: Config, spark, storage, gate, recorder) -> Any:
    """Run one pipeline stage with its quality gate and print its summary and gate outcomes."""
    import importlib

    job = importlib.import_module(f"medallion.{layer}.job")
    seen = len(gate.results)
    result = job.run(config, spark, storage, gate=gate, recorder=recorder)
    print(result.summary())
    for outcome in gate.results[seen:]:
        print(f"  quality: {outcome.summary()}")
    return result


def _cmd_stage(layer: str, args: argparse.Namespace) -> int:
    config = _start(args)
    spark, storage = _runtime(config)
    gate = _gate(config, storage)
    result = _run_stage(layer, config, spark, storage, gate, _recorder(config, storage))
    gate.raise_for_alerts()  # warn mode published; a score below min_quality_score fails the task
    _raise_for_bad_files(config, result)
    return EXIT_OK


def _raise_for_bad_files(config: Config, result: Any) -> None:
    """Landing files bronze could not ingest (recorded in ops.bad_files) fail the task in enforce
    mode - once, in the run that found them, after every other file was ingested."""
    if getattr(result, "bad_files", None) and config.quality_mode("bronze") == "enforce":
        raise JobFailedError(result.failure_message())


def cmd_bronze(args: argparse.Namespace) -> int:
    return _cmd_stage("bronze", args)


def cmd_silver(args: argparse.Namespace) -> int:
    return _cmd_stage("silver", args)


def cmd_gold(args: argparse.Namespace) -> int:
    return _cmd_stage("gold", args)


def cmd_local(args: argparse.Namespace) -> int:
    config = _start(args, environment="local", source="files")
    spark, storage = _runtime(config)
    print(f"medallion local: landing folder {config.events_dir or '(packaged sample events)'}")
    print(f"                 warehouse      {config.root}")
    gate, recorder = _gate(config, storage), _recorder(config, storage)
    summary: dict[str, Any] = {}
    bronze = _run_stage("bronze", config, spark, storage, gate, recorder)
    summary["bronze"] = bronze.as_dict()
    summary["silver"] = _run_stage("silver", config, spark, storage, gate, recorder).as_dict()
    summary["gold"] = _run_stage("gold", config, spark, storage, gate, recorder).as_dict()
    summary["quality"] = [
        {"table": r.table, "status": r.status, "score": r.score, "alert": r.alert} for r in gate.results
    ]
    maintenance = None
    if config.maintenance:  # after every pipeline stage: compaction, Z-order, VACUUM (policy retention)
        from medallion.maintenance import job as maintenance_job

        maintenance = maintenance_job.run(config, spark, storage, recorder=recorder)
        print(maintenance.summary())
        summary["maintenance"] = maintenance.as_dict()
    if args.json:
        print(json.dumps(summary, default=str))
    if maintenance is not None and not maintenance.ok:
        raise JobFailedError(maintenance.failure_message())
    gate.raise_for_alerts()
    _raise_for_bad_files(config, bronze)
    return EXIT_OK


def cmd_quality(args: argparse.Namespace) -> int:
    from medallion.quality.gate import validate_table
    from medallion.tables import by_key

    config = _start(args)
    if not (config.check_layer and config.check_table):
        raise ConfigError(
            "quality: name the table to validate with --layer and --table, e.g. --layer silver --table events"
        )
    try:
        table = by_key(f"{config.check_layer}.{config.check_table}")
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    _, storage = _runtime(config)
    # enforce mode: a failed check raises QualityGateError (a JobFailedError) -> exit 1
    result = validate_table(config, storage, table, where=config.check_where or None)
    print(result.message())
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    import datetime as dt

    from medallion.synthetic import SyntheticSpec, write_landing

    try:
        spec = SyntheticSpec(
            seed=args.seed,
            users=args.users,
            videos=args.videos,
            days=args.days,
            events_per_day=args.events_per_day,
            start_date=args.start_date,
            files_per_day=args.files_per_day,
            duplicate_rate=args.duplicate_rate,
            late_rate=args.late_rate,
            invalid_rate=args.invalid_rate,
        )
        summary = write_landing(spec, args.events, overwrite=args.overwrite)
    except FileExistsError as exc:
        raise ConfigError(f"{exc}: use another --events folder or --overwrite") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(summary.summary())
    if spec.end_date > dt.datetime.now(dt.timezone.utc).date():
        print("warning: events later than ingestion + 1 day are quarantined by silver", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_dict()))
    return EXIT_OK


def _generate_arguments(p: argparse.ArgumentParser) -> None:
    from medallion.synthetic import SyntheticSpec

    d = SyntheticSpec()
    p.add_argument("--events", required=True, metavar="DIR", help="landing folder to write (created)")
    p.add_argument("--days", type=int, default=d.days, help=f"days of events (default: {d.days})")
    p.add_argument("--users", type=int, default=d.users, help=f"distinct users (default: {d.users})")
    p.add_argument("--videos", type=int, default=d.videos, help=f"distinct videos (default: {d.videos})")
    p.add_argument(
        "--events-per-day",
        type=int,
        default=d.events_per_day,
        help=f"records generated per day, mess included (default: {d.events_per_day})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="same seed, same bytes (default: 0)")
    p.add_argument("--start-date", default=d.start_date.isoformat(), help="first day, YYYY-MM-DD")
    p.add_argument("--files-per-day", type=int, default=d.files_per_day, help="landing files per day")
    for name, what in (
        ("duplicate_rate", "share of records that are re-delivered copies of valid events"),
        ("late_rate", "share of sessions arriving 2-5 days late"),
        ("invalid_rate", "share of records that are malformed or break the contract"),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=getattr(d, name),
            help=f"{what} (default: {getattr(d, name)})",
        )
    p.add_argument("--overwrite", action="store_true", help="replace landing files of the same name")
    p.add_argument("--json", action="store_true", help="also print a JSON summary line")


# --- demo: generate -> bronze -> silver -> gold (with their quality gates) -> maintenance ------
def cmd_demo(args: argparse.Namespace) -> int:
    import tempfile
    import time
    from pathlib import Path

    from medallion.demo import demo_report, demo_text
    from medallion.synthetic import SyntheticSpec, write_landing

    if args.root and Path(args.root).is_dir() and any(Path(args.root).iterdir()):
        raise ConfigError(f"--root {args.root} is not empty: the demo builds a fresh warehouse")
    root = Path(args.root or tempfile.mkdtemp(prefix="medallion-demo-")).absolute()
    days, per_day, users, videos = DEMO_SIZES[args.size]
    spec = SyntheticSpec(
        seed=args.seed,
        users=users,
        videos=videos,
        days=days,
        events_per_day=per_day,
        duplicate_rate=0.03,
        late_rate=0.03,
        invalid_rate=0.01,
    )
    config = _start(
        args,
        environment="local",
        source="files",
        root=str(root),
        events_dir=str(root / "landing"),
        log_level=args.log_level or "WARNING",
    )
    stages = ["generate", "spark", "bronze", "silver", "gold", "maintenance"]
    if args.no_maintenance:
        stages.remove("maintenance")
    step = iter(f"[{i}/{len(stages)}] {name}" for i, name in enumerate(stages, start=1))
    seconds: dict[str, float] = {}
    print(f"medallion demo: size {args.size}, seed {args.seed}, warehouse {root}")

    def timed(stage: str, func: Callable[[], Any], show: bool = False) -> Any:
        print(next(step), flush=True)
        started = time.monotonic()
        result = func()
        seconds[stage] = time.monotonic() - started
        if show:
            print(result.summary())
        print(f"      {stage}: {seconds[stage]:.1f} s", flush=True)
        return result

    generated = timed("generate", lambda: write_landing(spec, root / "landing"), show=True)
    spark, storage = timed("spark", lambda: _runtime(config))
    gate, recorder = _gate(config, storage), _recorder(config, storage)  # as `medallion local`
    for layer in ("bronze", "silver", "gold"):
        timed(layer, lambda layer=layer: _run_stage(layer, config, spark, storage, gate, recorder))
    if not args.no_maintenance:
        from medallion.maintenance import job as maintenance_job

        maintenance = timed(
            "maintenance", lambda: maintenance_job.run(config, spark, storage, recorder=recorder), show=True
        )
        if not maintenance.ok:
            raise JobFailedError(maintenance.failure_message())
    report = demo_report(config, storage, generated, seconds)
    print(demo_text(report))
    if args.json:
        print(json.dumps(report, default=str))
    gate.raise_for_alerts()
    return EXIT_OK


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root", default=None, metavar="DIR", help="empty or new folder (default: a new temp folder)"
    )
    p.add_argument(
        "--size",
        choices=("tiny", "small", "medium"),
        default="small",
        help="tiny is for tests (default: small)",
    )
    p.add_argument("--seed", type=int, default=0, help="synthetic events seed (default: 0)")
    p.add_argument("--no-maintenance", action="store_true", help="skip the maintenance stage")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON line")


def cmd_maintenance(args: argparse.Namespace) -> int:
    from medallion.maintenance import job, plan, policy

    config = _config_from_args(args)
    _setup_logging(config)
    # unknown tables and an unsafe retention are refused before Spark starts (ConfigError -> exit 2)
    selected = policy.select(policy.parse_tables(config.maintenance_tables or None))
    plan.check_retention(selected, config.retention_hours, config.allow_unsafe_retention)
    config = _start(args)  # locally: a root that holds no medallion warehouse is a usage error
    spark, storage = _runtime(config)
    result = job.run(config, spark, storage, recorder=_recorder(config, storage))
    print(result.summary())
    if not result.ok:  # the other tables were maintained; the task still fails
        raise JobFailedError(result.failure_message())
    return EXIT_OK


def cmd_policies(args: argparse.Namespace) -> int:
    # dev/CI tool: cluster policy as code (medallion.deploy.policies); needs no SparkSession
    from medallion.deploy import policies

    return policies.run_cli(args)


def cmd_integration_test(args: argparse.Namespace) -> int:
    # generate synthetic events, run bronze -> silver -> gold with gates, check the ground truth
    from medallion import integration

    config = _start(args)
    spark, storage = _runtime(config)
    return integration.run_cli(args, config, spark, storage)


#: The local Spark settings.
SPARK_FIELDS = ("spark_master", "spark_driver_memory", "shuffle_partitions")
LOCAL_FIELDS = (
    "root",
    "events_dir",
    "max_files_per_trigger",
    "log_level",
    "engine",
    "maintenance",
    *SPARK_FIELDS,
)

COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str, Sequence[str] | None]] = {
    "bronze": (cmd_bronze, "ingest the configured source into bronze.events (structured streaming)", None),
    "silver": (cmd_silver, "validate, deduplicate and MERGE new bronze rows into silver.events", None),
    "gold": (cmd_gold, "recompute the 7-day ML feature tables gold.user_features / video_features", None),
    "quality": (cmd_quality, "validate an existing table with its quality suite, record the result", None),
    "maintenance": (
        cmd_maintenance,
        "OPTIMIZE (compaction, Z-order) then VACUUM every table per its maintenance policy",
        None,
    ),
    "local": (cmd_local, "run every pipeline stage once over a local landing folder", LOCAL_FIELDS),
    "generate": (cmd_generate, "write a deterministic synthetic landing folder (events + real mess)", ()),
    "demo": (
        cmd_demo,
        "generate events, run bronze -> silver -> gold (quality gates) -> maintenance, print a summary",
        ("engine", "log_level", *SPARK_FIELDS),
    ),
    "policies": (cmd_policies, "check job clusters against the spot cluster policy, or sync it", ()),
    "integration-test": (
        cmd_integration_test,
        "run the pipeline on synthetic events and check the tables against the generator's ground truth",
        (
            *("environment", "root", "catalog", "schema_prefix", "engine", "log_level", *SPARK_FIELDS),
            *("quality_bronze", "quality_silver", "quality_gold", "max_quarantine_rate", "min_quality_score"),
            *("mlflow_tracking_uri", "mlflow_experiment"),
        ),
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medallion",
        description="Medallion data jobs: Event Hubs watch events -> bronze -> silver -> gold features.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"medallion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name, (func, helptext, fields) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=helptext,
            description=helptext,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == "local":
            p.add_argument(
                "--events",
                dest="events_dir",
                default=None,
                metavar="DIR",
                help="landing folder of JSON-lines files (default: packaged sample events)",
            )
            p.add_argument("--json", action="store_true", help="also print a JSON summary line")
            fields = [f for f in fields if f != "events_dir"]
        if name == "generate":
            _generate_arguments(p)
        if name == "demo":
            _demo_arguments(p)
        if name == "integration-test":
            from medallion.integration import add_cli_arguments as add_integration_arguments

            add_integration_arguments(p)
        if name == "policies":
            from medallion.deploy.policies import add_cli_arguments

            add_cli_arguments(p)
        add_config_arguments(p, only=fields, command=name)
        p.set_defaults(func=func)
    return parser


def _debug(args: argparse.Namespace) -> bool:
    config = getattr(args, "medallion_config", None)
    level = config.log_level if config is not None else getattr(args, "log_level", None)
    level = level or os.environ.get("MEDALLION_LOG_LEVEL", "")
    return str(level).upper() == "DEBUG"


def _checkpoints(args: argparse.Namespace) -> list[str]:
    """The streaming checkpoints the failed command used (named in a checkpoint failure)."""
    config = getattr(args, "medallion_config", None)
    if config is None or args.command not in ("bronze", "local", "demo", "integration-test"):
        return []
    try:
        from medallion.bronze.job import STREAM_NAME
    except Exception:  # only used to name the folder in a message
        STREAM_NAME = "bronze_events"
    return [config.checkpoint(STREAM_NAME)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit codes: 0 success, 1 the run failed, 2 usage error (nothing changed).
    Every failure ends with one line ``medallion <command>: FAILED: <what and what to do>``; the
    traceback only with --log-level DEBUG."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.medallion_cleanup = contextlib.ExitStack()  # holds the root lock while the command runs
    try:
        with args.medallion_cleanup:
            return args.func(args)
    except ConfigError as exc:
        print(f"medallion {args.command}: configuration error: {exc}", file=sys.stderr)
        if _debug(args):
            traceback.print_exc()
        return EXIT_USAGE
    except JobFailedError as exc:
        print(f"medallion {args.command}: FAILED: {exc}", file=sys.stderr)
        if _debug(args):
            traceback.print_exc()
        return EXIT_FAILED
    except Exception as exc:  # every other failure is explained, not dumped
        try:
            message = failures.explain(exc, checkpoints=_checkpoints(args))
        except Exception:  # the explanation must never hide the failure
            message = failures.first_line(repr(exc)) or type(exc).__name__
        print(f"medallion {args.command}: FAILED: {message}", file=sys.stderr)
        if _debug(args):
            traceback.print_exc()
        return EXIT_FAILED


def _entry(command: str) -> Callable[[], None]:
    def entry() -> None:
        sys.exit(main([command, *sys.argv[1:]]))

    entry.__name__ = f"{command}_entry"
    return entry


bronze_entry = _entry("bronze")
silver_entry = _entry("silver")
gold_entry = _entry("gold")
quality_entry = _entry("quality")
maintenance_entry = _entry("maintenance")
integration_test_entry = _entry("integration-test")

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
from medallion.config import ConfigError
from medallion.demo import cmd_demo, cmd_generate, demo_arguments, generate_arguments
from medallion.errors import JobFailedError
from medallion.options import add_config_arguments
from medallion.report_cli import cmd_report, report_arguments
from medallion.runtime import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    cmd_stage,
    config_from_args,
    gate_for,
    raise_for_bad_files,
    recorder_for,
    run_stage,
    setup_logging,
    spark_and_storage,
    start,
)
from medallion.serving_cli import (
    ONLINE_FIELDS,
    cmd_features,
    cmd_materialize,
    cmd_serve,
    cmd_training_set,
    features_arguments,
    serve_arguments,
    training_set_arguments,
)

log = logging.getLogger("medallion")


# --- commands ------------------------------------------------------------------------------
def cmd_bronze(args: argparse.Namespace) -> int:
    return cmd_stage("bronze", args)


def cmd_silver(args: argparse.Namespace) -> int:
    return cmd_stage("silver", args)


def cmd_gold(args: argparse.Namespace) -> int:
    return cmd_stage("gold", args)


def cmd_local(args: argparse.Namespace) -> int:
    config = start(args, environment="local", source="files")
    spark, storage = spark_and_storage(config)
    print(f"medallion local: landing folder {config.events_dir or '(packaged sample events)'}")
    print(f"                 warehouse      {config.root}")
    gate, recorder = gate_for(config, storage), recorder_for(config, storage)
    summary: dict[str, Any] = {}
    bronze = run_stage("bronze", config, spark, storage, gate, recorder)
    summary["bronze"] = bronze.as_dict()
    summary["silver"] = run_stage("silver", config, spark, storage, gate, recorder).as_dict()
    summary["gold"] = run_stage("gold", config, spark, storage, gate, recorder).as_dict()
    if config.materialize:  # the online store (Redis, or the embedded SQLite store) after gold
        from medallion.serving import job as serving_job

        materialized = serving_job.run(config, spark, storage, recorder=recorder)
        print(materialized.summary())
        summary["materialize"] = materialized.as_dict()
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
    raise_for_bad_files(config, bronze)
    return EXIT_OK


def cmd_quality(args: argparse.Namespace) -> int:
    from medallion.quality.gate import validate_table
    from medallion.tables import by_key

    config = start(args)
    if not (config.check_layer and config.check_table):
        raise ConfigError(
            "quality: name the table to validate with --layer and --table, e.g. --layer silver --table events"
        )
    try:
        table = by_key(f"{config.check_layer}.{config.check_table}")
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    _, storage = spark_and_storage(config)
    # enforce mode: a failed check raises QualityGateError (a JobFailedError) -> exit 1
    result = validate_table(config, storage, table, where=config.check_where or None)
    print(result.message())
    return EXIT_OK


def cmd_maintenance(args: argparse.Namespace) -> int:
    from medallion.maintenance import job, plan, policy

    config = config_from_args(args)
    setup_logging(config)
    # unknown tables and an unsafe retention are refused before Spark starts (ConfigError -> exit 2)
    selected = policy.select(policy.parse_tables(config.maintenance_tables or None))
    plan.check_retention(selected, config.retention_hours, config.allow_unsafe_retention)
    config = start(args)  # locally: a root that holds no medallion warehouse is a usage error
    spark, storage = spark_and_storage(config)
    result = job.run(config, spark, storage, recorder=recorder_for(config, storage))
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

    config = start(args)
    spark, storage = spark_and_storage(config)
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
    "materialize",
    "redis_url",
    "redis_secret_key",
    "serving_root",
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
    "materialize": (
        cmd_materialize,
        "push gold's latest feature values into the online store (Redis, or embedded SQLite), incrementally",
        None,
    ),
    "features": (
        cmd_features,
        "features get: print the online features of users / videos as JSON",
        ONLINE_FIELDS,
    ),
    "training-set": (
        cmd_training_set,
        "join labelled examples with the features known before each label (point in time)",
        ("environment", "root", "catalog", "schema_prefix", "engine", "log_level", *SPARK_FIELDS),
    ),
    "serve": (cmd_serve, "serve the online features over HTTP (read-only JSON endpoint)", ONLINE_FIELDS),
    "local": (cmd_local, "run every pipeline stage once over a local landing folder", LOCAL_FIELDS),
    "generate": (cmd_generate, "write a deterministic synthetic landing folder (events + real mess)", ()),
    "demo": (
        cmd_demo,
        "generate events, run bronze -> silver -> gold (quality gates) -> maintenance, print a summary",
        ("engine", "log_level", *SPARK_FIELDS),
    ),
    "report": (
        cmd_report,
        "draw the ops tables of a local warehouse as one self-contained HTML page of charts",
        ("root", "engine", "log_level", "min_quality_score", *SPARK_FIELDS),
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


def _json_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="also print a JSON summary line")


#: The command-specific arguments (not config fields) of some commands.
EXTRA_ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "generate": generate_arguments,
    "demo": demo_arguments,
    "materialize": _json_argument,
    "features": features_arguments,
    "training-set": training_set_arguments,
    "serve": serve_arguments,
    "report": report_arguments,
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
            _json_argument(p)
            fields = [f for f in fields if f != "events_dir"]
        if name in EXTRA_ARGUMENTS:
            EXTRA_ARGUMENTS[name](p)
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
materialize_entry = _entry("materialize")
integration_test_entry = _entry("integration-test")

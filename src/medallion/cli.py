"""``medallion`` command line: one subcommand per job, plus ``local`` (the whole pipeline on a
landing folder). Each job is also a wheel entry point (``medallion-<job>``) for Databricks
``python_wheel_task``; job parameters arrive as the same ``--flags``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from medallion import __version__
from medallion.config import Config, ConfigError
from medallion.errors import JobFailedError

log = logging.getLogger("medallion")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _config_from_args(args: argparse.Namespace, **overrides: Any) -> Config:
    values = {k: v for k, v in vars(args).items() if k in Config.field_names()}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config.from_sources(values)


def _setup_logging(config: Config) -> None:
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "pyspark"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _runtime(config: Config):
    from medallion.spark import get_spark
    from medallion.storage import get_storage

    spark = get_spark(config)
    return spark, get_storage(spark, config)


# --- commands ------------------------------------------------------------------------------
def cmd_bronze(args: argparse.Namespace) -> int:
    from bronze import job

    config = _config_from_args(args)
    _setup_logging(config)
    spark, storage = _runtime(config)
    result = job.run(config, spark, storage)
    print(result.summary())
    return EXIT_OK


def cmd_silver(args: argparse.Namespace) -> int:
    from silver import job

    config = _config_from_args(args)
    _setup_logging(config)
    spark, storage = _runtime(config)
    result = job.run(config, spark, storage)
    print(result.summary())
    return EXIT_OK


def cmd_gold(args: argparse.Namespace) -> int:
    from gold import job

    config = _config_from_args(args)
    _setup_logging(config)
    spark, storage = _runtime(config)
    # gate=None until the gold quality gate (issue 5, src/quality) is wired in here.
    result = job.run(config, spark, storage)
    print(result.summary())
    return EXIT_OK


def cmd_local(args: argparse.Namespace) -> int:
    from bronze import job as bronze_job
    from silver import job as silver_job

    config = _config_from_args(args, environment="local", source="files")
    _setup_logging(config)
    spark, storage = _runtime(config)
    print(f"medallion local: landing folder {config.events_dir or '(packaged sample events)'}")
    print(f"                 warehouse      {config.root}")
    summary: dict[str, Any] = {}
    bronze = bronze_job.run(config, spark, storage)
    print(bronze.summary())
    summary["bronze"] = {"rows_ingested": bronze.rows_ingested, "files_read": bronze.files_read}
    silver = silver_job.run(config, spark, storage)
    print(silver.summary())
    summary["silver"] = silver.as_dict()
    if args.json:
        print(json.dumps(summary, default=str))
    return EXIT_OK


def cmd_quality(args: argparse.Namespace) -> int:
    from quality.gate import validate_table

    config = _config_from_args(args)
    _setup_logging(config)
    _, storage = _runtime(config)
    # enforce mode: a failed check raises QualityGateError (a JobFailedError) -> exit 1
    result = validate_table(config, storage, args.layer, args.table, where=args.where)
    print(result.message())
    return EXIT_OK


def _quality_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", required=True, choices=("bronze", "silver", "gold"), help="layer of the table")
    p.add_argument("--table", required=True, help="table name in the layer, e.g. events or user_features")
    p.add_argument("--where", default=None, help="SQL filter, e.g. \"event_date >= DATE '2026-01-01'\"")


LOCAL_FIELDS = ("root", "events_dir", "shuffle_partitions", "max_files_per_trigger", "log_level", "engine")

COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str, Sequence[str] | None]] = {
    "bronze": (cmd_bronze, "ingest the configured source into bronze.events (structured streaming)", None),
    "silver": (cmd_silver, "validate, deduplicate and MERGE new bronze rows into silver.events", None),
    "gold": (cmd_gold, "recompute the 7-day ML feature tables gold.user_features / video_features", None),
    "quality": (cmd_quality, "validate an existing table with its quality suite, record the result", None),
    "local": (cmd_local, "run every pipeline stage once over a local landing folder", LOCAL_FIELDS),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medallion",
        description="Medallion data jobs: Event Hubs watch events -> bronze -> silver -> gold features.",
    )
    parser.add_argument("--version", action="version", version=f"medallion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name, (func, helptext, fields) in COMMANDS.items():
        p = sub.add_parser(name, help=helptext, description=helptext)
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
        if name == "quality":
            _quality_arguments(p)
        Config.add_arguments(p, only=fields)
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"medallion {args.command}: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except JobFailedError as exc:
        print(f"medallion {args.command}: FAILED: {exc}", file=sys.stderr)
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

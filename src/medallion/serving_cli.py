"""The serving commands of ``medallion``: ``materialize``, ``features get``, ``training-set`` and
``serve`` (the layer's logic is in :mod:`medallion.serving`; this is the command-line side)."""

from __future__ import annotations

import argparse
import json
import time

from medallion.runtime import EXIT_OK, recorder_for, spark_and_storage, start
from medallion.secrets import SecretProvider

#: Options of the commands that only talk to the online store (no Spark).
ONLINE_FIELDS = (
    "environment",
    "root",
    "catalog",
    "schema_prefix",
    "redis_url",
    "redis_secret_key",
    "secret_scope",
    "serving_root",
    "log_level",
)


def _secrets(config) -> SecretProvider:
    """The secret provider of a command that needs no Spark session of its own: on Databricks
    (a notebook or job, where one runs) the runtime's dbutils, locally the environment."""
    if config.environment != "databricks":
        return SecretProvider(config.secret_scope)
    from pyspark.sql import SparkSession

    return SecretProvider.for_spark(SparkSession.builder.getOrCreate(), config.secret_scope, True)


def cmd_materialize(args: argparse.Namespace) -> int:
    from medallion.serving import job
    from medallion.serving.store import check_online_store, online_target

    config = start(args)
    if config.environment == "databricks":  # the secret scope is read through the runtime's dbutils
        spark, storage = spark_and_storage(config)
        target = online_target(config, SecretProvider.for_spark(spark, config.secret_scope, True))
        check_online_store(target)
    else:
        target = online_target(config)
        check_online_store(target)  # a bad URL or password fails before Spark starts
        spark, storage = spark_and_storage(config)
    result = job.run(config, spark, storage, target=target, recorder=recorder_for(config, storage))
    print(result.summary())
    if getattr(args, "json", False):
        print(json.dumps(result.as_dict(), default=str))
    return EXIT_OK


def features_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["get"], help="get: print the online features of entities")
    p.add_argument("--user-id", action="append", default=[], metavar="U", help="a user (repeatable)")
    p.add_argument("--video-id", action="append", default=[], metavar="V", help="a video (repeatable)")


def cmd_features(args: argparse.Namespace) -> int:
    from medallion.config import ConfigError
    from medallion.serving.lookup import lookup_entities
    from medallion.serving.store import check_online_store, feature_store, online_target

    config = start(args)
    if not (args.user_id or args.video_id):
        raise ConfigError("features get: name at least one --user-id or --video-id")
    target = online_target(config, _secrets(config))
    check_online_store(target)
    store = feature_store(config, target)
    for row in lookup_entities(store, {"user_id": args.user_id, "video_id": args.video_id}):
        print(json.dumps(row, default=str))
    return EXIT_OK


def training_set_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, metavar="FILE", help="labels: .csv, .parquet or .json(l)")
    p.add_argument("--out", required=True, metavar="PATH", help="where to write the training set")
    p.add_argument(
        "--out-format",
        choices=["parquet", "delta"],
        default="parquet",
        help="output format (default parquet)",
    )


def cmd_training_set(args: argparse.Namespace) -> int:
    from medallion.serving import training

    config = start(args)
    spark, storage = spark_and_storage(config, tracking=False)
    result = training.run(config, spark, storage, args.labels, args.out, args.out_format)
    print(result.summary())
    return EXIT_OK


def serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6566, help="port (default 6566)")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from medallion.serving.lookup import app
    from medallion.serving.store import check_online_store, feature_store, online_target

    config = start(args)
    target = online_target(config, _secrets(config))
    check_online_store(target)
    api = app(feature_store(config, target))
    print(
        f"medallion serve: http://{args.host}:{args.port}/features/user/<user_id> ({target.where})",
        flush=True,
    )
    started = time.monotonic()
    uvicorn.run(api, host=args.host, port=args.port, log_level="warning")
    print(f"medallion serve: stopped after {time.monotonic() - started:.0f} s")
    return EXIT_OK

"""Benchmark: bronze ingestion throughput (events/s) from landing files on local Spark.

Generates ``--events`` synthetic events (default 1,000,000; :mod:`medallion.synthetic`, mess
included) into ``<scratch>/landing`` and times generation separately. Then, on one local session,
runs the real bronze job (files source, available-now trigger, exactly-once Delta appends) into a
fresh warehouse ``--repeats`` times over the same files and prints rows, seconds and events/s of
each run. A small warm-up ingestion first takes JVM start-up and JIT warm-up out of the figure
(``--warmup-events 0`` to measure cold).

    .venv/bin/python benchmarks/bronze.py                          # 1,000,000 events
    .venv/bin/python benchmarks/bronze.py --events 200000 --repeats 3 --root /tmp/bench
"""

from __future__ import annotations

import argparse
import sys

from common import (
    add_common_arguments,
    add_event_arguments,
    event_spec,
    land_and_start,
    local_runtime,
    median,
    scratch_root,
    timed,
)

from medallion.synthetic import SyntheticSpec, write_landing


def ingest(spark, root, landing, args) -> tuple[object, float]:
    from medallion.bronze import job

    config, storage = local_runtime(
        spark, root, landing, args, max_files_per_trigger=args.max_files_per_trigger
    )
    with timed() as t:
        result = job.run(config, spark, storage)
    return result, t.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_event_arguments(parser, events=1_000_000, days=10)
    parser.add_argument("--repeats", type=int, default=1, help="ingestions timed (fresh warehouse each)")
    parser.add_argument("--warmup-events", type=int, default=20_000, help="untimed warm-up ingestion size")
    parser.add_argument("--max-files-per-trigger", type=int, default=1000)
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    spec = event_spec(args)
    with scratch_root(args.root, "bench-bronze", keep=args.keep) as scratch:
        generated, spark = land_and_start(spec, scratch / "landing", "medallion-bench-bronze", args)

        if args.warmup_events:
            warm_spec = SyntheticSpec(seed=args.seed + 1, days=1, events_per_day=args.warmup_events)
            write_landing(warm_spec, scratch / "warmup-landing")
            result, seconds = ingest(spark, scratch / "warmup", scratch / "warmup-landing", args)
            print(f"warm-up: {result.rows_ingested:,} rows in {seconds:.1f} s (not counted)", flush=True)

        runs = []
        for k in range(args.repeats):
            result, seconds = ingest(spark, scratch / f"warehouse-{k}", scratch / "landing", args)
            if result.rows_ingested != generated.events:
                raise SystemExit(
                    f"bronze ingested {result.rows_ingested} rows, {generated.events} were landed"
                )
            runs.append(seconds)
            print(f"run {k + 1}: {result.summary()}; wall {seconds:.1f} s", flush=True)
        spark.stop()

    best = min(runs)
    print()
    print(
        f"generation : {generated.events:,} events, {generated.bytes_written / 1e6:,.0f} MB in "
        f"{generated.seconds:.1f} s = {generated.events / generated.seconds:,.0f} events/s (pure Python)"
    )
    print(
        f"bronze     : {generated.events:,} events from {len(generated.files)} files, median "
        f"{median(runs):.1f} s = {generated.events / median(runs):,.0f} events/s "
        f"(best {best:.1f} s = {generated.events / best:,.0f} events/s, {len(runs)} run(s))"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

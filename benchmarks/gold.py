"""Benchmark: one new day of silver events into gold, with 1 day vs 30 days of silver history.

For each history length H the script builds a fresh local warehouse with a synthetic
``silver.events`` table (same day size for every day, the real silver schema, partitioning and
change data feed), brings gold up to date once (full run, not timed), then appends one new day to
silver and times the incremental gold run (``--repeats`` new days, one after the other). Both
figures are printed. Incremental gold reads only the new day's change feed and the silver days
[new-6, new], so its cost should not grow with the history.

    .venv/bin/python benchmarks/gold.py                       # 50k events/day, histories 1 and 30
    .venv/bin/python benchmarks/gold.py --events-per-day 10000 --repeats 3

Measured on the development container (2 vCPU shared with other jobs, load average 5-9, local
Spark, delta-rs engine, ``--events-per-day 20000 --users 2000 --videos 500 --repeats 3``):

    history  silver rows  full gold s  one new day into gold s (median of runs)
       1 d       80,000         26.7    13.6  [14.4, 13.6, 8.7]
      30 d      660,000         36.2    15.2  [15.4, 15.2, 13.8]

A new day reads the new day's change feed and at most 7 silver days (with 1 day of history: 2),
so beyond a week of history the cost of a daily run no longer depends on the history length.
The absolute seconds are dominated by local Spark overheads on a busy 2-vCPU machine.
Run it on the target machine for figures that mean something there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the ``gold`` package: run as a script, its folder comes first on
# sys.path and would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

FIRST_DAY = dt.date(2026, 1, 1)
EVENT_TYPES = (("watch", 70), ("like", 15), ("share", 5), ("comment", 7), ("follow", 3))


def synthetic_day(spark, schema, day: dt.date, n: int, users: int, videos: int):
    """``n`` silver rows on ``day``: deterministic pseudo-random users, videos, types and times."""
    from pyspark.sql import functions as F

    start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    seed = day.toordinal()
    h = F.abs(F.xxhash64(F.col("id"), F.lit(seed)))
    bucket = h % 100
    kind, upper = None, 0
    for name, share in EVENT_TYPES:
        upper += share
        kind = F.when(bucket < upper, name) if kind is None else kind.when(bucket < upper, name)
    ts_ms = F.lit(start_ms) + (F.col("id") * F.lit(86_400_000 // max(n, 1)))
    values = {
        "event_id": F.concat(F.lit(f"{day.isoformat()}-"), F.col("id").cast("string")),
        "event_type": kind,
        "user_id": F.concat(
            F.lit("u"), (F.abs(F.xxhash64(F.col("id"), F.lit(seed + 1))) % users).cast("string")
        ),
        "video_id": F.concat(
            F.lit("v"), (F.abs(F.xxhash64(F.col("id"), F.lit(seed + 2))) % videos).cast("string")
        ),
        "timestamp": ts_ms,
        "watch_time_ms": F.when(kind == "watch", (h % 120_000).cast("long")),
        "video_duration_ms": F.when((kind == "watch") & (h % 5 != 0), ((h % 90_000) + 10_000).cast("long")),
        "schema_version": F.lit(1),
        "event_ts": F.timestamp_millis(ts_ms),
        "event_date": F.lit(day),
        "source": F.lit("benchmark"),
        "ingestion_time": F.current_timestamp(),
        "ingestion_batch_id": F.lit(0),
        "bronze_version": F.lit(0),
        "processed_time": F.current_timestamp(),
    }
    df = spark.range(n)
    return df.select(
        *[
            (values[f.name] if f.name in values else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )


def run_scenario(spark, args, history_days: int) -> dict:
    from medallion.config import Config
    from medallion.contract import load_contract
    from medallion.gold import job
    from medallion.storage import get_storage
    from medallion.tables import SILVER_EVENTS

    root = Path(tempfile.mkdtemp(prefix=f"medallion-bench-gold-{history_days}d-", dir=args.root))
    config = Config(
        environment="local", root=str(root), engine=args.engine, shuffle_partitions=args.shuffle_partitions
    )
    storage = get_storage(spark, config)
    contract = load_contract()
    schema = SILVER_EVENTS.schema_for(contract)
    silver = SILVER_EVENTS.create_if_missing(storage, config, contract)

    t0 = time.monotonic()
    history = None
    for offset in range(history_days):
        day_df = synthetic_day(
            spark, schema, FIRST_DAY + dt.timedelta(days=offset), args.events_per_day, args.users, args.videos
        )
        history = day_df if history is None else history.unionByName(day_df)
    storage.append(history, silver)
    build_seconds = time.monotonic() - t0

    t0 = time.monotonic()
    full = job.run(config, spark, storage)
    full_seconds = time.monotonic() - t0

    timings = []
    for k in range(args.repeats):
        new_day = FIRST_DAY + dt.timedelta(days=history_days + k)
        storage.append(
            synthetic_day(spark, schema, new_day, args.events_per_day, args.users, args.videos), silver
        )
        t0 = time.monotonic()
        result = job.run(config, spark, storage)
        timings.append(time.monotonic() - t0)
        modes = {t.mode for t in result.tables.values()}
        assert modes == {job.INCREMENTAL}, result.summary()
        print(
            f"  history {history_days:>2} d, new day {new_day}: {timings[-1]:.1f} s  ({result.summary()})",
            flush=True,
        )
    return {
        "history_days": history_days,
        "silver_rows": args.events_per_day * (history_days + args.repeats),
        "build_seconds": build_seconds,
        "full_seconds": full_seconds,
        "full_rows": full.rows_written,
        "new_day_seconds": timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events-per-day", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--videos", type=int, default=2_000)
    parser.add_argument("--histories", type=int, nargs="+", default=[1, 30], help="history lengths in days")
    parser.add_argument("--repeats", type=int, default=2, help="new days timed per history (median reported)")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    parser.add_argument("--engine", default="delta-rs", choices=["delta-rs", "spark-delta"])
    parser.add_argument("--root", default=None, help="parent folder of the temporary warehouses")
    args = parser.parse_args(argv)

    from medallion.spark import local_session_builder

    spark = local_session_builder(
        app_name="medallion-bench-gold", shuffle_partitions=args.shuffle_partitions
    ).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    print(
        f"gold benchmark: {args.events_per_day:,} events/day, {args.users:,} users, {args.videos:,} videos, "
        f"engine {args.engine}, {spark.sparkContext.defaultParallelism} cores",
        flush=True,
    )
    results = [run_scenario(spark, args, h) for h in args.histories]
    print()
    print("history  silver rows  build s  full gold s  one new day into gold s (median of runs)")
    for r in results:
        runs = ", ".join(f"{s:.1f}" for s in r["new_day_seconds"])
        median = statistics.median(r["new_day_seconds"])
        print(
            f"{r['history_days']:>4} d  {r['silver_rows']:>11,}  {r['build_seconds']:>7.1f}"
            f"  {r['full_seconds']:>11.1f}  {median:>6.1f}  [{runs}]"
        )
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

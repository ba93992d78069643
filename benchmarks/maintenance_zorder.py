"""Benchmark: a point lookup by user_id on silver.events before and after Z-order (issue 6).

Builds a silver-like table (the real ``silver.events`` schema, partitioning and properties) from many
small appends with random user_ids - what a stream of micro-batches leaves behind - plus an
identical copy. Then runs the maintenance job: the real policy on ``silver.events`` (OPTIMIZE ZORDER
BY user_id) and a compaction-only policy on the copy. For each state it reports:

* files scanned per lookup: data files whose Delta min/max statistics for user_id contain the
  looked-up value (from ``storage.files()``) - what file skipping leaves to read;
* lookup time: ``storage.read(table, where="user_id = '<u>'")`` collected to the driver (delta-rs
  prunes files by the same statistics), median over the lookups.

``--target-file-size`` sets ``delta.targetFileSize`` on both tables so a partition is rewritten into
several files, as on a real table where one day holds many target-size files; without several
files per partition there is nothing for file skipping to choose between.

    .venv/bin/python benchmarks/maintenance_zorder.py                     # defaults below
    .venv/bin/python benchmarks/maintenance_zorder.py --appends 400 --rows-per-append 2000

Results on the development container are in docs/maintenance.md (they vary with the machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Other scripts in this folder are named like packages (bronze.py, gold.py): run as a script, the
# folder comes first on sys.path and would shadow them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

FIRST_DAY = dt.date(2026, 1, 1)


def batches(args, schema):
    """The small appends: ``rows_per_append`` events each, random users, spread over the days."""
    import pyarrow as pa

    from medallion.storage.delta_rs import spark_schema_to_arrow

    arrow_schema = spark_schema_to_arrow(schema)
    rnd = random.Random(args.seed)
    now = dt.datetime.now(dt.timezone.utc)
    width = len(str(args.users - 1))
    for b in range(args.appends):
        n = args.rows_per_append
        ids = range(b * n, (b + 1) * n)
        dates = [FIRST_DAY + dt.timedelta(days=i % args.days) for i in ids]
        values = {
            "event_id": [f"e{i:09d}" for i in ids],
            "event_type": ["watch"] * n,
            "user_id": [f"u{rnd.randrange(args.users):0{width}d}" for _ in ids],
            "video_id": [f"v{rnd.randrange(5_000):04d}" for _ in ids],
            "timestamp": [i for i in ids],
            "watch_time_ms": [rnd.randrange(120_000) for _ in ids],
            "event_ts": [dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc) for d in dates],
            "event_date": dates,
            "source": ["benchmark"] * n,
            "ingestion_time": [now] * n,
            "ingestion_batch_id": [b] * n,
            "bronze_version": [b] * n,
            "processed_time": [now] * n,
        }
        columns = {f.name: values.get(f.name, [None] * n) for f in arrow_schema}
        yield pa.table(columns, schema=arrow_schema)


def scanned(files, user_id: str) -> int:
    return sum(1 for f in files if f.min_values["user_id"] <= user_id <= f.max_values["user_id"])


def measure(storage, table: str, probes: list[str]) -> dict:
    files = storage.files(table)
    counts = [scanned(files, u) for u in probes]
    storage.read(table, where=f"user_id = '{probes[0]}'").collect()  # warm-up
    times, rows = [], 0
    for u in probes:
        t0 = time.perf_counter()
        rows += len(storage.read(table, where=f"user_id = '{u}'").collect())
        times.append(time.perf_counter() - t0)
    return {
        "files": len(files),
        "bytes": sum(f.size_bytes for f in files),
        "scanned_mean": statistics.mean(counts),
        "scanned_max": max(counts),
        "seconds_median": statistics.median(times),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=200, help="small appends (commits) to build from")
    parser.add_argument("--rows-per-append", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=2, help="event_date partitions the rows spread over")
    parser.add_argument("--users", type=int, default=50_000, help="distinct user_ids drawn from")
    parser.add_argument("--lookups", type=int, default=20, help="point lookups per state")
    parser.add_argument(
        "--target-file-size", type=int, default=1_048_576, help="delta.targetFileSize in bytes (0: default)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--root", default=None, help="parent folder of the temporary warehouse")
    args = parser.parse_args(argv)

    from deltalake import write_deltalake

    from medallion.config import Config
    from medallion.contract import load_contract
    from medallion.maintenance import job
    from medallion.maintenance.policy import TablePolicy, select
    from medallion.spark import local_session_builder
    from medallion.storage.delta_rs import DeltaRsStorage
    from medallion.tables import SILVER_EVENTS

    spark = local_session_builder(app_name="medallion-bench-maintenance", shuffle_partitions=2).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    storage = DeltaRsStorage(spark)
    root = Path(tempfile.mkdtemp(prefix="medallion-bench-maintenance-", dir=args.root))
    config = Config(environment="local", root=str(root), engine="delta-rs", shuffle_partitions=2)
    schema = SILVER_EVENTS.schema_for(load_contract())
    properties = dict(SILVER_EVENTS.properties)
    if args.target_file_size:
        properties["delta.targetFileSize"] = str(args.target_file_size)
    zorder_table = SILVER_EVENTS.location(config)
    # the copy: silver.events' spec under another name, with a compaction-only policy
    compacted = dataclasses.replace(
        SILVER_EVENTS, name="events_compacted", maintenance=TablePolicy("silver", "events_compacted")
    )
    compact_table = compacted.location(config)
    print(
        f"maintenance Z-order benchmark: {args.appends} appends x {args.rows_per_append:,} rows = "
        f"{args.appends * args.rows_per_append:,} events, {args.users:,} users, {args.days} day partitions, "
        f"target file size {args.target_file_size or 'default'} B, warehouse {root}",
        flush=True,
    )

    t0 = time.monotonic()
    for table in (zorder_table, compact_table):
        storage.create_if_missing(table, schema, SILVER_EVENTS.partition_by, properties)
    for batch in batches(args, schema):
        for table in (zorder_table, compact_table):
            write_deltalake(table, batch, mode="append")
    print(f"  built both tables in {time.monotonic() - t0:.1f} s", flush=True)

    users = sorted({r.user_id for r in storage.read(zorder_table).select("user_id").distinct().collect()})
    probes = random.Random(args.seed + 1).sample(users, min(args.lookups, len(users)))
    results = {"before (small files)": measure(storage, zorder_table, probes)}

    maintenance = job.run(
        config,
        spark,
        storage,
        policies=[*select(["silver.events"]), compacted.maintenance],
    )
    print(maintenance.summary(), flush=True)
    if not maintenance.ok:
        return 1
    results["compaction only"] = measure(storage, compact_table, probes)
    results["Z-order by user_id"] = measure(storage, zorder_table, probes)
    assert len({r["rows"] for r in results.values()}) == 1, "lookups returned different rows"

    print()
    print(
        f"point lookup by user_id ({len(probes)} users, {results['before (small files)']['rows']} rows found)"
    )
    print(f"{'state':<22}{'files':>7}{'MiB':>8}{'files scanned (mean / max)':>29}{'lookup s (median)':>20}")
    for name, r in results.items():
        print(
            f"{name:<22}{r['files']:>7}{r['bytes'] / 2**20:>8.1f}"
            f"{r['scanned_mean']:>21.1f} / {r['scanned_max']:<5}{r['seconds_median']:>20.3f}"
        )
    for outcome in maintenance.tables:
        print(f"maintenance of {outcome.key}: {outcome.seconds:.1f} s")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: one new day, incremental silver + gold (the real jobs) vs the naive full overwrite.

The naive approach (the seed's) recomputes everything every run: read ALL of bronze, validate and
deduplicate it with the same pure silver transforms, overwrite silver fully, recompute ALL gold
feature dates with the same pure gold transforms and overwrite gold fully. It lives here, as a
baseline, not in the product; it writes through the storage adapter only
(``storage.replace_where`` with an all-rows predicate).

1. Lands ``--history-days`` days of one synthetic spec and builds bronze, silver and gold over
   them with the real jobs (one run each, not timed).
2. ``--repeats`` times: lands the next day and runs bronze (timed, common to both paths); copies
   the warehouse (not timed); then times (a) the real silver + gold jobs on the original
   (incremental path) and (b) the naive silver + gold on the copy. Both warehouses must then hold
   the same silver and gold row counts.
3. Prints both times per stage, and the ratio naive / incremental.

``--engine`` picks the Delta engine (delta-rs default, or spark-delta: the session then loads the
Delta Lake jars, cached in ``--ivy-dir``). ``--engines delta-rs,spark-delta`` does all of the above
for each engine in one process, on one session, over the same landing files: one history warehouse
per engine, and every new day is landed once then timed on each engine in turn (so both see the same
load); the figures are then printed side by side.

    .venv/bin/python benchmarks/naive_vs_incremental.py                      # 14 days x 20,000 events
    .venv/bin/python benchmarks/naive_vs_incremental.py --history-days 30 --repeats 2 --root /tmp/bench
    .venv/bin/python benchmarks/naive_vs_incremental.py --engines delta-rs,spark-delta
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys

from common import (
    add_common_arguments,
    add_engines_argument,
    local_runtime,
    machine,
    median,
    scratch_root,
    selected_engines,
    session_for,
    timed,
)

from medallion.synthetic import SyntheticSpec, write_landing

#: Predicate of a full overwrite through ``storage.replace_where``: every row.
ALL_ROWS = "TRUE"


# --- the naive baseline -----------------------------------------------------------------------
def rows_added(written) -> int | None:
    """Rows a write added, from the canonical commit metrics both engines report (None if absent)."""
    value = written.metrics.get("rows_added")
    return None if value is None else int(value)


def naive_silver(config, storage) -> int | None:
    """All of bronze -> validate -> dedup -> overwrite silver.events and its quarantine fully."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    from medallion.contract import load_contract
    from medallion.silver.transforms import deduplicate, to_events, to_quarantine, validate
    from medallion.tables import BRONZE_EVENTS, SILVER_EVENTS, SILVER_QUARANTINE

    contract = load_contract(config.contract_version or None)
    run_time = dt.datetime.now(dt.timezone.utc)
    bronze_t, events_t = BRONZE_EVENTS.location(config), SILVER_EVENTS.location(config)
    version = storage.version(bronze_t)
    bronze = storage.read(bronze_t, version=version).withColumn(
        "bronze_version", F.lit(version).cast(LongType())
    )
    validated = validate(bronze, contract).persist()
    try:
        unique = deduplicate(to_events(validated, contract, run_time))
        columns = set(unique.columns)
        source = unique.select(
            *[
                F.col(f.name) if f.name in columns else F.lit(None).cast(f.dataType).alias(f.name)
                for f in storage.schema(events_t).fields
            ]
        )
        written = storage.replace_where(source, events_t, ALL_ROWS)
        quarantine = to_quarantine(
            validated, contract, run_time, [f.name for f in SILVER_QUARANTINE.schema_for().fields]
        )
        storage.replace_where(quarantine, SILVER_QUARANTINE.location(config), ALL_ROWS)
    finally:
        validated.unpersist()
    return rows_added(written)


def naive_gold(config, storage) -> int | None:
    """All of silver -> every feature date of both gold tables -> overwrite both fully."""
    import functools

    from medallion.gold.transforms import (
        SILVER_COLUMNS,
        affected_feature_dates,
        user_features,
        video_features,
    )
    from medallion.tables import FEATURE_TABLES, SILVER_EVENTS

    transforms = {"user_features": user_features, "video_features": video_features}
    events = storage.read(SILVER_EVENTS.location(config)).select(*SILVER_COLUMNS).persist()
    rows: int | None = 0
    try:
        dates = {r["event_date"] for r in events.select("event_date").distinct().collect()}
        ranges = affected_feature_dates(dates, None, max(dates))
        for spec in FEATURE_TABLES:
            parts = [transforms[spec.name](events, r.start, r.end) for r in ranges]
            candidate = functools.reduce(lambda a, b: a.unionByName(b), parts)
            written = storage.replace_where(candidate, spec.location(config), ALL_ROWS)
            added = rows_added(written)
            rows = None if rows is None or added is None else rows + added
    finally:
        events.unpersist()
    return rows


# --- the benchmark ----------------------------------------------------------------------------
def counts(config, storage) -> tuple[int, ...]:
    from medallion.tables import FEATURE_TABLES, SILVER_EVENTS

    return tuple(storage.read(spec.location(config)).count() for spec in (SILVER_EVENTS, *FEATURE_TABLES))


KEYS = ("bronze", "inc silver", "inc gold", "naive silver", "naive gold")


def run_day(spark, scratch, landing, engine: str, k: int, args, runs: dict[str, list[float]]) -> str:
    """Bronze on the new (already landed) day, then incremental vs naive silver + gold; one line."""
    from medallion.bronze import job as bronze_job
    from medallion.gold import job as gold_job
    from medallion.silver import job as silver_job

    config, storage = local_runtime(spark, scratch / f"warehouse-{engine}", landing, args, engine)
    with timed() as t:
        bronze_job.run(config, spark, storage)
    runs["bronze"].append(t.seconds)
    copy = scratch / f"naive-{engine}-{k}"
    shutil.copytree(scratch / f"warehouse-{engine}", copy)
    naive_config, naive_storage = local_runtime(spark, copy, landing, args, engine)

    with timed() as t:
        silver = silver_job.run(config, spark, storage)
    runs["inc silver"].append(t.seconds)
    with timed() as t:
        gold = gold_job.run(config, spark, storage)
    runs["inc gold"].append(t.seconds)
    with timed() as t:
        silver_rows = naive_silver(naive_config, naive_storage)
    runs["naive silver"].append(t.seconds)
    with timed() as t:
        gold_rows = naive_gold(naive_config, naive_storage)
    runs["naive gold"].append(t.seconds)

    incremental, naive = counts(config, storage), counts(naive_config, naive_storage)
    # A full overwrite rewrites the whole table: its final row count when the commit has no metric.
    silver_rows = naive[0] if silver_rows is None else silver_rows
    gold_rows = naive[1] + naive[2] if gold_rows is None else gold_rows
    line = (
        f"[{engine}] bronze {runs['bronze'][-1]:.1f} s; incremental silver "
        f"{runs['inc silver'][-1]:.1f} s ({silver.rows_inserted:,} rows inserted) + gold "
        f"{runs['inc gold'][-1]:.1f} s ({gold.rows_written:,} rows written); naive silver "
        f"{runs['naive silver'][-1]:.1f} s ({silver_rows:,} rows rewritten) + gold "
        f"{runs['naive gold'][-1]:.1f} s ({gold_rows:,} rows rewritten)"
    )
    if incremental != naive:
        line += (
            f"\n  WARNING row counts (silver, user, video) differ: incremental {incremental}, naive {naive}"
        )
    else:
        line += f"\n  same row counts (silver, user_features, video_features) in both: {naive}"
    shutil.rmtree(copy, ignore_errors=True)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history-days", type=int, default=14, help="days already processed")
    parser.add_argument("--events-per-day", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1, help="new days timed (median reported)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--videos", type=int, default=5_000)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    add_common_arguments(parser)
    add_engines_argument(parser)
    args = parser.parse_args(argv)
    engines = selected_engines(args)

    from medallion.bronze import job as bronze_job
    from medallion.gold import job as gold_job
    from medallion.silver import job as silver_job

    h = args.history_days
    spec = SyntheticSpec(
        seed=args.seed,
        users=args.users,
        videos=args.videos,
        days=h + args.repeats,
        events_per_day=args.events_per_day,
        files_per_day=args.files_per_day,
    )
    runs = {engine: {k: [] for k in KEYS} for engine in engines}
    with scratch_root(args.root, "bench-naive", keep=args.keep) as scratch:
        spark = session_for("medallion-bench-naive", args)
        print(f"machine: {machine(spark)}")
        try:
            landing = scratch / "landing"
            history = write_landing(spec, landing, days=range(h))
            for engine in engines:
                config, storage = local_runtime(spark, scratch / f"warehouse-{engine}", landing, args, engine)
                with timed() as build:
                    bronze_job.run(config, spark, storage)
                    silver_job.run(config, spark, storage)
                    gold_job.run(config, spark, storage)
                print(
                    f"[{engine}] history: {h} days x {args.events_per_day:,} events ({history.events:,} "
                    f"records) built with the real jobs in {build.seconds:.1f} s (not timed)",
                    flush=True,
                )

            for k in range(args.repeats):
                day = h + k
                write_landing(spec, landing, days=[day])
                print(f"new day {spec.day(day)}:", flush=True)
                for engine in engines:
                    print(run_day(spark, scratch, landing, engine, k, args, runs[engine]), flush=True)
            print(f"machine at the end: {machine(spark)}")
        finally:
            spark.stop()

    print()
    print(
        f"one new day after {h} days x {args.events_per_day:,} events (medians of {args.repeats} run(s); "
        f"bronze common to both paths, not counted)"
    )
    for engine in engines:
        m = {k: median(v) for k, v in runs[engine].items()}
        inc, nai = m["inc silver"] + m["inc gold"], m["naive silver"] + m["naive gold"]
        print(f"[{engine}] bronze {m['bronze']:.1f} s")
        for label, key, total in (
            ("incremental (real jobs)", "inc", inc),
            ("naive (full overwrite) ", "naive", nai),
        ):
            print(
                f"[{engine}] {label}: silver {m[key + ' silver']:6.1f} s + gold {m[key + ' gold']:6.1f} s "
                f"= {total:6.1f} s"
            )
        print(
            f"[{engine}] ratio naive / incremental: x{nai / inc:.2f} (silver "
            f"x{m['naive silver'] / m['inc silver']:.2f}, gold x{m['naive gold'] / m['inc gold']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

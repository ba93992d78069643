"""Benchmark: one new day of events into silver, with 1 day vs 30 days of silver history.

For each history length H (``--histories``, default 1 and 30) the script builds a fresh local
warehouse with the real jobs: ``write_landing`` lands days 0..H-1 of one synthetic spec (same day
size every day, mess included: re-deliveries, late events, invalid records), then bronze and
silver run over them (not timed; ``--build-daily`` runs them once per day, like a daily job,
instead of once over all the history). Then, ``--repeats`` times, the next day is landed, bronze
runs (timed separately) and the silver run alone is timed. The median silver time per history and
the ratio (longest history / shortest) are printed. The new days are interleaved across the
histories (day 1 of every history, then day 2, ...) so that a change of load on a shared machine
does not land on one history only.

Silver's MERGE prunes its target to the new rows' event dates +- ``dedup_lookback_days``. The
new day's late events (2-5 days old) widen that window to about a week, so a long history costs
somewhat more than a 1-day one, but not in proportion to its length. ``--late-rate 0`` isolates
the effect.

    .venv/bin/python benchmarks/silver.py                              # 20,000 events/day, 1 vs 30 days
    .venv/bin/python benchmarks/silver.py --events-per-day 50000 --repeats 3 --build-daily
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import add_common_arguments, local_runtime, machine, median, scratch_root, session_for, timed

from medallion.synthetic import SyntheticSpec, write_landing


@dataclass
class Scenario:
    history_days: int
    spec: SyntheticSpec
    config: object
    storage: object
    landing: Path
    silver_rows: int = 0
    build_seconds: float = 0.0
    bronze_seconds: list[float] = field(default_factory=list)
    silver_seconds: list[float] = field(default_factory=list)


def build(spark, scratch: Path, args, history_days: int) -> Scenario:
    """A fresh warehouse whose silver holds ``history_days`` days, built with the real jobs."""
    from medallion.bronze import job as bronze_job
    from medallion.silver import job as silver_job
    from medallion.tables import SILVER_EVENTS

    root = scratch / f"history-{history_days}d"
    config, storage = local_runtime(spark, root / "warehouse", root / "landing", args)
    spec = SyntheticSpec(
        seed=args.seed,
        users=args.users,
        videos=args.videos,
        days=history_days + args.repeats,
        events_per_day=args.events_per_day,
        files_per_day=args.files_per_day,
        duplicate_rate=args.duplicate_rate,
        late_rate=args.late_rate,
        invalid_rate=args.invalid_rate,
    )
    scenario = Scenario(history_days, spec, config, storage, root / "landing")
    batches = [[d] for d in range(history_days)] if args.build_daily else [list(range(history_days))]
    with timed() as t:
        for days in batches:
            write_landing(spec, scenario.landing, days=days)
            bronze_job.run(config, spark, storage)
            silver_job.run(config, spark, storage)
    scenario.build_seconds = t.seconds
    scenario.silver_rows = storage.read(SILVER_EVENTS.location(config)).count()
    print(
        f"  history {history_days:>2} d: built with {len(batches)} bronze+silver run(s) in "
        f"{t.seconds:.1f} s, silver.events holds {scenario.silver_rows:,} rows",
        flush=True,
    )
    return scenario


def new_day(spark, scenario: Scenario, k: int) -> None:
    """Land the next day, run bronze (timed apart), then time the silver run alone."""
    from medallion.bronze import job as bronze_job
    from medallion.silver import job as silver_job

    day = scenario.history_days + k
    truth = write_landing(scenario.spec, scenario.landing, days=[day])
    with timed() as b:
        bronze = bronze_job.run(scenario.config, spark, scenario.storage)
    with timed() as s:
        silver = silver_job.run(scenario.config, spark, scenario.storage)
    if silver.rows_inserted != truth.valid_events or not silver.conserved:
        raise SystemExit(f"silver does not match the landed ground truth: {silver.summary()}")
    scenario.bronze_seconds.append(b.seconds)
    scenario.silver_seconds.append(s.seconds)
    print(
        f"  history {scenario.history_days:>2} d, new day {scenario.spec.day(day)}: bronze {b.seconds:.1f} s "
        f"({bronze.rows_ingested:,} rows), silver {s.seconds:.1f} s: {silver.summary()}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events-per-day", type=int, default=20_000, help="records landed per day")
    parser.add_argument("--histories", type=int, nargs="+", default=[1, 30], help="history lengths in days")
    parser.add_argument("--repeats", type=int, default=1, help="new days timed per history (median)")
    parser.add_argument("--build-daily", action="store_true", help="build the history one day per run")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--videos", type=int, default=5_000)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duplicate-rate", type=float, default=SyntheticSpec.duplicate_rate)
    parser.add_argument("--late-rate", type=float, default=SyntheticSpec.late_rate)
    parser.add_argument("--invalid-rate", type=float, default=SyntheticSpec.invalid_rate)
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    with scratch_root(args.root, "bench-silver", keep=args.keep) as scratch:
        spark = session_for("medallion-bench-silver", args)
        print(f"machine: {machine(spark)}")
        print(
            f"silver benchmark: {args.events_per_day:,} events/day, {args.users:,} users, "
            f"{args.videos:,} videos, engine {args.engine}, histories {args.histories} days",
            flush=True,
        )
        scenarios = [build(spark, scratch, args, h) for h in args.histories]
        for k in range(args.repeats):  # interleaved: load changes on a shared machine hit every history
            for scenario in scenarios:
                new_day(spark, scenario, k)
        spark.stop()

    print()
    print("history  silver rows  build s  new day: bronze s  silver s (median)  [silver runs]")
    for r in scenarios:
        runs = ", ".join(f"{s:.1f}" for s in r.silver_seconds)
        print(
            f"{r.history_days:>4} d  {r.silver_rows:>11,}  {r.build_seconds:>7.1f}"
            f"  {median(r.bronze_seconds):>16.1f}  {median(r.silver_seconds):>17.1f}  [{runs}]"
        )
    if len(scenarios) > 1:
        first, last = scenarios[0], scenarios[-1]
        ratio = median(last.silver_seconds) / median(first.silver_seconds)
        print(
            f"silver time for one new day, {last.history_days} d vs {first.history_days} d of history: "
            f"x{ratio:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: one new day through the real incremental silver and gold jobs after 1, 30 and 90 days
of history, and through the seed's full overwrite after 90 days.

Targets: a new day after 90 days of history costs at most 1.3x what it costs after 1 day
(incremental silver + gold), and the full overwrite costs at least 5x the incremental jobs at 90
days.

Everything runs in one process, on one local Spark session, over one synthetic spec
(``--events-per-day`` records every day, with the same rates of re-deliveries, late events and
invalid records every day):

1. History, not timed. One warehouse is built progressively with the real jobs (bronze, silver,
   gold), one run per stretch of days: days ``0..H1-1``, then ``H1..H2-1``, and so on
   (``--histories``, default 1, 30, 90). The landing files of a stretch are written just before
   it runs, so bronze's file stream sees them arrive as days would. After ``H`` days, day ``H``
   (the new day) is landed and bronze runs on it (timed, but common to both paths and not
   counted); the warehouse is then snapshot-copied, and the build goes on (silver and gold take
   day ``H`` in the next stretch's run).
2. Timed runs, once the JVM is warm. On a fresh copy of each snapshot, the real incremental silver
   job then the real gold job process the new day (``medallion.silver.job.run``,
   ``medallion.gold.job.run``). Silver is checked against the generator's ground truth (inserted
   rows = valid unique events, conservation) and gold must have run incrementally. After the
   longest history, the same new day is also processed on another copy by the seed's approach,
   the naive full overwrite of ``naive_vs_incremental.py`` (all of bronze -> validate -> dedup ->
   overwrite silver; every feature date of both gold tables -> overwrite gold); both copies must
   then hold the same silver and gold row counts.
3. ``--repeats N`` rounds of step 2, interleaved (1 d, 30 d, 90 d, naive at 90 d, then again), so
   that a change of load on a shared machine hits every figure; medians are reported.

``--with-gates`` passes the quality gate (``medallion.quality.QualityGate``) to every job (off by
default).

The timed days are different days of one spec (day 1, 30, 90): same number of records, same mix,
different random draws. After 1 day of history the new day's late events (2-5 days old) land in
event dates silver does not hold yet; after 30 or 90 days they land in full partitions, which the
MERGE window (new dates +- ``dedup_lookback_days``) and gold's 7-day window then read.

    .venv/bin/python benchmarks/incremental.py                          # 5,000 events/day, 1/30/90 days
    .venv/bin/python benchmarks/incremental.py --histories 1,30 --events-per-day 20000 --repeats 3
    .venv/bin/python benchmarks/incremental.py --engine spark-delta --with-gates --root /tmp/bench

The last lines are a Markdown table (with the command line and the machine) for RESULTS.md.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import add_common_arguments, local_runtime, machine, median, scratch_root, session_for, timed
from naive_vs_incremental import counts, naive_gold, naive_silver

from medallion.synthetic import SyntheticSpec, write_landing

#: Targets: 90 days of history vs 1 day (incremental silver + gold), naive / incremental at 90 days.
MAX_HISTORY_RATIO = 1.3
MIN_NAIVE_RATIO = 5.0


def parse_histories(value: str) -> list[int]:
    try:
        days = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated day counts, got {value!r}") from None
    if not days or days[0] < 1:
        raise argparse.ArgumentTypeError(f"expected history lengths >= 1 day, got {value!r}")
    return days


@dataclass
class Point:
    """The timed new day after ``history_days`` days of history."""

    history_days: int
    snapshot: Path
    truth: Any = None  # the new day's GenerateSummary (ground truth)
    day: str = ""
    silver_rows_before: int = 0
    build_seconds: float = 0.0
    bronze_seconds: float = 0.0
    silver: list[float] = field(default_factory=list)
    gold: list[float] = field(default_factory=list)
    naive_silver: list[float] = field(default_factory=list)
    naive_gold: list[float] = field(default_factory=list)
    counts: tuple[int, ...] = ()
    naive_counts: tuple[int, ...] = ()

    @property
    def total(self) -> float:
        return median(self.silver) + median(self.gold)

    @property
    def naive_total(self) -> float:
        return median(self.naive_silver) + median(self.naive_gold)


def run_jobs(spark, config, storage, gate=None) -> None:
    """Bronze, silver and gold once each (the untimed history build)."""
    from medallion.bronze import job as bronze_job
    from medallion.gold import job as gold_job
    from medallion.silver import job as silver_job

    bronze_job.run(config, spark, storage, gate=gate)
    silver_job.run(config, spark, storage, gate=gate)
    gold_job.run(config, spark, storage, gate=gate)


def time_incremental(spark, config, storage, truth, point: Point, gate) -> str:
    """Time the real silver then gold job on ``config``'s warehouse; check them; one line."""
    from medallion.gold import job as gold_job
    from medallion.gold.plan import INCREMENTAL
    from medallion.silver import job as silver_job

    with timed() as s:
        silver = silver_job.run(config, spark, storage, gate=gate)
    with timed() as g:
        gold = gold_job.run(config, spark, storage, gate=gate)
    if silver.rows_inserted != truth.valid_events or not silver.conserved:
        raise SystemExit(f"silver does not match the landed ground truth: {silver.summary()}")
    modes = {t.mode for t in gold.tables.values()}
    if modes != {INCREMENTAL}:
        raise SystemExit(f"gold did not run incrementally: {gold.summary()}")
    point.silver.append(s.seconds)
    point.gold.append(g.seconds)
    return (
        f"silver {s.seconds:.1f} s ({silver.rows_inserted:,} rows inserted, {silver.rows_quarantined:,} "
        f"quarantined, {silver.duplicates_dropped:,} duplicates dropped), gold {g.seconds:.1f} s "
        f"({gold.rows_written:,} rows written)"
    )


def time_naive(config, storage, point: Point) -> str:
    with timed() as s:
        silver_rows = naive_silver(config, storage)
    with timed() as g:
        gold_rows = naive_gold(config, storage)
    point.naive_silver.append(s.seconds)
    point.naive_gold.append(g.seconds)
    rewritten = counts(config, storage)
    silver_rows = rewritten[0] if silver_rows is None else silver_rows
    gold_rows = rewritten[1] + rewritten[2] if gold_rows is None else gold_rows
    point.naive_counts = rewritten
    return (
        f"naive silver {s.seconds:.1f} s ({silver_rows:,} rows rewritten), naive gold {g.seconds:.1f} s "
        f"({gold_rows:,} rows rewritten)"
    )


def land_new_day(spark, config, storage, landing: Path, spec, point: Point, gate) -> None:
    """Land day H on top of H days of history, run bronze on it (timed apart, not counted) and
    snapshot the warehouse: the timed runs start from copies of this snapshot."""
    from medallion.bronze import job as bronze_job

    h = point.history_days
    point.truth = truth = write_landing(spec, landing, days=[h])
    point.day = spec.day(h).isoformat()
    point.silver_rows_before = counts(config, storage)[0]
    with timed() as b:
        bronze = bronze_job.run(config, spark, storage, gate=gate)
    point.bronze_seconds = b.seconds
    shutil.copytree(config.root, point.snapshot)
    print(
        f"history {h} d, new day {point.day}: {truth.events:,} records ({truth.valid_events:,} valid, "
        f"{truth.late:,} late, {truth.duplicates:,} re-deliveries, {truth.invalid_total:,} invalid); "
        f"bronze {b.seconds:.1f} s ({bronze.rows_ingested:,} rows, not counted); snapshot taken",
        flush=True,
    )


def time_point(spark, scratch: Path, landing: Path, point: Point, args, k: int, naive: bool) -> None:
    """Time the new day on a fresh copy of the point's snapshot: the real jobs, then (``naive``) the
    full overwrite on another copy; check that both end with the same row counts."""
    h = point.history_days
    run_root = scratch / f"run-{h}d"
    shutil.copytree(point.snapshot, run_root)
    config, storage = local_runtime(spark, run_root, landing, args)
    line = time_incremental(spark, config, storage, point.truth, point, quality_gate(config, storage, args))
    print(f"history {h} d, run {k + 1}/{args.repeats}: incremental {line}", flush=True)
    point.counts = counts(config, storage)
    shutil.rmtree(run_root, ignore_errors=True)
    if not naive:
        return
    naive_root = scratch / f"naive-{h}d"
    shutil.copytree(point.snapshot, naive_root)
    config, storage = local_runtime(spark, naive_root, landing, args)
    print(f"history {h} d, run {k + 1}/{args.repeats}: {time_naive(config, storage, point)}", flush=True)
    shutil.rmtree(naive_root, ignore_errors=True)
    if point.naive_counts != point.counts:
        print(
            f"  WARNING row counts (silver, user_features, video_features) differ: incremental "
            f"{point.counts}, naive {point.naive_counts}",
            flush=True,
        )
    else:
        print(f"  same row counts (silver, user_features, video_features) in both: {point.counts}")


def quality_gate(config, storage, args):
    if not args.with_gates:
        return None
    from medallion.quality import QualityGate

    return QualityGate(config, storage)


def ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "n/a"


def summary(points: list[Point], args, command: str, machine_line: str) -> list[str]:
    """The Markdown summary: one row per history, the naive row, the ratios against the targets."""
    first, last = points[0], points[-1]
    out = [
        f"command: `{command}`",
        "",
        f"machine: {machine_line}",
        "",
        f"One new day of {args.events_per_day:,} records ({args.users:,} users, {args.videos:,} videos; "
        f"engine {args.engine}, quality gates {'on' if args.with_gates else 'off'}; medians of "
        f"{args.repeats} run(s); bronze common to both paths, not counted):",
        "",
        "| path | history | silver rows before | new day records (late) | bronze s | silver s | gold s "
        f"| silver + gold s | vs {first.history_days} d |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        out.append(
            f"| incremental (real jobs) | {p.history_days} d | {p.silver_rows_before:,} | "
            f"{p.truth.events:,} ({p.truth.late:,}) | {p.bronze_seconds:.1f} | {median(p.silver):.1f} | "
            f"{median(p.gold):.1f} | **{p.total:.1f}** | {ratio(p.total, first.total)} |"
        )
    out.append(
        f"| naive full overwrite | {last.history_days} d | {last.silver_rows_before:,} | "
        f"{last.truth.events:,} ({last.truth.late:,}) | {last.bronze_seconds:.1f} | "
        f"{median(last.naive_silver):.1f} | {median(last.naive_gold):.1f} | **{last.naive_total:.1f}** | "
        f"{ratio(last.naive_total, first.total)} |"
    )
    out.append("")
    for p in points[1:]:
        history = ratio(p.total, first.total)
        target = ""
        if p is last:
            met = p.total <= MAX_HISTORY_RATIO * first.total
            exact = p.total / first.total
            target = f" = x{exact:.3f} (target <= x{MAX_HISTORY_RATIO}: {'met' if met else 'NOT met'})"
        out.append(
            f"- {p.history_days} d vs {first.history_days} d of history: {history}{target}; silver "
            f"{ratio(median(p.silver), median(first.silver))}, gold "
            f"{ratio(median(p.gold), median(first.gold))}"
        )
    met = last.naive_total >= MIN_NAIVE_RATIO * last.total
    out.append(
        f"- naive / incremental at {last.history_days} d: {ratio(last.naive_total, last.total)} "
        f"(target >= x{MIN_NAIVE_RATIO:g}: {'met' if met else 'NOT met'}); silver "
        f"{ratio(median(last.naive_silver), median(last.silver))}, gold "
        f"{ratio(median(last.naive_gold), median(last.gold))}"
    )
    same = last.naive_counts == last.counts
    out.append(
        f"- silver, user_features, video_features rows after the new day: incremental {last.counts}, naive "
        f"{last.naive_counts} ({'same' if same else 'DIFFERENT'})"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--histories",
        type=parse_histories,
        default=[1, 30, 90],
        help="days of history before the timed new day, comma-separated (the naive path runs after the last)",
    )
    parser.add_argument("--events-per-day", type=int, default=5_000, help="records landed per day")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of timed runs (medians reported)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--videos", type=int, default=5_000)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-gates", action="store_true", help="pass the quality gate to the jobs")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    command = shlex.join([".venv/bin/python", "benchmarks/incremental.py", *sys.argv[1:]])

    histories = args.histories
    spec = SyntheticSpec(
        seed=args.seed,
        users=args.users,
        videos=args.videos,
        days=histories[-1] + 1,
        events_per_day=args.events_per_day,
        files_per_day=args.files_per_day,
    )
    with scratch_root(args.root, "bench-incremental", keep=args.keep) as scratch:
        points = [Point(h, scratch / f"snapshot-{h}d") for h in histories]
        with timed() as startup:
            spark = session_for("medallion-bench-incremental", args)
        start_machine = machine(spark)
        print(f"machine: {start_machine}")
        print(f"spark session start: {startup.seconds:.1f} s (not counted)", flush=True)
        print(
            f"incremental benchmark: {args.events_per_day:,} records/day, {args.users:,} users, "
            f"{args.videos:,} videos, engine {args.engine}, histories "
            f"{', '.join(f'{h} d' for h in histories)}, quality gates {'on' if args.with_gates else 'off'}",
            flush=True,
        )
        try:
            landing = scratch / "landing"
            config, storage = local_runtime(spark, scratch / "warehouse", landing, args)
            gate = quality_gate(config, storage, args)
            # 1. the history, built progressively with the real jobs; a snapshot before each new day
            landed = 0  # days landed so far; the previous new day went through bronze only
            for point in points:
                days = range(landed, point.history_days)
                with timed() as build:
                    generated = write_landing(spec, landing, days=days) if days else None
                    run_jobs(spark, config, storage, gate)
                point.build_seconds = build.seconds
                what = (
                    f"days {spec.day(days[0])}..{spec.day(days[-1])} ({generated.events:,} records) landed"
                    if generated
                    else "nothing new landed"
                )
                print(
                    f"history: {what}; bronze + silver + gold ran once in {build.seconds:.1f} s (not timed)",
                    flush=True,
                )
                land_new_day(spark, config, storage, landing, spec, point, gate)
                landed = point.history_days + 1
            # 2. the timed runs, on copies of the snapshots, interleaved: every history, then the
            # naive path, once per repeat (a change of load hits them all)
            for k in range(args.repeats):
                for point in points:
                    time_point(spark, scratch, landing, point, args, k, naive=point is points[-1])
            end_machine = machine(spark)
            print(f"machine at the end: {end_machine}")
        finally:
            spark.stop()

    print()
    machine_line = f"{start_machine} (at the end: {end_machine.split('load average ')[-1].split(',')[0]})"
    for line in summary(points, args, command, machine_line):
        print(line)
    return 0 if points[-1].naive_counts == points[-1].counts else 1


if __name__ == "__main__":
    sys.exit(main())

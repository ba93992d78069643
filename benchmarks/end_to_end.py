"""Benchmark: end to end, landing files -> bronze -> silver -> gold on local Spark.

Generates ``--events`` synthetic events (default 1,000,000 over ``--days`` days;
:mod:`medallion.synthetic`, mess included) into ``<scratch>/landing`` and reports the generation
time on its own (pure Python). Then, on one local session (start-up reported, not counted), runs
the real jobs once each into a fresh warehouse: bronze (files source, available-now), silver (first
run: the whole bronze snapshot) and gold (first run: full mode, every feature date). No quality
gate by default; ``--with-gates`` passes ``quality.QualityGate(config, storage)`` to every job.
Prints seconds per stage, the pipeline total and events/s overall, after checking the counts
against the generator's ground truth.

The single-node reference (:mod:`reference`: the same contract validation, dedup and 7-day
features in DuckDB over the same landing files) runs in the same process, before the pipeline; its
time is printed with the pipeline's as a ratio (pipeline / reference), and every gold value the
pipeline wrote is compared with the reference's (the run fails on a difference). ``--landing DIR``
runs over an existing landing folder (e.g. ``kuairand.py``'s) instead of generating one; the
reference's counts are then the ground truth.

``--engine`` picks the Delta engine (delta-rs default, or spark-delta: the session then loads the
Delta Lake jars, cached in ``--ivy-dir``); ``--engines delta-rs,spark-delta`` runs the three jobs
once per engine, in that order, each into its own fresh warehouse over the same landing files and
on the same session, then prints the stages side by side (ratios comparable: same data, same load).

    .venv/bin/python benchmarks/end_to_end.py                          # 1,000,000 events
    .venv/bin/python benchmarks/end_to_end.py --events 300000 --with-gates --root /tmp/bench
    .venv/bin/python benchmarks/end_to_end.py --events 200000 --engines delta-rs,spark-delta
    .venv/bin/python benchmarks/end_to_end.py --landing /tmp/kuairand-landing --with-gates
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import (  # first: the benchmarks folder before any medallion import
    add_common_arguments,
    add_engines_argument,
    add_event_arguments,
    event_spec,
    land_and_start,
    local_config,
    local_runtime,
    scratch_root,
    selected_engines,
    timed,
)
from reference import compare_with_pipeline, print_result, run_reference

STAGES = ("bronze", "silver", "gold")


def run_pipeline(
    spark, scratch, landing, engine: str, expected: tuple[int, int], args, ref
) -> dict[str, float]:
    """Bronze, silver and gold once each into ``<scratch>/warehouse-<engine>``; seconds per stage."""
    from medallion.bronze import job as bronze_job
    from medallion.gold import job as gold_job
    from medallion.silver import job as silver_job

    config, storage = local_runtime(spark, scratch / f"warehouse-{engine}", landing, args, engine)
    gate = None
    if args.with_gates:
        from medallion.quality import QualityGate

        gate = QualityGate(config, storage)
    print(f"engine {engine}, quality gates: {'on' if gate is not None else 'off'}", flush=True)

    with timed() as b:
        bronze = bronze_job.run(config, spark, storage, gate=gate)
    print(f"[{engine}] bronze {b.seconds:.1f} s: {bronze.summary()}", flush=True)
    with timed() as s:
        silver = silver_job.run(config, spark, storage, gate=gate)
    print(f"[{engine}] silver {s.seconds:.1f} s: {silver.summary()}", flush=True)
    with timed() as g:
        gold = gold_job.run(config, spark, storage, gate=gate)
    print(f"[{engine}] gold   {g.seconds:.1f} s: {gold.summary()}", flush=True)

    events, valid = expected
    problems = []
    if bronze.rows_ingested != events:
        problems.append(f"bronze ingested {bronze.rows_ingested:,} of {events:,} records")
    if silver.rows_inserted != valid or not silver.conserved:
        problems.append(f"silver inserted {silver.rows_inserted:,}, expected {valid:,}")
    mismatches = compare_with_pipeline(ref, storage, config)
    if any(mismatches.values()):
        problems.append(f"gold differs from the reference: {mismatches} mismatching rows")
    if problems:
        raise SystemExit(f"[{engine}] " + "; ".join(problems))
    print(f"[{engine}] every gold value equals the reference's ({mismatches})", flush=True)

    stages = {"bronze": b.seconds, "silver": s.seconds, "gold": g.seconds}
    total = sum(stages.values())
    n = events
    print(f"[{engine}] results:")
    for name, seconds in stages.items():
        share = 100 * seconds / total
        print(f"  {name:<9}: {seconds:6.1f} s  ({share:4.1f} %)  {n / seconds:>9,.0f} events/s")
    print(
        f"  total    : {total:6.1f} s  bronze + silver + gold, gates {'on' if gate is not None else 'off'}"
        f" = {n / total:,.0f} events/s overall ({silver.rows_inserted:,} silver rows, "
        f"{gold.rows_written:,} gold rows)",
        flush=True,
    )
    return stages


def preload_runtime(scratch: Path, landing: Path, engines: list[str], args) -> None:
    """As ``medallion local`` does: MLflow is imported and each engine's tracking store opened in
    the background while Spark starts (not in a stage's time, as in the real command)."""
    from medallion.runtime import PRELOADED_MODULES, preload

    for i, engine in enumerate(engines):
        config = local_config(scratch / f"warehouse-{engine}", landing, args, engine)
        preload(PRELOADED_MODULES if i == 0 else (), config=config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_event_arguments(parser, events=1_000_000, days=10)
    parser.add_argument("--with-gates", action="store_true", help="run every job with quality.QualityGate")
    parser.add_argument("--landing", help="an existing landing folder to run over (no generation)")
    add_common_arguments(parser)
    add_engines_argument(parser)
    args = parser.parse_args(argv)
    engines = selected_engines(args)

    results: dict[str, dict[str, float]] = {}
    with scratch_root(args.root, "bench-e2e", keep=args.keep) as scratch:
        landing = Path(args.landing).absolute() if args.landing else scratch / "landing"
        preload_runtime(scratch, landing, engines, args)
        generated, spark = land_and_start(
            event_spec(args), landing, "medallion-bench-e2e", args, generate=not args.landing
        )
        try:
            ref = run_reference(landing)
            print_result(ref)
            expected = (ref.rows_read, ref.rows_inserted)
            if not args.landing and expected != (generated.events, generated.valid_events):
                raise SystemExit(f"reference counts {expected} differ from the generator's")
            for engine in engines:
                results[engine] = run_pipeline(spark, scratch, landing, engine, expected, args, ref)
        finally:
            spark.stop()

    n = ref.rows_read
    print()
    if not args.landing:
        print(
            f"generation : {n:,} events, {generated.bytes_written / 1e6:,.0f} MB, "
            f"{len(generated.files)} files in {generated.seconds:.1f} s = "
            f"{n / generated.seconds:,.0f} events/s (pure Python, not counted)"
        )
    print(f"gates {'on' if args.with_gates else 'off'}; seconds (events/s) per stage, engines in run order:")
    print(f"{'stage':<9}" + "".join(f" | {engine:>22}" for engine in engines))
    for name in (*STAGES, "total"):
        cells = []
        for engine in engines:
            seconds = results[engine][name] if name != "total" else sum(results[engine].values())
            cells.append(f"{seconds:7.1f} s ({n / seconds:>8,.0f}/s)")
        print(f"{name:<9}" + "".join(f" | {c:>22}" for c in cells))
    reference = ref.total_seconds
    print(f"{'reference':<9}" + "".join(f" | {reference:7.1f} s ({n / reference:>8,.0f}/s)" for _ in engines))
    for engine in engines:
        total = sum(results[engine].values())
        ratio = f"x{total / reference:.1f} ({total:.1f} s / {reference:.1f} s)"
        print(f"ratio pipeline / DuckDB reference [{engine}]: {ratio}")
    if len(engines) > 1:
        first = engines[0]
        for other in engines[1:]:
            ratios = ", ".join(
                f"{name} x{results[other][name] / results[first][name]:.2f}" for name in STAGES
            )
            total = sum(results[other].values()) / sum(results[first].values())
            print(f"ratio {other} / {first}: total x{total:.2f} ({ratios})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Profile: where each stage's time goes, by kind of work.

Runs the pipeline as ``medallion local`` does (bronze, silver, gold with the quality gates and the
run recorder, then a rerun with nothing new) over ``--events`` synthetic events (default 9,000 over
3 days: the demo's size), in this process, on one local session. While it runs, the costs the
issue asks about are counted and timed by wrapping the functions that pay them:

* **Spark jobs** launched per stage: the driver's job counter (``DAGScheduler.nextJobId``) before
  and after each stage, so micro-batches and Delta's own jobs count too;
* **Arrow conversions**: ``DataFrame.toArrow`` / ``toPandas`` and ``createDataFrame``;
* **GX**: the quality gate (``QualityGate.check``: context, suites, checkpoint, results table);
* **streaming**: ``DataStreamWriter.start`` + ``awaitTermination`` + ``stop``, less the work of the
  micro-batches themselves (their gate, Delta writes and conversions are in those columns);
* **Delta**: every public operation of the storage adapter (commits and metadata calls), the
  outermost call only (an operation that calls another is not counted twice);
* **MLflow**: the run recorder's MLflow logging.

"other" is the stage's remaining driver time (planning, Python transforms, actions not above);
"gates" is the quality gates' share of the stage (the issue's target: at most 20 %).
The categories nest (a gate's Delta write is GX time, a Delta write's Arrow conversion is Delta
time): each second is counted once, in the outermost category.

    .venv/bin/python benchmarks/profile_stages.py                         # demo size, delta-rs
    .venv/bin/python benchmarks/profile_stages.py --events 1000000 --days 10 --engine spark-delta
    .venv/bin/python benchmarks/profile_stages.py --landing /tmp/kuairand-landing   # kuairand.py --out
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import (
    add_common_arguments,
    add_event_arguments,
    event_spec,
    land_and_start,
    local_config,
    scratch_root,
)

CATEGORIES = ("gx", "delta", "streaming", "arrow", "mlflow")


class Probe:
    """Counts and times wrapped calls per category; only the outermost wrapped call is timed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.detail: dict[str, int] = defaultdict(int)
        self.inside_stream = 0.0  # seconds of the above spent in micro-batches (foreachBatch thread)
        self._local = threading.local()
        self._patches: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, category: str) -> None:
        original = owner.__dict__[name]
        probe = self

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            probe.detail[f"{category}.{name}"] += 1
            local = probe._local
            if getattr(local, "depth", 0):
                return original(*args, **kwargs)
            local.depth = 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                local.depth = 0
                seconds = time.perf_counter() - started
                probe.seconds[category] += seconds
                probe.calls[category] += 1
                if threading.current_thread() is not threading.main_thread():
                    probe.inside_stream += seconds

        self._patches.append((owner, name, original))
        setattr(owner, name, wrapper)

    def restore(self) -> None:
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)

    def snapshot(self) -> tuple[dict[str, float], dict[str, int], dict[str, int], float]:
        return dict(self.seconds), dict(self.calls), dict(self.detail), self.inside_stream


def install(probe: Probe) -> None:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

    from medallion.quality import QualityGate
    from medallion.runs import RunRecorder
    from medallion.storage.interface import DeltaStorage

    probe.wrap(QualityGate, "check", "gx")
    probe.wrap(RunRecorder, "_log_mlflow", "mlflow")
    for name in ("start",):
        probe.wrap(DataStreamWriter, name, "streaming")
    for name in ("awaitTermination", "stop", "processAllAvailable"):
        probe.wrap(StreamingQuery, name, "streaming")
    for name in ("toArrow", "toPandas"):
        probe.wrap(DataFrame, name, "arrow")
    probe.wrap(SparkSession, "createDataFrame", "arrow")
    # Every public operation of every storage engine (they override the interface's methods).
    classes = [DeltaStorage, *_subclasses(DeltaStorage)]
    for cls in classes:
        for name, value in list(vars(cls).items()):
            if not name.startswith("_") and callable(value) and name != "errors":
                probe.wrap(cls, name, "delta")


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def job_counter(spark) -> Callable[[], int]:
    """The next Spark job id (jobs launched so far), read from the driver's scheduler."""
    scheduler = spark.sparkContext._jsc.sc().dagScheduler()
    return lambda: int(scheduler.nextJobId())


@contextlib.contextmanager
def stage_profile(
    name: str, probe: Probe, jobs: Callable[[], int], rows: list[dict[str, Any]]
) -> Iterator[None]:
    seconds0, calls0, detail0, inside0 = probe.snapshot()
    jobs0 = jobs()
    started = time.perf_counter()
    yield
    wall = time.perf_counter() - started
    seconds1, calls1, detail1, inside1 = probe.snapshot()
    row: dict[str, Any] = {"stage": name, "seconds": wall, "spark_jobs": jobs() - jobs0}
    for category in CATEGORIES:
        row[f"{category}_s"] = seconds1.get(category, 0.0) - seconds0.get(category, 0.0)
        row[f"{category}_n"] = calls1.get(category, 0) - calls0.get(category, 0)
    # Work inside micro-batches (another thread) is counted in its own category, not as streaming.
    row["streaming_s"] -= inside1 - inside0
    row["other_s"] = wall - sum(row[f"{c}_s"] for c in CATEGORIES)
    row["gate_share"] = row["gx_s"] / wall if wall else 0.0
    row["detail"] = {k: v - detail0.get(k, 0) for k, v in detail1.items() if v - detail0.get(k, 0)}
    rows.append(row)
    print(f"  {name}: {wall:.1f} s, {row['spark_jobs']} Spark jobs", flush=True)


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ["stage", "seconds", "Spark jobs", *(f"{c} s (calls)" for c in CATEGORIES), "other s", "gates"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [row["stage"], f"{row['seconds']:.1f}", str(row["spark_jobs"])]
        cells += [f"{row[f'{c}_s']:.1f} ({row[f'{c}_n']})" for c in CATEGORIES]
        cells += [f"{row['other_s']:.1f}", f"{row['gate_share']:.0%}"]
        print("| " + " | ".join(cells) + " |")
    print()
    for row in rows:
        calls = ", ".join(
            f"{k.split('.', 1)[1]} {v}" for k, v in sorted(row["detail"].items()) if k.startswith("delta.")
        )
        print(f"{row['stage']} Delta operations: {calls or '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser)
    add_event_arguments(parser, events=9_000, days=3)
    parser.add_argument("--no-gates", action="store_true", help="run without the quality gates")
    parser.add_argument("--no-mlflow", action="store_true", help="record ops.runs without MLflow")
    parser.add_argument("--landing", help="an existing landing folder to run over (no generation)")
    args = parser.parse_args(argv)

    from medallion.bronze import job as bronze_job
    from medallion.gold import job as gold_job
    from medallion.quality import QualityGate
    from medallion.runs import RunRecorder
    from medallion.runtime import preload
    from medallion.silver import job as silver_job
    from medallion.storage import get_storage

    jobs_of = {"bronze": bronze_job, "silver": silver_job, "gold": gold_job}
    with scratch_root(args.root, "medallion-profile-", args.keep) as scratch:
        landing = Path(args.landing).absolute() if args.landing else scratch / "landing"
        config = local_config(scratch / "warehouse", landing, args)
        # as `medallion local` does: MLflow is imported and its tracking store opened in the
        # background while Spark starts
        preload(config=config)
        _, spark = land_and_start(
            event_spec(args), landing, "medallion-profile", args, generate=not args.landing
        )
        storage = get_storage(spark, config)
        probe = Probe()
        install(probe)
        jobs = job_counter(spark)
        rows: list[dict[str, Any]] = []
        try:
            gate = None if args.no_gates else QualityGate(config, storage)
            recorder = RunRecorder(config, storage, mlflow=not args.no_mlflow)
            for label in ("", " (rerun, nothing new)"):
                for layer, job in jobs_of.items():
                    with stage_profile(layer + label, probe, jobs, rows):
                        result = job.run(config, spark, storage, gate=gate, recorder=recorder)
                    if not getattr(result, "ok", True):
                        raise SystemExit(f"{layer} failed: {result}")
        finally:
            probe.restore()
        print(f"\nengine {config.resolved_engine}, gates {'off' if args.no_gates else 'on'}\n")
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: a ``medallion local`` rerun with nothing new, as a ratio to starting Spark.

1. Lands ``--events`` synthetic events and runs ``medallion local`` once over them (not timed), so
   every layer is up to date.
2. Times, ``--repeats`` times each and alternating, two real processes: ``medallion local`` again
   over the same landing folder (nothing new: bronze, silver and gold each find nothing to do), and
   a process that only starts the same local Spark session and stops it (``get_spark`` of the same
   config: the floor every command pays).
3. Prints both medians and the ratio rerun / Spark start (target: at most 2x).

    .venv/bin/python benchmarks/noop_rerun.py
    .venv/bin/python benchmarks/noop_rerun.py --events 100000 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import machine, median, scratch_root

SPARK_ONLY = (
    "from medallion.config import Config; from medallion.spark import get_spark; "
    "get_spark(Config(environment='local')).stop()"
)


def timed_process(argv: list[str], env: dict[str, str], expect: str = "") -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or expect not in done.stdout:
        raise SystemExit(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=9_000, help="events landed before the reruns")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", help="scratch folder (kept); default: a temporary one")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    python = sys.executable
    medallion = [str(Path(python).parent / "medallion")]  # the console script, as users run it
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    with scratch_root(args.root, "bench-noop", keep=args.keep) as scratch:
        landing, root = scratch / "landing", scratch / "warehouse"
        per_day = max(1, args.events // 3)
        subprocess.run(
            [
                *medallion,
                "generate",
                "--events",
                str(landing),
                "--days",
                "3",
                "--events-per-day",
                str(per_day),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        local = [*medallion, "local", "--events", str(landing), "--root", str(root)]
        first = timed_process(local, env, expect="rows ingested")
        print(f"first run (not counted): {first:.1f} s", flush=True)
        reruns, starts = [], []
        for i in range(args.repeats):
            starts.append(timed_process([python, "-c", SPARK_ONLY], env))
            reruns.append(timed_process(local, env, expect="nothing new in bronze"))
            print(
                f"  #{i + 1}: Spark start {starts[-1]:.1f} s, rerun with nothing new {reruns[-1]:.1f} s",
                flush=True,
            )
        print(f"machine: {machine()}")
        for label, values in (
            ("process that only starts Spark", starts),
            ("medallion local, nothing new", reruns),
        ):
            each = ", ".join(f"{v:.1f}" for v in values)
            print(f"{label:<31}: median {median(values):.1f} s ({each})")
        print(f"ratio rerun / Spark start: x{median(reruns) / median(starts):.2f} (target: at most x2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

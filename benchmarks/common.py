"""Shared helpers of the benchmark scripts: scratch folders, the local Spark session, a local
config, timers and the machine description printed with every figure.

Importing this module also fixes ``sys.path`` for the scripts: run as ``python
benchmarks/bronze.py``, this folder comes first on ``sys.path`` and ``benchmarks/bronze.py`` /
``benchmarks/silver.py`` would shadow the ``bronze`` / ``silver`` packages. The folder is moved to
the end (``import common`` keeps working, the packages win). Import it before any medallion
package.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
#: The Delta Lake jars of the spark-delta engine are cached here (the git-ignored cache the test
#: suite uses too), so that no benchmark downloads them twice.
IVY_DIR = HERE.parent / ".cache" / "ivy"
ENGINES = ("delta-rs", "spark-delta")
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.config import Config
    from medallion.storage import DeltaStorage


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--root, --keep, --engine, --shuffle-partitions, --driver-memory, --ivy-dir."""
    parser.add_argument(
        "--root",
        default=None,
        help="scratch folder for landing files and warehouses (default: a new temp dir, removed at the end)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder at the end")
    parser.add_argument(
        "--engine", default="delta-rs", choices=ENGINES, help="Delta engine of the storage adapter"
    )
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory of the local session")
    parser.add_argument(
        "--ivy-dir", default=str(IVY_DIR), help="cache of the Delta Lake jars (spark-delta engine only)"
    )


def add_engines_argument(parser: argparse.ArgumentParser) -> None:
    """--engines a,b: run the benchmark on each engine in turn, in one process (overrides --engine)."""
    parser.add_argument(
        "--engines",
        default=None,
        type=parse_engines,
        help=f"comma-separated engines to run one after the other in this process, e.g. {','.join(ENGINES)} "
        "(overrides --engine; one Delta-enabled session serves them all)",
    )


def parse_engines(value: str) -> list[str]:
    engines = [e.strip() for e in value.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if not engines or unknown or len(set(engines)) != len(engines):
        raise argparse.ArgumentTypeError(
            f"expected distinct engines among {', '.join(ENGINES)}, got {value!r}"
        )
    return engines


def selected_engines(args: argparse.Namespace) -> list[str]:
    """The engines to run: ``--engines`` when given, else ``[--engine]``."""
    return list(getattr(args, "engines", None) or [args.engine])


def needs_delta(args: argparse.Namespace) -> bool:
    """Whether the session needs the Delta Lake jars (some selected engine is spark-delta)."""
    return "spark-delta" in selected_engines(args)


def session_for(app_name: str, args: argparse.Namespace) -> SparkSession:
    """The local session for the selected engines (Delta jars from ``--ivy-dir`` for spark-delta)."""
    return local_spark(
        app_name, args.shuffle_partitions, args.driver_memory, delta=needs_delta(args), ivy_dir=args.ivy_dir
    )


def add_event_arguments(parser: argparse.ArgumentParser, *, events: int, days: int) -> None:
    """Generator flags shared by the benchmarks that land N events over D days."""
    parser.add_argument("--events", type=int, default=events, help="events to generate")
    parser.add_argument("--days", type=int, default=days, help="days the events are spread over")
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--videos", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)


def event_spec(args: argparse.Namespace):
    """The SyntheticSpec for :func:`add_event_arguments` flags (events spread evenly over days)."""
    from medallion.synthetic import SyntheticSpec

    return SyntheticSpec(
        seed=args.seed,
        users=args.users,
        videos=args.videos,
        days=args.days,
        events_per_day=-(-args.events // args.days),
        files_per_day=args.files_per_day,
    )


def land_and_start(
    spec: Any, landing: Path, app_name: str, args: argparse.Namespace, *, generate: bool = True
) -> tuple[Any, SparkSession]:
    """Write the synthetic landing folder (unless ``generate`` is False: an existing one, e.g.
    ``kuairand.py``'s) and start the local session, printing both (neither is part of a timed
    stage). Returns (generate summary or None, session)."""
    from medallion.synthetic import write_landing

    generated = None
    if generate:
        generated = write_landing(spec, landing)
        print(generated.summary(), flush=True)
    with timed() as startup:
        spark = session_for(app_name, args)
    print(f"machine: {machine(spark)}")
    print(f"spark session start: {startup.seconds:.1f} s (not counted)", flush=True)
    return generated, spark


@contextlib.contextmanager
def scratch_root(root: str | None, prefix: str, keep: bool = False) -> Iterator[Path]:
    """A fresh folder: ``<root>/<prefix>-XXXX`` when ``root`` is given (kept), else a temp dir
    (removed at the end unless ``keep``)."""
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=root))
        keep = True
    else:
        path = Path(tempfile.mkdtemp(prefix=f"medallion-{prefix}-"))
    try:
        yield path
    finally:
        if keep:
            print(f"scratch folder kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def local_spark(
    app_name: str,
    shuffle_partitions: int = 4,
    driver_memory: str = "4g",
    *,
    delta: bool = False,
    ivy_dir: str | Path | None = IVY_DIR,
) -> SparkSession:
    """The same local session the CLI uses (:func:`medallion.spark.local_session_builder` +
    :func:`medallion.spark.start_session`); ``delta`` adds the Delta Lake jars (cached in
    ``ivy_dir``), SQL extension and catalog that the spark-delta engine needs."""
    from medallion.spark import local_session_builder, start_session

    builder = local_session_builder(
        app_name=app_name,
        shuffle_partitions=shuffle_partitions,
        delta=delta,
        ivy_dir=str(ivy_dir) if delta and ivy_dir else None,
    ).config("spark.driver.memory", driver_memory)
    return start_session(builder)


def local_runtime(
    spark: SparkSession,
    root: Path,
    events_dir: Path,
    args: argparse.Namespace,
    engine: str | None = None,
    **overrides: Any,
) -> tuple[Config, DeltaStorage]:
    """A local Config rooted at ``root`` reading ``events_dir``, and its storage adapter
    (``engine``, default ``--engine``)."""
    from medallion.storage import get_storage

    config = local_config(root, events_dir, args, engine, **overrides)
    return config, get_storage(spark, config)


def local_config(
    root: Path, events_dir: Path, args: argparse.Namespace, engine: str | None = None, **overrides: Any
) -> Config:
    """The Config of :func:`local_runtime` (known before Spark starts)."""
    from medallion.config import Config

    return Config(
        environment="local",
        root=str(root),
        events_dir=str(events_dir),
        engine=engine or args.engine,
        shuffle_partitions=args.shuffle_partitions,
        **overrides,
    )


@dataclass
class Timer:
    seconds: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timer]:
    """``with timed() as t: ...`` then ``t.seconds`` (wall clock, monotonic)."""
    timer = Timer()
    started = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine(spark: SparkSession | None = None) -> str:
    """One line describing where the figures were measured (load average included: the
    development machine is shared)."""
    parts = [f"{platform.system()} {platform.machine()}", f"{os.cpu_count()} CPUs"]
    with contextlib.suppress(OSError, AttributeError):
        load = os.getloadavg()
        parts.append(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    parts.append(f"Python {platform.python_version()}")
    if spark is not None:
        parts.append(f"Spark {spark.version} {spark.sparkContext.master}")
    return ", ".join(parts)

"""End-to-end integration test of the pipeline on synthetic events (``medallion integration-test``).

One run:

1. generates a small synthetic landing set (:mod:`medallion.synthetic`) under
   ``<work root>/<run id>/landing`` - on Databricks a folder of a Unity Catalog volume, locally a
   folder under ``--root``;
2. runs bronze (files source, checkpoints under ``<work root>/<run id>/_checkpoints``), silver and
   gold, each with its quality gate (enforce mode: a failing gate fails the run);
3. compares what the jobs did with the generator's ground truth - bronze ingested every record,
   silver inserted exactly the valid unique events, quarantined exactly the invalid records with
   the reasons they must get, dropped exactly the re-deliveries, and gold wrote rows to every
   feature table - and fails (exit 1) on any mismatch.

The seed comes from the run id unless given, so two runs against the same tables never re-deliver
each other's events. A repeated seed makes every event a duplicate of the earlier run's: silver
then inserts nothing and the test fails, as it should. In the bundle (resources/integration.yml)
the job writes to its own ``<schema_prefix>it_*`` schemas, so the real stream cannot change the
counts it asserts.

``run_integration_test`` takes the SparkSession and storage adapter from its caller (the CLI builds
them; tests pass their own session).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medallion.config import Config, ConfigError
from medallion.errors import JobFailedError
from medallion.synthetic import GenerateSummary, SyntheticSpec, write_landing

log = logging.getLogger(__name__)

#: Sizes of the default run: small enough for one worker in a few minutes, large enough that
#: every kind of mess (duplicates, late and invalid records) shows up.
DEFAULT_DAYS = 2
DEFAULT_EVENTS_PER_DAY = 500
DEFAULT_USERS = 80
DEFAULT_VIDEOS = 40
#: Rates chosen so the silver gate (max_quarantine_rate, default 5 %) passes with margin.
DUPLICATE_RATE = 0.03
LATE_RATE = 0.03
INVALID_RATE = 0.01


class IntegrationTestFailed(JobFailedError):
    """The pipeline ran but its tables do not match the generator's ground truth."""


@dataclass(frozen=True)
class Check:
    name: str
    expected: Any
    actual: Any
    ok: bool

    def line(self) -> str:
        verdict = "ok      " if self.ok else "MISMATCH"
        return f"  {verdict} {self.name}: expected {self.expected}, got {self.actual}"


@dataclass
class IntegrationReport:
    run_id: str
    seed: int
    landing: str
    truth: GenerateSummary
    checks: list[Check] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        verdict = "PASSED" if self.ok else f"FAILED ({len(self.failures)} of {len(self.checks)} checks)"
        lines = [
            f"integration test {self.run_id} (seed {self.seed}): {verdict}",
            f"  landing {self.landing}: {self.truth.events} records = {self.truth.valid_events} valid "
            f"+ {self.truth.duplicates} re-deliveries + {self.truth.invalid_total} invalid",
            *(f"  {text}" for text in self.stages.values()),  # each summary names its stage
            *(c.line() for c in self.checks),
        ]
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        if timing:
            lines.append(f"  time: {timing}")
        return "\n".join(lines)


def default_run_id() -> str:
    """A sortable, unique id for a local run (a Databricks job passes its {{job.run_id}})."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def seed_for(run_id: str) -> int:
    """A stable seed per run id: the same run id reproduces the same events."""
    return zlib.crc32(run_id.encode("utf-8"))


def make_spec(
    seed: int,
    days: int = DEFAULT_DAYS,
    events_per_day: int = DEFAULT_EVENTS_PER_DAY,
    today: dt.date | None = None,
) -> SyntheticSpec:
    """The synthetic spec of a run: ``days`` days ending yesterday (UTC), so no event is in the
    future of its ingestion and gold has recent feature dates to compute."""
    if days < 1 or events_per_day < 1:
        raise ConfigError("--days and --events-per-day must be >= 1")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return SyntheticSpec(
        seed=seed,
        users=DEFAULT_USERS,
        videos=DEFAULT_VIDEOS,
        days=days,
        events_per_day=events_per_day,
        start_date=today - dt.timedelta(days=days),
        files_per_day=2,
        duplicate_rate=DUPLICATE_RATE,
        late_rate=LATE_RATE,
        invalid_rate=INVALID_RATE,
    )


def default_work_root(config: Config) -> str:
    """Where run folders go: ``<root>/_integration`` locally, the ops checkpoints volume on Databricks."""
    if config.environment == "databricks":
        return f"/Volumes/{config.catalog}/{config.schema_prefix}ops/checkpoints/integration"
    return str(Path(config.root).absolute() / "_integration")


def write_synthetic_landing(spec: SyntheticSpec, landing: str, environment: str) -> GenerateSummary:
    """Write the landing files. On Databricks they are generated on local disk and copied into the
    volume: a UC volume's FUSE mount takes plain file writes, but setting modification times (which
    :func:`write_landing` does) is not something to rely on there."""
    if environment != "databricks":
        return write_landing(spec, landing)
    staging = Path(tempfile.mkdtemp(prefix="medallion-integration-"))
    try:
        truth = write_landing(spec, staging)
        target = Path(landing)
        target.mkdir(parents=True, exist_ok=True)
        for name in truth.files:
            shutil.copyfile(staging / name, target / name)
        return replace(truth, events_dir=str(target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_integration_test(
    config: Config,
    spark: Any,
    storage: Any,
    *,
    run_id: str,
    spec: SyntheticSpec,
    work_root: str | None = None,
) -> IntegrationReport:
    """Generate, run bronze -> silver -> gold with their quality gates, and check the outcome.

    Quality gates run in the modes ``config`` sets (enforce by default: a failed gate raises a
    :class:`~medallion.errors.JobFailedError` out of this function). Returns the report; the caller
    decides what a mismatch means (the CLI exits 1, see :func:`raise_for_mismatches`).
    """
    from medallion.bronze import job as bronze_job
    from medallion.gold import job as gold_job
    from medallion.quality import QualityGate
    from medallion.runs import RunRecorder
    from medallion.silver import job as silver_job

    base = f"{(work_root or default_work_root(config)).rstrip('/')}/{run_id}"
    landing = f"{base}/landing"
    config = config.replace(
        source="files",
        events_dir=landing,
        checkpoint_root=f"{base}/_checkpoints",
        trigger="available-now",
    )
    seconds: dict[str, float] = {}

    started = time.monotonic()
    truth = write_synthetic_landing(spec, landing, config.environment)
    seconds["generate"] = time.monotonic() - started
    report = IntegrationReport(run_id=run_id, seed=spec.seed, landing=landing, truth=truth, seconds=seconds)
    log.info("integration test %s: %s records in %s", run_id, truth.events, landing)

    gate = QualityGate(config, storage, run_id=f"integration-{run_id}")
    recorder = RunRecorder(config, storage)
    started = time.monotonic()
    bronze = bronze_job.run(config, spark, storage, gate=gate, recorder=recorder)
    seconds["bronze"] = time.monotonic() - started
    report.stages["bronze"] = bronze.summary()

    started = time.monotonic()
    silver = silver_job.run(config, spark, storage, gate=gate, recorder=recorder)
    seconds["silver"] = time.monotonic() - started
    report.stages["silver"] = silver.summary()

    started = time.monotonic()
    gold = gold_job.run(config, spark, storage, gate=gate, recorder=recorder)
    seconds["gold"] = time.monotonic() - started
    report.stages["gold"] = gold.summary()
    for outcome in gate.results:
        report.stages[f"quality {outcome.table}"] = outcome.summary()

    def check(name: str, expected: Any, actual: Any, ok: bool | None = None) -> None:
        report.checks.append(Check(name, expected, actual, expected == actual if ok is None else ok))

    check("bronze rows ingested = records written", truth.events, bronze.rows_ingested)
    check("bronze files read = files written", len(truth.files), bronze.files_read)
    check("silver rows read = bronze rows ingested", bronze.rows_ingested, silver.rows_read)
    check("silver rows inserted = valid unique events", truth.valid_events, silver.rows_inserted)
    check("silver rows quarantined = invalid records", truth.invalid_total, silver.rows_quarantined)
    check("silver duplicates dropped = re-deliveries", truth.duplicates, silver.duplicates_dropped)
    check(
        "silver quarantine reasons = expected reasons",
        dict(sorted(truth.expected_quarantine_reasons.items())),
        dict(sorted(silver.quarantine_reasons.items())),
    )
    check("gold feature tables written", ["user_features", "video_features"], sorted(gold.tables))
    for name, table in sorted(gold.tables.items()):
        check(f"gold {name} rows written > 0", "> 0", table.rows_written, table.rows_written > 0)
    check("quality gates without alerts", [], [r.table for r in gate.alerts])
    return report


def raise_for_mismatches(report: IntegrationReport) -> None:
    if not report.ok:
        names = ", ".join(c.name for c in report.failures) or "no check ran"
        raise IntegrationTestFailed(f"integration test {report.run_id}: {names}")


# --- `medallion integration-test` (wired into medallion.cli) ----------------------------------------
def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-id",
        default=None,
        help="id of this run: names its landing/checkpoint folder and seeds the generator "
        "(default: a new timestamped id; the bundle passes {{job.run_id}})",
    )
    parser.add_argument(
        "--work-root",
        default=None,
        metavar="DIR",
        help="folder for the run folders (default: <root>/_integration locally, "
        "/Volumes/<catalog>/<schema_prefix>ops/checkpoints/integration on Databricks)",
    )
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: from --run-id)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"days of events ({DEFAULT_DAYS})")
    parser.add_argument(
        "--events-per-day",
        type=int,
        default=DEFAULT_EVENTS_PER_DAY,
        help=f"records per day, mess included ({DEFAULT_EVENTS_PER_DAY})",
    )


def run_cli(args: argparse.Namespace, config: Config, spark: Any, storage: Any) -> int:
    run_id = args.run_id or default_run_id()
    seed = args.seed if args.seed is not None else seed_for(run_id)
    spec = make_spec(seed, days=args.days, events_per_day=args.events_per_day)
    report = run_integration_test(config, spark, storage, run_id=run_id, spec=spec, work_root=args.work_root)
    print(report.summary())
    raise_for_mismatches(report)
    return 0


__all__ = [
    "Check",
    "IntegrationReport",
    "IntegrationTestFailed",
    "make_spec",
    "raise_for_mismatches",
    "run_integration_test",
    "seed_for",
]

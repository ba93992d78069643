"""``medallion generate`` and ``medallion demo``: a synthetic landing folder, and the whole pipeline
on one with the summary read back from the tables (nothing recomputed)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from medallion.config import Config, ConfigError
from medallion.errors import JobFailedError
from medallion.runtime import EXIT_OK, gate_for, recorder_for, run_stage, spark_and_storage, start

#: size -> (days, records per day, users, videos)
DEMO_SIZES = {"tiny": (2, 200, 40, 25), "small": (3, 3_000, 1_000, 300), "medium": (7, 25_000, 10_000, 2_000)}
#: The tables whose row counts the demo prints (the registry's order).
DEMO_TABLES = (
    "bronze.events",
    "silver.events",
    "silver.events_quarantine",
    "gold.user_features",
    "gold.video_features",
)


def demo_report(config: Config, storage: Any, generated: Any, seconds: dict[str, float]) -> dict[str, Any]:
    """What the tables hold, read through the storage adapter (nothing is recomputed)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from medallion.tables import FEATURE_TABLES, QUALITY_RESULTS, SILVER_QUARANTINE, SILVER_RUNS, by_key

    def read(spec, where: str | None = None):
        table = spec.location(config)
        return storage.read(table, where=where) if storage.exists(table) else None

    rows = {key: (df.count() if (df := read(by_key(key))) is not None else None) for key in DEMO_TABLES}
    quarantine = read(SILVER_QUARANTINE)
    reasons = quarantine.select(F.explode("reasons").alias("r")).groupBy("r").count().collect()
    runs = read(SILVER_RUNS)
    duplicates = runs.agg(F.sum("duplicates_dropped")).first()[0] or 0
    quality = []
    if (results := read(QUALITY_RESULTS)) is not None:
        latest = Window.partitionBy("table_name").orderBy(F.col("checked_at").desc())
        newest = results.withColumn("n", F.row_number().over(latest)).where("n = 1")
        for r in newest.orderBy("table_name").collect():
            quality.append(
                {
                    "table": r["table_name"],
                    "status": r["status"],
                    "score": r["quality_score"],
                    "failed": list(r["failed_expectation_names"]),
                }
            )
    top: dict[str, Any] = {}
    for spec in FEATURE_TABLES:
        key, name = spec.entity_key, spec.name
        latest_date = read(spec).agg(F.max("feature_date")).first()[0]
        best = []
        if latest_date is not None:
            features = read(spec, where=f"feature_date = DATE '{latest_date.isoformat()}'")
            best = features.orderBy(F.desc("watch_time_7d"), key).limit(5).collect()
        top[name] = {"feature_date": latest_date, "top": [[r[key], r["watch_time_7d"]] for r in best]}
    truth = generated.as_dict()
    truth.pop("files")
    return {
        "root": config.root,
        "generated": truth,
        "rows": rows,
        "quarantine_reasons": {
            r["r"]: r["count"] for r in sorted(reasons, key=lambda x: (-x["count"], x["r"]))
        },
        "duplicates_dropped": duplicates,
        "quality": quality,
        "top_users": top["user_features"]["top"],
        "top_videos": top["video_features"]["top"],
        "feature_date": top["user_features"]["feature_date"],
        "seconds": seconds,
    }


def online_lookups(config: Config, users: list[str]) -> list[dict[str, Any]]:
    """The seed's real-time inference call for a few users, each timed (after one warm-up call)."""
    import time

    from medallion.serving.store import feature_store, online_target

    target = online_target(config)
    store = feature_store(config, target)
    refs = ["user_features:watch_time_7d", "user_features:video_count_7d"]
    out = []
    for user in users[:3]:
        store.get_online_features(features=refs, entity_rows=[{"user_id": user}])  # warm: connections
        started = time.perf_counter()
        values = store.get_online_features(features=refs, entity_rows=[{"user_id": user}]).to_dict()
        ms = (time.perf_counter() - started) * 1000
        out.append(
            {
                "user_id": user,
                "watch_time_7d": values["watch_time_7d"][0],
                "video_count_7d": values["video_count_7d"][0],
                "ms": ms,
                "store": target.kind,
            }
        )
    return out


def demo_text(r: dict[str, Any]) -> str:
    g, rows = r["generated"], r["rows"]

    def check(found: Any, expected: Any) -> str:
        return "matches the generator" if found == expected else f"MISMATCH: the generator wrote {expected}"

    def top(pairs: list) -> str:
        return ", ".join(f"{key} {seconds:,.0f} s" for key, seconds in pairs) or "-"

    lines = [
        "",
        f"medallion demo summary (warehouse {r['root']})",
        f"  landing    {g['events']:>9,} records: {g['valid_events']:,} valid events, {g['duplicates']:,} "
        f"re-deliveries, {g['invalid_total']:,} invalid, {g['late']:,} late",
    ]
    expected = {
        "bronze.events": g["events"],
        "silver.events": g["valid_events"],
        "silver.events_quarantine": g["invalid_total"],
    }
    for table, n in rows.items():
        note = f"  ({check(n, expected[table])})" if table in expected else ""
        lines.append(f"  {table:<25} {'-' if n is None else format(n, ','):>9} rows{note}")
    dropped = r["duplicates_dropped"]
    lines.append(f"  duplicates dropped by silver: {dropped:,} ({check(dropped, g['duplicates'])})")
    reasons = ", ".join(f"{k} {v:,}" for k, v in r["quarantine_reasons"].items()) or "none"
    lines.append(f"  quarantine reasons: {reasons}")
    for q in r["quality"]:
        score = "-" if q["score"] is None else f"{q['score']:.2f}"
        failed = f", failed: {', '.join(q['failed'])}" if q["failed"] else ""
        lines.append(f"  quality {q['table']:<22} {q['status']} (score {score}{failed})")
    lines.append(f"  top 5 users by watch time (7 days to {r['feature_date']}): {top(r['top_users'])}")
    lines.append(f"  top 5 videos by watch time (7 days to {r['feature_date']}): {top(r['top_videos'])}")
    for o in r.get("online", []):
        lines.append(
            f"  online lookup user {o['user_id']}: watch_time_7d {o['watch_time_7d']}, video_count_7d "
            f"{o['video_count_7d']} ({o['ms']:.2f} ms, {o['store']})"
        )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
    lines.append(f"  time per stage: {stages}; total {sum(r['seconds'].values()):.1f} s")
    return "\n".join(lines)


def cmd_generate(args: argparse.Namespace) -> int:
    import datetime as dt

    from medallion.synthetic import SyntheticSpec, write_landing

    try:
        spec = SyntheticSpec(
            seed=args.seed,
            users=args.users,
            videos=args.videos,
            days=args.days,
            events_per_day=args.events_per_day,
            start_date=args.start_date,
            files_per_day=args.files_per_day,
            duplicate_rate=args.duplicate_rate,
            late_rate=args.late_rate,
            invalid_rate=args.invalid_rate,
        )
        summary = write_landing(spec, args.events, overwrite=args.overwrite)
    except FileExistsError as exc:
        raise ConfigError(f"{exc}: use another --events folder or --overwrite") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(summary.summary())
    if spec.end_date > dt.datetime.now(dt.timezone.utc).date():
        print("warning: events later than ingestion + 1 day are quarantined by silver", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_dict()))
    return EXIT_OK


def generate_arguments(p: argparse.ArgumentParser) -> None:
    from medallion.synthetic import SyntheticSpec

    d = SyntheticSpec()
    p.add_argument("--events", required=True, metavar="DIR", help="landing folder to write (created)")
    p.add_argument("--days", type=int, default=d.days, help=f"days of events (default: {d.days})")
    p.add_argument("--users", type=int, default=d.users, help=f"distinct users (default: {d.users})")
    p.add_argument("--videos", type=int, default=d.videos, help=f"distinct videos (default: {d.videos})")
    p.add_argument(
        "--events-per-day",
        type=int,
        default=d.events_per_day,
        help=f"records generated per day, mess included (default: {d.events_per_day})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="same seed, same bytes (default: 0)")
    p.add_argument("--start-date", default=d.start_date.isoformat(), help="first day, YYYY-MM-DD")
    p.add_argument("--files-per-day", type=int, default=d.files_per_day, help="landing files per day")
    for name, what in (
        ("duplicate_rate", "share of records that are re-delivered copies of valid events"),
        ("late_rate", "share of sessions arriving 2-5 days late"),
        ("invalid_rate", "share of records that are malformed or break the contract"),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=getattr(d, name),
            help=f"{what} (default: {getattr(d, name)})",
        )
    p.add_argument("--overwrite", action="store_true", help="replace landing files of the same name")
    p.add_argument("--json", action="store_true", help="also print a JSON summary line")


# --- demo: generate -> bronze -> silver -> gold (with their quality gates) -> maintenance ------
def cmd_demo(args: argparse.Namespace) -> int:
    import tempfile
    import time
    from pathlib import Path

    from medallion.demo import demo_report, demo_text
    from medallion.synthetic import SyntheticSpec, write_landing

    if args.root and Path(args.root).is_dir() and any(Path(args.root).iterdir()):
        raise ConfigError(f"--root {args.root} is not empty: the demo builds a fresh warehouse")
    root = Path(args.root or tempfile.mkdtemp(prefix="medallion-demo-")).absolute()
    days, per_day, users, videos = DEMO_SIZES[args.size]
    spec = SyntheticSpec(
        seed=args.seed,
        users=users,
        videos=videos,
        days=days,
        events_per_day=per_day,
        duplicate_rate=0.03,
        late_rate=0.03,
        invalid_rate=0.01,
    )
    config = start(
        args,
        environment="local",
        source="files",
        root=str(root),
        events_dir=str(root / "landing"),
        log_level=args.log_level or "WARNING",
    )
    stages = ["generate", "spark", "bronze", "silver", "gold", "materialize", "maintenance"]
    if args.no_maintenance:
        stages.remove("maintenance")
    step = iter(f"[{i}/{len(stages)}] {name}" for i, name in enumerate(stages, start=1))
    seconds: dict[str, float] = {}
    print(f"medallion demo: size {args.size}, seed {args.seed}, warehouse {root}")

    def timed(stage: str, func: Callable[[], Any], show: bool = False) -> Any:
        print(next(step), flush=True)
        started = time.monotonic()
        result = func()
        seconds[stage] = time.monotonic() - started
        if show:
            print(result.summary())
        print(f"      {stage}: {seconds[stage]:.1f} s", flush=True)
        return result

    generated = timed("generate", lambda: write_landing(spec, root / "landing"), show=True)
    spark, storage = timed("spark", lambda: spark_and_storage(config))
    gate, recorder = gate_for(config, storage), recorder_for(config, storage)  # as `medallion local`
    for layer in ("bronze", "silver", "gold"):
        timed(layer, lambda layer=layer: run_stage(layer, config, spark, storage, gate, recorder))
    from medallion.serving import job as serving_job

    # the online store: Redis when MEDALLION_REDIS_URL names one, else the embedded SQLite store
    timed("materialize", lambda: serving_job.run(config, spark, storage, recorder=recorder), show=True)
    if not args.no_maintenance:
        from medallion.maintenance import job as maintenance_job

        maintenance = timed(
            "maintenance", lambda: maintenance_job.run(config, spark, storage, recorder=recorder), show=True
        )
        if not maintenance.ok:
            raise JobFailedError(maintenance.failure_message())
    report = demo_report(config, storage, generated, seconds)
    report["online"] = online_lookups(config, [user for user, _ in report["top_users"]])
    print(demo_text(report))
    from medallion.report_cli import write_report

    print(f"  report (ops tables as charts): {write_report(config, storage, root / 'report.html')}")
    if args.json:
        print(json.dumps(report, default=str))
    gate.raise_for_alerts()
    return EXIT_OK


def demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root", default=None, metavar="DIR", help="empty or new folder (default: a new temp folder)"
    )
    p.add_argument(
        "--size",
        choices=("tiny", "small", "medium"),
        default="small",
        help="tiny is for tests (default: small)",
    )
    p.add_argument("--seed", type=int, default=0, help="synthetic events seed (default: 0)")
    p.add_argument("--no-maintenance", action="store_true", help="skip the maintenance stage")
    p.add_argument("--json", action="store_true", help="also print the summary as one JSON line")

"""``medallion demo``: sizes, and the summary read back from the tables (nothing recomputed)."""

from __future__ import annotations

from typing import Any

from medallion.config import Config

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
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
    lines.append(f"  time per stage: {stages}; total {sum(r['seconds'].values()):.1f} s")
    return "\n".join(lines)

"""``medallion demo`` at the tiny size on the session's Spark: every number of its summary is
checked against the tables it built (read here through the storage adapter) and against the
synthetic generator's ground truth."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from medallion.cli import main
from medallion.config import Config


@pytest.mark.slow
def test_demo_summary_matches_the_tables(spark, storage, engine, tmp_path, capsys):
    root = tmp_path / "demo"
    argv = ["demo", "--root", str(root), "--size", "tiny", "--seed", "5", "--shuffle-partitions", "2"]
    argv += ["--engine", engine]
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    config = Config(environment="local", root=str(root), engine=engine)

    def read(layer: str, name: str):
        return storage.read(config.table(layer, name))

    # progress per stage, every stage timed
    stages = ["generate", "spark", "bronze", "silver", "gold", "materialize", "maintenance"]
    assert list(report["seconds"]) == stages
    for i, stage in enumerate(stages, start=1):
        assert f"[{i}/{len(stages)}] {stage}" in out

    # rows per layer = the tables = the generator's ground truth
    for key, rows in report["rows"].items():
        assert read(*key.split(".")).count() == rows, key
    truth = report["generated"]
    assert report["rows"]["bronze.events"] == truth["events"] == 400
    assert report["rows"]["silver.events"] == truth["valid_events"]
    assert report["rows"]["silver.events_quarantine"] == truth["invalid_total"] > 0
    assert report["rows"]["gold.user_features"] > 0 and report["rows"]["gold.video_features"] > 0
    assert report["duplicates_dropped"] == truth["duplicates"] > 0
    runs = read("ops", "silver_runs").agg(F.sum("duplicates_dropped")).first()[0]
    assert runs == report["duplicates_dropped"]

    reasons = read("silver", "events_quarantine").select(F.explode("reasons").alias("r")).groupBy("r").count()
    assert report["quarantine_reasons"] == {r["r"]: r["count"] for r in reasons.collect()}
    assert report["quarantine_reasons"] == truth["expected_quarantine_reasons"]

    # the quality gates of every stage, as recorded (latest check per table)
    checks = read("ops", "quality_results").orderBy("checked_at").collect()
    recorded = {r["table_name"]: (r["status"], r["quality_score"]) for r in checks}
    assert {q["table"]: (q["status"], q["score"]) for q in report["quality"]} == recorded
    assert set(recorded) >= {"bronze.events", "silver.events", "gold.user_features", "gold.video_features"}
    assert all(q["status"] == "passed" for q in report["quality"])

    # top 5 by watch time on the latest feature date, from gold
    for key, name, top in (
        ("user_id", "user_features", "top_users"),
        ("video_id", "video_features", "top_videos"),
    ):
        gold = read("gold", name)
        latest = gold.agg(F.max("feature_date")).first()[0]
        assert report["feature_date"] == latest.isoformat()
        expected = gold.where(F.col("feature_date") == F.lit(latest)).orderBy(F.desc("watch_time_7d"), key)
        assert report[top] == [[r[key], r["watch_time_7d"]] for r in expected.limit(5).collect()]
        assert len(report[top]) == 5
        if name == "user_features":  # the online lookups of the top users answer what gold says
            rows = {r[key]: r for r in expected.limit(3).collect()}
            assert [o["user_id"] for o in report["online"]] == list(rows)
            for o in report["online"]:
                assert o["store"] == "sqlite" and o["ms"] > 0
                assert (o["watch_time_7d"], o["video_count_7d"]) == (
                    rows[o["user_id"]]["watch_time_7d"],
                    rows[o["user_id"]]["video_count_7d"],
                )

    # the readable summary says the same
    summary = out[out.index("medallion demo summary") :]
    for key, rows in report["rows"].items():
        assert f"{key:<25} {rows:>9,} rows" in summary
    assert "MISMATCH" not in summary and summary.count("matches the generator") == 4
    for q in report["quality"]:
        assert f"quality {q['table']:<22} {q['status']}" in summary
    assert report["top_users"][0][0] in summary and report["top_videos"][0][0] in summary
    assert "time per stage: generate" in summary
    assert f"online lookup user {report['online'][0]['user_id']}: watch_time_7d" in summary

    # the report page of the ops tables, written into the warehouse (tests/test_report.py opens one)
    page = root.absolute() / "report.html"
    assert f"  report (ops tables as charts): {page}" in summary.splitlines()
    html = page.read_text()
    assert html.count('class="plotly-graph-div"') == 6 and "no data yet" not in html


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "something").write_text("x")
    assert main(["demo", "--root", str(tmp_path), "--size", "tiny"]) == 2
    assert "is not empty" in capsys.readouterr().err

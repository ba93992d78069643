"""chispa tests of the pure silver transforms: every validation rule and reason code, casting,
within-batch deduplication."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from chispa import assert_df_equality

from medallion.contract import EventContract, load_contract
from medallion.silver.transforms import (
    date_in_predicate,
    dedup_window_dates,
    deduplicate,
    to_events,
    to_quarantine,
    validate,
)
from medallion.tables import SILVER_EVENTS
from medallion.tables.schemas import QUARANTINE_SCHEMA

UTC = dt.timezone.utc
INGESTED = dt.datetime(2026, 1, 10, 12, 0)  # naive = UTC in Spark (session time zone UTC)
RUN = dt.datetime(2026, 1, 10, 13, 0, tzinfo=UTC)
TS = 1_768_003_200_000  # 2026-01-10T00:00:00Z
BRONZE_COLS = "body binary, source string, source_partition string, source_offset long, source_key binary, enqueued_time timestamp, source_properties map<string,string>, source_file string, ingestion_time timestamp, ingestion_batch_id long, ingestion_date date, bronze_version long"  # noqa: E501


def event(**overrides) -> dict:
    base = {
        "event_id": "e1",
        "event_type": "watch",
        "user_id": "u1",
        "video_id": "v1",
        "timestamp": TS,
        "watch_time_ms": 1500,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def bronze_df(spark, bodies, *, offsets=None, enqueued=None, partitions=None):
    rows = []
    for i, body in enumerate(bodies):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        rows.append(
            (
                bytearray(raw),
                "kafka",
                (partitions or {}).get(i, "0"),
                (offsets or {}).get(i, i),
                None,
                (enqueued or {}).get(i, INGESTED),
                None,
                None,
                INGESTED,
                3,
                INGESTED.date(),
                7,
            )
        )
    return spark.createDataFrame(rows, BRONZE_COLS)


@pytest.fixture(scope="module")
def contract() -> EventContract:
    return load_contract(1)


def reasons_of(spark, contract, body) -> list[str]:
    return validate(bronze_df(spark, [body]), contract).first()["reasons"]


RULE_CASES = [
    (event(), []),
    (event(event_type="like", watch_time_ms=_DROP), []),
    # watch_time_ms is ignored (not validated) for other event types
    (event(event_type="share", watch_time_ms=-5), []),
    (event(video_duration_ms=0, schema_version=1, extra_field={"x": 1}), []),
    (b"", ["empty_body"]),
    (b'{"event_id": "e1", \xff\xfe}', ["invalid_utf8"]),
    (b'{"event_id": "e1", ', ["malformed_json"]),
    (b"   ", ["malformed_json"]),
    (b'{"event_id": "a", "event_id": "b"}', ["malformed_json"]),
    (b"[1, 2]", ["not_json_object"]),
    (b'"just a string"', ["not_json_object"]),
    (event(user_id=_DROP), ["missing_field:user_id"]),
    (event(event_id=None), ["missing_field:event_id"]),
    (event(video_id=_DROP, user_id=_DROP), ["missing_field:user_id", "missing_field:video_id"]),
    (event(event_type=_DROP), ["missing_field:event_type"]),
    (event(timestamp=_DROP), ["missing_field:timestamp"]),
    (event(watch_time_ms=_DROP), ["missing_field:watch_time_ms"]),
    (event(watch_time_ms=None), ["missing_field:watch_time_ms"]),
    (event(user_id=42), ["invalid_type:user_id"]),
    (event(event_id=["e1"]), ["invalid_type:event_id"]),
    (event(timestamp=str(TS)), ["invalid_type:timestamp"]),
    (event(timestamp=TS + 0.5), ["invalid_type:timestamp"]),
    (event(watch_time_ms="10"), ["invalid_type:watch_time_ms"]),
    (event(watch_time_ms=True), ["invalid_type:watch_time_ms"]),
    (event(video_duration_ms=1.5), ["invalid_type:video_duration_ms"]),
    (event(schema_version="1"), ["invalid_type:schema_version"]),
    (event(event_id=""), ["invalid_value:event_id"]),
    (event(user_id=""), ["invalid_value:user_id"]),
    (event(video_id=""), ["invalid_value:video_id"]),
    (event(event_type="dance"), ["unknown_event_type"]),
    (event(event_type=""), ["unknown_event_type"]),
    (event(event_type="WATCH"), ["unknown_event_type"]),
    (event(watch_time_ms=-1), ["invalid_value:watch_time_ms"]),
    (event(watch_time_ms=86_400_001), ["invalid_value:watch_time_ms"]),
    (event(video_duration_ms=-1), ["invalid_value:video_duration_ms"]),
    (event(timestamp=946_684_799_999), ["timestamp_out_of_range"]),
    # ingestion time + 1 day is the latest accepted event time
    (event(timestamp=1_768_046_400_000 + 86_400_000), []),
    (event(timestamp=1_768_046_400_000 + 86_400_001), ["timestamp_out_of_range"]),
    (
        {"event_id": "", "event_type": "dance", "user_id": 5, "timestamp": "x"},
        [
            "invalid_value:event_id",
            "unknown_event_type",
            "invalid_type:user_id",
            "missing_field:video_id",
            "invalid_type:timestamp",
        ],
    ),
]


@pytest.fixture(scope="module")
def rule_results(spark, contract) -> list[list[str]]:
    """All rule cases validated in ONE Spark job (one row each, in order)."""
    df = bronze_df(spark, [body for body, _ in RULE_CASES])
    rows = validate(df, contract).select("source_offset", "reasons").collect()
    return [r["reasons"] for r in sorted(rows, key=lambda r: r["source_offset"])]


@pytest.mark.parametrize("case", range(len(RULE_CASES)), ids=lambda i: f"case{i}-{RULE_CASES[i][1]}")
def test_validation_rules_and_reason_codes(rule_results, case):
    body, expected = RULE_CASES[case]
    assert rule_results[case] == expected, body


def test_integral_numbers_written_as_decimals_are_integers(spark, contract):
    body = json.dumps(event()).replace('"watch_time_ms": 1500', '"watch_time_ms": 1500.0').encode()
    assert b"1500.0" in body
    assert reasons_of(spark, contract, body) == []


def test_valid_rows_are_cast(spark, contract):
    bodies = [
        event(video_duration_ms=60_000),
        event(event_id="e2", event_type="like", timestamp=TS - 1, watch_time_ms=99),
        b"not json",
    ]
    validated = validate(bronze_df(spark, bodies), contract)
    out = to_events(validated, contract, RUN).drop("processed_time").orderBy("event_id")
    expected = spark.createDataFrame(
        [
            ("e1", "watch", "u1", "v1", TS, 1500, 60_000, 1, dt.datetime(2026, 1, 10), dt.date(2026, 1, 10)),
            # like: watch_time_ms ignored (null); one ms before midnight is the previous UTC date
            (
                "e2",
                "like",
                "u1",
                "v1",
                TS - 1,
                None,
                None,
                1,
                dt.datetime(2026, 1, 9, 23, 59, 59, 999000),
                dt.date(2026, 1, 9),
            ),
        ],
        "event_id string, event_type string, user_id string, video_id string, timestamp long, "
        "watch_time_ms long, video_duration_ms long, schema_version long, "
        "event_ts timestamp, event_date date",
    )
    lineage = [
        "source",
        "source_partition",
        "source_offset",
        "source_file",
        "enqueued_time",
        "ingestion_time",
        "ingestion_batch_id",
        "bronze_version",
    ]
    assert_df_equality(out.drop(*lineage), expected, ignore_nullable=True)
    row = out.first()
    assert (row["source"], row["source_offset"], row["ingestion_batch_id"], row["bronze_version"]) == (
        "kafka",
        0,
        3,
        7,
    )


def test_event_date_does_not_depend_on_session_time_zone(spark, contract):
    validated = validate(bronze_df(spark, [event(timestamp=TS - 1)]), contract)
    spark.conf.set("spark.sql.session.timeZone", "Asia/Shanghai")
    try:
        assert to_events(validated, contract, RUN).first()["event_date"] == dt.date(2026, 1, 9)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_quarantine_keeps_the_full_bronze_row(spark, contract):
    bodies = [event(), b"\xff\xfe garbage", event(event_id="e3", user_id="")]
    validated = validate(bronze_df(spark, bodies), contract)
    q = to_quarantine(validated, contract, RUN, [f.name for f in QUARANTINE_SCHEMA.fields])
    assert q.columns == [f.name for f in QUARANTINE_SCHEMA.fields]
    rows = sorted(q.collect(), key=lambda r: r["source_offset"])
    assert [bytes(r["body"]) for r in rows] == [
        b"\xff\xfe garbage",
        json.dumps(event(event_id="e3", user_id="")).encode(),
    ]
    assert [r["reasons"] for r in rows] == [["invalid_utf8"], ["invalid_value:user_id"]]
    assert all(
        r["contract_version"] == 1 and r["quarantined_time"] == dt.datetime(2026, 1, 10, 13) for r in rows
    )
    assert all(r["bronze_version"] == 7 and r["ingestion_batch_id"] == 3 for r in rows)


def test_every_row_is_either_valid_or_quarantined(spark, contract):
    bodies = [event(event_id=f"e{i}") for i in range(5)] + [b"{", b"", event(user_id=3)]
    validated = validate(bronze_df(spark, bodies), contract)
    q = to_quarantine(validated, contract, RUN, [f.name for f in QUARANTINE_SCHEMA.fields]).count()
    v = to_events(validated, contract, RUN).count()
    assert (q, v) == (3, 5)


def test_dedup_first_delivered_wins(spark, contract):
    t = dt.datetime(2026, 1, 10, 12)
    bodies = [
        event(event_id="a", watch_time_ms=1),  # enqueued later
        event(event_id="a", watch_time_ms=2),  # earliest enqueued: wins
        event(event_id="b", watch_time_ms=3),  # same time, partition 1
        event(event_id="b", watch_time_ms=4),  # same time, partition 0, higher offset
        event(event_id="b", watch_time_ms=5),  # same time, partition 0, lower offset: wins
        event(event_id="c", watch_time_ms=6),  # partition "10" sorts after "9" numerically
        event(event_id="c", watch_time_ms=7),
        event(event_id="d", timestamp=TS + 86_400_000),  # a copy with a different timestamp
        event(event_id="d", timestamp=TS),
    ]
    df = bronze_df(
        spark,
        bodies,
        enqueued={0: t + dt.timedelta(seconds=5), 1: t, 7: t, 8: t + dt.timedelta(seconds=1)},
        partitions={2: "1", 3: "0", 4: "0", 5: "10", 6: "9"},
        offsets={3: 50, 4: 40, 5: 1, 6: 2},
    )
    events = to_events(validate(df, contract), contract, RUN)
    out = deduplicate(events).select("event_id", "watch_time_ms", "event_date").orderBy("event_id")
    expected = spark.createDataFrame(
        [
            ("a", 2, dt.date(2026, 1, 10)),
            ("b", 5, dt.date(2026, 1, 10)),
            ("c", 7, dt.date(2026, 1, 10)),
            ("d", 1500, dt.date(2026, 1, 11)),
        ],
        "event_id string, watch_time_ms long, event_date date",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_dedup_window_and_predicate():
    d = dt.date(2026, 1, 10)
    assert dedup_window_dates([d], 0) == [d]
    assert dedup_window_dates([d, d + dt.timedelta(days=1)], 1) == [
        d - dt.timedelta(days=1),
        d,
        d + dt.timedelta(days=1),
        d + dt.timedelta(days=2),
    ]
    assert date_in_predicate("event_date", [d, d]) == "event_date IN (DATE '2026-01-10')"
    assert date_in_predicate("event_date", []) == "FALSE"


def test_naive_run_time_is_rejected(spark, contract):
    validated = validate(bronze_df(spark, [event()]), contract)
    with pytest.raises(ValueError, match="timezone-aware"):
        to_events(validated, contract, dt.datetime(2026, 1, 1))


def test_silver_merge_sql_on_databricks():
    """The MERGE the spark-delta engine runs for a silver batch (it cannot execute here)."""
    from medallion.config import Config
    from medallion.silver.plan import dedup_target
    from medallion.storage.sql import build_merge_sql

    table = Config(environment="databricks", catalog="prod", schema_prefix="").table(*SILVER_EVENTS.id)
    dates = [dt.date(2026, 1, 10), dt.date(2026, 1, 12)]
    statement = build_merge_sql(
        table, "batch", ["event_id"], insert_only=True, target_filter=dedup_target(dates, 1, "t")
    )
    assert statement == (
        "MERGE INTO `prod`.`silver`.`events` AS t USING `batch` AS s ON t.`event_id` = s.`event_id` "
        "AND (t.event_date IN (DATE '2026-01-09', DATE '2026-01-10', DATE '2026-01-11', "
        "DATE '2026-01-12', DATE '2026-01-13')) WHEN NOT MATCHED THEN INSERT *"
    )

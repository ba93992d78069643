"""The single-node reference: contract validation, dedup and the 7-day user and video features
computed in DuckDB straight from the landing files, the yardstick the Spark pipeline is measured
against (and checked against: :func:`compare_with_pipeline`).

What it computes, with the pipeline's semantics:

* **Read + validate.** DuckDB reads the JSON-lines files itself (``read_ndjson`` with an explicit
  column list: every contract field as ``JSON``, so a value's JSON type survives and ``"123"`` is
  told from ``123``). Every landing line is a record, as in bronze (DuckDB counts them, empty and
  non-UTF-8 lines included). The rules come from the contract (:mod:`medallion.contract`):
  required fields (absent or JSON null), types (``integer`` accepts any integral number up to
  2^53 in exponent form, as silver does), enum values, ``minimum``/``maximum``/``minLength``,
  conditional requirements (``watch_time_ms`` for watch events, null in silver otherwise),
  defaults, and silver's timestamp range (from 2000-01-01 to ingestion + 1 day). A line the JSON
  reader cannot read (malformed, not UTF-8, empty) is quarantined, as silver quarantines it.
* **Dedup.** On silver's key (``event_id``, the registry's primary key of ``silver.events``),
  over valid rows only; the first delivered copy wins as in
  :func:`medallion.silver.transforms.delivery_order`: earliest enqueued time (a landing file's
  modification time), then position in the file, then file name.
* **Features.** :mod:`medallion.gold.transforms` in SQL: feature date D aggregates the events whose
  UTC ``event_date`` (from the event's own timestamp: late events count on the day they happened,
  not the day they arrived) lies in ``[D-6, D]``; rows for every D from an entity's event date to
  six days later, clipped to the latest event date in silver (gold's full mode); additive
  aggregates summed from daily rows, distinct counts over distinct (entity, date, other id)
  triples, doubles from one final division. Column names, order and types are the gold tables'.

Known differences, none of which the synthetic generator produces: DuckDB's JSON reader accepts
duplicate keys and splits two objects written on one line into two records, where silver
quarantines the line (``malformed_json`` / ``multiple_json_values``); landing files are read
plain or gzip-compressed only.

    .venv/bin/python benchmarks/reference.py --landing DIR
    .venv/bin/python benchmarks/reference.py --generate 1000000           # into a scratch folder

From another benchmark (same process, same landing files)::

    from reference import compare_with_pipeline, run_reference
    ref = run_reference(landing_dir)        # ReferenceResult: seconds per step, counts, frames
    mismatches = compare_with_pipeline(ref, storage, config)   # {"user_features": 0, ...}
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from common import add_event_arguments, event_spec, machine, scratch_root  # before medallion: fixes sys.path

from medallion.contract import ContractField, EventContract, load_contract
from medallion.gold.schema import WINDOW_DAYS
from medallion.silver.transforms import (
    MAX_EXACT_DOUBLE_INTEGER,
    MAX_FUTURE_MS,
    MIN_EVENT_TIME_MS,
    MS_PER_DAY,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN_EVENT_TYPE,
    invalid_type,
    invalid_value,
    missing_field,
)
from medallion.tables import SILVER_EVENTS, USER_FEATURES, VIDEO_FEATURES

if TYPE_CHECKING:
    import pandas as pd

    from medallion.config import Config
    from medallion.storage import DeltaStorage

#: Steps of a reference run, in order (keys of :attr:`ReferenceResult.seconds`).
STEPS = ("read_validate", "dedup", "features")
#: A line the JSON reader could not read (malformed JSON, not UTF-8, not an object, empty).
UNREADABLE = "unreadable_line"
_READABLE_SUFFIXES = ("", ".json", ".jsonl", ".ndjson", ".txt", ".gz", ".gzip")
_SQL_TYPES = {
    "StringType()": "VARCHAR",
    "DateType()": "DATE",
    "DoubleType()": "DOUBLE",
    "LongType()": "BIGINT",
    "TimestampType()": "TIMESTAMP",
}


@dataclass
class ReferenceResult:
    """One reference run: counts as silver reports them, the gold frames, seconds per step."""

    files: int
    rows_read: int  # landing lines = bronze rows
    rows_inserted: int  # valid unique events = silver rows
    rows_quarantined: int
    duplicates_dropped: int
    quarantine_reasons: dict[str, int]
    user_features: pd.DataFrame
    video_features: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    first_feature_date: dt.date | None = None
    last_feature_date: dt.date | None = None

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.rows_inserted + self.rows_quarantined + self.duplicates_dropped

    def summary(self) -> str:
        return (
            f"reference: {self.files} files, {self.rows_read:,} read = {self.rows_inserted:,} silver rows"
            f" + {self.rows_quarantined:,} quarantined + {self.duplicates_dropped:,} duplicates;"
            f" {len(self.user_features):,} user and {len(self.video_features):,} video feature rows"
            f" ({self.first_feature_date} .. {self.last_feature_date}); {self.total_seconds:.2f} s"
        )


# --- landing files -----------------------------------------------------------------------------
def landing_files(landing_dir: str | os.PathLike[str]) -> list[Path]:
    """The files bronze's files source reads in ``landing_dir`` (hidden and ``_`` names skipped),
    sorted by name; a compression DuckDB cannot read raises ValueError."""
    files = sorted(
        p for p in Path(landing_dir).iterdir() if p.is_file() and not p.name.startswith((".", "_"))
    )
    unreadable = [p.name for p in files if p.suffix.lower() not in _READABLE_SUFFIXES]
    if unreadable:
        raise ValueError(f"the reference reads plain and gzip JSON lines only, not {unreadable[:3]}")
    return files


def _sql_list(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return repr(value)


def _ident(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"invalid column name {name!r}")
    return f'"{name}"'


# --- validation (silver's rules, from the contract) ----------------------------------------
_TARGET = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}


def _raw(f: ContractField) -> str:
    return _ident("raw_" + f.name)


def _present(f: ContractField) -> str:
    return f"({_raw(f)} IS NOT NULL AND json_type({_raw(f)}) <> 'NULL')"


def _type_ok(f: ContractField) -> str:
    raw = _raw(f)
    jtype = f"json_type({raw})"
    if f.type == "string":
        return f"({jtype} = 'VARCHAR')"
    if f.type == "boolean":
        return f"({jtype} = 'BOOLEAN')"
    as_double = f"TRY_CAST({raw}->>'$' AS DOUBLE)"
    integral = (
        f"({jtype} IN ('BIGINT', 'UBIGINT') AND TRY_CAST({raw}->>'$' AS BIGINT) IS NOT NULL"
        f" OR {jtype} = 'DOUBLE' AND {as_double} = floor({as_double})"
        f" AND abs({as_double}) <= {MAX_EXACT_DOUBLE_INTEGER})"
    )
    if f.type == "integer":
        return integral
    return f"({integral} OR {jtype} = 'DOUBLE')"  # number


def _value(f: ContractField) -> str:
    """The field's value in its SQL type (meaningful where its type is right)."""
    raw = _raw(f)
    if f.type == "integer":  # an integral double (1.795e12) is read as a double first
        return (
            f"CASE WHEN json_type({raw}) = 'DOUBLE' THEN TRY_CAST(TRY_CAST({raw}->>'$' AS DOUBLE) AS BIGINT)"
            f" ELSE TRY_CAST({raw}->>'$' AS BIGINT) END"
        )
    return f"TRY_CAST({raw}->>'$' AS {_TARGET[f.type]})"


def _applies(f: ContractField) -> str:
    if not f.required_when:
        return "TRUE"
    conds = [
        f"{_ident('raw_' + other)}->>'$' = {_literal(str(value))}" for other, value in f.required_when.items()
    ]
    return f"coalesce({' AND '.join(conds)}, FALSE)"


def _field_reasons(f: ContractField) -> list[str]:
    """SQL expressions, each a reason code or NULL (silver's ``_field_reasons``)."""
    applies, present = _applies(f), _present(f)
    type_ok, value = _ident("ok_" + f.name), _ident("val_" + f.name)
    reasons = []
    if f.required or f.required_when:
        reasons.append(f"CASE WHEN {applies} AND NOT {present} THEN {_literal(missing_field(f.name))} END")
    checked = f"({applies} AND {present})"
    reasons.append(f"CASE WHEN {checked} AND NOT {type_ok} THEN {_literal(invalid_type(f.name))} END")
    valid_type = f"({checked} AND {type_ok})"
    if f.enum is not None:
        code = UNKNOWN_EVENT_TYPE if f.name == "event_type" else invalid_value(f.name)
        reasons.append(
            f"CASE WHEN {valid_type} AND {value} NOT IN {tuple(f.enum)!r} THEN {_literal(code)} END"
        )
    bad = []
    if f.min_length is not None:
        bad.append(f"length({value}) < {f.min_length}")
    if f.minimum is not None:
        bad.append(f"{value} < {f.minimum!r}")
    if f.maximum is not None:
        bad.append(f"{value} > {f.maximum!r}")
    if bad:
        cond = " OR ".join(bad)
        reasons.append(f"CASE WHEN {valid_type} AND ({cond}) THEN {_literal(invalid_value(f.name))} END")
    return reasons


def _validation_sql(contract: EventContract, files: Sequence[Path], ingestion_ms: int) -> str:
    """One row per record read by ``read_ndjson``: position, file, typed values, reasons."""
    fields = contract.fields
    columns = "{" + ", ".join(f"{_ident(f.name)}: 'JSON'" for f in fields) + "}"
    source = (
        f"read_ndjson({_sql_list([str(p) for p in files])}, columns={columns}, filename=true,"
        " ignore_errors=true, compression='auto_detect')"
    )
    typed = ", ".join(
        f"{_type_ok(f)} AS {_ident('ok_' + f.name)}, {_value(f)} AS {_ident('val_' + f.name)}" for f in fields
    )
    reasons = [r for f in fields for r in _field_reasons(f)]
    if "timestamp" in contract.names:
        ts = contract.field("timestamp")
        out_of_range = (
            f"val_timestamp < {MIN_EVENT_TIME_MS} OR val_timestamp > {ingestion_ms + MAX_FUTURE_MS}"
        )
        reasons.append(
            f"CASE WHEN {_present(ts)} AND ok_timestamp AND ({out_of_range})"
            f" THEN {_literal(TIMESTAMP_OUT_OF_RANGE)} END"
        )
    unreadable = " AND ".join(f"{_raw(f)} IS NULL" for f in fields)
    reason_list = (
        f"CASE WHEN {unreadable} THEN [{_literal(UNREADABLE)}]"
        f" ELSE list_filter([{', '.join(reasons)}], lambda x: x IS NOT NULL) END"
    )
    silver_cols = []
    for f in fields:
        value = _ident("val_" + f.name)
        if f.default is not None:
            value = f"coalesce({value}, CAST({_literal(f.default)} AS {_TARGET[f.type]}))"
        if f.required_when:
            value = f"CASE WHEN {_applies(f)} THEN {value} END"
        silver_cols.append(f"{value} AS {_ident(f.name)}")
    raw = ", ".join(f"{_ident(f.name)} AS {_raw(f)}" for f in fields)
    return f"""
        SELECT source_file, _pos, {", ".join(silver_cols)}, {reason_list} AS reasons
        FROM (
            SELECT *, {typed}
            FROM (SELECT filename AS source_file, row_number() OVER () AS _pos, {raw} FROM {source})
        )
    """


# --- features (gold's transforms, in SQL) ------------------------------------------------------
def _entity_features_sql(entity: str, other: str, window_days: int) -> str:
    e, o = _ident(entity), _ident(other)
    known = "event_type = 'watch' AND watch_time_ms IS NOT NULL AND video_duration_ms > 0"
    return f"""
        WITH bounds AS (SELECT max(event_date) AS last_date FROM silver),
        daily AS (
            SELECT {e} AS entity, event_date,
                   sum(CASE WHEN event_type = 'watch' THEN watch_time_ms END) AS watch_ms,
                   count(*) FILTER (WHERE event_type = 'watch') AS watch_count,
                   count(*) FILTER (WHERE event_type = 'like') AS like_count,
                   count(*) FILTER (WHERE event_type = 'share') AS share_count,
                   count(*) FILTER (WHERE event_type = 'comment') AS comment_count,
                   max(event_ts) AS last_event_ts,
                   sum(CASE WHEN {known} THEN least(watch_time_ms, video_duration_ms) END) AS completed_ms,
                   sum(CASE WHEN {known} THEN video_duration_ms END) AS duration_ms
            FROM silver GROUP BY ALL
        ),
        windowed AS (
            SELECT entity, event_date + CAST(k AS INTEGER) AS feature_date,
                   sum(watch_ms) AS watch_ms, sum(watch_count) AS watch_count,
                   sum(like_count) AS like_count, sum(share_count) AS share_count,
                   sum(comment_count) AS comment_count, count(*) AS active_days,
                   max(last_event_ts) AS last_event_ts,
                   sum(completed_ms) AS completed_ms, sum(duration_ms) AS duration_ms
            FROM daily, bounds,
                 unnest(range(0, least({window_days - 1}, last_date - event_date) + 1)) AS t(k)
            GROUP BY ALL
        ),
        watched AS (
            SELECT DISTINCT {e} AS entity, event_date, {o} AS other FROM silver WHERE event_type = 'watch'
        ),
        distinct_other AS (
            SELECT entity, event_date + CAST(k AS INTEGER) AS feature_date, count(DISTINCT other) AS n
            FROM watched, bounds,
                 unnest(range(0, least({window_days - 1}, last_date - event_date) + 1)) AS t(k)
            GROUP BY ALL
        )
        SELECT w.entity AS {e}, w.feature_date,
               CAST(coalesce(w.watch_ms, 0) AS DOUBLE) / 1000.0::DOUBLE AS watch_time_7d,
               CAST(coalesce(d.n, 0) AS BIGINT) AS distinct_other,
               CAST(w.watch_count AS BIGINT) AS watch_count_7d,
               CAST(w.like_count AS BIGINT) AS like_count_7d,
               CAST(w.share_count AS BIGINT) AS share_count_7d,
               CAST(w.comment_count AS BIGINT) AS comment_count_7d,
               CAST(w.active_days AS BIGINT) AS active_days_7d,
               w.last_event_ts,
               CASE WHEN w.watch_count > 0 THEN (CAST(coalesce(w.watch_ms, 0) AS DOUBLE) / 1000.0::DOUBLE)
                    / CAST(w.watch_count AS DOUBLE) END AS avg_watch_time_7d,
               CASE WHEN w.duration_ms > 0 THEN CAST(w.completed_ms AS DOUBLE) / CAST(w.duration_ms AS DOUBLE)
                    END AS completion_ratio_7d
        FROM windowed w LEFT JOIN distinct_other d USING (entity, feature_date)
    """


def _conform_sql(inner: str, schema, renames: dict[str, str]) -> str:
    """The gold table's columns, in its order and types, from ``inner`` (columns renamed by
    ``renames``, inner name -> table name)."""
    inner_name = {table: name for name, table in renames.items()}
    cols = [
        f"CAST({_ident(inner_name.get(f.name, f.name))} AS {_SQL_TYPES[repr(f.dataType)]})"
        f" AS {_ident(f.name)}"
        for f in schema.fields
    ]
    return f"SELECT {', '.join(cols)} FROM ({inner}) ORDER BY 1, 2"


def user_features_sql(window_days: int = WINDOW_DAYS) -> str:
    inner = _entity_features_sql("user_id", "video_id", window_days)
    return _conform_sql(inner, USER_FEATURES.schema, {"distinct_other": "video_count_7d"})


def video_features_sql(window_days: int = WINDOW_DAYS) -> str:
    inner = _entity_features_sql("video_id", "user_id", window_days)
    renames = {"distinct_other": "unique_viewers_7d", "watch_count_7d": "view_count_7d"}
    return _conform_sql(inner, VIDEO_FEATURES.schema, renames)


# --- the run -----------------------------------------------------------------------------------
def run_reference(
    landing_dir: str | os.PathLike[str],
    contract: EventContract | None = None,
    *,
    ingestion_time: dt.datetime | None = None,
    window_days: int = WINDOW_DAYS,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> ReferenceResult:
    """Validate, dedup and compute both feature tables from the landing files of ``landing_dir``
    on one in-memory DuckDB connection (see the module docstring).

    ``contract``: silver's contract (default: the latest version, as silver loads it);
    ``ingestion_time``: the upper bound of valid event times is this + 1 day, as silver's is
    bronze's ingestion time + 1 day (default: now); ``threads``/``memory_limit``: DuckDB settings
    (default: DuckDB's, i.e. every core).
    """
    contract = contract or load_contract()
    ingested = ingestion_time or dt.datetime.now(dt.timezone.utc)
    if ingested.tzinfo is None:
        raise ValueError("ingestion_time must be timezone-aware (UTC)")
    ingestion_ms = int(ingested.timestamp() * 1000)
    files = landing_files(landing_dir)
    if not files:
        raise ValueError(f"no landing files in {landing_dir}")
    key = SILVER_EVENTS.primary_key[0]
    seconds: dict[str, float] = {}
    con = duckdb.connect(":memory:")
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            con.execute(f"SET memory_limit = {_literal(memory_limit)}")
        started = time.perf_counter()
        con.execute("CREATE TEMP TABLE file_times (source_file VARCHAR, enqueued_us BIGINT)")
        con.executemany(
            "INSERT INTO file_times VALUES (?, ?)", [(str(p), p.stat().st_mtime_ns // 1000) for p in files]
        )
        con.execute(f"CREATE TEMP TABLE validated AS {_validation_sql(contract, files, ingestion_ms)}")
        lines = con.sql(
            f"SELECT count(*) FROM read_csv({_sql_list([str(p) for p in files])},"
            " columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false,"
            " auto_detect=false, ignore_errors=true,"
            " store_rejects=true, rejects_table='landing_rejects', rejects_scan='landing_scans')"
        ).fetchall()[0][0]
        rejected = con.sql("SELECT count(*) FROM landing_rejects").fetchall()[0][0]
        rows_read = int(lines) + int(rejected)
        counts = con.sql(
            "SELECT count(*), count(*) FILTER (WHERE len(reasons) = 0) FROM validated"
        ).fetchall()[0]
        parsed, valid = int(counts[0]), int(counts[1])
        reasons = dict(
            con.sql(
                "SELECT reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM validated) GROUP BY 1"
            ).fetchall()
        )
        if rows_read > parsed:  # lines the JSON reader skipped (empty ones)
            reasons[UNREADABLE] = reasons.get(UNREADABLE, 0) + rows_read - parsed
        seconds["read_validate"] = time.perf_counter() - started

        started = time.perf_counter()
        # first delivered copy wins: enqueued time (the file's modification time), the record's
        # position in its file (the reader's order, which is the file's; the empty lines it skips
        # are not counted), then the file (medallion.silver.transforms.delivery_order)
        con.execute(
            f"""
            CREATE TEMP TABLE silver AS
            WITH starts AS (SELECT source_file, min(_pos) AS first_pos FROM validated GROUP BY 1)
            SELECT v.* EXCLUDE (reasons, source_file, _pos),
                   make_timestamp(v."timestamp" * 1000) AS event_ts,
                   CAST(DATE '1970-01-01' + CAST(floor(v."timestamp" / {MS_PER_DAY}) AS INTEGER) AS DATE)
                       AS event_date
            FROM validated v JOIN file_times f USING (source_file) JOIN starts s USING (source_file)
            WHERE len(v.reasons) = 0
            QUALIFY row_number() OVER (
                PARTITION BY v.{_ident(key)} ORDER BY f.enqueued_us, v._pos - s.first_pos, v.source_file
            ) = 1
            """
        )
        inserted = con.sql("SELECT count(*) FROM silver").fetchall()[0][0]
        seconds["dedup"] = time.perf_counter() - started

        started = time.perf_counter()
        users = con.sql(user_features_sql(window_days)).df()
        videos = con.sql(video_features_sql(window_days)).df()
        first, last = con.sql("SELECT min(event_date), max(event_date) FROM silver").fetchall()[0]
        seconds["features"] = time.perf_counter() - started
    finally:
        con.close()
    return ReferenceResult(
        files=len(files),
        rows_read=rows_read,
        rows_inserted=int(inserted),
        rows_quarantined=rows_read - valid,
        duplicates_dropped=valid - int(inserted),
        quarantine_reasons=reasons,
        user_features=users,
        video_features=videos,
        seconds=seconds,
        first_feature_date=first,
        last_feature_date=last,
    )


# --- comparison with the pipeline's gold tables -----------------------------------------------
#: Relative and absolute tolerance of float features.
FLOAT_TOLERANCE = 1e-9


def _normalized(df: pd.DataFrame, schema) -> pd.DataFrame:
    """Comparable columns: dates as ISO strings, timestamps as epoch milliseconds (UTC)."""
    import pandas as pd

    out = df[[f.name for f in schema.fields]].copy()
    for f in schema.fields:
        kind = repr(f.dataType)
        if kind == "DateType()":
            out[f.name] = pd.to_datetime(out[f.name]).dt.strftime("%Y-%m-%d")
        elif kind == "TimestampType()":
            ts = pd.to_datetime(out[f.name])
            if ts.dt.tz is not None:
                ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
            out[f.name] = ts.astype("datetime64[us]").astype("int64") // 1000
    return out


def compare_frames(reference: pd.DataFrame, pipeline: pd.DataFrame, schema) -> int:
    """Rows that differ between two feature frames of the table ``schema``: keys on one side only,
    plus rows whose values differ (floats within :data:`FLOAT_TOLERANCE`, nulls equal nulls)."""
    import numpy as np

    keys = [f.name for f in schema.fields[:2]]
    left, right = _normalized(reference, schema), _normalized(pipeline, schema)
    both = left.merge(right, on=keys, how="outer", suffixes=("_ref", "_pipe"), indicator=True)
    bad = both["_merge"] != "both"
    for f in schema.fields[2:]:
        a, b = both[f"{f.name}_ref"], both[f"{f.name}_pipe"]
        if repr(f.dataType) == "DoubleType()":
            x, y = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
            same = np.isclose(x, y, rtol=FLOAT_TOLERANCE, atol=FLOAT_TOLERANCE, equal_nan=True)
        else:
            same = ((a == b) | (a.isna() & b.isna())).to_numpy()
        bad |= ~same
    return int(bad.sum())


def read_gold(storage: DeltaStorage, config: Config) -> dict[str, pd.DataFrame]:
    """The pipeline's gold feature tables as pandas frames, read through the storage adapter."""
    from pyspark.sql import functions as F

    out = {}
    for spec in (USER_FEATURES, VIDEO_FEATURES):
        df = storage.read(spec.location(config))
        if "last_event_ts" in df.columns:  # epoch milliseconds: independent of the session time zone
            df = df.withColumn("last_event_ts", F.timestamp_millis(F.unix_millis("last_event_ts")))
        out[spec.name] = df.select(*[f.name for f in spec.schema.fields]).toPandas()
    return out


def compare_with_pipeline(result: ReferenceResult, storage: DeltaStorage, config: Config) -> dict[str, int]:
    """Mismatching rows per gold table (``user_features``, ``video_features``) between the reference
    and the pipeline's tables (read through ``storage``); all zero when every value agrees."""
    gold = read_gold(storage, config)
    return {
        USER_FEATURES.name: compare_frames(
            result.user_features, gold[USER_FEATURES.name], USER_FEATURES.schema
        ),
        VIDEO_FEATURES.name: compare_frames(
            result.video_features, gold[VIDEO_FEATURES.name], VIDEO_FEATURES.schema
        ),
    }


# --- command line ------------------------------------------------------------------------------
def print_result(result: ReferenceResult) -> None:
    n = result.rows_read
    print(result.summary())
    print(f"reference (DuckDB {duckdb.__version__}, one in-memory connection):")
    for step in STEPS:
        s = result.seconds[step]
        print(f"  {step:<14}: {s:6.2f} s  {n / s if s else float('inf'):>12,.0f} events/s")
    total = result.total_seconds
    print(
        f"  {'total':<14}: {total:6.2f} s  {n / total if total else float('inf'):>12,.0f} events/s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", default=None, help="landing folder of JSON-lines files to read")
    parser.add_argument(
        "--generate",
        type=int,
        default=None,
        metavar="N",
        help="generate N events into a scratch folder first",
    )
    add_event_arguments(parser, events=1_000_000, days=10)
    parser.add_argument("--root", default=None, help="scratch folder (kept); default: a temp dir, removed")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder at the end")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: every core)")
    args = parser.parse_args(argv)
    if (args.landing is None) == (args.generate is None):
        parser.error("give exactly one of --landing DIR and --generate N")
    print(f"machine: {machine()}", flush=True)
    if args.landing is not None:
        print_result(run_reference(args.landing, threads=args.threads))
        return 0
    args.events = args.generate
    with scratch_root(args.root, "bench-reference", keep=args.keep) as scratch:
        from medallion.synthetic import write_landing

        generated = write_landing(event_spec(args), scratch / "landing")
        print(generated.summary(), flush=True)
        result = run_reference(scratch / "landing", threads=args.threads)
        print_result(result)
        if (result.rows_inserted, result.rows_read) != (generated.valid_events, generated.events):
            raise SystemExit(
                f"reference: {result.rows_inserted:,} silver rows of {result.rows_read:,}, the generator"
                f" wrote {generated.valid_events:,} valid unique events of {generated.events:,}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

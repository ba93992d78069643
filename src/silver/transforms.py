"""Pure silver transforms: parse bronze bodies against the event contract, validate, cast,
split valid from quarantined rows, and deduplicate.

Parsing uses Spark's VARIANT (``try_parse_json``), which keeps each JSON value's real type, so
``"123"`` (a string) and ``123`` (an integer) are told apart without a second parse.

Reason codes (machine-readable, one row can carry several):

=============================  =====================================================
``empty_body``                 the body is empty
``invalid_utf8``               the body is not valid UTF-8
``malformed_json``             not parseable JSON (including duplicate keys, ``NaN``/``Infinity``
                               and nesting deeper than 1,000 levels)
``trailing_content``           one JSON value followed by something that is not JSON
``multiple_json_values``       more than one JSON value, e.g. two events on one line
``invalid_unicode_escape``     a ``\ud800``-``\udfff`` escape that is not half of a pair
``not_json_object``            valid JSON, but not an object (array, string, number)
``missing_field:<f>``          a required field is absent or JSON null
``invalid_type:<f>``           present with the wrong JSON type
``invalid_value:<f>``          right type, value breaks a rule (empty string, bounds)
``unknown_event_type``         event_type is not in the contract's set
``timestamp_out_of_range``     before 2000-01-01T00:00:00Z or after ingestion + 1 day
=============================  =====================================================

A body must be exactly one JSON object with only JSON whitespace around it; a leading UTF-8
byte-order mark is ignored (RFC 8259 section 8.1). Spark's parser stops after the first value,
so :mod:`medallion.silver.strict_json` checks the rest (a vectorised Python UDF).

An ``integer`` field accepts any number whose value is integral: ``123``, ``123.0`` and
``1.795e12`` alike (a number in exponent form is read as a double, so it must be at most
2^53 in magnitude to be exact); ``123.5`` is ``invalid_type``.

Rules come from the contract (required, type, enum, bounds, minLength); a conditionally
required field (``watch_time_ms`` for watch events) is validated only when its condition holds
and is null in silver otherwise (the contract says it is ignored for other types).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, TimestampType

from medallion.contract import ContractField, EventContract
from medallion.silver.strict_json import (
    MALFORMED_JSON,
    body_problem,
)

MIN_EVENT_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_FUTURE_MS = 86_400_000  # events may be at most one day ahead of their ingestion
MS_PER_DAY = 86_400_000

EMPTY_BODY = "empty_body"
INVALID_UTF8 = "invalid_utf8"
NOT_JSON_OBJECT = "not_json_object"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
MAX_EXACT_DOUBLE_INTEGER = 2**53
_SPARK_TARGET = {"string": "string", "integer": "bigint", "number": "double", "boolean": "boolean"}

# internal column names (dropped before anything is written)
_TEXT, _JSON, _STRICT = "_body_text", "_body_json", "_body_problem"


@F.pandas_udf(StringType())  # type: ignore[call-overload]
def body_problems(bodies: pd.Series) -> pd.Series:
    """:func:`medallion.silver.strict_json.body_problem` over a batch of bodies."""
    return bodies.map(body_problem)


def missing_field(name: str) -> str:
    return f"missing_field:{name}"


def invalid_type(name: str) -> str:
    return f"invalid_type:{name}"


def invalid_value(name: str) -> str:
    return f"invalid_value:{name}"


def _raw_col(name: str) -> str:
    return f"_raw_{name}"


def _type_col(name: str) -> str:
    return f"_jtype_{name}"


def _val_col(name: str) -> str:
    return f"_val_{name}"


def _present(name: str) -> Column:
    raw = F.col(_raw_col(name))
    return raw.isNotNull() & ~F.is_variant_null(raw)


def _type_ok(f: ContractField) -> Column:
    jtype = F.col(_type_col(f.name))
    if f.type == "string":
        return jtype == "STRING"
    if f.type == "boolean":
        return jtype == "BOOLEAN"
    as_long = F.try_variant_get(F.col(_raw_col(f.name)), "$", "bigint")
    as_double = F.try_variant_get(F.col(_raw_col(f.name)), "$", "double")
    integral = (
        jtype.isin(*_INTEGER_TYPES)
        | (jtype.rlike(r"^DECIMAL\(\d+,0\)$") & as_long.isNotNull())
        | (  # exponent form (1.795e12) parses as a double: integral and exact
            jtype.isin("DOUBLE", "FLOAT")
            & (as_double == F.floor(as_double))
            & (F.abs(as_double) <= F.lit(MAX_EXACT_DOUBLE_INTEGER))
        )
    )
    if f.type == "integer":
        return integral
    return integral | jtype.startswith("DECIMAL") | jtype.isin("DOUBLE", "FLOAT")  # number


def typed_value(f: ContractField) -> Column:
    """The field's value cast to its Spark type (only meaningful where the type is right)."""
    return F.col(_val_col(f.name))


def _applies(f: ContractField) -> Column:
    """True where the field's rules apply: always, or when its condition holds."""
    if not f.required_when:
        return F.lit(True)
    cond = F.lit(True)
    for other, value in f.required_when.items():
        cond = cond & (F.try_variant_get(F.col(_raw_col(other)), "$", "string") == F.lit(str(value)))
    return F.coalesce(cond, F.lit(False))


def _field_reasons(f: ContractField) -> list[Column]:
    applies = _applies(f)
    present = _present(f.name)
    type_ok = F.col(f"_ok_{f.name}")
    value = typed_value(f)
    reasons: list[Column] = []
    if f.required or f.required_when:
        reasons.append(F.when(applies & ~present, F.lit(missing_field(f.name))))
    checked = applies & present
    reasons.append(F.when(checked & ~type_ok, F.lit(invalid_type(f.name))))
    valid_type = checked & type_ok
    if f.enum is not None:
        code = UNKNOWN_EVENT_TYPE if f.name == "event_type" else invalid_value(f.name)
        reasons.append(F.when(valid_type & ~value.isin(*f.enum), F.lit(code)))
    bad_value = F.lit(False)
    if f.min_length is not None:
        bad_value = bad_value | (F.length(value) < f.min_length)
    if f.minimum is not None:
        bad_value = bad_value | (value < F.lit(f.minimum))
    if f.maximum is not None:
        bad_value = bad_value | (value > F.lit(f.maximum))
    reasons.append(F.when(valid_type & bad_value, F.lit(invalid_value(f.name))))
    return reasons


def _timestamp_reason(contract: EventContract) -> list[Column]:
    if "timestamp" not in contract.names:
        return []
    f = contract.field("timestamp")
    ts = typed_value(f)
    upper = F.unix_millis(F.col("ingestion_time")) + F.lit(MAX_FUTURE_MS)
    out_of_range = (ts < F.lit(MIN_EVENT_TIME_MS)) | (ts > upper)
    return [
        F.when(_present("timestamp") & F.col("_ok_timestamp") & out_of_range, F.lit(TIMESTAMP_OUT_OF_RANGE))
    ]


def validate(bronze: DataFrame, contract: EventContract) -> DataFrame:
    """Bronze rows (+ ``bronze_version``) -> the same rows plus ``reasons`` (array<string>,
    empty when valid) and internal ``_``-prefixed columns used by :func:`to_events`.

    The body is parsed once; each field is extracted once, then typed once, in separate
    projections, so the many rules below reuse those columns instead of re-walking the JSON.
    """
    text = F.col("body").cast(StringType())
    unmarked = F.regexp_replace(F.col(_TEXT), "^\ufeff", "")  # a leading byte-order mark
    parsed = (
        bronze.withColumn(_TEXT, text)
        .withColumn(_JSON, F.when(F.is_valid_utf8(F.col(_TEXT)), F.try_parse_json(unmarked)))
        .withColumn(_STRICT, F.when(F.col(_JSON).isNotNull(), body_problems(F.col("body"))))
    )
    extracted = parsed.select(
        "*",
        *[
            F.variant_get(F.col(_JSON), f"$.{f.name}", "variant").alias(_raw_col(f.name))
            for f in contract.fields
        ],
    )
    typed = extracted.select(
        "*",
        *[F.schema_of_variant(F.col(_raw_col(f.name))).alias(_type_col(f.name)) for f in contract.fields],
        *[
            F.try_variant_get(F.col(_raw_col(f.name)), "$", _SPARK_TARGET[f.type]).alias(_val_col(f.name))
            for f in contract.fields
        ],
    )
    checked = typed.select("*", *[_type_ok(f).alias(f"_ok_{f.name}") for f in contract.fields])
    field_reasons = [r for f in contract.fields for r in _field_reasons(f)] + _timestamp_reason(contract)
    content_reasons = F.array_compact(F.array(*field_reasons))  # no lambda: stays in codegen
    reasons = (
        F.when(F.col("body").isNull() | (F.length(F.col("body")) == 0), F.array(F.lit(EMPTY_BODY)))
        .when(~F.is_valid_utf8(F.col(_TEXT)), F.array(F.lit(INVALID_UTF8)))
        .when(F.col(_JSON).isNull(), F.array(F.lit(MALFORMED_JSON)))
        .when(F.col(_STRICT).isNotNull(), F.array(F.col(_STRICT)))
        .when(~F.schema_of_variant(F.col(_JSON)).startswith("OBJECT"), F.array(F.lit(NOT_JSON_OBJECT)))
        .otherwise(content_reasons)
    )
    return checked.withColumn("reasons", reasons)


def to_quarantine(
    validated: DataFrame, contract: EventContract, quarantined_time: dt.datetime, columns: Sequence[str]
) -> DataFrame:
    """Invalid rows: the full bronze row, its reasons, the contract version and the run time,
    in the quarantine table's column order ``columns``."""
    out = (
        validated.where(F.size("reasons") > 0)
        .withColumn("contract_version", F.lit(contract.version).cast(IntegerType()))
        .withColumn("quarantined_time", F.lit(_utc(quarantined_time)).cast(TimestampType()))
    )
    return out.select(*columns)


def to_events(validated: DataFrame, contract: EventContract, processed_time: dt.datetime) -> DataFrame:
    """Valid rows cast to silver columns: a typed column per contract field (defaults applied,
    conditional fields null where their condition does not hold), event_ts / event_date (UTC,
    independent of the session time zone) and bronze lineage."""
    valid = validated.where(F.size("reasons") == 0)
    contract_cols = []
    for f in contract.fields:
        value = typed_value(f)
        if f.default is not None:
            value = F.coalesce(value, F.lit(f.default).cast(_SPARK_TARGET[f.type]))
        if f.required_when:
            value = F.when(_applies(f), value)
        contract_cols.append(value.alias(f.name))
    ts = typed_value(contract.field("timestamp"))
    return valid.select(
        *contract_cols,
        F.timestamp_millis(ts).alias("event_ts"),
        F.date_add(F.lit(dt.date(1970, 1, 1)), F.floor(ts / MS_PER_DAY).cast(IntegerType())).alias(
            "event_date"
        ),
        "source",
        "source_partition",
        "source_offset",
        "source_file",
        "enqueued_time",
        "ingestion_time",
        "ingestion_batch_id",
        F.col("bronze_version").cast(LongType()).alias("bronze_version"),
        F.lit(_utc(processed_time)).cast(TimestampType()).alias("processed_time"),
    )


def delivery_order() -> list[Column]:
    """First delivered first: earliest enqueued time, then partition (numerically where it is a
    number) and offset; bronze version, file and batch make the order total."""
    return [
        F.col("enqueued_time").asc_nulls_last(),
        F.expr("try_cast(source_partition AS BIGINT)").asc_nulls_last(),
        F.col("source_partition").asc_nulls_last(),
        F.col("source_offset").asc_nulls_last(),
        F.col("bronze_version").asc_nulls_last(),
        F.col("ingestion_batch_id").asc_nulls_last(),
        F.col("source_file").asc_nulls_last(),
    ]


def deduplicate(events: DataFrame, key: str = "event_id") -> DataFrame:
    """Keep the first delivered copy of each event_id within the batch."""
    w = Window.partitionBy(key).orderBy(*delivery_order())
    return events.withColumn("_copy", F.row_number().over(w)).where(F.col("_copy") == 1).drop("_copy")


def dedup_window_dates(event_dates: Sequence[dt.date], lookback_days: int) -> list[dt.date]:
    """Target partitions a MERGE must look at for the batch's event dates: each date widened by
    ``lookback_days`` either side (so a re-delivered copy whose timestamp crossed midnight is
    still found), sorted and unique."""
    out = {d + dt.timedelta(days=k) for d in event_dates for k in range(-lookback_days, lookback_days + 1)}
    return sorted(out)


def date_in_predicate(column: str, dates: Sequence[dt.date]) -> str:
    """SQL ``<column> IN (DATE '...', ...)`` for the storage adapter."""
    if not dates:
        return "FALSE"
    literals = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(set(dates)))
    return f"{column} IN ({literals})"


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("times passed to silver transforms must be timezone-aware (UTC)")
    return value.astimezone(dt.timezone.utc)

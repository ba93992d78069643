"""The expectation suites of the quality gates, one set per layer, as readable code.

Each validated table has a *row suite*, validated against the candidate DataFrame (the rows
about to be merged, appended or about to replace partitions), and optionally a *batch suite*,
validated against a small derived *batch-metrics frame*: the checks that are about the run as a
whole rather than about single rows (quarantine rate, "not empty when input was read", row count
of each recomputed feature date). Keeping those as ordinary column expectations on a one- or
few-row DataFrame makes them real GX expectations with the same results, names and
unexpected-value samples as the row checks.

Every expectation carries a short stable name in ``meta["name"]``; that name is what failure
messages, the results table (``unexpected_percent`` keys) and MLflow metrics use.

==============  =============================================================================
suite           expectations
==============  =============================================================================
bronze.events   body, source, ingestion_time, ingestion_batch_id, ingestion_date not null
  (batch)       rows >= 1 when inputs_read > 0 (records framed from new landing files or broker records read)
silver.events   event_id not null, event_id unique, user_id / video_id not null, event_type in
                the contract's enum, watch_time_ms in [0, 86 400 000] and not null for watch
                events, event_date in [min_event_date, max_event_date]
  (batch)       quarantine_rate = rows_quarantined / rows_read <= max_quarantine_rate
gold.user_      user_id / feature_date not null, (user_id, feature_date) unique, every
features        ``*_count_7d`` >= 0, watch_time_7d >= 0, active_days_7d in [1, 7],
                video_count_7d <= watch_count_7d
gold.video_     video_id / feature_date not null, (video_id, feature_date) unique, every
features        ``*_count_7d`` and unique_viewers_7d >= 0, watch_time_7d >= 0
  (batch)       rows >= 1 for each recomputed feature date whose window had silver events
==============  =============================================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medallion.config import ConfigError
from medallion.contract import load_contract
from medallion.gold.schema import WINDOW_DAYS

# Great Expectations is imported by the functions that build suites, not with this module: a job
# run that validates nothing (nothing new, or gates off) never pays its import (seconds).
if TYPE_CHECKING:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from pyspark.sql import DataFrame

    from medallion.config import Config
    from medallion.tables import TableSpec

MAX_WATCH_TIME_MS = int(load_contract().field("watch_time_ms").maximum)  # the event contract's bound
#: Oldest event date silver accepts: the same bound as silver's own validation
#: (``timestamp_out_of_range`` below 2000-01-01), so late events are never blocked by the gate.
DEFAULT_MIN_EVENT_DATE = dt.date(2000, 1, 1)
#: Default newest accepted event date: today (UTC) plus this many days of producer clock skew.
DEFAULT_MAX_FUTURE_DAYS = 1

BRONZE_NOT_NULL = ("body", "source", "ingestion_time", "ingestion_batch_id", "ingestion_date")
USER_COUNTS = ("video_count_7d", "watch_count_7d", "like_count_7d")
VIDEO_COUNTS = ("view_count_7d", "unique_viewers_7d", "like_count_7d")


def named(expectation: gxe.Expectation, name: str) -> gxe.Expectation:
    """Give an expectation its stable short name (kept in ``meta``)."""
    expectation.meta = {**(expectation.meta or {}), "name": name}
    return expectation


def _suite(name: str, expectations: Sequence[gxe.Expectation]) -> gx.ExpectationSuite:
    import great_expectations as gx

    # The constructor, not add_expectation(): that one needs an active GX data context.
    return gx.ExpectationSuite(name=name, expectations=list(expectations))


def _not_null(column: str) -> gxe.Expectation:
    import great_expectations.expectations as gxe

    return named(gxe.ExpectColumnValuesToNotBeNull(column=column), f"{column}_not_null")


def _non_negative(column: str) -> gxe.Expectation:
    import great_expectations.expectations as gxe

    return named(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0), f"{column}_non_negative")


# --- bronze --------------------------------------------------------------------------------
def bronze_events_suite() -> gx.ExpectationSuite:
    """bronze.events rows: the raw body and the ingestion metadata are never null."""
    return _suite("bronze.events", [_not_null(c) for c in BRONZE_NOT_NULL])


def bronze_batch_suite() -> gx.ExpectationSuite:
    """bronze batch metrics {inputs_read, rows}: a batch that read files/offsets wrote rows."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    return _suite(
        "bronze.events.batch",
        [
            named(
                gxe.ExpectColumnValuesToBeBetween(
                    column="rows", min_value=1, row_condition=Column("inputs_read") > 0
                ),
                "batch_not_empty_when_input_read",
            )
        ],
    )


# --- silver --------------------------------------------------------------------------------
def silver_events_suite(
    event_types: Sequence[str], min_event_date: dt.date, max_event_date: dt.date
) -> gx.ExpectationSuite:
    """silver.events candidate rows (the new, deduplicated events about to be merged)."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    if min_event_date > max_event_date:
        raise ConfigError(f"accepted event_date range is empty: {min_event_date} > {max_event_date}")
    watch = Column("event_type") == "watch"
    return _suite(
        "silver.events",
        [
            _not_null("event_id"),
            named(gxe.ExpectColumnValuesToBeUnique(column="event_id"), "event_id_unique"),
            _not_null("user_id"),
            _not_null("video_id"),
            named(
                gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=sorted(event_types)),
                "event_type_in_contract",
            ),
            named(
                gxe.ExpectColumnValuesToBeBetween(
                    column="watch_time_ms", min_value=0, max_value=MAX_WATCH_TIME_MS, row_condition=watch
                ),
                "watch_time_ms_in_range_for_watch",
            ),
            named(
                gxe.ExpectColumnValuesToNotBeNull(column="watch_time_ms", row_condition=watch),
                "watch_time_ms_not_null_for_watch",
            ),
            named(
                gxe.ExpectColumnValuesToBeBetween(
                    column="event_date", min_value=min_event_date, max_value=max_event_date
                ),
                "event_date_in_accepted_range",
            ),
        ],
    )


def silver_batch_suite(max_quarantine_rate: float) -> gx.ExpectationSuite:
    """silver batch metrics {rows_read, rows_quarantined, quarantine_rate}."""
    import great_expectations.expectations as gxe

    if not 0.0 <= max_quarantine_rate <= 1.0:
        raise ConfigError(f"max_quarantine_rate={max_quarantine_rate} is not within [0, 1]")
    return _suite(
        "silver.events.batch",
        [
            named(
                gxe.ExpectColumnValuesToBeBetween(
                    column="quarantine_rate", min_value=0.0, max_value=max_quarantine_rate
                ),
                "quarantine_rate_at_most_max",
            )
        ],
    )


# --- gold ----------------------------------------------------------------------------------
def _count_columns(required: Sequence[str], columns: Sequence[str] | None) -> list[str]:
    """The issue's count columns plus every other ``*_count_7d`` column the table has."""
    extra = [c for c in (columns or ()) if c.endswith("_count_7d") and c not in required]
    return [*required, *extra]


def _feature_keys(entity: str) -> list:
    """Keys of a gold feature table: entity and feature_date not null, unique together."""
    import great_expectations.expectations as gxe

    return [
        _not_null(entity),
        _not_null("feature_date"),
        named(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=[entity, "feature_date"]),
            f"{entity}_feature_date_unique",
        ),
    ]


def gold_user_features_suite(columns: Sequence[str] | None = None) -> gx.ExpectationSuite:
    """gold.user_features rows of the recomputed feature dates."""
    import great_expectations.expectations as gxe

    return _suite(
        "gold.user_features",
        [
            *_feature_keys("user_id"),
            *[_non_negative(c) for c in _count_columns(USER_COUNTS, columns)],
            _non_negative("watch_time_7d"),
            named(
                gxe.ExpectColumnValuesToBeBetween(column="active_days_7d", min_value=1, max_value=7),
                "active_days_7d_in_1_7",
            ),
            named(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="watch_count_7d",
                    column_B="video_count_7d",
                    or_equal=True,
                    # a null count is not compared (what GX's Spark engine did implicitly), on
                    # both GX engines alike
                    ignore_row_if="either_value_is_missing",
                ),
                "video_count_7d_le_watch_count_7d",
            ),
        ],
    )


def gold_video_features_suite(columns: Sequence[str] | None = None) -> gx.ExpectationSuite:
    """gold.video_features rows of the recomputed feature dates."""
    return _suite(
        "gold.video_features",
        [
            *_feature_keys("video_id"),
            *[_non_negative(c) for c in _count_columns(VIDEO_COUNTS, columns)],
            _non_negative("watch_time_7d"),
        ],
    )


def gold_batch_suite(table: str) -> gx.ExpectationSuite:
    """gold batch metrics, one row per recomputed date {feature_date, silver_events, rows}."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    return _suite(
        f"gold.{table}.batch",
        [
            named(
                gxe.ExpectColumnValuesToBeBetween(
                    column="rows", min_value=1, row_condition=Column("silver_events") > 0
                ),
                "rows_per_recomputed_date",
            )
        ],
    )


# --- batch-metrics frames ------------------------------------------------------------------
# Each builder returns the rows (dicts in column order) and the DDL schema of the frame.
BatchRows = tuple[list[dict[str, Any]], str]


def _bronze_batch_rows(df: DataFrame, metrics: Mapping[str, Any]) -> BatchRows:
    rows = metrics.get("rows")
    rows = df.count() if rows is None else int(rows)
    return [{"inputs_read": int(metrics["inputs_read"]), "rows": rows}], "inputs_read long, rows long"


def _silver_batch_rows(df: DataFrame, metrics: Mapping[str, Any]) -> BatchRows:
    read = int(metrics["rows_read"])
    quarantined = int(metrics["rows_quarantined"])
    rate = metrics.get("quarantine_rate")
    rate = (quarantined / read if read else 0.0) if rate is None else float(rate)
    return (
        [{"rows_read": read, "rows_quarantined": quarantined, "quarantine_rate": rate}],
        "rows_read long, rows_quarantined long, quarantine_rate double",
    )


def _gold_batch_rows(df: DataFrame, metrics: Mapping[str, Any]) -> BatchRows:
    silver_events = {as_date(k): int(v) for k, v in dict(metrics["silver_events"]).items()}
    rows = metrics.get("rows")
    if rows is None:
        rows = {r[0]: int(r[1]) for r in df.groupBy("feature_date").count().collect()}
    else:
        rows = {as_date(k): int(v) for k, v in dict(rows).items()}
    data = [
        {"feature_date": d, "silver_events": silver_events[d], "rows": rows.get(d, 0)}
        for d in sorted(silver_events)
    ]
    return data, "feature_date date, silver_events long, rows long"


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def feature_dates(ranges: Any) -> list[dt.date]:
    """Every date of inclusive ``(start, end)`` ranges, sorted."""
    spans = [(as_date(start), (as_date(end) - as_date(start)).days) for start, end in ranges]
    return sorted({start + dt.timedelta(days=k) for start, days in spans for k in range(days + 1)})


def events_per_window(per_day: Mapping[Any, int], dates: Sequence[dt.date]) -> dict[dt.date, int]:
    """For each feature date, the events of its window ``[date - 6, date]`` from events per day."""
    counts = {as_date(d): int(n) for d, n in per_day.items() if d is not None}
    return {d: sum(counts.get(d - dt.timedelta(days=k), 0) for k in range(WINDOW_DAYS)) for d in dates}


GOLD_BATCH_METRICS = (
    "silver_events ({feature_date: n}) or feature_ranges ([(start, end)]: counted from"
    " silver_events_per_day ({event_date: n}) when given, else from silver)",
    "rows (optional: counted)",
)


# --- registry ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteSpec:
    """How to validate one table: its row suite, and optionally a batch suite with the builder of
    the batch-metrics frame it runs on. ``batch_metrics`` documents the keys a job passes."""

    layer: str
    table: str
    rows: Callable[[Mapping[str, Any]], gx.ExpectationSuite]
    batch: Callable[[Mapping[str, Any]], gx.ExpectationSuite] | None = None
    batch_frame: Callable[[DataFrame, Mapping[str, Any]], BatchRows] | None = None
    batch_metrics: tuple[str, ...] = ()
    batch_ready: Callable[[Mapping[str, Any]], bool] = lambda metrics: False

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"


#: Every suite, by name (``<layer>.<table>``, what a TableSpec names as its ``quality_suite``).
SUITES: dict[str, SuiteSpec] = {
    "bronze.events": SuiteSpec(
        "bronze",
        "events",
        rows=lambda p: bronze_events_suite(),
        batch=lambda p: bronze_batch_suite(),
        batch_frame=_bronze_batch_rows,
        batch_metrics=("inputs_read", "rows (optional: counted)"),
        batch_ready=lambda m: "inputs_read" in m,
    ),
    "silver.events": SuiteSpec(
        "silver",
        "events",
        rows=lambda p: silver_events_suite(p["event_types"], p["min_event_date"], p["max_event_date"]),
        batch=lambda p: silver_batch_suite(p["max_quarantine_rate"]),
        batch_frame=_silver_batch_rows,
        batch_metrics=("rows_read", "rows_quarantined"),
        batch_ready=lambda m: "rows_read" in m and "rows_quarantined" in m,
    ),
    "gold.user_features": SuiteSpec(
        "gold",
        "user_features",
        rows=lambda p: gold_user_features_suite(p.get("columns")),
        batch=lambda p: gold_batch_suite("user_features"),
        batch_frame=_gold_batch_rows,
        batch_metrics=GOLD_BATCH_METRICS,
        batch_ready=lambda m: "silver_events" in m or "feature_ranges" in m,
    ),
    "gold.video_features": SuiteSpec(
        "gold",
        "video_features",
        rows=lambda p: gold_video_features_suite(p.get("columns")),
        batch=lambda p: gold_batch_suite("video_features"),
        batch_frame=_gold_batch_rows,
        batch_metrics=GOLD_BATCH_METRICS,
        batch_ready=lambda m: "silver_events" in m or "feature_ranges" in m,
    ),
}


def suite_of(table: TableSpec) -> SuiteSpec:
    """The suite the registry names for ``table`` (its ``quality_suite``)."""
    if table.quality_suite is None or table.quality_suite not in SUITES:
        raise ConfigError(f"no quality suite for {table.key} (tables with one: {', '.join(SUITES)})")
    return SUITES[table.quality_suite]


def default_params(config: Config, table: TableSpec, today: dt.date | None = None) -> dict[str, Any]:
    """Suite parameters from the config: contract event types, accepted event-date range
    (:data:`DEFAULT_MIN_EVENT_DATE` .. today + :data:`DEFAULT_MAX_FUTURE_DAYS`), max rate."""
    if table.layer != "silver":
        return {}
    from medallion.contract import load_contract

    today = today or dt.datetime.now(dt.timezone.utc).date()
    contract = load_contract(config.contract_version or None)
    return {
        "event_types": list(contract.field("event_type").enum or ()),
        "min_event_date": DEFAULT_MIN_EVENT_DATE,
        "max_event_date": today + dt.timedelta(days=DEFAULT_MAX_FUTURE_DAYS),
        "max_quarantine_rate": config.max_quarantine_rate,
    }

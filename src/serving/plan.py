"""Pure transforms of the serving layer (DataFrames in, DataFrames out, no I/O).

What the online store holds
---------------------------
For every entity gold has ever seen, the online store answers what gold says for its **latest
feature date** L: the entity's row of L when it was active in that 7-day window, otherwise the
*inactive* values (:func:`inactive_values`): every count and total 0, ``last_event_ts`` and the
averages/ratios null - exactly how a missing gold row reads ("no activity in 7 days"). It never
keeps serving the numbers of an older window. Entities gold has never seen are absent (null).

Every row carries the view's event timestamp, L + 1 day at 00:00 UTC (see
:mod:`medallion.serving.definitions`).

What a materialisation writes
-----------------------------
:func:`changed_rows` compares gold's rows of L (``current``) with the rows the online store was
last given (``served``, kept in ``ops.online_<view>``): it writes the rows that are new or differ
in any feature (null-safe), and an inactive row for every served entity (or, in a full
materialisation, every entity of gold) that has no row of L. Nothing else is touched.

Training sets
-------------
:func:`training_set` joins labelled examples with the features *known before each label's
date*: the row of feature date ``to_date(label_ts) - 1`` (events up to the end of the previous
day; never the label's own day). No row there means the entity had no activity in that window
(inactive values) when gold has computed that date, and unknown (null) when it has not yet.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType, IntegerType, LongType

from medallion.serving.definitions import EVENT_TIMESTAMP, ViewSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

FEATURE_DATE = "feature_date"
#: Boolean column of :func:`changed_rows`: the row is an inactive row (not written to Feast).
INACTIVE = "_inactive"
LABEL_TS = "label_ts"
_ZERO_TYPES = (LongType, IntegerType, DoubleType, FloatType)


def inactive_values(view: ViewSpec) -> dict[str, Any]:
    """The feature values of an entity without activity in the window: 0 for the counts and
    totals (the columns gold never leaves null), null for the rest."""
    fields = {f.name: f for f in view.table.schema_for().fields}
    values: dict[str, Any] = {}
    for name in view.feature_names:
        field = fields[name]
        if isinstance(field.dataType, _ZERO_TYPES) and not field.nullable:
            values[name] = 0.0 if isinstance(field.dataType, (DoubleType, FloatType)) else 0
        else:
            values[name] = None
    return values


def _inactive_columns(view: ViewSpec) -> list[Column]:
    fields = {f.name: f for f in view.table.schema_for().fields}
    return [
        F.lit(value).cast(fields[name].dataType).alias(name) for name, value in inactive_values(view).items()
    ]


def available_at(feature_date: dt.date) -> dt.datetime:
    """The moment the row of ``feature_date`` becomes known: the next day at 00:00 UTC."""
    return dt.datetime.combine(feature_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def served_columns(rows: DataFrame, view: ViewSpec) -> DataFrame:
    """The entity key and features of gold (or served) rows, in the view's order."""
    return rows.select(view.join_key, *view.feature_names)


def changed_rows(
    current: DataFrame,
    served: DataFrame,
    view: ViewSpec,
    latest: dt.date,
    every_entity: DataFrame | None = None,
) -> DataFrame:
    """The rows a materialisation writes to the online store (see the module docstring):
    ``current`` are gold's rows of ``latest``, ``served`` the rows last written, ``every_entity``
    (a full materialisation) the entity keys of the whole gold table. Column :data:`INACTIVE`
    tells the inactive rows from gold's."""
    key = view.join_key
    now = served_columns(current, view)
    new_or_different = now.exceptAll(served_columns(served, view)).dropDuplicates([key])
    known = (every_entity if every_entity is not None else served).select(key)
    inactive = (
        known.distinct()
        .join(now.select(key), key, "left_anti")
        .select(key, *_inactive_columns(view), F.lit(True).alias(INACTIVE))
    )
    return (
        new_or_different.withColumn(INACTIVE, F.lit(False))
        .unionByName(inactive)
        .withColumn(EVENT_TIMESTAMP, F.lit(available_at(latest)).cast("timestamp"))
    )


def training_set(labels: DataFrame, features: DataFrame, view: ViewSpec, latest: dt.date | None) -> DataFrame:
    """``labels`` (with the view's entity key and ``label_ts``, any other columns kept) plus the
    view's features as known before each label's date, named ``<view>__<feature>``; ``features``
    are the gold rows, ``latest`` gold's latest feature date (None: gold is empty)."""
    key = view.join_key
    rows = features.select(
        F.col(key).alias("_key"),
        F.col(FEATURE_DATE).alias("_row_date"),
        *(F.col(n).alias(f"_f_{n}") for n in view.feature_names),
        F.lit(True).alias("_found"),
    )
    joined = labels.withColumn("_as_of", F.date_sub(F.to_date(F.col(LABEL_TS)), 1)).join(
        rows, (F.col(key) == F.col("_key")) & (F.col("_as_of") == F.col("_row_date")), "left"
    )
    latest_date = F.lit(latest).cast("date")
    computed = latest_date.isNotNull() & (F.col("_as_of") <= latest_date)
    inactive = inactive_values(view)
    types = {f.name: f.dataType for f in view.table.schema_for().fields}
    out = joined
    for name in view.feature_names:
        fallback = F.when(computed, F.lit(inactive[name]).cast(types[name]))
        out = out.withColumn(
            f"{view.name}__{name}", F.when(F.col("_found"), F.col(f"_f_{name}")).otherwise(fallback)
        )
    return out.drop("_key", "_row_date", "_found", "_as_of", *(f"_f_{n}" for n in view.feature_names))

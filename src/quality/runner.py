"""Running Great Expectations suites on Spark DataFrames: :class:`SuiteRunner` registers each suite
once per gate (one lazy, ephemeral GX context) and turns GX's validation results into
:class:`medallion.quality.results.ExpectationOutcome` rows.

A check is a fast ``BOOLEAN_ONLY`` checkpoint run over the (temporarily cached) DataFrame; only when
something failed is a second, ``SUMMARY`` pass run over the failed expectations alone, to collect
unexpected percentages and sample values. A small candidate is validated by GX's pandas engine
instead (:func:`on_driver`: collected once through Arrow, the same outcomes, no Spark job per metric).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medallion.quality.results import ExpectationOutcome
from medallion.runs import FIXED_WIDTH, VARIABLE_WIDTH, measure

if TYPE_CHECKING:
    import pandas
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

SAMPLE_VALUES = 5  # offending values kept per failed expectation
_SAMPLE_CHARS = 80
_DATASOURCE = "medallion"


# --- GX execution --------------------------------------------------------------------------
@dataclass
class _Registered:
    fingerprint: str
    suite: Any  # gx.ExpectationSuite (as stored in the context)
    batch_definition: Any
    checkpoint: Any


class SuiteRunner:
    """Runs expectation suites on Spark (or driver-side pandas) DataFrames in one (lazily created)
    GX context.

    Each suite name is registered once (suite, whole-DataFrame batch definition, validation
    definition, ``BOOLEAN_ONLY`` checkpoint) and re-registered only if its expectations change.
    """

    def __init__(self, context: Any = None) -> None:
        self._context = context
        self._registered: dict[tuple[str, bool], _Registered] = {}
        self._datasources: dict[bool, Any] = {}
        self._batch_definitions: dict[tuple[str, bool], Any] = {}

    @property
    def ready(self) -> bool:
        """True once the GX context exists (Great Expectations is imported)."""
        return self._context is not None

    @property
    def context(self) -> Any:
        if self._context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            # In-memory stores, no data docs site, no progress bars on stderr, no analytics.
            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
                analytics_enabled=False,
            )
            self._context = gx.get_context(mode="ephemeral", project_config=config)
        return self._context

    def _batch_definition(self, asset_name: str, driver: bool) -> Any:
        # add_or_update / get-or-add throughout, so that a file context (gx/) reused across runs
        # works as well as the default ephemeral one.
        if (asset_name, driver) not in self._batch_definitions:
            if driver not in self._datasources:
                sources = self.context.data_sources
                self._datasources[driver] = (
                    sources.add_or_update_pandas(f"{_DATASOURCE}_driver")
                    if driver
                    # persist=False: GX would persist() every batch and never unpersist it; the
                    # gate caches the candidate itself for the duration of a check.
                    else sources.add_or_update_spark(_DATASOURCE, persist=False)
                )
            datasource = self._datasources[driver]
            if asset_name in datasource.get_asset_names():
                asset = datasource.get_asset(asset_name)
            else:
                asset = datasource.add_dataframe_asset(name=asset_name)
            if any(b.name == "whole" for b in asset.batch_definitions):
                definition = asset.get_batch_definition("whole")
            else:
                definition = asset.add_batch_definition_whole_dataframe("whole")
            self._batch_definitions[asset_name, driver] = definition
        return self._batch_definitions[asset_name, driver]

    def _register(self, suite: Any, driver: bool) -> _Registered:
        import great_expectations as gx

        fingerprint = hashlib.sha256(
            json.dumps(
                [e.configuration.to_json_dict() for e in suite.expectations], sort_keys=True, default=str
            ).encode()
        ).hexdigest()[:12]
        known = self._registered.get((suite.name, driver))
        if known is not None and known.fingerprint == fingerprint:
            return known
        ctx = self.context
        name = f"{suite.name}#{fingerprint}{'@driver' if driver else ''}"
        if known is not None:  # the suite's parameters changed within this context's lifetime
            with contextlib.suppress(Exception):
                ctx.checkpoints.delete(known.checkpoint.name)
            with contextlib.suppress(Exception):
                ctx.validation_definitions.delete(known.checkpoint.name)
            with contextlib.suppress(Exception):
                ctx.suites.delete(known.suite.name)
        batch_definition = self._batch_definition(suite.name.replace(".", "_"), driver)
        stored = ctx.suites.add_or_update(
            gx.ExpectationSuite(name=name, expectations=list(suite.expectations))
        )
        validation = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=stored)
        )
        checkpoint = ctx.checkpoints.add_or_update(
            gx.Checkpoint(name=name, validation_definitions=[validation], result_format="BOOLEAN_ONLY")
        )
        registered = _Registered(fingerprint, stored, batch_definition, checkpoint)
        self._registered[suite.name, driver] = registered
        return registered

    def run(
        self, suite: Any, df: DataFrame | pandas.DataFrame, label: str | None = None
    ) -> list[ExpectationOutcome]:
        """Validate ``df`` with ``suite`` through its checkpoint; details for failures only.

        ``df`` is a Spark DataFrame (the candidate rows), or a pandas one for figures the driver
        already holds (a batch-metrics frame of a few rows): GX's pandas engine validates those
        without launching a Spark job."""
        import great_expectations as gx

        label = label or suite.name
        registered = self._register(suite, driver=not hasattr(df, "sparkSession"))
        checkpoint_result = registered.checkpoint.run(batch_parameters={"dataframe": df})
        results = [r for vr in checkpoint_result.run_results.values() for r in vr.results]
        by_name = {expectation_name(r.expectation_config): r for r in results}
        failed = [n for n, r in by_name.items() if not r.success]
        details: dict[str, Any] = {}
        if failed:
            copies = [
                e.copy(update={"id": None}, deep=True)
                for e in registered.suite.expectations
                if expectation_name(e) in failed
            ]
            batch = registered.batch_definition.get_batch(batch_parameters={"dataframe": df})
            detail = batch.validate(
                gx.ExpectationSuite(name=f"{suite.name}.details", expectations=copies),
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES},
            )
            details = {expectation_name(r.expectation_config): r for r in detail.results}
        order = [expectation_name(e) for e in suite.expectations]
        return [_outcome(label, by_name[n], details.get(n)) for n in sorted(by_name, key=_index_in(order))]


#: A candidate whose data is at most this large (see :func:`on_driver`) is validated on the driver.
DRIVER_MAX_BYTES = 64 * 2**20


def on_driver(
    df: DataFrame,
    suite: Any,
    max_bytes: int = DRIVER_MAX_BYTES,
    rows: int | None = None,
    size: int | None = None,
) -> pandas.DataFrame | None:
    """``df`` as a pandas frame for GX's pandas engine to validate ``suite`` on, when its data is at
    most ``max_bytes`` (:func:`medallion.runs.measure`: ``size`` when the job measured it, else
    one aggregation over ``df``); ``None`` (validate it on Spark) when it is larger, ``max_bytes``
    is 0, or the suite names a column of another type (decimal, array, map, struct; columns of
    those types that the suite never names are left out of the frame). ``rows``, the candidate's
    row count when the job knows it, spares the aggregation when the fixed-width values alone are
    over ``max_bytes``.

    A small candidate costs a GX Spark checkpoint a fixed second or more (one Spark job per metric
    domain); collected once through Arrow, the same suite runs in a tenth of that. The values are
    Spark's: integers and booleans keep their nulls (pandas' nullable types, not floats with NaN),
    timestamps are the session time zone's wall-clock time, as ``collect`` gives them."""
    if max_bytes <= 0:
        return None
    kinds = {f.name: f.dataType.typeName() for f in df.schema.fields}
    other = [name for name, kind in kinds.items() if kind not in VARIABLE_WIDTH + FIXED_WIDTH]
    named = json.dumps([e.configuration.to_json_dict() for e in suite.expectations], default=str)
    if any(json.dumps(name) in named for name in other):
        return None
    df = df.drop(*other) if other else df
    fixed = sum(kinds[name] in FIXED_WIDTH for name in df.columns)
    if size is None and rows is not None and rows * 8 * fixed > max_bytes:
        return None
    if (size if size is not None else measure(df)[1]) > max_bytes:
        return None
    # one task: a candidate cached in many small partitions (a gold union of ranges) would cost
    # more in task scheduling than in reading
    return _pandas(df.coalesce(1).toArrow(), df.sparkSession.conf.get("spark.sql.session.timeZone"))


def _pandas(table: Any, time_zone: str | None) -> pandas.DataFrame:
    import pandas as pd
    import pyarrow as pa

    nullable = {
        pa.bool_(): pd.BooleanDtype(),
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.float32(): pd.Float32Dtype(),
        pa.float64(): pd.Float64Dtype(),
    }
    frame = table.to_pandas(types_mapper=nullable.get, date_as_object=True)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert(time_zone or "UTC").dt.tz_localize(None)
    return frame


_DRIVER_TYPES = {"long": "int64", "double": "float64", "date": "object"}


def driver_frame(rows: list[dict[str, Any]], ddl: str):
    """``rows`` as a pandas DataFrame with the columns and types of ``ddl`` (``name type, ...``,
    types long / double / date; dates stay ``datetime.date``), also when there is no row."""
    import pandas as pd

    columns = [tuple(part.split()) for part in ddl.split(",")]
    return pd.DataFrame(
        {name: pd.Series([r[name] for r in rows], dtype=_DRIVER_TYPES[kind]) for name, kind in columns}
    )


def expectation_name(expectation: Any) -> str:
    """The short name of an expectation (or its configuration); falls back to type(columns)."""
    meta = getattr(expectation, "meta", None) or {}
    if meta.get("name"):
        return str(meta["name"])
    kind = getattr(expectation, "expectation_type", None) or getattr(expectation, "type", "expectation")
    cols = ",".join(expectation_columns(expectation))
    return f"{kind}({cols})" if cols else str(kind)


def expectation_columns(expectation: Any) -> tuple[str, ...]:
    """The column(s) an expectation (or its configuration) is about, in declaration order."""
    kwargs = getattr(expectation, "kwargs", None)
    if kwargs is None:
        kwargs = {k: getattr(expectation, k, None) for k in ("column", "column_list", "column_A", "column_B")}
    if kwargs.get("column"):
        return (str(kwargs["column"]),)
    if kwargs.get("column_list"):
        return tuple(str(c) for c in kwargs["column_list"])
    return tuple(str(kwargs[k]) for k in ("column_A", "column_B") if kwargs.get(k))


def _index_in(order: list[str]):
    return lambda name: order.index(name) if name in order else len(order)


_MAP_PREFIXES = (
    "expect_column_values_",
    "expect_column_pair_values_",
    "expect_compound_columns_",
    "expect_multicolumn_",
)


def _outcome(suite: str, fast: Any, detail: Any | None) -> ExpectationOutcome:
    config = fast.expectation_config
    is_map = config.type.startswith(_MAP_PREFIXES) and config.type != "expect_column_values_to_be_of_type"
    source = detail if detail is not None else fast
    result = dict(source.result or {})
    exception = _exception_message(source.exception_info) or _exception_message(fast.exception_info)
    percent = result.get("unexpected_percent")
    if percent is None and fast.success and is_map and exception is None:
        percent = 0.0  # a passed row-level expectation had no unexpected rows
    samples = tuple(_render(v) for v in (result.get("partial_unexpected_list") or [])[:SAMPLE_VALUES])
    return ExpectationOutcome(
        name=expectation_name(config),
        expectation_type=config.type,
        suite=suite,
        columns=expectation_columns(config),
        success=bool(fast.success),
        unexpected_percent=None if percent is None else float(percent),
        unexpected_count=_int_or_none(result.get("unexpected_count")),
        element_count=_int_or_none(result.get("element_count")),
        sample_values=samples,
        observed_value=plain(result.get("observed_value")),
        exception=exception,
    )


def _exception_message(info: Any) -> str | None:
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception") and info.get("exception_message"):
        return str(info["exception_message"]).strip().splitlines()[0][:300]
    for value in info.values():  # {metric id: {raised_exception, exception_message, ...}}
        if isinstance(value, Mapping) and value.get("exception_message"):
            return str(value["exception_message"]).strip().splitlines()[0][:300]
    return None


def _render(value: Any) -> str:
    value = _python(value)
    if isinstance(value, (bytes, bytearray)):
        text = repr(bytes(value))
    elif isinstance(value, str):
        text = repr(value)
    elif value is None:
        text = "null"
    elif isinstance(value, (dt.date, dt.datetime, int, float, bool)):
        text = str(plain(value))
    else:
        text = json.dumps(plain(value), default=str)
    return text if len(text) <= _SAMPLE_CHARS else text[: _SAMPLE_CHARS - 3] + "..."


def plain(value: Any) -> Any:
    value = _python(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _python(value: Any) -> Any:
    """A value of GX's pandas engine as the Spark engine gives it: numpy scalars as Python ones,
    pandas' missing values (NA, NaT) as None."""
    kind = type(value)
    if kind.__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    if kind.__name__ in ("NAType", "NaTType"):
        return None
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)

"""Write-audit-publish quality gates: validate a layer's candidate output with its GX checkpoint
before it is committed.

A job creates one :class:`QualityGate` per run and calls :meth:`QualityGate.check` with the
DataFrame it is about to publish, *before* the commit::

    gate = QualityGate(config, storage)                       # once per run (lazy GX context)
    gate.check("silver", "events", new_rows, batch_metrics={"rows_read": n, "rows_quarantined": q})
    storage.merge(...)                                         # only reached when the gate let it

Per layer mode (``config.quality_mode(layer)``, overridable per call):

* ``enforce`` - a failed expectation raises :class:`QualityGateError` (a ``JobFailedError``: the
  CLI exits 1, the Databricks task fails, dependent tasks do not run); nothing is published.
* ``warn`` - failures are logged (WARNING) and recorded; the caller publishes.
* ``off`` - nothing is validated; a ``skipped`` row is recorded.

Every check (also a failing one, before raising) appends one row to ``ops.quality_results`` and
logs an MLflow run. A quality score (share of passed expectations) below
``config.min_quality_score`` sets ``alert`` on the result and is logged at ERROR;
:meth:`QualityGate.raise_for_alerts` turns recorded alerts into a task failure after publishing
(warn mode), which is what fires the job's failure notifications.

Overhead: GX runs in one ephemeral context per gate, created on first use; each suite is
registered once per run and its checkpoint reused. A check is a fast ``BOOLEAN_ONLY``
checkpoint run over the (temporarily cached) DataFrame; only when something failed is a second,
``SUMMARY`` pass run over the failed expectations alone, to collect unexpected percentages and
sample values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from medallion.config import ConfigError
from medallion.errors import JobFailedError
from medallion.gold.schema import WINDOW_DAYS
from medallion.quality.results import ExpectationOutcome, GateResult, write_results
from medallion.quality.suites import (
    SUITES,
    SuiteSpec,
    as_date,
    default_params,
    expectation_columns,
    expectation_name,
    get_spec,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from medallion.config import Config
    from medallion.storage import DeltaStorage

log = logging.getLogger(__name__)

MODES = ("enforce", "warn", "off")
MODES_BY_LAYER = ("bronze", "silver", "gold")  # layers with a quality_<layer> mode
SAMPLE_VALUES = 5  # offending values kept per failed expectation
_SAMPLE_CHARS = 80
_DATASOURCE = "medallion"


class QualityGateError(JobFailedError):
    """A gate in enforce mode failed: the candidate data must not be published."""

    def __init__(self, result: GateResult) -> None:
        super().__init__(
            f"{result.message()}\n  nothing was published to {result.table} "
            f"(quality gate {result.layer}: enforce)"
        )
        self.result = result


class QualityAlertError(JobFailedError):
    """One or more checks of the run scored below ``min_quality_score``."""

    def __init__(self, results: list[GateResult]) -> None:
        lines = [f"quality alert: {len(results)} check(s) scored below the minimum quality score"]
        lines += [r.message() for r in results]
        super().__init__("\n".join(lines))
        self.results = results


# --- GX execution --------------------------------------------------------------------------
@dataclass
class _Registered:
    fingerprint: str
    suite: Any  # gx.ExpectationSuite (as stored in the context)
    batch_definition: Any
    checkpoint: Any


class SuiteRunner:
    """Runs expectation suites on Spark DataFrames in one (lazily created) GX context.

    Each suite name is registered once (suite, whole-DataFrame batch definition, validation
    definition, ``BOOLEAN_ONLY`` checkpoint) and re-registered only if its expectations change.
    """

    def __init__(self, context: Any = None) -> None:
        self._context = context
        self._registered: dict[str, _Registered] = {}
        self._datasource: Any = None
        self._batch_definitions: dict[str, Any] = {}

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

    def _batch_definition(self, asset_name: str) -> Any:
        # add_or_update / get-or-add throughout, so that a file context (gx/) reused across runs
        # works as well as the default ephemeral one.
        if asset_name not in self._batch_definitions:
            if self._datasource is None:
                # persist=False: GX would persist() every batch and never unpersist it; the gate
                # caches the candidate itself for the duration of a check.
                self._datasource = self.context.data_sources.add_or_update_spark(_DATASOURCE, persist=False)
            if asset_name in self._datasource.get_asset_names():
                asset = self._datasource.get_asset(asset_name)
            else:
                asset = self._datasource.add_dataframe_asset(name=asset_name)
            if any(b.name == "whole" for b in asset.batch_definitions):
                definition = asset.get_batch_definition("whole")
            else:
                definition = asset.add_batch_definition_whole_dataframe("whole")
            self._batch_definitions[asset_name] = definition
        return self._batch_definitions[asset_name]

    def _register(self, suite: Any) -> _Registered:
        import great_expectations as gx

        fingerprint = hashlib.sha256(
            json.dumps(
                [e.configuration.to_json_dict() for e in suite.expectations], sort_keys=True, default=str
            ).encode()
        ).hexdigest()[:12]
        known = self._registered.get(suite.name)
        if known is not None and known.fingerprint == fingerprint:
            return known
        ctx = self.context
        name = f"{suite.name}#{fingerprint}"
        if known is not None:  # the suite's parameters changed within this context's lifetime
            with contextlib.suppress(Exception):
                ctx.checkpoints.delete(known.checkpoint.name)
            with contextlib.suppress(Exception):
                ctx.validation_definitions.delete(known.checkpoint.name)
            with contextlib.suppress(Exception):
                ctx.suites.delete(known.suite.name)
        batch_definition = self._batch_definition(suite.name.replace(".", "_"))
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
        self._registered[suite.name] = registered
        return registered

    def run(self, suite: Any, df: DataFrame, label: str | None = None) -> list[ExpectationOutcome]:
        """Validate ``df`` with ``suite`` through its checkpoint; details for failures only."""
        import great_expectations as gx

        label = label or suite.name
        registered = self._register(suite)
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
        observed_value=_plain(result.get("observed_value")),
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
    if isinstance(value, (bytes, bytearray)):
        text = repr(bytes(value))
    elif isinstance(value, str):
        text = repr(value)
    elif value is None:
        text = "null"
    elif isinstance(value, (dt.date, dt.datetime, int, float, bool)):
        text = str(_plain(value))
    else:
        text = json.dumps(_plain(value), default=str)
    return text if len(text) <= _SAMPLE_CHARS else text[: _SAMPLE_CHARS - 3] + "..."


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# --- the gate ------------------------------------------------------------------------------
class QualityGate:
    """The quality gate of one job run: validate, record, then pass / warn / raise.

    ``record=False`` skips the results table and MLflow (dry runs); ``runner`` shares one GX
    context between gates (tests); ``context`` lets a file context (``gx/``, for data docs) be
    used instead of the default ephemeral one.
    """

    def __init__(
        self,
        config: Config,
        storage: DeltaStorage,
        *,
        run_id: str | None = None,
        record: bool = True,
        log_to_mlflow: bool = True,
        runner: SuiteRunner | None = None,
        context: Any = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.run_id = run_id or uuid.uuid4().hex
        self.record = record
        self.log_to_mlflow = log_to_mlflow
        self.runner = runner or SuiteRunner(context)
        self.results: list[GateResult] = []

    @property
    def spark(self):
        return self.storage.spark

    # --- validation without side effects -------------------------------------------------
    def validate(
        self,
        layer: str,
        name: str,
        df: DataFrame,
        *,
        params: Mapping[str, Any] | None = None,
        batch_metrics: Mapping[str, Any] | None = None,
        mode: str | None = None,
        run_id: str | None = None,
    ) -> GateResult:
        """Run the table's suites on ``df`` (and on its batch-metrics frame when ``batch_metrics``
        are given) and return the result; records nothing and never raises on failed data."""
        spec = get_spec(layer, name)
        mode = self._mode(layer, mode)
        started = time.monotonic()
        resolved = {
            **default_params(self.config, layer, name),
            "columns": tuple(df.columns),
            **(params or {}),
        }
        cached_here = not getattr(df, "is_cached", False)
        if cached_here:
            df = df.persist()
        try:
            outcomes = self.runner.run(spec.rows(resolved), df, label=spec.name)
            suites = [spec.name]
            metrics_used: dict[str, Any] = {}
            if spec.batch is not None and batch_metrics is not None:
                if not spec.batch_ready(batch_metrics):
                    raise ValueError(
                        f"batch_metrics for {spec.name} must hold {'; '.join(spec.batch_metrics)}, "
                        f"got {sorted(batch_metrics)}"
                    )
                if (
                    layer == "gold"
                    and "silver_events" not in batch_metrics
                    and "feature_ranges" in batch_metrics
                ):
                    batch_metrics = {
                        **batch_metrics,
                        "silver_events": self.silver_events_by_feature_date(batch_metrics["feature_ranges"]),
                    }
                frame, metrics_used = _batch_frame(spec, df, batch_metrics)
                batch_suite = spec.batch(resolved)
                outcomes += self.runner.run(batch_suite, frame, label=batch_suite.name)
                suites.append(batch_suite.name)
        finally:
            if cached_here:
                df.unpersist()
        result = GateResult(
            run_id=run_id or self.run_id,
            layer=layer,
            table=spec.name,
            suite=",".join(suites),
            mode=mode,
            status="passed" if all(o.success for o in outcomes) else "failed",
            outcomes=tuple(outcomes),
            min_quality_score=self.config.min_quality_score,
            duration_s=time.monotonic() - started,
            location=self.config.table(layer, name),
            batch_metrics=metrics_used,
        )
        log.info("%s", result.summary())
        return result

    # --- the gate ------------------------------------------------------------------------
    def check(
        self,
        layer: str,
        name: str,
        df: DataFrame,
        *,
        params: Mapping[str, Any] | None = None,
        batch_metrics: Mapping[str, Any] | None = None,
        mode: str | None = None,
        run_id: str | None = None,
    ) -> GateResult:
        """Validate ``df`` (the candidate output of ``<layer>.<name>``), record the result, then
        pass (return), warn (log and return) or, in enforce mode, raise
        :class:`QualityGateError`. Call it before committing; publish only if it returns.

        ``params`` override the suite parameters (silver: event_types, min_event_date,
        max_event_date, max_quarantine_rate). ``batch_metrics`` feed the batch suite (extra keys
        are ignored): bronze ``{"inputs_read": files_or_offsets, "rows": n (optional)}``, silver
        ``{"rows_read": n, "rows_quarantined": q}``, gold ``{"silver_events": {feature_date: n}}``.
        """
        spec = get_spec(layer, name)
        mode = self._mode(layer, mode)
        if mode == "off":
            result = GateResult(
                run_id=run_id or self.run_id,
                layer=layer,
                table=spec.name,
                suite=spec.name,
                mode=mode,
                status="skipped",
                min_quality_score=self.config.min_quality_score,
                location=self.config.table(layer, name),
            )
            log.info("%s", result.summary())
        else:
            result = self.validate(
                layer, name, df, params=params, batch_metrics=batch_metrics, mode=mode, run_id=run_id
            )
        record_error: Exception | None = None
        try:
            result = self._record(result)
        except Exception as exc:  # still report the verdict; re-raised below
            record_error = exc
            log.error("quality gate %s: could not record the result: %s", result.table, exc)
        self.results.append(result)
        if result.alert:
            log.error(
                "QUALITY ALERT: %s scored %.3f < min_quality_score %.2f\n%s",
                result.table,
                result.score,
                result.min_quality_score,
                result.message(),
            )
        if not result.success and mode == "enforce":
            raise QualityGateError(result) from record_error
        if not result.success:
            log.warning(
                "quality gate %s failed in warn mode, publishing anyway:\n%s", result.table, result.message()
            )
        if record_error is not None:
            raise record_error
        return result

    def __call__(self, layer_or_table: str, df: DataFrame, info: Mapping[str, Any]) -> GateResult:
        """The jobs' hook form ``gate(what, candidate_df, info)``, so that ``gate=QualityGate(...)``
        is all a job needs: ``what`` is a layer (silver: ``gate("silver", df, info)``, the table
        then being ``info["name"]`` or the last part of ``info["table"]``) or a table name that
        only one layer has (gold: ``gate("user_features", df, info)``). ``info`` doubles as the
        batch metrics (extra keys are ignored)."""
        if layer_or_table in MODES_BY_LAYER:
            layer = layer_or_table
            name = info.get("name") or _last_part(str(info.get("table", "")))
        else:
            name = layer_or_table
            layers = [la for la, t in SUITES if t == name]
            if len(layers) != 1:
                raise ConfigError(f"quality gate hook: {name!r} does not name exactly one table with a suite")
            layer = layers[0]
        if not name:
            raise ConfigError(f"quality gate hook for {layer}: info needs 'name' or 'table'")
        spec = get_spec(layer, name)
        if spec.batch is not None and not spec.batch_ready(info):
            log.warning("quality gate %s: no batch metrics in the job's info, batch suite skipped", spec.name)
            return self.check(layer, name, df)
        return self.check(layer, name, df, batch_metrics=info)

    def silver_events_by_feature_date(self, ranges: Any) -> dict[dt.date, int]:
        """For each feature date of ``ranges`` (inclusive ``(start, end)`` pairs), the number of
        silver events in its window ``[date - 6, date]`` (one aggregation over silver.events)."""
        dates = sorted(
            {
                as_date(start) + dt.timedelta(days=k)
                for start, end in ranges
                for k in range((as_date(end) - as_date(start)).days + 1)
            }
        )
        if not dates:
            return {}
        first = dates[0] - dt.timedelta(days=WINDOW_DAYS - 1)
        where = f"event_date >= DATE '{first.isoformat()}' AND event_date <= DATE '{dates[-1].isoformat()}'"
        silver = self.storage.read(self.config.table("silver", "events"), where=where)
        per_day = {r[0]: int(r[1]) for r in silver.groupBy("event_date").count().collect()}
        return {d: sum(per_day.get(d - dt.timedelta(days=k), 0) for k in range(WINDOW_DAYS)) for d in dates}

    @property
    def alerts(self) -> list[GateResult]:
        return [r for r in self.results if r.alert]

    def raise_for_alerts(self) -> None:
        """Raise :class:`QualityAlertError` if any check of this run scored below the minimum
        (call it after publishing, so warn-mode alerts fail the task and notify)."""
        if self.alerts:
            raise QualityAlertError(self.alerts)

    # --- internals -----------------------------------------------------------------------
    def _mode(self, layer: str, mode: str | None) -> str:
        mode = mode or self.config.quality_mode(layer)
        if mode not in MODES:
            raise ConfigError(f"quality mode {mode!r} is not one of {', '.join(MODES)}")
        return mode

    def _record(self, result: GateResult) -> GateResult:
        if not self.record:
            return result
        if self.log_to_mlflow:
            try:
                result = replace(result, mlflow_run_id=_log_mlflow(self.config, result))
            except Exception as exc:  # the results table is the record of truth; MLflow is a view
                log.warning("quality gate %s: could not log to MLflow: %s", result.table, exc)
        write_results(self.storage, self.config, [result])
        return result


def _batch_frame(spec: SuiteSpec, df: DataFrame, metrics: Mapping[str, Any]):
    assert spec.batch_frame is not None
    try:
        rows, ddl = spec.batch_frame(df, metrics)
    except KeyError as exc:
        raise ValueError(
            f"batch_metrics for {spec.name} must hold {', '.join(spec.batch_metrics)}; missing {exc}"
        ) from None
    # one-row frames (bronze, silver) are recorded flat, per-date frames (gold) as a list
    used = _plain(rows[0]) if spec.layer != "gold" else {"dates": _plain(rows)}
    frame = df.sparkSession.createDataFrame([tuple(r.values()) for r in rows], ddl)
    return frame, used


def _last_part(table: str) -> str:
    return table.rstrip("/").replace("\\", "/").split("/")[-1].split(".")[-1]


def _log_mlflow(config: Config, result: GateResult) -> str:
    from medallion.tracking import log_run

    metrics: dict[str, float | None] = {
        "quality_score": result.score,
        "evaluated_expectations": result.evaluated,
        "failed_expectations": result.failed,
        "success": float(result.success),
        "alert": float(result.alert),
        "duration_s": result.duration_s,
    }
    metrics.update({f"unexpected_percent.{k}": v for k, v in result.unexpected_percent.items()})
    return log_run(
        config,
        f"quality {result.table}",
        params={"layer": result.layer, "table": result.table, "suite": result.suite, "mode": result.mode},
        metrics=metrics,
        tags={
            "medallion.kind": "quality",
            "medallion.run_id": result.run_id,
            "medallion.layer": result.layer,
            "medallion.table": result.table,
            "medallion.status": result.status,
            "medallion.failed_expectations": ",".join(o.name for o in result.failures),
        },
    )


def validate_table(
    config: Config,
    storage: DeltaStorage,
    layer: str,
    name: str,
    *,
    where: str | None = None,
    params: Mapping[str, Any] | None = None,
    mode: str | None = None,
    gate: QualityGate | None = None,
) -> GateResult:
    """On-demand check of an existing table (``medallion quality``): read it (optionally
    filtered by ``where``) and run the table's row suite through :meth:`QualityGate.check`."""
    spec = get_spec(layer, name)
    table = config.table(layer, name)
    if not storage.exists(table):
        raise JobFailedError(f"{spec.name} does not exist at {table}: nothing to validate")
    gate = gate or QualityGate(config, storage)
    return gate.check(layer, name, storage.read(table, where=where), params=params, mode=mode)

"""Write-audit-publish quality gates: validate a layer's candidate output with its GX checkpoint
before it is committed.

A job creates one :class:`QualityGate` per run and calls :meth:`QualityGate.check` with the
DataFrame it is about to publish, *before* the commit::

    gate = QualityGate(config, storage)                       # once per run (lazy GX context)
    gate.check(SILVER_EVENTS, new_rows, {"rows_read": n, "rows_quarantined": q})
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
sample values. A candidate of at most ``driver_max_bytes`` (64 MiB by default) is collected once
through Arrow and validated by GX's pandas engine (:func:`medallion.quality.runner.on_driver`): the
same expectations with the same outcomes, without one Spark job per metric domain.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from medallion.config import ConfigError
from medallion.errors import JobFailedError
from medallion.gold.schema import WINDOW_DAYS
from medallion.quality.results import GateResult, write_results
from medallion.quality.runner import DRIVER_MAX_BYTES, SuiteRunner, driver_frame, on_driver, plain
from medallion.quality.suites import SuiteSpec, default_params, events_per_window, feature_dates, suite_of
from medallion.tables import SILVER_EVENTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from medallion.config import Config
    from medallion.storage import DeltaStorage
    from medallion.tables import TableSpec

log = logging.getLogger(__name__)

MODES = ("enforce", "warn", "off")


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


# --- the gate ------------------------------------------------------------------------------
class QualityGate:
    """The quality gate of one job run: validate, record, then pass / warn / raise.

    ``record=False`` skips the results table and MLflow (dry runs); ``runner`` shares one GX
    context between gates (tests); ``context`` lets a file context (``gx/``, for data docs) be
    used instead of the default ephemeral one; ``driver_max_bytes`` bounds the candidates
    validated on the driver (0: every one on Spark).
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
        driver_max_bytes: int = DRIVER_MAX_BYTES,
    ) -> None:
        self.config = config
        self.storage = storage
        self.run_id = run_id or uuid.uuid4().hex
        self.record = record
        self.log_to_mlflow = log_to_mlflow
        self.runner = runner or SuiteRunner(context)
        self.driver_max_bytes = driver_max_bytes
        self.results: list[GateResult] = []
        # silver events per feature date, by (silver version, dates): both gold tables of a run
        # are checked against the same counts, read once
        self._silver_counts: dict[tuple[Any, ...], dict[dt.date, int]] = {}
        self._warming: threading.Thread | None = None

    def warm_up(self, layer: str) -> None:
        """Import Great Expectations and build the GX context on a background thread, when
        ``layer``'s gate validates. A job calls it once it knows it has new data, so that the import
        (2-3 s, the first check's largest cost) overlaps its Spark work (a stream's start, a read)
        instead of adding to it; a run with nothing new never imports GX. The first check waits for
        it; an import error is left for that check to raise."""
        if self._warming is not None or self.runner.ready or self._mode(layer, None) == "off":
            return

        def warm() -> None:
            with contextlib.suppress(Exception):
                importlib.import_module("great_expectations.expectations")
                _ = self.runner.context  # builds it

        self._warming = threading.Thread(target=warm, name="medallion-gx-warm-up", daemon=True)
        self._warming.start()

    def _warmed(self) -> None:
        if self._warming is not None:
            self._warming.join()

    @property
    def spark(self):
        return self.storage.spark

    # --- validation without side effects -------------------------------------------------
    def validate(
        self,
        table: TableSpec,
        df: DataFrame,
        metrics: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        mode: str | None = None,
        run_id: str | None = None,
    ) -> GateResult:
        """Run the table's suites on ``df`` (and on its batch-metrics frame when ``metrics`` hold
        what the batch suite needs) and return the result; records nothing and never raises on
        failed data."""
        self._warmed()
        suite = suite_of(table)
        mode = self._mode(table.layer, mode)
        started = time.monotonic()
        resolved = {**default_params(self.config, table), "columns": tuple(df.columns), **(params or {})}
        cached_here = not getattr(df, "is_cached", False)
        if cached_here:
            df = df.persist()
        try:
            row_suite = suite.rows(resolved)
            known = {
                k: int(v) for k, v in (metrics or {}).items() if k in ("candidate_rows", "candidate_bytes")
            }
            rows = on_driver(
                df,
                row_suite,
                self.driver_max_bytes,
                known.get("candidate_rows"),
                known.get("candidate_bytes"),
            )
            outcomes = self.runner.run(row_suite, df if rows is None else rows, label=suite.name)
            suites = [suite.name]
            metrics_used: dict[str, Any] = {}
            if suite.batch is not None and metrics is not None and suite.batch_ready(metrics):
                key = table.timeseries_key
                if key is not None and "silver_events" not in metrics and "feature_ranges" in metrics:
                    metrics = {
                        **metrics,
                        "silver_events": self.silver_events_by_feature_date(
                            metrics["feature_ranges"], metrics.get("silver_events_per_day")
                        ),
                    }
                if key is not None and "rows" not in metrics and rows is not None and key in rows:
                    metrics = {**metrics, "rows": rows[key].value_counts().to_dict()}  # no Spark job
                frame, metrics_used = _batch_frame(suite, df, metrics)
                batch_suite = suite.batch(resolved)
                outcomes += self.runner.run(batch_suite, frame, label=batch_suite.name)
                suites.append(batch_suite.name)
            elif suite.batch is not None and metrics:
                raise ValueError(
                    f"metrics for {suite.name} must hold {'; '.join(suite.batch_metrics)}, "
                    f"got {sorted(metrics)}"
                )
        finally:
            if cached_here:
                df.unpersist()
        result = GateResult(
            run_id=run_id or self.run_id,
            layer=table.layer,
            table=table.key,
            suite=",".join(suites),
            mode=mode,
            status="passed" if all(o.success for o in outcomes) else "failed",
            outcomes=tuple(outcomes),
            min_quality_score=self.config.min_quality_score,
            duration_s=time.monotonic() - started,
            location=table.location(self.config),
            batch_metrics=metrics_used,
        )
        log.info("%s", result.summary())
        return result

    # --- the gate ------------------------------------------------------------------------
    def check(
        self,
        table: TableSpec,
        df: DataFrame,
        metrics: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        mode: str | None = None,
        run_id: str | None = None,
    ) -> GateResult:
        """Validate ``df`` (the candidate output of ``table``), record the result, then pass
        (return), warn (log and return) or, in enforce mode, raise :class:`QualityGateError`.
        Call it before committing; publish only if it returns. The one gate call of every job.

        ``metrics`` feed the table's batch suite (extra keys are ignored; without the keys the
        suite needs, only the row suite runs): bronze ``{"inputs_read": files_or_offsets, "rows":
        n (optional)}``, silver ``{"rows_read": n, "rows_quarantined": q}``, gold
        ``{"feature_ranges": [...], "silver_events_per_day": {event_date: n} (optional)}`` or
        ``{"silver_events": {feature_date: n}}``; ``candidate_rows`` and ``candidate_bytes`` (what
        :func:`medallion.runs.measure` gave the job for ``df``) spare the gate measuring it. ``params``
        override the suite parameters (silver: event_types, min_event_date, max_event_date,
        max_quarantine_rate).
        """
        suite = suite_of(table)
        mode = self._mode(table.layer, mode)
        if mode == "off":
            result = GateResult(
                run_id=run_id or self.run_id,
                layer=table.layer,
                table=table.key,
                suite=suite.name,
                mode=mode,
                status="skipped",
                min_quality_score=self.config.min_quality_score,
                location=table.location(self.config),
            )
            log.info("%s", result.summary())
        else:
            result = self.validate(table, df, metrics, params=params, mode=mode, run_id=run_id)
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

    def silver_events_by_feature_date(
        self, ranges: Any, per_day: Mapping[Any, int] | None = None
    ) -> dict[dt.date, int]:
        """For each feature date of ``ranges`` (inclusive ``(start, end)`` pairs), the number of
        silver events in its window ``[date - 6, date]``: summed from ``per_day`` (silver events
        per event date, covering every window: what the gold job counted of the silver version it
        read), else from one aggregation over silver.events."""
        dates = feature_dates(ranges)
        if per_day is not None or not dates:
            return events_per_window(per_day or {}, dates)
        location = SILVER_EVENTS.location(self.config)
        key = (self.storage.version(location), *dates)
        if key not in self._silver_counts:
            first = dates[0] - dt.timedelta(days=WINDOW_DAYS - 1)
            where = f"event_date BETWEEN DATE '{first.isoformat()}' AND DATE '{dates[-1].isoformat()}'"
            silver = self.storage.read(location, where=where)
            counted = {r[0]: int(r[1]) for r in silver.groupBy("event_date").count().collect()}
            self._silver_counts[key] = events_per_window(counted, dates)
        return self._silver_counts[key]

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
    used = plain(rows[0]) if spec.layer != "gold" else {"dates": plain(rows)}
    # a few figures the driver holds: validated by GX's pandas engine, no Spark job
    frame = driver_frame(rows, ddl)
    return frame, used


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
    table: TableSpec,
    *,
    where: str | None = None,
    params: Mapping[str, Any] | None = None,
    mode: str | None = None,
    gate: QualityGate | None = None,
) -> GateResult:
    """On-demand check of an existing table (``medallion quality``): read it (optionally
    filtered by ``where``) and run the table's row suite through :meth:`QualityGate.check`."""
    location = table.location(config)
    if not storage.exists(location):
        raise JobFailedError(f"{table.key} does not exist at {location}: nothing to validate")
    gate = gate or QualityGate(config, storage)
    return gate.check(table, storage.read(location, where=where), params=params, mode=mode)

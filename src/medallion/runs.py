"""What every job run leaves behind: one row in ``ops.runs`` and one MLflow run, the same for every
layer (:class:`RunRecorder`), and the one quality-gate interface the jobs call (:class:`Gate`).

A job opens ``with recorder.run(layer, tables) as run:``, fills in the counts as it learns them
(``run.rows_in``, ``run.rows_out``, ...; ``run.passed(gate_result)`` keeps the lowest quality score)
and leaves the block; the recorder then writes the row - also when the block raised, with status
``failed`` and the error's first line, before the exception goes on. Recording never hides the job's
own outcome: a recorder that cannot write logs an error instead. The layer-specific detail tables
(``ops.silver_runs``, ``ops.maintenance_runs``, ``ops.quality_results``) stay where they add detail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from medallion.failures import explain, first_line
from medallion.tables import RUNS, TableSpec
from medallion.tables.ops import RunRow, ops_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from medallion.config import Config
    from medallion.storage import DeltaStorage

log = logging.getLogger(__name__)

SUCCEEDED, FAILED = "succeeded", "failed"


#: Column types a driver-side copy of a candidate holds: of variable width, and 8 bytes a value.
VARIABLE_WIDTH = ("string", "binary")
FIXED_WIDTH = (
    "boolean",
    "byte",
    "short",
    "integer",
    "long",
    "float",
    "double",
    "date",
    "timestamp",
    "timestamp_ntz",
)


def measure(df: DataFrame) -> tuple[int, int]:
    """The rows of ``df`` and the bytes of a driver-side copy of its data (8 per value of a
    fixed-width column, plus its strings' and binaries' bytes; columns of other types are not
    counted), in one Spark job. Jobs count their candidates with it and pass both to the gate
    (``candidate_rows``, ``candidate_bytes``), which chooses with them where to validate."""
    from pyspark.sql import functions as F

    kinds = {f.name: f.dataType.typeName() for f in df.schema.fields}
    variable = [name for name, kind in kinds.items() if kind in VARIABLE_WIDTH]
    fixed = sum(kind in FIXED_WIDTH for kind in kinds.values())
    lengths = [F.coalesce(F.sum(F.octet_length(df[name])), F.lit(0)) for name in variable]
    rows, *sizes = df.agg(F.count(F.lit(1)), *lengths).first()
    return int(rows), int(rows) * 8 * fixed + sum(int(s) for s in sizes)


class Gate(Protocol):
    """The quality gate every job calls before it publishes (``medallion.quality.QualityGate``):
    validate ``df``, the candidate rows of ``spec``'s table, with the batch ``metrics``; return the
    result (it has a ``score``) or raise to stop the run before anything is written."""

    def check(self, spec: TableSpec, df: DataFrame, metrics: Mapping[str, Any] | None = None) -> Any: ...

    def warm_up(self, layer: str) -> None:
        """Prepare in the background what the first check of ``layer`` needs (called once a job
        knows it has new data)."""


@dataclass
class JobRun:
    """One job run, as it goes: what it read, what it wrote, how it ended."""

    layer: str
    tables: list[str]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    input_range: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_duplicates: int = 0
    quality_score: float | None = None
    status: str = SUCCEEDED
    error: str | None = None
    #: extra MLflow params and metrics (per-table detail, versions, ...)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    started_time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    duration_s: float = 0.0
    mlflow_run_id: str | None = None
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def passed(self, gate_result: Any) -> None:
        """Keep the lowest quality score of the gates this run passed (skipped gates have none)."""
        score = getattr(gate_result, "score", None)
        if score is not None and (self.quality_score is None or score < self.quality_score):
            self.quality_score = float(score)

    def fail(self, exc: BaseException) -> None:
        self.fail_with(explain(exc))

    def fail_with(self, message: str) -> None:
        """The run failed without raising (e.g. a maintenance run with a failed table)."""
        self.status = FAILED
        self.error = first_line(message)

    def finish(self) -> None:
        self.duration_s = time.monotonic() - self._t0

    def row(self) -> RunRow:
        return RunRow(
            run_id=self.run_id,
            layer=self.layer,
            tables=list(self.tables),
            input_range=self.input_range,
            rows_in=int(self.rows_in),
            rows_out=int(self.rows_out),
            rows_quarantined=int(self.rows_quarantined),
            rows_duplicates=int(self.rows_duplicates),
            quality_score=self.quality_score,
            started_time=self.started_time,
            duration_s=float(self.duration_s),
            status=self.status,
            error=self.error,
            mlflow_run_id=self.mlflow_run_id,
        )


class RunRecorder:
    """Writes one ``ops.runs`` row per job run and logs the same to MLflow (``mlflow=False``: the
    table only). Injected into every job like the storage adapter."""

    def __init__(self, config: Config, storage: DeltaStorage, *, mlflow: bool = True) -> None:
        self.config = config
        self.storage = storage
        self.mlflow = mlflow
        self.recorded: list[JobRun] = []

    @contextmanager
    def run(self, layer: str, tables: Sequence[TableSpec | str]) -> Iterator[JobRun]:
        """A job run of ``layer`` writing (or maintaining) ``tables`` (specs or ``layer.table``
        keys), recorded when the block ends - with status ``failed`` when it raised."""
        job = JobRun(layer, _keys(tables))
        try:
            yield job
        except BaseException as exc:
            job.fail(exc)
            self.record(job)
            raise
        self.record(job)

    def record(self, job: JobRun) -> None:
        job.finish()
        if self.mlflow:
            job.mlflow_run_id = self._log_mlflow(job)
        try:
            table = RUNS.create_if_missing(self.storage, self.config)
            self.storage.append(ops_rows(RUNS.schema_for(), [job.row()]), table)
        except Exception as exc:  # never hide the job's own outcome
            log.error("could not record the %s run %s in ops.runs: %s", job.layer, job.run_id, explain(exc))
        self.recorded.append(job)

    def _log_mlflow(self, job: JobRun) -> str | None:
        from medallion.tracking import log_run

        row = job.row()
        params = {
            "tables": ",".join(job.tables),
            "input_range": job.input_range,
            "environment": self.config.environment,
            **job.params,
        }
        metrics = {
            name: getattr(row, name)
            for name in (
                "rows_in",
                "rows_out",
                "rows_quarantined",
                "rows_duplicates",
                "quality_score",
                "duration_s",
            )
        }
        tags = {
            "medallion.job": job.layer,
            "medallion.run_id": job.run_id,
            "medallion.environment": self.config.environment,
            "medallion.engine": self.storage.engine,
            "medallion.status": "FAILED" if job.status == FAILED else "OK",
        }
        if job.error:
            tags["medallion.error"] = job.error[:500]
        try:
            return log_run(
                self.config, job.layer, params=params, metrics={**metrics, **job.metrics}, tags=tags
            )
        except Exception as exc:  # the ops.runs row is the record of truth; MLflow is a view
            log.error(
                "could not log the %s run to MLflow at %s: %s", job.layer, self.config.tracking_uri, exc
            )
            return None


def _keys(tables: Sequence[TableSpec | str]) -> list[str]:
    return [t if isinstance(t, str) else t.key for t in tables]


def recording(recorder: RunRecorder | None, layer: str, tables: Sequence[TableSpec | str]):
    """``recorder.run(layer, tables)``, or without a recorder a run that records nothing (a job
    called directly, e.g. from a test or a notebook, still reports its counts)."""
    if recorder is None:
        return nullcontext(JobRun(layer, _keys(tables)))
    return recorder.run(layer, tables)

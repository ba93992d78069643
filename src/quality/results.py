"""The typed outcome of a gate check and the ops table it is recorded in.

``ops.quality_results`` (``<root>/ops/quality_results`` locally, ``<catalog>.<prefix>ops.
quality_results`` on Databricks) gets one row per gate check; see docs/quality.md for the columns
and alert queries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medallion.tables import QUALITY_RESULTS
from medallion.tables.ops import QUALITY_RESULTS_SCHEMA, QualityResultRow, ops_rows

if TYPE_CHECKING:
    from medallion.config import Config
    from medallion.storage import DeltaStorage


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result in a check."""

    name: str  # stable short name (meta["name"])
    expectation_type: str  # e.g. expect_column_values_to_be_unique
    suite: str  # row suite (<layer>.<table>) or batch suite (<layer>.<table>.batch)
    columns: tuple[str, ...]
    success: bool
    unexpected_percent: float | None = None  # None: not a row-level expectation / not computed
    unexpected_count: int | None = None
    element_count: int | None = None
    sample_values: tuple[str, ...] = ()  # a few offending values, rendered as short strings
    observed_value: Any = None
    exception: str | None = None  # the expectation could not be evaluated (e.g. missing column)

    def describe(self) -> str:
        """One line naming the expectation, its columns and the offending values."""
        what = self.expectation_type + (f" on {', '.join(self.columns)}" if self.columns else "")
        parts = [f"{self.name} [{what}]"]
        if self.exception:
            parts.append(f"could not be evaluated: {self.exception}")
        if self.unexpected_percent is not None:
            count = (
                f" ({self.unexpected_count} of {self.element_count} rows)"
                if self.unexpected_count is not None and self.element_count is not None
                else ""
            )
            parts.append(f"{self.unexpected_percent:.2f}% unexpected{count}")
        if self.sample_values:
            parts.append("sample values: " + ", ".join(self.sample_values))
        if self.observed_value is not None and not self.sample_values:
            parts.append(f"observed {self.observed_value!r}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.expectation_type,
            "suite": self.suite,
            "columns": list(self.columns),
            "success": self.success,
            "unexpected_percent": self.unexpected_percent,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "sample_values": list(self.sample_values),
            "observed_value": self.observed_value,
            "exception": self.exception,
        }


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate check (one row of ``ops.quality_results``)."""

    run_id: str
    layer: str
    table: str  # logical <layer>.<table>
    suite: str
    mode: str
    status: str  # passed | failed | skipped
    outcomes: tuple[ExpectationOutcome, ...] = ()
    min_quality_score: float = 0.95
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    duration_s: float = 0.0
    location: str | None = None
    batch_metrics: Mapping[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def success(self) -> bool:
        """True when every expectation passed (a skipped check counts as success)."""
        return all(o.success for o in self.outcomes)

    @property
    def evaluated(self) -> int:
        return len(self.outcomes)

    @property
    def failed(self) -> int:
        return sum(not o.success for o in self.outcomes)

    @property
    def successful(self) -> int:
        return self.evaluated - self.failed

    @property
    def score(self) -> float | None:
        """Quality score: the share of expectations that passed (None when nothing evaluated)."""
        return self.successful / self.evaluated if self.evaluated else None

    @property
    def alert(self) -> bool:
        """The score is below ``min_quality_score`` (the seed alert)."""
        return self.score is not None and self.score < self.min_quality_score

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    @property
    def unexpected_percent(self) -> dict[str, float]:
        return {
            o.name: float(o.unexpected_percent) for o in self.outcomes if o.unexpected_percent is not None
        }

    def summary(self) -> str:
        """One line: table, verdict, counts, score, time."""
        if self.skipped:
            return f"quality {self.table}: skipped (mode off)"
        verdict = "passed" if self.success else "FAILED"
        names = f": {', '.join(o.name for o in self.failures)}" if self.failures else ""
        alert = f" - ALERT: score below {self.min_quality_score:.2f}" if self.alert else ""
        return (
            f"quality {self.table}: {verdict} ({self.mode}) {self.successful}/{self.evaluated} expectations, "
            f"score {self.score:.3f}{names}{alert} [{self.duration_s:.2f} s]"
        )

    def message(self) -> str:
        """Multi-line report naming each failed expectation with its columns and sample values."""
        lines = [self.summary()]
        lines += [f"  - {o.describe()}" for o in self.failures]
        return "\n".join(lines)

    def details_json(self) -> str:
        return json.dumps(
            {
                "expectations": [o.as_dict() for o in self.outcomes],
                "batch_metrics": dict(self.batch_metrics),
                "min_quality_score": self.min_quality_score,
            },
            default=str,
            sort_keys=True,
        )

    def row(self) -> QualityResultRow:
        return QualityResultRow(
            run_id=self.run_id,
            checked_at=self.checked_at,
            layer=self.layer,
            table_name=self.table,
            table_location=self.location,
            suite=self.suite,
            mode=self.mode,
            status=self.status,
            success=None if self.skipped else self.success,
            evaluated_expectations=self.evaluated,
            successful_expectations=self.successful,
            failed_expectations=self.failed,
            quality_score=self.score,
            alert=self.alert,
            failed_expectation_names=[o.name for o in self.failures],
            unexpected_percent=self.unexpected_percent,
            details=self.details_json(),
            duration_ms=round(self.duration_s * 1000),
            mlflow_run_id=self.mlflow_run_id,
        )


def write_results(storage: DeltaStorage, config: Config, results: Sequence[GateResult]) -> None:
    """Append result rows to ``ops.quality_results`` (created on first use)."""
    table = QUALITY_RESULTS.create_if_missing(storage, config)
    storage.append(ops_rows(QUALITY_RESULTS_SCHEMA, [r.row() for r in results]), table)

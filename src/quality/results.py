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

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from medallion.config import Config
    from medallion.storage import DeltaStorage

RESULTS_TABLE = ("ops", "quality_results")

RESULTS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),  # the job run that ran the check
        StructField("checked_at", TimestampType(), False),  # UTC
        StructField("layer", StringType(), False),  # bronze | silver | gold
        StructField("table_name", StringType(), False),  # logical <layer>.<table>
        StructField("table_location", StringType(), True),  # folder locally, UC name on Databricks
        StructField("suite", StringType(), False),  # suite name(s) validated, comma separated
        StructField("mode", StringType(), False),  # enforce | warn | off
        StructField("status", StringType(), False),  # passed | failed | skipped
        StructField("success", BooleanType(), True),  # null when skipped
        StructField("evaluated_expectations", LongType(), False),
        StructField("successful_expectations", LongType(), False),
        StructField("failed_expectations", LongType(), False),
        StructField("quality_score", DoubleType(), True),  # successful / evaluated; null when skipped
        StructField("alert", BooleanType(), False),  # quality_score < min_quality_score
        StructField("failed_expectation_names", ArrayType(StringType(), False), False),
        # expectation name -> % of rows (of its domain) that broke it; row-level expectations only
        StructField("unexpected_percent", MapType(StringType(), DoubleType(), False), False),
        StructField("details", StringType(), False),  # JSON: every expectation + batch metrics
        StructField("duration_ms", LongType(), False),
        StructField("mlflow_run_id", StringType(), True),
    ]
)


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

    def as_row(self) -> tuple:
        return (
            self.run_id,
            self.checked_at,
            self.layer,
            self.table,
            self.location,
            self.suite,
            self.mode,
            self.status,
            None if self.skipped else self.success,
            self.evaluated,
            self.successful,
            self.failed,
            self.score,
            self.alert,
            [o.name for o in self.failures],
            self.unexpected_percent,
            self.details_json(),
            round(self.duration_s * 1000),
            self.mlflow_run_id,
        )


def results_frame(spark: SparkSession, results: Sequence[GateResult]) -> DataFrame:
    return spark.createDataFrame([r.as_row() for r in results], RESULTS_SCHEMA)


def write_results(storage: DeltaStorage, config: Config, results: Sequence[GateResult]) -> None:
    """Append result rows to ``ops.quality_results`` (created on first use)."""
    table = config.table(*RESULTS_TABLE)
    storage.create_if_missing(table, RESULTS_SCHEMA)
    storage.append(results_frame(storage.spark, results), table)

"""Quality gates: Great Expectations 1.x suites per layer, run as write-audit-publish checks
before each layer publishes, recorded in ``ops.quality_results`` and MLflow (see
docs/quality.md)."""

from medallion.quality.gate import (
    QualityAlertError,
    QualityGate,
    QualityGateError,
    SuiteRunner,
    validate_table,
)
from medallion.quality.results import ExpectationOutcome, GateResult
from medallion.quality.suites import SUITES, SuiteSpec, default_params, suite_of
from medallion.tables import QUALITY_RESULTS
from medallion.tables.ops import QUALITY_RESULTS_SCHEMA

__all__ = [
    "QUALITY_RESULTS",
    "QUALITY_RESULTS_SCHEMA",
    "SUITES",
    "ExpectationOutcome",
    "GateResult",
    "QualityAlertError",
    "QualityGate",
    "QualityGateError",
    "SuiteRunner",
    "SuiteSpec",
    "default_params",
    "suite_of",
    "validate_table",
]

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
from medallion.quality.results import RESULTS_SCHEMA, RESULTS_TABLE, ExpectationOutcome, GateResult
from medallion.quality.suites import SUITES, SuiteSpec, default_params, get_spec

__all__ = [
    "RESULTS_SCHEMA",
    "RESULTS_TABLE",
    "SUITES",
    "ExpectationOutcome",
    "GateResult",
    "QualityAlertError",
    "QualityGate",
    "QualityGateError",
    "SuiteRunner",
    "SuiteSpec",
    "default_params",
    "get_spec",
    "validate_table",
]

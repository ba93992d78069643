"""The value types of :class:`medallion.config.Config` and how text (a flag, a job parameter, an
environment variable) becomes a typed value: ``Literal`` choices, numbers, booleans, optional
integers and the streaming trigger."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import fields
from typing import Any, Literal, get_args, get_origin

Environment = Literal["local", "databricks"]
Engine = Literal["auto", "delta-rs", "spark-delta"]
Source = Literal["files", "kafka", "eventhubs"]
QualityMode = Literal["enforce", "warn", "off"]
KafkaAuth = Literal["connection-string", "oauth", "service-credential"]
KafkaSecurityProtocol = Literal["SASL_SSL", "SASL_PLAINTEXT"]


#: The accepted values of ``log_level`` (case-insensitive).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration value is missing or invalid."""


def parse_trigger(trigger: str) -> dict[str, Any]:
    """``available-now`` -> {'availableNow': True}; ``processing-time:30 seconds`` -> processingTime."""
    if trigger == "available-now":
        return {"availableNow": True}
    if trigger.startswith("processing-time:"):
        interval = trigger.split(":", 1)[1].strip()
        if not re.match(r"^\d+\s*(milliseconds?|seconds?|minutes?|hours?)$", interval):
            raise ConfigError(f"trigger interval {interval!r} must look like '30 seconds'")
        return {"processingTime": interval}
    raise ConfigError(f"trigger={trigger!r}: use available-now or processing-time:<interval>")


def base_type(f: dataclasses.Field) -> str:
    """``int`` for ``int``, ``int | None`` and ``Optional[int]`` annotations (as strings or types)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return kind.replace("| None", "").replace("Optional[", "").rstrip("]").strip()


def literal_values(tp: Any) -> tuple[str, ...]:
    if isinstance(tp, str):
        tp = {
            "Environment": Environment,
            "Engine": Engine,
            "Source": Source,
            "KafkaAuth": KafkaAuth,
            "KafkaSecurityProtocol": KafkaSecurityProtocol,
            "QualityMode": QualityMode,
        }.get(tp)
    if get_origin(tp) is Literal:
        return tuple(get_args(tp))
    return ()


def coerce(f: dataclasses.Field, value: Any, *, source: str) -> Any:
    """``value`` as the type of field ``f``; ``source`` names where it came from in the error."""
    kind = base_type(f)
    if f.default is None and (value is None or str(value).strip().lower() in ("", "none")):
        return None
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}={value!r} is not a number") from None
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}={value!r} is not an integer") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{source}={value!r} is not a boolean")
    return str(value)


def validate(config: Any) -> None:
    """Refuse a :class:`medallion.config.Config` whose values cannot work (ConfigError)."""
    for f in fields(config):
        allowed = literal_values(f.type)
        value = getattr(config, f.name)
        if allowed and value not in allowed:
            raise ConfigError(f"{f.name}={value!r} is not one of {', '.join(allowed)}")
    if config.environment == "databricks":
        for name in ("catalog",):
            if not _IDENT.match(getattr(config, name)):
                raise ConfigError(f"{name}={getattr(config, name)!r} is not a valid Unity Catalog identifier")
        if config.schema_prefix and not re.match(r"^[A-Za-z0-9_]*$", config.schema_prefix):
            raise ConfigError(f"schema_prefix={config.schema_prefix!r} may only hold letters, digits and _")
    if not 0.0 <= config.max_quarantine_rate <= 1.0 or not 0.0 <= config.min_quality_score <= 1.0:
        raise ConfigError("max_quarantine_rate and min_quality_score must be within [0, 1]")
    if config.dedup_lookback_days < 0 or config.contract_version < 0:
        raise ConfigError("dedup_lookback_days and contract_version must be >= 0")
    if config.shuffle_partitions < 1:
        raise ConfigError(
            f"shuffle_partitions={config.shuffle_partitions} (--shuffle-partitions / "
            "MEDALLION_SHUFFLE_PARTITIONS) must be a positive number of Spark shuffle partitions, e.g. 4"
        )
    if config.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"log_level={config.log_level!r} (--log-level / MEDALLION_LOG_LEVEL) is not a log level: "
            f"use one of {', '.join(LOG_LEVELS)} (any case)"
        )
    if config.retention_hours is not None and config.retention_hours < 0:
        raise ConfigError(f"retention_hours={config.retention_hours} must be >= 0")
    if config.bronze_retention_days < 0:
        raise ConfigError(
            f"bronze_retention_days={config.bronze_retention_days} (--bronze-retention-days / "
            "MEDALLION_BRONZE_RETENTION_DAYS) must be a number of days >= 0 (0: keep bronze forever)"
        )
    if config.max_files_per_trigger < 1 or config.max_offsets_per_trigger < 1:
        raise ConfigError("max_files_per_trigger and max_offsets_per_trigger must be >= 1")
    if config.environment == "databricks" and config.kafka_security_protocol != "SASL_SSL":
        raise ConfigError(
            f"kafka_security_protocol={config.kafka_security_protocol} is for a local test broker only: "
            "on databricks the Event Hubs credentials must travel over SASL_SSL"
        )
    parse_trigger(config.trigger)

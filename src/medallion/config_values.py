"""The value types of :class:`medallion.config.Config` and how text (a flag, a job parameter, an
environment variable) becomes a typed value: ``Literal`` choices, numbers, booleans, optional
integers and the streaming trigger."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal, get_args, get_origin

Environment = Literal["local", "databricks"]
Engine = Literal["auto", "delta-rs", "spark-delta"]
Source = Literal["files", "kafka", "eventhubs"]
QualityMode = Literal["enforce", "warn", "off"]
KafkaAuth = Literal["connection-string", "oauth", "service-credential"]
KafkaSecurityProtocol = Literal["SASL_SSL", "SASL_PLAINTEXT"]


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

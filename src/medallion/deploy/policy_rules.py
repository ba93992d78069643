"""Cluster policy definitions: loading and validating one, and evaluating a cluster spec against it.

- :func:`validate_definition` checks a definition in the Databricks cluster policy definition
  language: known limit types, the keys each type takes, value types, and that a ``defaultValue``
  satisfies its own rule;
- :func:`evaluate_cluster` (and :func:`check_cluster`) judges a cluster spec against a policy the
  way the workspace does at cluster creation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Limit types of the policy definition language: (required keys, optional keys) besides ``type``.
RULE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "fixed": (frozenset({"value"}), frozenset({"hidden"})),
    "forbidden": (frozenset(), frozenset({"hidden"})),
    "allowlist": (frozenset({"values"}), frozenset({"defaultValue", "isOptional", "hidden"})),
    "blocklist": (frozenset({"values"}), frozenset({"defaultValue", "isOptional", "hidden"})),
    "regex": (frozenset({"pattern"}), frozenset({"defaultValue", "isOptional", "hidden"})),
    "range": (frozenset(), frozenset({"minValue", "maxValue", "defaultValue", "isOptional", "hidden"})),
    "unlimited": (frozenset(), frozenset({"defaultValue", "isOptional", "hidden"})),
}
#: Virtual attributes: not part of the cluster spec, evaluated by the workspace itself.
CLUSTER_TYPES = ("all-purpose", "job", "dlt")
VIRTUAL_PATHS = {"cluster_type", "dbus_per_hour"}

_PATH = re.compile(r"^[A-Za-z0-9_*][A-Za-z0-9_.*-]*$")
_ANY_REF = re.compile(r"\$\{[^{}]*\}")


class PolicyError(ValueError):
    """A policy file or definition is unusable (missing, not JSON, or not a valid definition)."""


# --------------------------------------------------------------------------------------------------
# Loading and validating a definition
# --------------------------------------------------------------------------------------------------


def load_policy(path: str | Path) -> dict[str, Any]:
    """Read a policy definition file and validate it; raises :class:`PolicyError` when unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path} is not valid JSON: {exc}") from None
    errors = validate_definition(definition)
    if errors:
        raise PolicyError(f"{path} is not a valid cluster policy definition:\n  " + "\n  ".join(errors))
    return definition


def validate_definition(definition: Any) -> list[str]:
    """Errors of a policy definition (empty when valid), one ``<path>: <problem>`` per line."""
    if not isinstance(definition, dict):
        return [f"a policy definition is a JSON object of rules, not {type(definition).__name__}"]
    if not definition:
        return ["the policy defines no rule"]
    errors: list[str] = []
    for path, rule in definition.items():
        errors.extend(f"{path}: {problem}" for problem in _rule_problems(path, rule))
    return errors


def _rule_problems(path: str, rule: Any) -> Iterator[str]:
    if not _PATH.match(path) or ".." in path or path.endswith("."):
        yield "not an attribute path (dot-separated Clusters API attribute names)"
    if not isinstance(rule, dict):
        yield f"a rule is a JSON object with a 'type', not {type(rule).__name__}"
        return
    kind = rule.get("type")
    if kind not in RULE_KEYS:
        yield f"unknown type {kind!r}; known types: {', '.join(RULE_KEYS)}"
        return
    required, optional = RULE_KEYS[kind]
    for key in sorted(required - rule.keys()):
        yield f"type {kind} needs {key!r}"
    for key in sorted(rule.keys() - required - optional - {"type"}):
        yield f"type {kind} does not take {key!r}"
    for key in ("hidden", "isOptional"):
        if key in rule and not isinstance(rule[key], bool):
            yield f"{key} must be true or false"
    if kind == "fixed" and "value" in rule and not _is_scalar(rule["value"]):
        yield "value must be a string, number or boolean"
    if kind in ("allowlist", "blocklist") and "values" in rule:
        values = rule["values"]
        if not isinstance(values, list) or not values:
            yield "values must be a non-empty list"
        elif not all(_is_scalar(v) for v in values):
            yield "values must hold strings, numbers or booleans only"
        elif len({_text(v) for v in values}) != len(values):
            yield "values holds duplicates"
    if kind == "regex" and "pattern" in rule:
        if not isinstance(rule["pattern"], str) or not rule["pattern"]:
            yield "pattern must be a non-empty string"
        else:
            try:
                re.compile(rule["pattern"])
            except re.error as exc:
                yield f"pattern does not compile: {exc}"
    if kind == "range":
        bounds = {k: rule[k] for k in ("minValue", "maxValue") if k in rule}
        if not bounds:
            yield "type range needs 'minValue' and/or 'maxValue'"
        for key, bound in bounds.items():
            if _number(bound) is None or isinstance(bound, str):
                yield f"{key} must be a number"
        low, high = _number(rule.get("minValue")), _number(rule.get("maxValue"))
        if low is not None and high is not None and low > high:
            yield "minValue is greater than maxValue"
    if "defaultValue" in rule and not _is_scalar(rule["defaultValue"]):
        yield "defaultValue must be a string, number or boolean"
    elif "defaultValue" in rule:
        problem = _value_problem(rule, rule["defaultValue"])
        if problem:
            yield f"defaultValue {rule['defaultValue']!r} breaks its own rule: {problem}"
    if path == "cluster_type":
        if kind not in ("fixed", "allowlist", "blocklist"):
            yield "the virtual attribute cluster_type takes a fixed, allowlist or blocklist rule"
        named = [rule.get("value")] if kind == "fixed" else list(rule.get("values") or [])
        for value in named:
            if value not in CLUSTER_TYPES:
                yield f"cluster_type {value!r} is not one of {', '.join(CLUSTER_TYPES)}"
    if path == "dbus_per_hour" and kind != "range":
        yield "the virtual attribute dbus_per_hour takes a range rule"


# --------------------------------------------------------------------------------------------------
# Evaluating a cluster spec
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterCheck:
    """Result of evaluating one cluster spec: ``violations`` fail it, ``notes`` are informational."""

    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"azure_attributes": {"availability": "X"}}`` -> ``{"azure_attributes.availability": "X"}``.

    List items get their index as a path segment (``init_scripts.0.workspace.destination``), the
    way policy paths address them. ``None`` and empty containers are "not set".
    """
    flat: dict[str, Any] = {}
    items = spec.items() if isinstance(spec, Mapping) else enumerate(spec)
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, Mapping | list | tuple):
            flat.update(flatten(value, path + "."))
        elif value is not None:
            flat[path] = value
    return flat


def check_cluster(
    policy_definition: Mapping[str, Any],
    new_cluster: Mapping[str, Any],
    *,
    cluster_type: str = "job",
    apply_policy_values: bool = False,
) -> list[str]:
    """Violations of ``new_cluster`` (a Jobs/Clusters API cluster spec) against the policy.

    See :func:`evaluate_cluster`; this returns its ``violations`` only.
    """
    return evaluate_cluster(
        policy_definition, new_cluster, cluster_type=cluster_type, apply_policy_values=apply_policy_values
    ).violations


def evaluate_cluster(
    policy_definition: Mapping[str, Any],
    new_cluster: Mapping[str, Any],
    *,
    cluster_type: str = "job",
    apply_policy_values: bool = False,
) -> ClusterCheck:
    """Evaluate a cluster spec against a policy definition the way the workspace does.

    - every rule is required unless ``isOptional`` is true (``forbidden`` rules never are);
    - ``apply_policy_values=False`` (default, strict) checks the spec *as written*: an attribute the
      policy requires must be in the spec, even when the policy would fill it in. That is what the
      bundle is held to, so the YAML states the truth and stays compliant without the policy.
      ``apply_policy_values=True`` first fills omitted attributes from ``fixed`` values and
      ``defaultValue`` s, like a cluster created with ``apply_policy_default_values: true``;
    - ``cluster_type`` is the virtual attribute of the same name (job clusters: ``job``);
    - values that still hold a ``${...}`` bundle reference cannot be judged: they are reported as
      notes, not violations.
    """
    values = flatten(new_cluster)
    result = ClusterCheck()
    for path, rule in policy_definition.items():
        if not isinstance(rule, Mapping):
            continue
        kind = rule.get("type")
        if path == "cluster_type":
            problem = _value_problem(rule, cluster_type)
            if problem:
                result.violations.append(f"cluster_type: a {cluster_type} cluster {problem}")
            continue
        if path == "dbus_per_hour":
            result.notes.append("dbus_per_hour: evaluated by the workspace only (price list)")
            continue
        matched = _matching(values, path)
        if "*" in path:
            for actual_path, value in matched.items():
                _judge(result, actual_path, rule, value)
            continue
        if path in matched:
            _judge(result, path, rule, matched[path])
            continue
        # the attribute is not set
        if kind == "forbidden" or rule.get("isOptional") is True:
            continue
        filled = rule.get("value") if kind == "fixed" else rule.get("defaultValue")
        if apply_policy_values and filled is not None:
            _judge(result, path, rule, filled)
        elif filled is not None:
            fills = "fixes it to" if kind == "fixed" else "defaults it to"
            result.violations.append(
                f"{path}: not set; the policy requires it (it {fills} {filled!r}) - state it in the spec"
            )
        else:
            result.violations.append(f"{path}: not set; the policy requires it ({_describe(rule)})")
    return result


def _judge(result: ClusterCheck, path: str, rule: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, str) and _ANY_REF.search(value):
        result.notes.append(f"{path}: {value!r} is an unresolved reference, not checked")
        return
    problem = _value_problem(rule, value)
    if problem:
        result.violations.append(f"{path}: {value!r} {problem}")


def _matching(values: Mapping[str, Any], path: str) -> dict[str, Any]:
    if "*" not in path:
        return {path: values[path]} if path in values else {}
    pattern = re.compile("^" + re.escape(path).replace(r"\*", r"[^.]+") + "$")
    return {k: v for k, v in values.items() if pattern.match(k)}


def _value_problem(rule: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` breaks the rule, or None when it satisfies it."""
    kind = rule.get("type")
    if kind == "fixed":
        return None if _same(value, rule.get("value")) else f"is not the fixed value {rule.get('value')!r}"
    if kind == "forbidden":
        return "is set, the policy forbids this attribute"
    if kind == "allowlist":
        allowed = rule.get("values") or []
        return None if any(_same(value, v) for v in allowed) else f"is not one of {_listing(allowed)}"
    if kind == "blocklist":
        blocked = rule.get("values") or []
        return (
            f"is one of the blocked values {_listing(blocked)}"
            if any(_same(value, v) for v in blocked)
            else None
        )
    if kind == "regex":
        pattern = rule.get("pattern") or ""
        # The workspace anchors the pattern at both ends.
        return None if re.fullmatch(pattern, _text(value)) else f"does not match the pattern {pattern!r}"
    if kind == "range":
        number = _number(value)
        if number is None:
            return "is not a number"
        low, high = _number(rule.get("minValue")), _number(rule.get("maxValue"))
        if low is not None and number < low:
            return f"is below the minimum {rule['minValue']}"
        if high is not None and number > high:
            return f"is above the maximum {rule['maxValue']}"
        return None
    if kind == "unlimited":
        return None
    return f"cannot be judged against an unknown rule type {kind!r}"


def _describe(rule: Mapping[str, Any]) -> str:
    kind = rule.get("type")
    if kind in ("allowlist", "blocklist"):
        return f"{kind} {_listing(rule.get('values') or [])}"
    if kind == "regex":
        return f"regex {rule.get('pattern')!r}"
    if kind == "range":
        return f"range {rule.get('minValue', '-inf')}..{rule.get('maxValue', 'inf')}"
    return str(kind)


def _listing(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_text(v) for v in values) + "]"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same(a: Any, b: Any) -> bool:
    """Equality the way policy values compare: numbers numerically, everything else as text."""
    if not isinstance(a, bool) and not isinstance(b, bool):
        na, nb = _number(a), _number(b)
        if na is not None and nb is not None:
            return na == nb
    return _text(a) == _text(b)

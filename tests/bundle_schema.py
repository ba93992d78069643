"""Validate Databricks Asset Bundle YAML against the Databricks CLI's bundle JSON schema.

The schema comes from the file named by ``BUNDLE_SCHEMA`` (CI points it at a pinned copy), else from
``databricks bundle schema`` when the CLI is on PATH; :class:`SchemaUnavailable` otherwise, and the
tests skip with its message. The project itself never depends on where CI keeps the schema.

Schema quirks handled here:

- it has no ``$schema`` key: it is read as Draft 2020-12 (it uses ``$defs`` and ``deprecated``);
- the ``${...}`` interpolation patterns use ``\\p{L}`` / ``\\p{N}``, which Python's ``re`` rejects, so
  the ``pattern`` keyword is re-implemented with the ``regex`` module;
- typed fields are ``oneOf[<type>, <${...} pattern>]``, whose raw error only says "is not valid under
  any of the given schemas": :func:`readable` descends into the ``oneOf`` context to the real causes;
- the root accepts unknown keys (for YAML-anchor holders), so :func:`validation_errors` also reports
  top-level keys the schema does not know (``x-`` prefixed keys are allowed as anchor holders);
- ``deprecated: true`` is only an annotation in JSON Schema; here a deprecated field is an error.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import regex
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import relevance

SCHEMA_ENV = "BUNDLE_SCHEMA"
ANCHOR_KEY_PREFIX = "x-"


class SchemaUnavailable(RuntimeError):
    """Neither BUNDLE_SCHEMA nor a working `databricks` CLI provides the bundle schema."""


def load_schema() -> tuple[dict[str, Any], str]:
    """The bundle JSON schema and a description of where it came from.

    A ``BUNDLE_SCHEMA`` that names a missing or broken file is an error, not a skip: whoever set it
    expects validation to happen.
    """
    path = os.environ.get(SCHEMA_ENV, "").strip()
    if path:
        schema_file = Path(path).expanduser()
        if not schema_file.is_file():
            raise FileNotFoundError(f"{SCHEMA_ENV}={path!r} is not a file")
        return _checked(json.loads(schema_file.read_text(encoding="utf-8")), str(schema_file))
    cli = shutil.which("databricks")
    if cli is None:
        raise SchemaUnavailable(
            f"bundle JSON schema unavailable: set {SCHEMA_ENV}=<path to jsonschema.json> "
            "or put the Databricks CLI (`databricks bundle schema`) on PATH"
        )
    try:
        done = subprocess.run(
            [cli, "bundle", "schema"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchemaUnavailable(
            f"bundle JSON schema unavailable: `{cli} bundle schema` failed: {exc}"
        ) from exc
    if done.returncode != 0:
        raise SchemaUnavailable(
            f"bundle JSON schema unavailable: `{cli} bundle schema` exited {done.returncode} "
            f"(the legacy pip `databricks-cli` has no bundle command): {done.stderr.strip()[:300]}"
        )
    return _checked(json.loads(done.stdout), f"`{cli} bundle schema`")


def _checked(schema: Any, origin: str) -> tuple[dict[str, Any], str]:
    if not (isinstance(schema, dict) and isinstance(schema.get("properties"), dict) and "$defs" in schema):
        raise ValueError(f"{origin} does not look like the bundle JSON schema (no properties / $defs)")
    for key in ("bundle", "resources", "targets", "variables"):
        if key not in schema["properties"]:
            raise ValueError(f"{origin} does not look like the bundle JSON schema (no {key!r} property)")
    return schema, origin


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    # Same semantics as the stock keyword (an unanchored search), with `regex` instead of `re`.
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _deprecated(
    validator: Any, deprecated: bool, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if deprecated:
        message = schema.get("deprecationMessage") or "this field is deprecated"
        yield ValidationError(f"deprecated field: {message}")


BundleValidator = validators.extend(
    Draft202012Validator, {"pattern": _pattern, "deprecated": _deprecated}, version="bundle-2020-12"
)


# The metaschema declares `pattern` values as format "regex"; check those with `regex` too.
SCHEMA_FORMATS = FormatChecker()


@SCHEMA_FORMATS.checks("regex", raises=regex.error)
def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        _compiled(instance)
    return True


def make_validator(schema: dict[str, Any]) -> Any:
    """A :data:`BundleValidator` for ``schema`` (checked against the 2020-12 metaschema first)."""
    BundleValidator.check_schema(schema, format_checker=SCHEMA_FORMATS)
    return BundleValidator(schema)


def location(path: Any) -> str:
    """``resources.jobs.bronze.tasks[0].python_wheel_task`` from a jsonschema path deque."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _is_interpolation_branch(subschema: Any) -> bool:
    return (
        isinstance(subschema, dict)
        and subschema.get("type") == "string"
        and str(subschema.get("pattern", "")).startswith("\\$\\{")
    )


def _messages(error: ValidationError) -> list[str]:
    """Readable lines for ``error``, descending into the ``oneOf``/``anyOf`` branch that matters."""
    where = location(error.absolute_path)
    branches = error.validator_value if error.validator in ("oneOf", "anyOf") else None
    if not error.context or not isinstance(branches, list):
        return [f"{where}: {error.message}"]
    if isinstance(error.instance, str) and "${" in error.instance:
        return [f"{where}: {error.instance!r} is not a valid value here, nor a valid ${{...}} reference"]
    causes = [e for e in error.context if not _is_interpolation_branch(branches[e.relative_schema_path[0]])]
    if not causes:
        return [f"{where}: {error.message}"]
    # The branch whose errors go deepest into the instance is the one the author meant.
    chosen = min(causes, key=relevance).relative_schema_path[0]
    lines: list[str] = []
    for cause in causes:
        if cause.relative_schema_path[0] != chosen:
            continue
        if (
            not cause.context
            and cause.absolute_path == error.absolute_path
            and cause.validator in _VALUE_KEYWORDS
        ):
            lines.append(f"{where}: {cause.message} (nor a ${{...}} reference)")
        else:
            lines.extend(_messages(cause))
    return lines


_VALUE_KEYWORDS = frozenset({"type", "enum", "const", "pattern"})


def readable(error: ValidationError) -> list[str]:
    """Lines naming where and why, descending oneOf/anyOf contexts to the actual causes.

    Typed fields are ``oneOf[<type>, <${...} pattern>...]``: for a value that is no ``${...}``
    reference the pattern branches are ignored, so ``max_concurrent_runs: one`` reads "'one' is not of
    type 'integer'" and an object with a typo reads "Additional properties are not allowed".
    """
    return _messages(error)


def validation_errors(bundle_validator: Any, document: Any) -> list[str]:
    """Readable messages of everything wrong with one bundle YAML document (empty if it is valid)."""
    messages = [line for err in bundle_validator.iter_errors(document) for line in readable(err)]
    if isinstance(document, dict):
        known = set(bundle_validator.schema["properties"])
        for key in document:
            if key not in known and not str(key).startswith(ANCHOR_KEY_PREFIX):
                messages.append(
                    f"{key}: unknown top-level key (known: {', '.join(sorted(known))}; "
                    f"prefix YAML-anchor holders with {ANCHOR_KEY_PREFIX!r})"
                )
    return sorted(messages)

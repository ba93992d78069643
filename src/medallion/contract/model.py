"""The typed view of an event contract document, parsed from JSON Schema.

Each contract version is a JSON Schema (draft 2020-12) document shipped as package data in
``medallion/contracts/event_v<N>.json``; the custom keyword ``x-version`` carries the version.
:class:`EventContract` is the typed view of such a document: an ordered list of
:class:`ContractField`, the content model (``additionalProperties``) and the Spark schema the
bronze/silver jobs parse the raw JSON with (every column nullable: parsing runs on untrusted
input and validation is a separate step).

Only a deliberately small JSON Schema subset is understood, so that the compatibility checker
never silently ignores a rule: per property ``type`` (one of string, integer, number, boolean),
``enum``, ``minimum``, ``maximum``, ``minLength`` and ``default``; at the top level
``required``, a boolean ``additionalProperties`` and conditional requirements written as
``if: {properties: {<field>: {const: <value>}}, required: [<field>]}, then: {required: [...]}``
(top-level or inside ``allOf``). Anything else that constrains values raises
:class:`ContractError`; annotations (``description``, ``title``, ``$comment``, ``examples``,
``x-*``) are accepted and ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

FieldType = Literal["string", "integer", "number", "boolean"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
VERSION_KEYWORD = "x-version"

_SPARK_TYPES: dict[str, type[DataType]] = {
    "string": StringType,
    "integer": LongType,
    "number": DoubleType,
    "boolean": BooleanType,
}
_ANNOTATIONS = {"description", "title", "$comment", "examples", "deprecated", "readOnly", "writeOnly"}
_FIELD_KEYWORDS = {"type", "enum", "minimum", "maximum", "minLength", "default"} | _ANNOTATIONS
_TOP_KEYWORDS = {
    "$schema",
    "$id",
    VERSION_KEYWORD,
    "type",
    "additionalProperties",
    "required",
    "properties",
    "allOf",
    "if",
    "then",
} | _ANNOTATIONS


class ContractError(ValueError):
    """A contract document is malformed or uses JSON Schema this module does not understand."""


@dataclass(frozen=True)
class ContractField:
    """One top-level property of the event.

    ``required_when`` maps field names to the value that makes this field required (e.g.
    ``{"event_type": "watch"}``); ``None`` when the requirement is unconditional or absent.
    The value rules (``enum``, bounds) apply whenever the field is present.
    """

    name: str
    type: FieldType
    required: bool = False
    required_when: dict[str, Any] | None = dataclasses.field(default=None, hash=False)
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    default: Any = dataclasses.field(default=None, hash=False)
    description: str | None = dataclasses.field(default=None, compare=False)

    def spark_field(self) -> StructField:
        """The Spark column for this field (always nullable: validation is a separate step)."""
        return StructField(self.name, _SPARK_TYPES[self.type](), True)

    def requirement(self) -> str:
        """Human description of the requirement: 'required', 'optional' or 'required when ...'."""
        if self.required:
            return "required"
        if self.required_when:
            cond = " and ".join(f"{k} == {v!r}" for k, v in self.required_when.items())
            return f"required when {cond}"
        return "optional"


@dataclass(frozen=True)
class EventContract:
    """A parsed contract version. Build with :func:`load_contract`, :meth:`from_dict` or
    :meth:`from_file`; ``json_schema()`` returns (a copy of) the source document."""

    version: int
    fields: tuple[ContractField, ...]
    additional_properties: bool = True
    title: str | None = dataclasses.field(default=None, compare=False)
    schema_id: str | None = dataclasses.field(default=None, compare=False)
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def names(self) -> list[str]:
        """Field names in document order."""
        return [f.name for f in self.fields]

    def field(self, name: str) -> ContractField:
        """The field called ``name``; KeyError if the contract does not declare it."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"contract v{self.version} has no field {name!r} (fields: {self.names})")

    def spark_schema(self) -> StructType:
        """The StructType to parse raw events with (document order, every column nullable)."""
        return StructType([f.spark_field() for f in self.fields])

    def json_schema(self) -> dict[str, Any]:
        """A deep copy of the JSON Schema document the contract was built from."""
        return copy.deepcopy(dict(self.raw))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> EventContract:
        """Parse a JSON Schema document; raises :class:`ContractError` when it is not a valid
        contract (unsupported keywords included)."""
        return _parse(document)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> EventContract:
        """Parse a contract JSON file (e.g. a candidate next version)."""
        with open(path, encoding="utf-8") as fh:
            return _parse(json.load(fh))


# --------------------------------------------------------------------------------------------
# parsing


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unsupported(where: str, keys: set[str]) -> None:
    extra = sorted(k for k in keys if not k.startswith("x-"))
    if extra:
        raise ContractError(f"{where}: unsupported JSON Schema keyword(s) {extra}")


def _value_matches(type_: str, value: Any) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        return _is_int(value) or (isinstance(value, float) and value.is_integer())
    if type_ == "number":
        return _is_number(value)
    return isinstance(value, bool)


def _parse_conditions(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Map field name -> condition under which it is required, from if/then blocks."""
    blocks: list[Mapping[str, Any]] = []
    if "if" in document or "then" in document:
        blocks.append({"if": document.get("if"), "then": document.get("then")})
    all_of = document.get("allOf", [])
    if not isinstance(all_of, list):
        raise ContractError("allOf must be a list")
    blocks.extend(all_of)

    result: dict[str, dict[str, Any]] = {}
    for i, block in enumerate(blocks):
        where = f"conditional #{i}"
        if not isinstance(block, Mapping):
            raise ContractError(f"{where}: must be an object")
        _unsupported(where, set(block) - {"if", "then"} - _ANNOTATIONS)
        cond_schema, then = block.get("if"), block.get("then")
        if not isinstance(cond_schema, Mapping) or not isinstance(then, Mapping):
            raise ContractError(f"{where}: needs both an 'if' and a 'then' object")
        _unsupported(f"{where} if", set(cond_schema) - {"properties", "required"})
        props = cond_schema.get("properties")
        if not isinstance(props, Mapping) or not props:
            raise ContractError(f"{where}: 'if' must test field values with properties/const")
        condition: dict[str, Any] = {}
        for name, test in props.items():
            if not isinstance(test, Mapping) or set(test) != {"const"}:
                raise ContractError(f"{where}: 'if' may only test {{'const': value}} (field {name!r})")
            condition[name] = test["const"]
        if set(cond_schema.get("required", [])) != set(condition):
            # Without 'required' an absent field satisfies the 'if' and the 'then' would fire.
            raise ContractError(
                f"{where}: 'if' must list the tested fields {sorted(condition)} in 'required'"
            )
        _unsupported(f"{where} then", set(then) - {"required"})
        names = then.get("required")
        if not isinstance(names, list) or not names:
            raise ContractError(f"{where}: 'then' must be {{'required': [field, ...]}}")
        for name in names:
            if name in result:
                raise ContractError(f"field {name!r} has more than one conditional requirement")
            result[name] = dict(condition)
    return result


def _parse(document: Mapping[str, Any]) -> EventContract:
    if not isinstance(document, Mapping):
        raise ContractError("a contract must be a JSON object")
    _unsupported("contract", set(document) - _TOP_KEYWORDS)
    dialect = document.get("$schema", JSON_SCHEMA_DIALECT)
    if dialect != JSON_SCHEMA_DIALECT:
        raise ContractError(f"contract must use JSON Schema {JSON_SCHEMA_DIALECT}, not {dialect!r}")
    version = document.get(VERSION_KEYWORD)
    if not _is_int(version) or version < 1:
        raise ContractError(f"contract needs a positive integer {VERSION_KEYWORD!r}, got {version!r}")
    if document.get("type") != "object":
        raise ContractError("contract 'type' must be 'object'")
    additional = document.get("additionalProperties", True)
    if not isinstance(additional, bool):
        raise ContractError("only a boolean 'additionalProperties' is supported")
    properties = document.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise ContractError("contract needs a non-empty 'properties' object")
    required = document.get("required", [])
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        raise ContractError("'required' must be a list of field names")
    conditions = _parse_conditions(document)
    for name in [*required, *conditions]:
        if name not in properties:
            raise ContractError(f"field {name!r} is required but not declared in 'properties'")
    for name, condition in conditions.items():
        if name in required:
            raise ContractError(f"field {name!r} is both unconditionally and conditionally required")
        for cond_field in condition:
            if cond_field not in properties:
                raise ContractError(f"condition of {name!r} tests undeclared field {cond_field!r}")

    fields = [
        _parse_field(name, spec, name in required, conditions.get(name)) for name, spec in properties.items()
    ]
    return EventContract(
        version=version,
        fields=tuple(fields),
        additional_properties=additional,
        title=document.get("title"),
        schema_id=document.get("$id"),
        raw=copy.deepcopy(dict(document)),
    )


def _parse_field(name: str, spec: Any, required: bool, required_when: dict[str, Any] | None) -> ContractField:
    where = f"field {name!r}"
    if not isinstance(spec, Mapping):
        raise ContractError(f"{where}: definition must be an object")
    _unsupported(where, set(spec) - _FIELD_KEYWORDS)
    type_ = spec.get("type")
    if type_ not in get_args(FieldType):
        raise ContractError(f"{where}: 'type' must be one of {list(get_args(FieldType))}, got {type_!r}")

    enum = spec.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not enum:
            raise ContractError(f"{where}: 'enum' must be a non-empty list")
        bad = [v for v in enum if not _value_matches(type_, v)]
        if bad:
            raise ContractError(f"{where}: enum values {bad} are not of type {type_}")
        enum = tuple(enum)
    for key in ("minimum", "maximum"):
        if key in spec and (type_ not in ("integer", "number") or not _is_number(spec[key])):
            raise ContractError(f"{where}: {key!r} needs a numeric field and a numeric value")
    min_length = spec.get("minLength")
    if min_length is not None and (type_ != "string" or not _is_int(min_length) or min_length < 0):
        raise ContractError(f"{where}: 'minLength' needs a string field and a non-negative integer")
    default = spec.get("default")
    if default is not None and not _value_matches(type_, default):
        raise ContractError(f"{where}: default {default!r} is not of type {type_}")
    return ContractField(
        name=name,
        type=type_,
        required=required,
        required_when=required_when,
        enum=enum,
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        min_length=min_length,
        default=default,
        description=spec.get("description"),
    )

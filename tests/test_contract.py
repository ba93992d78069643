"""The v1 event contract (JSON Schema) and the contract compatibility checker."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chispa.schema_comparer import assert_schema_equality
from jsonschema import Draft202012Validator
from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

from medallion.contract import (
    CompatibilityResult,
    ContractError,
    ContractField,
    EventContract,
    IncompatibleContractError,
    assert_compatible,
    available_versions,
    check_compatibility,
    is_additive_change,
    load_contract,
)

MODES = ("backward", "forward", "full")


# --------------------------------------------------------------------------------------------
# helpers: candidate contracts are the v1 document with small modifications


def v1_doc() -> dict[str, Any]:
    return load_contract(1).json_schema()


def candidate(edit: Callable[[dict[str, Any]], None], version: int = 2) -> EventContract:
    doc = v1_doc()
    doc["x-version"] = version
    edit(doc)
    return EventContract.from_dict(doc)


def add_field(name: str, spec: dict[str, Any], required: bool = False) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["properties"][name] = spec
        if required:
            doc["required"].append(name)

    return edit


def set_keyword(field: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["properties"][field][key] = value

    return edit


def remove_field(name: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        del doc["properties"][name]
        if name in doc["required"]:
            doc["required"].remove(name)

    return edit


def directions(old: EventContract, new: EventContract) -> dict[str, bool]:
    return {mode: check_compatibility(old, new, mode).compatible for mode in MODES}


BACKWARD_ONLY = {"backward": True, "forward": False, "full": False}
FORWARD_ONLY = {"backward": False, "forward": True, "full": False}
BOTH = {"backward": True, "forward": True, "full": True}
NEITHER = {"backward": False, "forward": False, "full": False}


@pytest.fixture(scope="module")
def v1() -> EventContract:
    return load_contract(1)


@pytest.fixture(scope="module")
def validator(v1: EventContract) -> Draft202012Validator:
    return Draft202012Validator(v1.json_schema())


def watch_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "e-1",
        "event_type": "watch",
        "user_id": "u-1",
        "video_id": "v-1",
        "timestamp": 1_717_000_000_000,
        "watch_time_ms": 30_000,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not _DROP}


_DROP = object()


# --------------------------------------------------------------------------------------------
# loading and the v1 document


def test_v1_is_packaged_and_latest(v1: EventContract) -> None:
    assert 1 in available_versions()
    assert available_versions() == sorted(available_versions())
    assert load_contract().version == max(available_versions())
    assert v1.version == 1
    assert v1.additional_properties is True
    assert v1.schema_id
    assert v1.schema_id.endswith("v1.json")
    assert v1.title


def test_unknown_version_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown event contract version 999"):
        load_contract(999)


def test_v1_fields(v1: EventContract) -> None:
    assert v1.names == [
        "event_id",
        "event_type",
        "user_id",
        "video_id",
        "timestamp",
        "watch_time_ms",
        "video_duration_ms",
        "schema_version",
    ]
    required = {f.name for f in v1.fields if f.required}
    assert required == {"event_id", "event_type", "user_id", "video_id", "timestamp"}
    assert v1.field("event_type").enum == ("watch", "like", "share", "comment", "follow")
    for name in ("event_id", "user_id", "video_id"):
        assert v1.field(name).min_length == 1
        assert v1.field(name).type == "string"
    watch = v1.field("watch_time_ms")
    assert (watch.type, watch.required, watch.required_when) == ("integer", False, {"event_type": "watch"})
    assert (watch.minimum, watch.maximum) == (0, 86_400_000)
    assert v1.field("video_duration_ms").minimum == 0
    assert v1.field("video_duration_ms").required_when is None
    assert v1.field("schema_version").default == 1
    assert v1.field("timestamp").type == "integer"
    with pytest.raises(KeyError, match="no field 'nope'"):
        v1.field("nope")


def test_json_schema_is_a_copy(v1: EventContract) -> None:
    doc = v1.json_schema()
    doc["properties"].clear()
    assert v1.json_schema()["properties"]
    assert load_contract(1) == v1


def test_json_schema_is_valid_draft_2020_12(v1: EventContract) -> None:
    doc = v1.json_schema()
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["additionalProperties"] is True
    assert doc["x-version"] == 1
    assert doc["properties"]["schema_version"]["default"] == 1


@pytest.mark.parametrize(
    "event",
    [
        watch_event(),
        watch_event(watch_time_ms=0),
        watch_event(watch_time_ms=86_400_000),
        watch_event(video_duration_ms=60_000, schema_version=1),
        watch_event(event_type="like", watch_time_ms=_DROP),
        watch_event(event_type="follow", watch_time_ms=_DROP),
        watch_event(event_type="share", watch_time_ms=_DROP, video_duration_ms=0),
        watch_event(event_type="comment"),
        watch_event(device="tv", country="NL", nested={"a": [1, 2]}),
    ],
    ids=[
        "watch",
        "watch-zero",
        "watch-24h",
        "optional-fields",
        "like",
        "follow",
        "share-duration-zero",
        "comment-with-watch-time",
        "unknown-extra-fields",
    ],
)
def test_valid_events_pass(validator: Draft202012Validator, event: dict[str, Any]) -> None:
    assert [e.message for e in validator.iter_errors(event)] == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (watch_event(event_id=_DROP), "'event_id' is a required property"),
        (watch_event(user_id=_DROP), "'user_id' is a required property"),
        (watch_event(video_id=_DROP), "'video_id' is a required property"),
        (watch_event(timestamp=_DROP), "'timestamp' is a required property"),
        (watch_event(event_type=_DROP), "'event_type' is a required property"),
        (watch_event(event_id=""), "should be non-empty"),
        (watch_event(timestamp="2024-05-29T12:00:00Z"), "is not of type 'integer'"),
        (watch_event(timestamp=1.5), "is not of type 'integer'"),
        (watch_event(user_id=42), "is not of type 'string'"),
        (watch_event(watch_time_ms=True), "is not of type 'integer'"),
        (watch_event(watch_time_ms=_DROP), "'watch_time_ms' is a required property"),
        (watch_event(watch_time_ms=86_400_001), "is greater than the maximum of 86400000"),
        (watch_event(watch_time_ms=-1), "is less than the minimum of 0"),
        (watch_event(video_duration_ms=-5), "is less than the minimum of 0"),
        (watch_event(event_type="dislike"), "is not one of"),
        (watch_event(schema_version="1"), "is not of type 'integer'"),
    ],
    ids=[
        "missing-event_id",
        "missing-user_id",
        "missing-video_id",
        "missing-timestamp",
        "missing-event_type",
        "empty-event_id",
        "timestamp-string",
        "timestamp-float",
        "user_id-int",
        "watch_time_ms-bool",
        "watch-without-watch_time_ms",
        "watch_time_ms-over-24h",
        "watch_time_ms-negative",
        "video_duration_ms-negative",
        "unknown-event_type",
        "schema_version-string",
    ],
)
def test_invalid_events_fail(validator: Draft202012Validator, event: dict[str, Any], expected: str) -> None:
    messages = [e.message for e in validator.iter_errors(event)]
    assert messages, f"{event} should be rejected"
    assert any(expected in m for m in messages), messages


def test_spark_schema_is_exact(v1: EventContract) -> None:
    expected = StructType(
        [
            StructField("event_id", StringType(), True),
            StructField("event_type", StringType(), True),
            StructField("user_id", StringType(), True),
            StructField("video_id", StringType(), True),
            StructField("timestamp", LongType(), True),
            StructField("watch_time_ms", LongType(), True),
            StructField("video_duration_ms", LongType(), True),
            StructField("schema_version", LongType(), True),
        ]
    )
    assert_schema_equality(v1.spark_schema(), expected)
    assert v1.spark_schema() == expected


def test_spark_schema_maps_every_type() -> None:
    def edit(doc: dict[str, Any]) -> None:
        add_field("score", {"type": "number"})(doc)
        add_field("flag", {"type": "boolean"})(doc)

    schema = candidate(edit).spark_schema()
    assert schema["score"] == StructField("score", DoubleType(), True)
    assert schema["flag"] == StructField("flag", BooleanType(), True)
    assert schema.fieldNames()[-2:] == ["score", "flag"]
    assert all(f.nullable for f in schema.fields)


def test_spark_schema_parses_raw_events(spark, v1: EventContract) -> None:
    lines = [
        json.dumps(watch_event(extra="ignored")),
        json.dumps(watch_event(event_id="e-2", event_type="like", watch_time_ms=_DROP)),
    ]
    df = spark.read.schema(v1.spark_schema()).json(spark.sparkContext.parallelize(lines, 1))
    rows = {r.event_id: r for r in df.collect()}
    assert df.columns == v1.names
    assert rows["e-1"].watch_time_ms == 30_000
    assert rows["e-1"].timestamp == 1_717_000_000_000
    assert rows["e-2"].watch_time_ms is None


# --------------------------------------------------------------------------------------------
# parsing candidate contracts


def test_from_file_round_trip(tmp_path, v1: EventContract) -> None:
    path = tmp_path / "event_v1.json"
    path.write_text(json.dumps(v1.json_schema()), encoding="utf-8")
    assert EventContract.from_file(path) == v1


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (set_keyword("user_id", "pattern", "^u-"), "unsupported JSON Schema keyword"),
        (set_keyword("user_id", "type", ["string", "null"]), "'type' must be one of"),
        (set_keyword("user_id", "type", "array"), "'type' must be one of"),
        (set_keyword("user_id", "minimum", 3), "'minimum' needs a numeric field"),
        (set_keyword("event_type", "enum", ["watch", 3]), "not of type string"),
        (set_keyword("schema_version", "default", "one"), "default 'one' is not of type integer"),
        (lambda d: d.pop("x-version"), "positive integer 'x-version'"),
        (lambda d: d["required"].append("ghost"), "'ghost' is required but not declared"),
        (lambda d: d.update(additionalProperties={"type": "string"}), "boolean 'additionalProperties'"),
        (lambda d: d["allOf"][0]["if"].pop("required"), "must list the tested fields"),
        (lambda d: d["allOf"][0].update(**{"else": {"required": ["video_duration_ms"]}}), "unsupported"),
        (lambda d: d["required"].append("watch_time_ms"), "both unconditionally and conditionally"),
        (lambda d: d.update({"$schema": "http://json-schema.org/draft-07/schema#"}), "2020-12"),
    ],
    ids=[
        "pattern",
        "type-list",
        "type-array",
        "minimum-on-string",
        "enum-type",
        "default-type",
        "no-version",
        "undeclared-required",
        "additionalProperties-schema",
        "if-without-required",
        "else-branch",
        "double-requirement",
        "draft-07",
    ],
)
def test_unsupported_or_malformed_contracts_are_rejected(
    edit: Callable[[dict[str, Any]], None], match: str
) -> None:
    with pytest.raises(ContractError, match=match):
        candidate(edit)


def test_top_level_if_then_is_understood() -> None:
    def edit(doc: dict[str, Any]) -> None:
        block = doc.pop("allOf")[0]
        doc["if"], doc["then"] = block["if"], block["then"]

    contract = candidate(edit)
    assert contract.field("watch_time_ms").required_when == {"event_type": "watch"}


# --------------------------------------------------------------------------------------------
# compatibility


def test_identical_contracts_are_fully_compatible(v1: EventContract) -> None:
    for mode in MODES:
        result = check_compatibility(v1, load_contract(1), mode)
        assert result == CompatibilityResult(compatible=True, mode=mode, problems=[])
        assert result
    assert is_additive_change(v1, v1)


def test_description_changes_do_not_matter(v1: EventContract) -> None:
    new = candidate(set_keyword("user_id", "description", "who did it"))
    assert directions(v1, new) == BOTH
    assert is_additive_change(v1, new)


def test_adding_an_optional_field_is_compatible_in_every_mode(v1: EventContract) -> None:
    new = candidate(add_field("country", {"type": "string", "minLength": 2}))
    assert directions(v1, new) == BOTH
    assert is_additive_change(v1, new)
    assert_compatible(v1, new, "full")


def test_adding_a_required_field_breaks_backward(v1: EventContract) -> None:
    new = candidate(add_field("country", {"type": "string"}, required=True))
    assert directions(v1, new) == FORWARD_ONLY
    (problem,) = check_compatibility(v1, new, "backward").problems
    assert problem.startswith("[backward] field 'country': required")
    assert "may lack it" in problem
    assert not is_additive_change(v1, new)


def test_adding_a_conditionally_required_field_breaks_backward(v1: EventContract) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["properties"]["comment_text"] = {"type": "string"}
        doc["allOf"].append(
            {
                "if": {"properties": {"event_type": {"const": "comment"}}, "required": ["event_type"]},
                "then": {"required": ["comment_text"]},
            }
        )

    new = candidate(edit)
    assert new.field("comment_text").required_when == {"event_type": "comment"}
    assert directions(v1, new) == FORWARD_ONLY
    assert "required when event_type == 'comment'" in check_compatibility(v1, new).problems[0]


def test_removing_a_required_field_breaks_forward(v1: EventContract) -> None:
    new = candidate(remove_field("video_id"))
    assert directions(v1, new) == BACKWARD_ONLY
    (problem,) = check_compatibility(v1, new, "forward").problems
    assert problem.startswith("[forward] field 'video_id': required in the old (v1) contract")


def test_removing_an_optional_field_is_compatible_with_an_open_content_model(v1: EventContract) -> None:
    new = candidate(remove_field("video_duration_ms"))
    assert directions(v1, new) == BOTH
    assert not is_additive_change(v1, new)


def test_type_change_breaks_both_directions(v1: EventContract) -> None:
    new = candidate(set_keyword("timestamp", "type", "string"))
    assert directions(v1, new) == NEITHER
    problems = check_compatibility(v1, new, "full").problems
    assert problems == [
        "[backward] field 'timestamp': type is string in the new (v2) contract "
        "but integer in the old (v1) contract",
        "[forward] field 'timestamp': type is integer in the old (v1) contract "
        "but string in the new (v2) contract",
    ]


def test_integer_to_number_widening_is_backward_only(v1: EventContract) -> None:
    new = candidate(set_keyword("video_duration_ms", "type", "number"))
    assert directions(v1, new) == BACKWARD_ONLY
    # and the reverse (number -> integer narrowing) is forward only
    assert directions(new, v1) == FORWARD_ONLY


def test_enum_narrowing_breaks_backward(v1: EventContract) -> None:
    new = candidate(set_keyword("event_type", "enum", ["watch", "like", "share", "comment"]))
    assert directions(v1, new) == FORWARD_ONLY
    (problem,) = check_compatibility(v1, new, "backward").problems
    assert "field 'event_type'" in problem
    assert "['follow']" in problem


def test_enum_widening_breaks_forward(v1: EventContract) -> None:
    new = candidate(
        set_keyword("event_type", "enum", ["watch", "like", "share", "comment", "follow", "save"])
    )
    assert directions(v1, new) == BACKWARD_ONLY
    (problem,) = check_compatibility(v1, new, "forward").problems
    assert "field 'event_type'" in problem
    assert "['save']" in problem


def test_adding_an_enum_is_narrowing(v1: EventContract) -> None:
    new = candidate(set_keyword("user_id", "enum", ["u-1"]))
    assert directions(v1, new) == FORWARD_ONLY


@pytest.mark.parametrize(
    ("field", "key", "value"),
    [
        ("watch_time_ms", "maximum", 3_600_000),
        ("watch_time_ms", "minimum", 1),
        ("event_id", "minLength", 8),
        ("timestamp", "minimum", 0),  # adding a bound where there was none
    ],
)
def test_tightening_bounds_breaks_backward(v1: EventContract, field: str, key: str, value: int) -> None:
    new = candidate(set_keyword(field, key, value))
    assert directions(v1, new) == FORWARD_ONLY
    (problem,) = check_compatibility(v1, new, "backward").problems
    assert f"field '{field}': {key} is {value}" in problem


@pytest.mark.parametrize(
    ("field", "key", "value"),
    [
        ("watch_time_ms", "maximum", 172_800_000),
        ("watch_time_ms", "minimum", -1),
        ("event_id", "minLength", 0),
    ],
)
def test_loosening_bounds_breaks_forward(v1: EventContract, field: str, key: str, value: int) -> None:
    new = candidate(set_keyword(field, key, value))
    assert directions(v1, new) == BACKWARD_ONLY
    (problem,) = check_compatibility(v1, new, "forward").problems
    assert f"field '{field}'" in problem
    assert key in problem


def test_dropping_a_bound_breaks_forward(v1: EventContract) -> None:
    new = candidate(lambda d: d["properties"]["watch_time_ms"].pop("maximum"))
    assert directions(v1, new) == BACKWARD_ONLY
    assert "allows no maximum" in check_compatibility(v1, new, "forward").problems[0]


def test_optional_to_required_breaks_backward(v1: EventContract) -> None:
    new = candidate(lambda d: d["required"].append("video_duration_ms"))
    assert directions(v1, new) == FORWARD_ONLY
    (problem,) = check_compatibility(v1, new, "backward").problems
    assert problem == (
        "[backward] field 'video_duration_ms': required in the new (v2) contract but optional "
        "in the old (v1) contract, so old (v1) events may lack it"
    )
    # and required -> optional is the mirror image
    assert directions(new, v1) == BACKWARD_ONLY


def test_conditional_to_unconditional_requirement_breaks_backward(v1: EventContract) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc.pop("allOf")
        doc["required"].append("watch_time_ms")

    new = candidate(edit)
    assert directions(v1, new) == FORWARD_ONLY
    assert "required when event_type == 'watch'" in check_compatibility(v1, new).problems[0]
    # dropping the conditional requirement entirely loosens: forward breaks
    loose = candidate(lambda d: d.pop("allOf"))
    assert directions(v1, loose) == BACKWARD_ONLY


def test_changing_the_condition_breaks_both(v1: EventContract) -> None:
    new = candidate(lambda d: d["allOf"][0]["if"]["properties"]["event_type"].update(const="share"))
    assert directions(v1, new) == NEITHER


def test_changing_a_default_breaks_both(v1: EventContract) -> None:
    new = candidate(set_keyword("schema_version", "default", 2))
    assert directions(v1, new) == NEITHER
    assert "default is 2" in check_compatibility(v1, new).problems[0]


def test_closed_content_model(v1: EventContract) -> None:
    closed = candidate(lambda d: d.update(additionalProperties=False))
    assert directions(v1, closed) == FORWARD_ONLY
    # with a closed reader, removing a field breaks backward and adding one breaks forward
    closed_smaller = candidate(
        lambda d: (d.update(additionalProperties=False), remove_field("video_duration_ms")(d)), version=3
    )
    assert not check_compatibility(closed, closed_smaller, "backward").compatible
    assert check_compatibility(closed, closed_smaller, "forward").compatible
    closed_bigger = candidate(
        lambda d: (d.update(additionalProperties=False), add_field("country", {"type": "string"})(d)),
        version=3,
    )
    assert check_compatibility(closed, closed_bigger, "backward").compatible
    forward = check_compatibility(closed, closed_bigger, "forward")
    assert not forward.compatible
    assert "field 'country'" in forward.problems[0]


def test_full_mode_reports_both_directions(v1: EventContract) -> None:
    def edit(doc: dict[str, Any]) -> None:
        add_field("country", {"type": "string"}, required=True)(doc)
        remove_field("video_id")(doc)

    new = candidate(edit)
    result = check_compatibility(v1, new, "full")
    assert not result.compatible
    assert result.mode == "full"
    assert [p.split(" ", 1)[0] for p in result.problems] == ["[backward]", "[forward]"]
    assert "'country'" in result.problems[0]
    assert "'video_id'" in result.problems[1]


def test_assert_compatible_lists_all_problems(v1: EventContract) -> None:
    def edit(doc: dict[str, Any]) -> None:
        add_field("country", {"type": "string"}, required=True)(doc)
        doc["properties"]["event_type"]["enum"] = ["watch", "like"]
        doc["properties"]["watch_time_ms"]["maximum"] = 1000

    new = candidate(edit)
    with pytest.raises(IncompatibleContractError) as excinfo:
        assert_compatible(v1, new, "backward")
    err = excinfo.value
    assert isinstance(err, ValueError)
    message = str(err)
    assert "not backward-compatible (3 problem(s))" in message
    for needle in ("'country'", "'event_type'", "'watch_time_ms'"):
        assert needle in message
    assert len(err.result.problems) == 3
    assert_compatible(v1, new, "forward")  # compatible in that direction: no exception


def test_invalid_mode_is_rejected(v1: EventContract) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        check_compatibility(v1, v1, "transitive")  # type: ignore[arg-type]


def test_contract_field_requirement_text() -> None:
    assert ContractField("a", "string", required=True).requirement() == "required"
    assert ContractField("a", "string").requirement() == "optional"
    assert ContractField("a", "string", required_when={"t": "x"}).requirement() == "required when t == 'x'"

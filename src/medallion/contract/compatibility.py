"""The contract compatibility checker.

Compatibility
-------------
Semantics follow the Confluent schema registry: **backward** = consumers using the *new*
contract can read events produced under the *old* one (upgrade consumers first); **forward** =
consumers using the *old* contract can read events produced under the *new* one (upgrade
producers first); **full** = both. Internally both directions are one check, "can a *reader*
contract accept every event a *writer* contract allows?": backward is reader=new/writer=old,
forward is reader=old/writer=new.

=====================================================  ===========  ===========
Change from old to new                                  backward     forward
=====================================================  ===========  ===========
add an optional field                                   ok           ok (1)
add a required (or conditionally required) field        BREAKS       ok
remove an optional field                                ok (2)       ok (1)
remove a required (or conditionally required) field     ok (2)       BREAKS
change a field's type                                   BREAKS       BREAKS
widen ``integer`` -> ``number``                         ok           BREAKS
narrow ``number`` -> ``integer``                        BREAKS       ok
optional -> required (or conditionally required)        BREAKS       ok
required -> optional (or conditionally required)        ok           BREAKS
change the condition of a conditional requirement       BREAKS       BREAKS
add an ``enum`` / remove enum values (narrow)           BREAKS       ok
drop the ``enum`` / add enum values (widen)             ok           BREAKS
tighten a bound (raise ``minimum``/``minLength``,       BREAKS       ok
lower ``maximum``, or add one)
loosen a bound (or drop it)                             ok           BREAKS
change a ``default`` (both old and new declare one)     BREAKS (3)   BREAKS (3)
close the content model (``additionalProperties``       BREAKS       ok
true -> false)
open the content model (false -> true)                  ok           BREAKS
=====================================================  ===========  ===========

(1) With an open content model (``additionalProperties: true``, as in v1) a field the reader
    does not declare is just an ignored extra property, so adding or removing an *optional*
    field is compatible in both directions. If the *reader* contract is closed
    (``additionalProperties: false``) an undeclared field in the writer's data is rejected:
    adding a field then breaks forward and removing one breaks backward.
(2) Removing a field is backward compatible because new consumers treat the old events' value
    as an unknown extra property (the content model stays open); removing a *required* field
    still breaks forward, because old consumers insist on it and new producers may omit it.
    Pragmatic assumption (shared with the brief, stricter than Confluent's
    ``PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`` rule): producers never sent an undeclared property
    under a name a later contract declares with a different meaning, i.e. names of removed
    fields are never reused with another type.
(3) A reader fills an absent field with its own default; if writer and reader declare
    different defaults the same event means different things to them. Adding a default where
    there was none, or dropping one, is not flagged.

A field's ``description`` never affects compatibility; the contract version number is not
checked either (compare candidate contracts with equal versions freely).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from medallion.contract.model import ContractField, EventContract

CompatibilityMode = Literal["backward", "forward", "full"]


class IncompatibleContractError(ValueError):
    """Raised by :func:`assert_compatible`; the message lists every problem found."""

    def __init__(self, result: CompatibilityResult) -> None:
        self.result = result
        lines = "\n".join(f"  - {p}" for p in result.problems)
        super().__init__(
            f"contract is not {result.mode}-compatible ({len(result.problems)} problem(s)):\n{lines}"
        )


@dataclass(frozen=True)
class CompatibilityResult:
    """Outcome of :func:`check_compatibility`; truthy when compatible."""

    compatible: bool
    mode: CompatibilityMode
    problems: list[str]

    def __bool__(self) -> bool:
        return self.compatible


def _reader_problems(
    reader: EventContract, writer: EventContract, reader_label: str, writer_label: str
) -> list[str]:
    """Why ``reader`` might reject or misread an event that ``writer`` allows (empty = none)."""
    problems: list[str] = []
    r_names, w_names = set(reader.names), set(writer.names)

    if not reader.additional_properties and writer.additional_properties:
        problems.append(
            f"content model: the {reader_label} contract rejects unknown fields "
            f"(additionalProperties false) but the {writer_label} contract allows them"
        )

    for r in reader.fields:
        if r.name in w_names:
            continue
        if r.required or r.required_when:
            problems.append(
                f"field {r.name!r}: {r.requirement()} in the {reader_label} contract but not declared "
                f"in the {writer_label} contract, so {writer_label} events may lack it"
            )

    for w in writer.fields:
        if w.name in r_names:
            problems.extend(_field_problems(reader.field(w.name), w, reader_label, writer_label))
        elif not reader.additional_properties:
            problems.append(
                f"field {w.name!r}: declared in the {writer_label} contract but unknown to the "
                f"{reader_label} contract, which rejects unknown fields (additionalProperties false)"
            )
    return problems


def _field_problems(r: ContractField, w: ContractField, reader_label: str, writer_label: str) -> list[str]:
    p = f"field {r.name!r}"
    rl, wl = reader_label, writer_label
    problems: list[str] = []

    if r.type != w.type and not (r.type == "number" and w.type == "integer"):
        problems.append(f"{p}: type is {r.type} in the {rl} contract but {w.type} in the {wl} contract")

    if not w.required:
        stricter = r.required or (r.required_when is not None and r.required_when != w.required_when)
        if stricter:
            problems.append(
                f"{p}: {r.requirement()} in the {rl} contract but {w.requirement()} in the {wl} contract, "
                f"so {wl} events may lack it"
            )

    if r.enum is not None:
        if w.enum is None:
            problems.append(
                f"{p}: the {rl} contract restricts values to enum {list(r.enum)} "
                f"but the {wl} contract allows any {w.type}"
            )
        else:
            missing = [v for v in w.enum if v not in r.enum]
            if missing:
                problems.append(
                    f"{p}: enum values {missing} allowed by the {wl} contract are not in the {rl} enum"
                )

    for key, label, tighter in (
        ("minimum", "minimum", lambda rv, wv: wv < rv),
        ("maximum", "maximum", lambda rv, wv: wv > rv),
        ("min_length", "minLength", lambda rv, wv: wv < rv),
    ):
        rv, wv = getattr(r, key), getattr(w, key)
        if rv is not None and (wv is None or tighter(rv, wv)):
            was = "no " + label if wv is None else f"{label} {wv}"
            problems.append(f"{p}: {label} is {rv} in the {rl} contract but the {wl} contract allows {was}")

    if r.default is not None and w.default is not None and r.default != w.default:
        problems.append(
            f"{p}: default is {r.default!r} in the {rl} contract but {w.default!r} in the {wl} contract, "
            f"so events without the field mean different things"
        )
    return problems


def check_compatibility(
    old: EventContract, new: EventContract, mode: CompatibilityMode = "backward"
) -> CompatibilityResult:
    """Check whether ``new`` may replace ``old`` under ``mode`` (see the module docstring table).

    Each problem is prefixed with the direction that breaks, e.g.
    ``"[backward] field 'country': required in the new contract but ..."``.
    """
    mode_key = mode.lower() if isinstance(mode, str) else mode
    if mode_key not in get_args(CompatibilityMode):
        raise ValueError(f"mode must be one of {list(get_args(CompatibilityMode))}, got {mode!r}")
    old_label, new_label = f"old (v{old.version})", f"new (v{new.version})"
    problems: list[str] = []
    if mode_key in ("backward", "full"):
        problems += [f"[backward] {m}" for m in _reader_problems(new, old, new_label, old_label)]
    if mode_key in ("forward", "full"):
        problems += [f"[forward] {m}" for m in _reader_problems(old, new, old_label, new_label)]
    return CompatibilityResult(compatible=not problems, mode=mode_key, problems=problems)


def assert_compatible(old: EventContract, new: EventContract, mode: CompatibilityMode = "backward") -> None:
    """Raise :class:`IncompatibleContractError` listing every problem unless compatible."""
    result = check_compatibility(old, new, mode)
    if not result.compatible:
        raise IncompatibleContractError(result)


def is_additive_change(old: EventContract, new: EventContract) -> bool:
    """True when ``new`` only adds optional fields to ``old`` (descriptions may change too) and is
    fully compatible with it. An unchanged contract counts as (trivially) additive."""
    if not check_compatibility(old, new, "full").compatible:
        return False
    if old.additional_properties != new.additional_properties:
        return False
    old_names, new_names = set(old.names), set(new.names)
    if any(name not in new_names or new.field(name) != old.field(name) for name in old_names):
        return False
    return all(not (f.required or f.required_when) for f in new.fields if f.name not in old_names)

"""Is a body exactly one JSON value? The check Spark's JSON parsers do not make.

Spark's ``parse_json`` (and ``from_json``) read the first JSON value of a text and ignore what
follows it, so ``{...}{...}`` (two events on one line) and ``{...} xyz`` parse as one valid
object, and a lone surrogate escape (``"\\ud800"``) becomes ``?``. :func:`body_problem` tells
these apart with Python's own JSON decoder, strictly: the body (UTF-8, an optional leading
byte-order mark ignored as RFC 8259 allows) must hold exactly one JSON value with nothing but
JSON whitespace around it, no ``NaN``/``Infinity`` literals, and no escape that is half of a
surrogate pair (I-JSON, RFC 7493). Silver runs it as a vectorised UDF next to ``parse_json``,
which still does the typing.
"""

from __future__ import annotations

import json
import re
from typing import Any

MALFORMED_JSON = "malformed_json"
TRAILING_CONTENT = "trailing_content"
MULTIPLE_JSON_VALUES = "multiple_json_values"
INVALID_UNICODE_ESCAPE = "invalid_unicode_escape"

BOM = "\ufeff"
_WHITESPACE = " \t\n\r"  # JSON's whitespace (RFC 8259), nothing else
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _skip_whitespace(text: str, start: int) -> int:
    end = len(text)
    while start < end and text[start] in _WHITESPACE:
        start += 1
    return start


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def body_problem(body: bytes | None) -> str | None:
    """None when ``body`` is exactly one JSON value (or is not for this check to judge: empty or
    not UTF-8, which silver reports as such); else ``malformed_json``, ``trailing_content``
    (something that is not JSON follows the value), ``multiple_json_values`` (another JSON value
    follows it) or ``invalid_unicode_escape`` (a lone surrogate escape)."""
    if not body:
        return None
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return None
    start = _skip_whitespace(text, 1 if text.startswith(BOM) else 0)
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return MALFORMED_JSON
    rest = _skip_whitespace(text, end)
    if rest < len(text):
        try:
            _DECODER.raw_decode(text, rest)
        except (ValueError, RecursionError):
            return TRAILING_CONTENT
        return MULTIPLE_JSON_VALUES
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        return INVALID_UNICODE_ESCAPE
    return None

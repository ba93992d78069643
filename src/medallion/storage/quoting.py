"""Validation and quoting of the SQL fragments built from names and values: identifiers, table
names, string literals, and the free-form predicates (``where``) that both engines accept.

Identifiers are validated and backtick-quoted; string values are single-quoted with escaping;
predicates are screened by :func:`check_predicate` so that they cannot end the statement or smuggle
in comments. Pure: nothing here touches a SparkSession.
"""

from __future__ import annotations

import re

from medallion.storage.base import StorageError

# Unity Catalog / Delta names we accept: letters, digits, underscore and hyphen (hyphens need
# the backticks we always add). No dots, backticks, quotes, blanks or control characters.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")
_MAX_IDENTIFIER_LENGTH = 255


def quote_identifier(name: str) -> str:
    """``name`` -> ```name``` after validation (a single identifier, no dots)."""
    if (
        not isinstance(name, str)
        or not _IDENTIFIER.fullmatch(name)
        or "--" in name
        or len(name) > _MAX_IDENTIFIER_LENGTH
    ):
        raise StorageError(f"invalid identifier {name!r}: use letters, digits, '_' or '-'")
    return f"`{name}`"


def is_path_table(name: str) -> bool:
    """True for a table given as a storage path (a local folder or a ``scheme://`` URI) rather than a
    Unity Catalog name: the spark-delta engine addresses it as ``delta.`<path>```."""
    return isinstance(name, str) and (name.startswith("/") or "://" in name)


def quote_table_name(name: str) -> str:
    """``catalog.schema.table`` (1 to 3 parts) -> ```catalog`.`schema`.`table```; an absolute path or
    URI -> ``delta.`<path>``` (path-based Delta table)."""
    if not isinstance(name, str) or not name:
        raise StorageError(f"invalid table name {name!r}")
    if is_path_table(name):
        if "`" in name or any(ord(ch) < 32 for ch in name):
            raise StorageError(f"invalid table path {name!r}: no backticks or control characters")
        return f"delta.`{name}`"
    parts = name.split(".")
    if len(parts) > 3:
        raise StorageError(f"invalid table name {name!r}: at most catalog.schema.table")
    try:
        return ".".join(quote_identifier(part) for part in parts)
    except StorageError as exc:
        raise StorageError(f"invalid table name {name!r}: {exc}") from None


def quote_string(value: str) -> str:
    """A Spark SQL string literal: single quotes, with backslash and quote escaped."""
    if not isinstance(value, str):
        raise StorageError(f"expected a string, got {type(value).__name__}")
    if any(ord(ch) < 32 and ch not in "\t" for ch in value):
        raise StorageError("string literals must not contain control characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def datafusion_identifier(name: str) -> str:
    """A DataFusion (delta-rs) column reference: double quotes keep the case; validated like UC names."""
    quote_identifier(name)  # validation only
    return f'"{name}"'


def check_predicate(predicate: str) -> str:
    """Return ``predicate`` stripped if it is one SQL boolean expression; raise StorageError if it
    could end the statement or hide text: ``;`` or comments outside literals, unbalanced
    parentheses or unterminated quotes."""
    if not isinstance(predicate, str) or not predicate.strip():
        raise StorageError("a predicate must be a non-empty SQL expression")
    text = predicate.strip()
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in ("'", '"', "`"):
            end = _end_of_quoted(text, i)
            if end < 0:
                raise StorageError(f"unterminated quote in predicate {predicate!r}")
            i = end + 1
            continue
        if ch == ";":
            raise StorageError(f"';' is not allowed in a predicate: {predicate!r}")
        if text.startswith("--", i) or text.startswith("/*", i) or text.startswith("*/", i):
            raise StorageError(f"comments are not allowed in a predicate: {predicate!r}")
        if ord(ch) < 32 and ch not in "\t\n\r":
            raise StorageError(f"control characters are not allowed in a predicate: {predicate!r}")
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise StorageError(f"unbalanced parentheses in predicate {predicate!r}")
        i += 1
    if depth:
        raise StorageError(f"unbalanced parentheses in predicate {predicate!r}")
    return text


def _end_of_quoted(text: str, start: int) -> int:
    """Index of the quote closing the literal/identifier opened at ``start`` (-1 if none).
    Handles backslash escapes and doubled quotes."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "`":
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i
        i += 1
    return -1

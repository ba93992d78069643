"""Reading a failure of either engine: the exception chain and its texts (Python, Py4J, the Java
stack trace PySpark keeps), Spark's error conditions, and the two storage failures the adapter maps
itself - a concurrent-commit conflict and an unreadable Delta log. Used by the storage adapter's
error mapping and by :mod:`medallion.failures` (which explains any failure in one line)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from medallion.storage.base import CorruptTableLogError

#: The longest explanation printed for an unrecognised error (its first line).
MAX_CHARS = 400

# --- text helpers ----------------------------------------------------------------------------------
_PY4J_CALL = re.compile(r"^An error occurred while calling \S+\.?$")
_RUST_FRAME = re.compile(r"^\s*\d+:\s")


def first_line(text: str, limit: int = MAX_CHARS) -> str:
    """The first meaningful line of an error text: skips Py4J's "An error occurred while calling
    o123.sql." preamble and backtrace lines, drops a leading ": ", caps the length."""
    for raw in str(text).splitlines():
        line = raw.strip()
        if not line or _PY4J_CALL.match(line) or _RUST_FRAME.match(raw) or line.startswith("at "):
            continue
        line = line.lstrip(": ").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."
    return ""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes / contexts (each once, at most 12)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 12:
        seen.add(id(current))
        yield current
        nested = getattr(current, "_cause", None)  # a CapturedException's converted Java cause
        current = (
            current.__cause__
            or current.__context__
            or (nested if isinstance(nested, BaseException) else None)
        )


def java_trace(exc: BaseException) -> str:
    """The Java stack trace (with its ``Caused by`` chain) PySpark keeps with a JVM exception."""
    trace = getattr(exc, "_stackTrace", None)  # pyspark.errors CapturedException
    if isinstance(trace, str):
        return trace
    try:
        from py4j.protocol import Py4JJavaError
    except ImportError:  # pragma: no cover - py4j ships with pyspark
        return ""
    if isinstance(exc, Py4JJavaError):
        try:
            return str(exc)  # Py4J renders the Java exception with its stack trace
        except Exception:  # the JVM may be gone
            return ""
    return ""


def texts(exc: BaseException) -> str:
    parts: list[str] = []
    for e in causes(exc):
        try:
            parts.append(str(e))
        except Exception:
            parts.append(type(e).__name__)
        parts.append(java_trace(e))
    return "\n".join(p for p in parts if p)


def conditions(exc: BaseException) -> list[str]:
    """The Spark error conditions (error classes) of the exception and its causes."""
    found: list[str] = []
    for e in causes(exc):
        # getErrorClass only where getCondition does not exist (PySpark < 4): it is deprecated since
        # 4.0 and warns when called
        for getter in ("getCondition", "getErrorClass"):
            method = getattr(e, getter, None)
            if callable(method):
                try:
                    value = method()
                except Exception:
                    value = None
                if isinstance(value, str) and value:
                    found.append(value)
                break
    return found


def strip_scheme(path: str) -> str:
    path = path.strip().strip("'\"").rstrip(".,;:")
    if path.startswith("file:"):
        path = "/" + path[len("file:") :].lstrip("/")
    return path


# --- concurrent commits ----------------------------------------------------------------------------
_CONCURRENT_COMMIT = re.compile(
    r"DELTA_CONCURRENT_\w+|io\.delta\.exceptions\.(?:Concurrent\w+|MetadataChanged|ProtocolChanged)Exception"
    r"|DeltaConcurrentModificationException"
    r"|\bConcurrent(?:Append|DeleteRead|DeleteDelete|Transaction|Write)Exception\b"
    r"|\b(?:MetadataChanged|ProtocolChanged)Exception\b"
)


def _delta_conflict_classes() -> tuple[type, ...]:
    classes: list[type] = []
    try:
        from delta import exceptions as dex

        classes += [
            dex.DeltaConcurrentModificationException,
            dex.ConcurrentWriteException,
            dex.MetadataChangedException,
            dex.ProtocolChangedException,
            dex.ConcurrentAppendException,
            dex.ConcurrentDeleteReadException,
            dex.ConcurrentDeleteDeleteException,
            dex.ConcurrentTransactionException,
        ]
    except ImportError:  # the delta-spark package is optional on the delta-rs engine
        pass
    try:
        from deltalake.exceptions import CommitFailedError

        classes.append(CommitFailedError)
    except ImportError:  # pragma: no cover - deltalake is a dependency of the local engine
        pass
    return tuple(classes)


def concurrent_commit(exc: BaseException) -> str | None:
    """The conflict's first line when ``exc`` is a concurrent-commit conflict of either engine."""
    conflict = _delta_conflict_classes()
    for e in causes(exc):
        if conflict and isinstance(e, conflict):
            return first_line(str(e)) or type(e).__name__
    if any(c.startswith("DELTA_CONCURRENT") for c in conditions(exc)):
        return first_line(str(exc))
    found = _CONCURRENT_COMMIT.search(texts(exc))
    return found.group(0) if found else None


# --- corrupt Delta log -----------------------------------------------------------------------------
_DELTA_LOG_FILE = re.compile(
    r"(?P<table>(?:file:)?/[^\s'\"\[\](),]*?)/_delta_log/"
    r"(?P<file>\d{20}\.(?:json|checkpoint[^\s'\"]*?\.parquet)|_last_checkpoint)"
)
#: What a failed read of a log file looks like (Spark / Hadoop / Jackson).
_LOG_READ_FAILURE = re.compile(
    r"FAILED_READ_FILE|ChecksumException|JsonParseException|JsonMappingException|JsonEOFException"
    r"|MALFORMED_RECORD|Malformed records|Unexpected end-of-input|Unrecognized token|Illegal (?:unquoted )?"
    r"character|DELTA_LOG_FILE_NOT_FOUND|DELTA_VERSIONS_NOT_CONTIGUOUS|corrupt",
    re.IGNORECASE,
)


def corrupt_delta_log(exc: BaseException) -> tuple[str, str | None, str] | None:
    """(table, log file, reason) when ``exc`` is a failed read of a table's ``_delta_log``."""
    for e in causes(exc):
        if isinstance(e, CorruptTableLogError):
            return e.table, e.log_file, e.detail
    text = texts(exc)
    found = _DELTA_LOG_FILE.search(text)
    if found is None or not _LOG_READ_FAILURE.search(text):
        return None
    table = strip_scheme(found.group("table"))
    return table, f"{table}/_delta_log/{found.group('file')}", _log_failure_reason(text)


#: Short reasons for a failed log read, most specific first: (pattern, reason).
_LOG_FAILURE_REASONS = (
    (re.compile(r"ChecksumException"), "its content does not match its checksum (.crc) file"),
    (
        re.compile(
            r"(?:JsonParseException|JsonMappingException|JsonEOFException): (?P<m>[^\n(]{1,100})"
            r"|(?P<n>Unexpected end-of-input|Unrecognized token|Illegal (?:unquoted )?character)"
        ),
        "not valid JSON",
    ),
    (re.compile(r"DELTA_LOG_FILE_NOT_FOUND|DELTA_VERSIONS_NOT_CONTIGUOUS"), "a commit file is missing"),
    (re.compile(r"FAILED_READ_FILE|MALFORMED_RECORD|Malformed records"), "the file cannot be read"),
)


def _log_failure_reason(text: str) -> str:
    for pattern, reason in _LOG_FAILURE_REASONS:
        found = pattern.search(text)
        if found is not None:
            detail = next((g for g in found.groups() if g), None) if found.groups() else None
            return f"{reason}: {detail.strip()}" if detail else reason
    return "corrupt"

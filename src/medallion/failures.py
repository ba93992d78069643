"""Every failure explained: turn any exception that ends a ``medallion`` command into one or two
sentences that say what is wrong and what to do (:func:`explain`).

The CLI prints ``medallion <command>: FAILED: <explain(exc)>`` and exits 1; the traceback (Python and
Java) is printed only with ``--log-level DEBUG``. What is recognised, best first:

* medallion's own errors (``StorageError`` and its subclasses, ``JobFailedError``): their message,
  which already names the table and the fix;
* a concurrent-commit conflict of either engine (Delta's ``Concurrent*Exception`` /
  ``DELTA_CONCURRENT_*``, delta-rs ``CommitFailedError``) that escaped the storage adapter;
* an unreadable Delta log (a corrupt or truncated ``<table>/_delta_log`` file): names the table and
  the file, points at the runbook;
* a corrupt streaming checkpoint (its ``offsets``/``commits``/``metadata``/``sources`` files cannot be
  read), and two streaming queries on one checkpoint (``CONCURRENT_STREAM_LOG_UPDATE``);
* operating-system errors: permission denied, read-only file system, disk full;
* anything else: the exception's first meaningful line, capped in length.

Spark errors are recognised by their error condition (``getCondition()`` / ``getErrorClass()`` of
``pyspark.errors`` exceptions) and by the Java stack trace PySpark keeps with them (the frames
say *where* a read failed), not by the text of their message alone.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Iterator

from medallion.storage.base import (
    ConcurrentWriteError,
    CorruptTableLogError,
    StorageError,
)

RUNBOOK_CORRUPT_CHECKPOINT = 'docs/runbook.md, "Recover a corrupted streaming checkpoint"'
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


def _texts(exc: BaseException) -> str:
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


def _strip_scheme(path: str) -> str:
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
    found = _CONCURRENT_COMMIT.search(_texts(exc))
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
    text = _texts(exc)
    found = _DELTA_LOG_FILE.search(text)
    if found is None or not _LOG_READ_FAILURE.search(text):
        return None
    table = _strip_scheme(found.group("table"))
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


def corrupt_log_message(table: str, log_file: str | None, reason: str) -> str:
    return str(CorruptTableLogError("read", table, reason, log_file))


# --- streaming checkpoints -------------------------------------------------------------------------
#: Frames of Spark's streaming metadata logs (the checkpoint's offsets, commits, sources, metadata)
#: that *read* a file: an exception raised inside one of them is an unreadable checkpoint file.
_CHECKPOINT_READ_FRAME = re.compile(
    r"org\.apache\.spark\.sql\.execution\.streaming\.(?:\w+\.)*"
    r"(?:(?:HDFSMetadataLog|OffsetSeqLog|CommitLog|CompactibleFileStreamLog|FileStreamSourceLog)"
    r"\.(?:deserialize\w*|get\w*|validateVersion|applyFnToBatchByStream|allFiles)"
    r"|StreamMetadata\$\.read)\b"
)
_CHECKPOINT_MALFORMED = re.compile(r"Log file was malformed|INVALID_LOG_VERSION|UnsupportedLogVersion")
_CHECKPOINT_LOCATION = re.compile(
    r"checkpointLocation=(?P<a>[^,\]\s]+)|Error reading stream metadata from (?P<b>\S+)"
    r"|(?P<c>(?:file:)?/\S*?/_checkpoints/[A-Za-z0-9_]+)"
)
_STREAM_LOG_CONFLICT = re.compile(
    r"CONCURRENT_STREAM_LOG_UPDATE|Concurrent update to the log\. Multiple streaming jobs detected"
)


def _checkpoint_of(text: str, candidates: Iterable[str]) -> str | None:
    found = _CHECKPOINT_LOCATION.search(text)
    if found is not None:
        path = _strip_scheme(found.group("a") or found.group("b") or found.group("c"))
        path = re.sub(r"/(?:offsets|commits|sources|metadata|state)(?:/.*)?$", "", path)
        return path
    candidates = list(candidates)
    for path in candidates:
        if path and path in text:
            return path
    return candidates[0] if candidates else None


def corrupt_checkpoint(exc: BaseException, checkpoints: Iterable[str] = ()) -> str | None:
    """The checkpoint folder when ``exc`` is a failed read of a streaming checkpoint's files."""
    text = _texts(exc)
    if _STREAM_LOG_CONFLICT.search(text):
        return None
    if not (_CHECKPOINT_READ_FRAME.search(text) or _CHECKPOINT_MALFORMED.search(text)):
        return None
    return _checkpoint_of(text, checkpoints) or "(the query's checkpointLocation)"


def checkpoint_conflict(exc: BaseException, checkpoints: Iterable[str] = ()) -> str | None:
    """The checkpoint folder when two streaming queries wrote one checkpoint at once."""
    if "CONCURRENT_STREAM_LOG_UPDATE" in conditions(exc) or _STREAM_LOG_CONFLICT.search(_texts(exc)):
        return _checkpoint_of(_texts(exc), checkpoints) or "(the query's checkpointLocation)"
    return None


# --- operating system ------------------------------------------------------------------------------
_JAVA_OS_FAILURES = (
    (re.compile(r"No space left on device|Disk quota exceeded"), errno.ENOSPC),
    (re.compile(r"Read-only file system"), errno.EROFS),
    (re.compile(r"AccessDeniedException|Permission denied"), errno.EACCES),
)


def os_failure(exc: BaseException) -> str | None:
    for e in causes(exc):
        if isinstance(e, OSError) and e.errno is not None:
            return _os_message(e.errno, e.strerror or str(e), e.filename)
    text = _texts(exc)
    for pattern, code in _JAVA_OS_FAILURES:
        found = pattern.search(text)
        if found:
            line = next((ln for ln in text.splitlines() if pattern.search(ln)), found.group(0))
            return _os_message(code, first_line(line, 250), None)
    return None


def _os_message(code: int, reason: str, path: object) -> str:
    where = f" {path}" if path else ""
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"no space left on the device{where} ({reason}): free space, or point --root at a disk with "
            "room; rerun afterwards (nothing half-written is ever committed)"
        )
    if code == errno.EROFS:
        return f"cannot write{where}: the file system is read-only ({reason}); use a writable --root"
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied{where} ({reason}): the user running medallion cannot write there; fix "
            "the permissions or use another --root"
        )
    return f"{reason}{':' + where if where else ''}"


# --- the one entry point ---------------------------------------------------------------------------
def explain(exc: BaseException, *, checkpoints: Iterable[str] = ()) -> str:
    """One or two sentences saying what went wrong and what to do. ``checkpoints``: the streaming
    checkpoint folders the failed command used (named when Spark's error does not say which)."""
    checkpoints = list(checkpoints)
    if isinstance(exc, (ConcurrentWriteError, CorruptTableLogError)):
        return str(exc)
    corrupt = corrupt_delta_log(exc)
    if corrupt is not None:
        return corrupt_log_message(*corrupt)
    conflict = concurrent_commit(exc)
    if conflict is not None:
        return (
            "another writer committed to a table this run was writing, first "
            f"({conflict}); nothing of this run's write was committed. Rerun: every medallion job is "
            "idempotent and continues where it stopped."
        )
    folder = checkpoint_conflict(exc, checkpoints)
    if folder is not None:
        return (
            f"another run is using the streaming checkpoint {folder}: two streaming queries cannot "
            "share one checkpoint. Wait for the other run to finish (or stop it), then rerun; nothing "
            "is lost (the batch this run was on is retried)."
        )
    folder = corrupt_checkpoint(exc, checkpoints)
    if folder is not None:
        reason = first_line(str(exc).split("terminated with exception:", 1)[-1], 200)
        return (
            f"the streaming checkpoint {folder} is unreadable: one of its files (offsets, commits, "
            f"sources or metadata) is corrupt or truncated ({reason}). Recover it: see "
            f"{RUNBOOK_CORRUPT_CHECKPOINT}."
        )
    if isinstance(exc, StorageError):
        return first_line(str(exc)) or type(exc).__name__
    system = os_failure(exc)
    if system is not None:
        return system
    line = first_line(str(exc))
    if not line:
        return type(exc).__name__
    if type(exc).__module__.split(".")[0] in ("medallion", "bronze", "silver", "gold", "quality"):
        return line
    condition = next(iter(conditions(exc)), None)
    if condition and condition in line:
        return line
    return f"{type(exc).__name__}: {line}"

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
from collections.abc import Iterable

from medallion.storage.base import ConcurrentWriteError, CorruptTableLogError, StorageError
from medallion.storage.diagnosis import (
    causes,
    concurrent_commit,
    conditions,
    corrupt_delta_log,
    first_line,
    strip_scheme,
    texts,
)

__all__ = ["concurrent_commit", "corrupt_delta_log", "explain", "first_line"]

RUNBOOK_CORRUPT_CHECKPOINT = 'docs/runbook.md, "Recover a corrupted streaming checkpoint"'


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
        path = strip_scheme(found.group("a") or found.group("b") or found.group("c"))
        path = re.sub(r"/(?:offsets|commits|sources|metadata|state)(?:/.*)?$", "", path)
        return path
    candidates = list(candidates)
    for path in candidates:
        if path and path in text:
            return path
    return candidates[0] if candidates else None


def corrupt_checkpoint(exc: BaseException, checkpoints: Iterable[str] = ()) -> str | None:
    """The checkpoint folder when ``exc`` is a failed read of a streaming checkpoint's files."""
    text = texts(exc)
    if _STREAM_LOG_CONFLICT.search(text):
        return None
    if not (_CHECKPOINT_READ_FRAME.search(text) or _CHECKPOINT_MALFORMED.search(text)):
        return None
    return _checkpoint_of(text, checkpoints) or "(the query's checkpointLocation)"


def checkpoint_conflict(exc: BaseException, checkpoints: Iterable[str] = ()) -> str | None:
    """The checkpoint folder when two streaming queries wrote one checkpoint at once."""
    if "CONCURRENT_STREAM_LOG_UPDATE" in conditions(exc) or _STREAM_LOG_CONFLICT.search(texts(exc)):
        return _checkpoint_of(texts(exc), checkpoints) or "(the query's checkpointLocation)"
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
    text = texts(exc)
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

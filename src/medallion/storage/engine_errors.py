"""Each engine's own failures as :class:`.base.StorageError`: the mapping every interface method of
an engine runs inside (:meth:`.interface.DeltaStorage._native_errors`).

On both engines a missing table becomes :class:`.base.TableNotFoundError`, a concurrent-commit
conflict :class:`.base.ConcurrentWriteError`, an unreadable Delta log
:class:`.base.CorruptTableLogError`, and any other failure of the engine a plain StorageError;
a StorageError raised inside passes through unchanged.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from medallion.storage import diagnosis
from medallion.storage.base import (
    ConcurrentWriteError,
    CorruptTableLogError,
    StorageError,
    TableNotFoundError,
)

#: Spark/Delta error classes (and message fragments) that mean "the table is not there".
_NOT_FOUND_MARKERS = (
    "TABLE_OR_VIEW_NOT_FOUND",
    "DELTA_TABLE_NOT_FOUND",
    "DELTA_MISSING_DELTA_TABLE",
    "is not a Delta table",
    "PATH_NOT_FOUND",
)


@contextlib.contextmanager
def spark_errors(action: str, table: str) -> Iterator[None]:
    """Turn PySpark/Py4J failures (Spark SQL, Delta) into StorageError."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except StorageError:
        raise
    except (PySparkException, Py4JError) as exc:
        text = str(exc)
        first = diagnosis.first_line(text) or type(exc).__name__
        conflict = diagnosis.concurrent_commit(exc)  # Delta's Concurrent*Exception, DELTA_CONCURRENT_*
        if conflict is not None:
            raise ConcurrentWriteError(action, table, conflict) from exc
        corrupt = diagnosis.corrupt_delta_log(exc)  # names the table folder and the log file
        if corrupt is not None:
            raise CorruptTableLogError(action, table, corrupt[2], corrupt[1]) from exc
        if any(marker in text for marker in _NOT_FOUND_MARKERS):
            raise TableNotFoundError(f"{action}: no Delta table {table}: {first}") from exc
        raise StorageError(f"{action} on {table} failed: {first}") from exc


@contextlib.contextmanager
def delta_rs_errors(action: str, table: str) -> Iterator[None]:
    """Turn deltalake/pyarrow failures into StorageError (TableNotFoundError when missing)."""
    import pyarrow as pa
    from deltalake import exceptions as dx

    try:
        yield
    except StorageError:
        raise
    except dx.TableNotFoundError as exc:
        raise TableNotFoundError(
            f"{action}: no Delta table at {table}: {diagnosis.first_line(str(exc))}"
        ) from exc
    except dx.CommitFailedError as exc:  # a concurrent writer committed a conflicting version first
        raise ConcurrentWriteError(action, table, diagnosis.first_line(str(exc), 300)) from exc
    except dx.DeltaError as exc:
        if _CORRUPT_LOG.search(str(exc)):  # delta-rs does not name the file; the table it does
            raise CorruptTableLogError(action, table, diagnosis.first_line(str(exc), 300)) from exc
        raise StorageError(f"{action} on {table} failed: {diagnosis.first_line(str(exc))}") from exc
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise StorageError(f"{action} on {table} failed: {exc}") from exc


#: delta-rs' words for a log file (``_delta_log/<version>.json``) that cannot be parsed.
_CORRUPT_LOG = re.compile(
    r"Json error|Invalid JSON|Failed to read delta log object|Failed to parse .*log|EOF while parsing",
    re.IGNORECASE,
)

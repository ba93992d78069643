"""One writing run per local warehouse at a time.

Two runs on one local root at once would race for the same streaming checkpoint and the same Delta
commits; the loser would crash half-way. So every command that writes (bronze, silver, gold, local,
demo, maintenance, integration-test) takes an exclusive advisory lock on ``<root>/.medallion.lock``
(``fcntl.flock``, non-blocking) once its preconditions passed, and writes its pid, command and
start time into the file. A second run fails at once (exit 1) naming the run that holds it. The
kernel releases the lock when its process ends, however it ends, so a killed run never leaves a
stale lock behind: the file stays, the lock does not.

On Databricks (``environment=databricks``) there is no shared local root: the bundle's jobs run
with ``max_concurrent_runs: 1`` (resources/*.yml), which is what keeps two runs apart there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

from medallion.config import Config
from medallion.errors import JobFailedError

LOCK_FILE = ".medallion.lock"
#: Commands that take the lock.
LOCKED_COMMANDS = frozenset(
    {"bronze", "silver", "gold", "local", "demo", "maintenance", "integration-test", "materialize"}
)


class RootLockedError(JobFailedError):
    """Another medallion run holds the lock of this root."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info:
        return "another medallion run"
    return (
        f"another medallion run (pid {info.get('pid', '?')}, command {info.get('command', '?')}, "
        f"started at {info.get('started', '?')})"
    )


@contextlib.contextmanager
def root_lock(config: Config, command: str) -> Iterator[Path | None]:
    """Hold the lock of ``config.root`` for the block (local runs only; yields the lock file)."""
    if config.environment != "local":
        yield None
        return
    root = Path(config.root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RootLockedError(
                f"{_holder(fd)} is using root {root}; wait for it to finish (or, if it is gone, simply "
                f"rerun: the lock {path} is released when a process dies)"
            ) from None
        os.ftruncate(fd, 0)
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "started": started}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock

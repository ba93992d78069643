"""Preconditions of a command, checked before Spark starts and before anything is written.

Nothing is changed by a run that fails its preconditions: a missing ``--events`` folder, a
``--root`` that is a file or cannot be written, or ``medallion maintenance`` pointed at a folder that
holds no medallion warehouse stop the command with a :class:`~medallion.config.ConfigError`
(exit 2) naming the path and the reason - no table, folder, checkpoint or lock file is created.
Values that are wrong whatever the command (``--shuffle-partitions 0``, ``--log-level LOUD``) are
refused by :class:`~medallion.config.Config` itself, so environment variables are covered too.

On Databricks (``environment=databricks``) tables are Unity Catalog names and paths are volumes or
cloud URIs the runtime checks itself: nothing is checked here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from medallion.config import Config, ConfigError

#: Commands that run bronze over the files source (and the flag that names their landing folder).
EVENTS_FLAG = {"bronze": "--events-dir", "local": "--events"}
#: Commands that write under the local root.
WRITING_COMMANDS = frozenset(
    {"bronze", "silver", "gold", "local", "demo", "maintenance", "integration-test", "quality", "materialize"}
)


def preflight(config: Config, command: str) -> None:
    """Check what ``command`` needs before it starts; raise ConfigError (exit 2) if it cannot run."""
    if config.environment != "local":
        return
    flag = EVENTS_FLAG.get(command)
    if flag and config.source == "files" and config.events_dir:
        check_events_dir(config.events_dir, flag)
    if command in ("maintenance", "materialize", "training-set"):
        check_warehouse(config, command)
    if command in WRITING_COMMANDS:
        check_writable(config.root, "--root")
        if config.checkpoint_root:
            check_writable(config.checkpoint_root, "--checkpoint-root")


def _is_local_path(path: str) -> bool:
    return "://" not in path


def check_events_dir(path: str, flag: str = "--events") -> None:
    """The landing folder must be an existing, readable folder."""
    if not _is_local_path(path):
        return
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            f"{flag} {path}: no such folder. It must be the existing landing folder of JSON-lines "
            "files: check the path (nothing was changed)"
        )
    if not p.is_dir():
        raise ConfigError(
            f"{flag} {path} is a file, not a folder: point {flag} at the folder that holds the landing "
            f"files (e.g. {p.parent}) (nothing was changed)"
        )
    try:
        os.listdir(p)
    except OSError as exc:
        raise ConfigError(f"{flag} {path} cannot be read: {exc.strerror} (nothing was changed)") from None


def _first_existing(path: Path) -> Path:
    current = path
    while current != current.parent and not current.exists():
        current = current.parent
    return current


def check_writable(path: str, flag: str = "--root") -> None:
    """``path`` is a folder medallion can write, or can be created: probed by really creating (and
    removing) a file in it or in its first existing ancestor - ``os.access`` alone says yes to root
    on a read-only file system."""
    if not _is_local_path(path):
        return
    p = Path(path).absolute()
    try:
        p.exists()
    except OSError as exc:  # e.g. a folder this user may not even look into
        raise ConfigError(
            f"{flag} {path} cannot be used: {exc.strerror or exc}; use a folder this user can write "
            "(nothing was changed)"
        ) from None
    if p.exists() and not p.is_dir():
        raise ConfigError(
            f"{flag} {path} is a file, not a folder: point {flag} at a warehouse folder (it is created "
            "when missing) (nothing was changed)"
        )
    base = _first_existing(p)
    if not base.is_dir():
        raise ConfigError(
            f"{flag} {path} cannot be created: {base} is a file, not a folder (Not a directory); "
            f"point {flag} at a folder (nothing was changed)"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".medallion-write-probe-", dir=base)
    except OSError as exc:
        what = "is not writable" if base == p else f"cannot be created: {base} is not writable"
        raise ConfigError(
            f"{flag} {path} {what} ({exc.strerror or exc}): use a folder this user can write "
            "(nothing was changed)"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_warehouse(config: Config, command: str = "maintenance") -> None:
    """``medallion maintenance`` (``materialize``, ``training-set``) works on the tables an earlier
    run created: the root must hold at least one of them, or it is a typo."""
    from medallion.tables import TABLES  # not at import: preflight runs before anything loads Spark

    root = Path(config.root).absolute()
    if not root.is_dir():
        raise ConfigError(
            f"--root {config.root}: no such folder, so no medallion warehouse is there; check the path "
            f"({command} works on the tables of an earlier run)"
        )
    tables = [spec.location(config) for spec in TABLES]
    if not any((Path(t) / "_delta_log").is_dir() for t in tables):
        names = ", ".join(spec.key for spec in TABLES)
        raise ConfigError(
            f"--root {config.root} holds none of the medallion tables ({names}): no medallion "
            f"warehouse is there; check the path ({command} works on the tables of an earlier run)"
        )

"""How one table is maintained (:class:`TablePolicy`) and the Delta interval arithmetic its checks
use. Part of the table registry: every :class:`medallion.tables.TableSpec` carries its policy;
the maintenance job (:mod:`medallion.maintenance`) applies it.

Retention safety (see docs/maintenance.md): VACUUM deletes data files that the current version no
longer references once they were removed longer ago than the retention. Anything that still reads
an *older* version needs those files: queries running while VACUUM runs, the incremental readers
of this pipeline (silver reads the bronze change data feed by version, gold the silver one: a job
paused longer than the retention cannot catch up), streaming checkpoints, and time travel. So the
retention is never below :data:`MIN_SAFE_RETENTION_HOURS` (Delta's own default of 7 days) unless an
explicit override is given, and the ``delta.deletedFileRetentionDuration`` property (the retention
Delta applies and checks by default) never promises more than VACUUM keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medallion.config import ConfigError

#: Delta's default VACUUM retention and safety minimum: 7 days.
MIN_SAFE_RETENTION_HOURS = 168

LOG_RETENTION_PROPERTY = "delta.logRetentionDuration"
DELETED_FILE_RETENTION_PROPERTY = "delta.deletedFileRetentionDuration"

#: Files below this size count as small. A partition with two or more small files is compacted.
#: Well below what OPTIMIZE writes, so its output is not picked up again the next night: Databricks
#: writes files close to its target (>= 256 MiB); delta-rs splits on uncompressed bytes and writes
#: files of about 1/3 to 3/4 of its target (100 MiB by default), i.e. >= ~33 MiB. A table that sets
#: ``delta.targetFileSize`` lowers the threshold to a quarter of that target (see maintenance.job).
DEFAULT_SMALL_FILE_BYTES = 16 * 1024 * 1024

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(hour|day|week)s?\s*$", re.IGNORECASE)
_HOURS_PER_UNIT = {"hour": 1, "day": 24, "week": 168}
_INTERVAL_TERM = re.compile(r"(\d+)\s*(week|day|hour|minute|second)s?", re.IGNORECASE)
_SECONDS_PER_UNIT = {"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1}


def interval_hours(interval: str) -> int:
    """Hours of a Delta interval property value: ``interval 7 days`` -> 168
    (units: hours, days, weeks - what the retention properties are written in)."""
    match = _INTERVAL.match(interval)
    if not match:
        raise ConfigError(f"{interval!r} is not a Delta interval like 'interval 7 days'")
    return int(match.group(1)) * _HOURS_PER_UNIT[match.group(2).lower()]


def interval_seconds(text: str | None) -> int | None:
    """Seconds of any interval Delta accepts for its duration properties, in any spelling
    (``interval 7 days``, ``INTERVAL 1 WEEK``, ``168 hours``, ``interval 6 days 24 hours``); None
    when ``text`` is not such an interval."""
    if text is None:
        return None
    body = re.sub(r"^\s*interval\s+", "", str(text), flags=re.IGNORECASE).strip()
    terms = _INTERVAL_TERM.findall(body)
    if not terms or _INTERVAL_TERM.sub("", body).strip():
        return None
    return sum(int(n) * _SECONDS_PER_UNIT[unit.lower()] for n, unit in terms)


def same_property_value(current: str | None, wanted: str) -> bool:
    """Whether a table property already has the wanted value: the same text, or the same duration
    written differently (``interval 1 week`` is ``interval 7 days``) - no metadata commit needed."""
    if current is None:
        return False
    if current == wanted:
        return True
    seconds = interval_seconds(wanted)
    return seconds is not None and interval_seconds(current) == seconds


@dataclass(frozen=True)
class TablePolicy:
    """How one table is maintained.

    compact: run OPTIMIZE (bin-packing small files; with ``zorder_by`` also Z-ordering).
    zorder_by: columns to Z-order by - the columns of selective filters and joins (entity keys).
    liquid_clustering: the table uses liquid clustering: OPTIMIZE runs without ZORDER BY (Delta
      refuses Z-order on clustered tables) and clusters incrementally. ``cluster_by`` columns are
      then applied with ``ALTER TABLE ... CLUSTER BY`` on engines that support it (Databricks);
      empty means "the table was created with CLUSTER BY, keep its keys". Liquid clustering and
      partitioning exclude each other: only for unpartitioned tables.
    vacuum / vacuum_retention_hours: VACUUM after OPTIMIZE, keeping files removed less than this
      many hours ago.
    log_retention / deleted_file_retention: the Delta table properties
      ``delta.logRetentionDuration`` (how long the transaction log keeps versions: time travel
      and change data feed reach) and ``delta.deletedFileRetentionDuration`` (Delta's default
      VACUUM retention), set on the table when they differ.
    small_file_bytes: files below this size are compaction candidates.
    streamed: a stream appends to the table around the clock (prod bronze). Any metadata commit
      (``SET TBLPROPERTIES``) made while it runs fails the stream's concurrent micro-batch, so the
      job does not make one: it reports it as deferred, to be applied while the stream is stopped.
      Liquid clustering keys of such a table are set when it is created (no ``cluster_by`` here).
    """

    layer: str
    name: str
    zorder_by: tuple[str, ...] = ()
    compact: bool = True
    vacuum: bool = True
    vacuum_retention_hours: int = MIN_SAFE_RETENTION_HOURS
    log_retention: str = "interval 30 days"
    deleted_file_retention: str = "interval 7 days"
    liquid_clustering: bool = False
    cluster_by: tuple[str, ...] = ()
    small_file_bytes: int = DEFAULT_SMALL_FILE_BYTES
    streamed: bool = False
    reason: str = ""  # why this layout: shown in docs/maintenance.md

    def __post_init__(self) -> None:
        # tuples also when given lists (the dataclass is frozen: set through object.__setattr__)
        object.__setattr__(self, "zorder_by", tuple(self.zorder_by))
        object.__setattr__(self, "cluster_by", tuple(self.cluster_by))
        where = f"maintenance policy {self.key}"
        for ident in (self.layer, self.name, *self.zorder_by, *self.cluster_by):
            if not _IDENT.match(ident):
                raise ConfigError(f"{where}: {ident!r} is not a valid identifier")
        for label, columns in (("zorder_by", self.zorder_by), ("cluster_by", self.cluster_by)):
            if len(set(columns)) != len(columns):
                raise ConfigError(f"{where}: repeated {label} columns {list(columns)}")
        if self.zorder_by and not self.compact:
            raise ConfigError(f"{where}: zorder_by needs compact=True (Z-ordering is an OPTIMIZE)")
        if self.liquid_clustering and self.zorder_by:
            raise ConfigError(
                f"{where}: a liquid clustering table is optimized without ZORDER BY; "
                "put its columns in cluster_by"
            )
        if self.cluster_by and not self.liquid_clustering:
            raise ConfigError(f"{where}: cluster_by needs liquid_clustering=True")
        if self.cluster_by and self.streamed:
            raise ConfigError(
                f"{where}: ALTER TABLE ... CLUSTER BY on a streamed table would fail the stream's "
                "micro-batch; create the table with its clustering keys instead"
            )
        if isinstance(self.vacuum_retention_hours, bool) or not isinstance(self.vacuum_retention_hours, int):
            raise ConfigError(f"{where}: vacuum_retention_hours must be an integer")
        if self.vacuum_retention_hours < 0:
            raise ConfigError(f"{where}: vacuum_retention_hours must be >= 0")
        if self.small_file_bytes <= 0:
            raise ConfigError(f"{where}: small_file_bytes must be > 0")
        log_hours = interval_hours(self.log_retention)
        deleted_hours = interval_hours(self.deleted_file_retention)
        if log_hours < deleted_hours:
            raise ConfigError(
                f"{where}: log_retention ({self.log_retention}) is shorter than deleted_file_retention "
                f"({self.deleted_file_retention}): versions whose files are kept could not be read"
            )
        if self.vacuum and self.vacuum_retention_hours < deleted_hours:
            raise ConfigError(
                f"{where}: vacuum_retention_hours={self.vacuum_retention_hours} is below "
                f"deleted_file_retention ({self.deleted_file_retention}), which the table promises "
                "(and Databricks enforces); lower the property instead"
            )

    @property
    def key(self) -> str:
        """``<layer>.<table>``, the name used by ``--tables`` and in the report."""
        return f"{self.layer}.{self.name}"

    @property
    def optimize_columns(self) -> tuple[str, ...]:
        """The ZORDER BY columns of this table's OPTIMIZE (none for liquid clustering)."""
        return () if self.liquid_clustering else self.zorder_by

    @property
    def properties(self) -> dict[str, str]:
        """The Delta table properties this policy keeps on the table."""
        return {
            LOG_RETENTION_PROPERTY: self.log_retention,
            DELETED_FILE_RETENTION_PROPERTY: self.deleted_file_retention,
        }

    @property
    def min_safe_retention_hours(self) -> int:
        """The lowest VACUUM retention that is safe for this table without the override."""
        return max(MIN_SAFE_RETENTION_HOURS, interval_hours(self.deleted_file_retention))

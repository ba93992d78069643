"""Silver's pure planning: which bronze versions a run processes, which silver partitions its
dedup MERGE may touch, and the result it reports (no I/O here)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from medallion.progress import ProgressState
from medallion.silver.transforms import date_in_predicate, dedup_window_dates
from medallion.tables.ops import SilverRunRow


def pending_range(state: ProgressState, bronze_version: int | None) -> tuple[int, int, bool] | None:
    """(start, end, resumed) of the bronze versions to process, or None when silver is up to date:
    the range a previous run started and did not commit (finished on exactly that range), else
    everything after the last committed version up to ``bronze_version``."""
    if state.pending is not None:
        return state.pending[0], state.pending[1], True
    last = -1 if state.committed is None else state.committed
    if bronze_version is None or bronze_version <= last:
        return None
    return last + 1, bronze_version, False


def dedup_target(event_dates: list[dt.date], lookback_days: int, alias: str | None = None) -> str:
    """The predicate that prunes silver.events to the partitions a batch can have copies in."""
    column = f"{alias}.event_date" if alias else "event_date"
    return date_in_predicate(column, dedup_window_dates(event_dates, lookback_days))


@dataclass
class SilverResult:
    run_id: str
    bronze_start_version: int | None = None
    bronze_end_version: int | None = None
    rows_read: int = 0
    rows_inserted: int = 0
    rows_quarantined: int = 0
    duplicates_in_batch: int = 0
    duplicates_existing: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    event_dates: list[dt.date] = field(default_factory=list)
    resumed: bool = False
    # the range's MERGE was committed before this run wrote it (by a concurrent run on the same
    # tables, or by an earlier attempt): this run committed nothing, and reports so
    already_committed: bool = False
    seconds: float = 0.0

    @property
    def duplicates_dropped(self) -> int:
        return self.duplicates_in_batch + self.duplicates_existing

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.rows_inserted + self.rows_quarantined + self.duplicates_dropped

    @property
    def input_range(self) -> str | None:
        if self.bronze_end_version is None:
            return None
        return f"bronze versions {self.bronze_start_version}..{self.bronze_end_version}"

    def summary(self) -> str:
        if self.bronze_end_version is None:
            return f"silver: nothing new in bronze ({self.seconds:.1f} s)"
        if self.already_committed:
            by = "the interrupted run this one finished" if self.resumed else "another run"
            return (
                f"silver: {self.input_range} were already merged into silver by {by}: this run "
                f"inserted nothing ({self.seconds:.1f} s)"
            )
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.quarantine_reasons.items())) or "none"
        return (
            f"silver: {self.input_range}"
            f"{' (resumed)' if self.resumed else ''}: {self.rows_read} read = {self.rows_inserted} inserted"
            f" + {self.rows_quarantined} quarantined + {self.duplicates_dropped} duplicates dropped"
            f" ({self.duplicates_in_batch} within the batch, {self.duplicates_existing} already in silver);"
            f" quarantine reasons: {reasons}; {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["duplicates_dropped"] = self.duplicates_dropped
        out["event_dates"] = [d.isoformat() for d in self.event_dates]
        return out

    def detail_row(self, contract_version: int, run_time: dt.datetime) -> SilverRunRow:
        """This run's ``ops.silver_runs`` row."""
        assert self.bronze_start_version is not None and self.bronze_end_version is not None
        return SilverRunRow(
            run_id=self.run_id,
            recorded_time=run_time.astimezone(dt.timezone.utc),
            bronze_start_version=self.bronze_start_version,
            bronze_end_version=self.bronze_end_version,
            contract_version=contract_version,
            rows_read=self.rows_read,
            rows_inserted=self.rows_inserted,
            rows_quarantined=self.rows_quarantined,
            duplicates_in_batch=self.duplicates_in_batch,
            duplicates_existing=self.duplicates_existing,
            duplicates_dropped=self.duplicates_dropped,
            event_dates=self.event_dates,
            quarantine_reasons=json.dumps(self.quarantine_reasons, sort_keys=True),
        )

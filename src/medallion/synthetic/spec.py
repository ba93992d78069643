"""What the synthetic generator writes: the :class:`SyntheticSpec` it is given, the kinds of
records it writes, and the :class:`GenerateSummary` ground truth it returns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

EVENT_TYPES = ("watch", "like", "comment", "share", "follow")
#: Kinds of invalid records, in the order they are reported.
INVALID_KINDS = (
    "truncated_json",
    "missing_user_id",
    "negative_watch_time",
    "unknown_event_type",
    "string_timestamp",
    "non_utf8",
    "empty_line",
)
#: The silver quarantine reason code each kind of invalid record must get (exactly one each).
EXPECTED_REASONS = {
    "truncated_json": "malformed_json",
    "missing_user_id": "missing_field:user_id",
    "negative_watch_time": "invalid_value:watch_time_ms",
    "unknown_event_type": "unknown_event_type",
    "string_timestamp": "invalid_type:timestamp",
    "non_utf8": "invalid_utf8",
    "empty_line": "empty_body",
}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. ``start_date`` accepts a date or an ISO string."""

    seed: int = 0
    users: int = 1_000
    videos: int = 500
    days: int = 2
    events_per_day: int = 1_000
    start_date: dt.date = dt.date(2026, 1, 1)
    files_per_day: int = 4
    duplicate_rate: float = 0.02
    late_rate: float = 0.02
    invalid_rate: float = 0.005

    def __post_init__(self) -> None:
        if isinstance(self.start_date, str):
            object.__setattr__(self, "start_date", dt.date.fromisoformat(self.start_date))
        if isinstance(self.start_date, dt.datetime) or not isinstance(self.start_date, dt.date):
            raise ValueError(f"start_date={self.start_date!r} must be a date (YYYY-MM-DD)")
        for name in ("users", "videos", "days", "files_per_day"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.files_per_day > 1000:
            raise ValueError("files_per_day must be <= 1000")
        if self.events_per_day < 0:
            raise ValueError("events_per_day must be >= 0")
        for name in ("duplicate_rate", "late_rate", "invalid_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.duplicate_rate + self.invalid_rate > 0.5:
            raise ValueError("duplicate_rate + invalid_rate must be <= 0.5 (most records are valid events)")

    @property
    def total_events(self) -> int:
        """Records a full run writes."""
        return self.days * self.events_per_day

    @property
    def end_date(self) -> dt.date:
        return self.day(self.days - 1)

    def day(self, index: int) -> dt.date:
        return self.start_date + dt.timedelta(days=index)

    def file_name(self, day_index: int, file_index: int) -> str:
        return f"events-{self.day(day_index).isoformat()}-{file_index:03d}.jsonl"

    def file_names(self, days: Iterable[int] | None = None) -> list[str]:
        """Landing file names of ``days`` (default all), in arrival (= sorted) order."""
        selected = range(self.days) if days is None else sorted(set(days))
        return [self.file_name(d, f) for d in selected for f in range(self.files_per_day)]


@dataclass(frozen=True)
class GenerateSummary:
    """Exact ground truth of what :func:`write_landing` wrote.

    ``events`` = ``valid_events`` + ``duplicates`` + ``invalid_total``: valid unique events
    (originals), their re-delivered byte copies, and invalid records by kind. Two summaries are
    equal when they describe the same content (the folder and the time taken do not count).
    """

    events_dir: str = field(compare=False)
    files: tuple[str, ...]
    events: int
    valid_events: int
    duplicates: int
    duplicates_in_later_file: int
    late: int
    invalid: dict[str, int]
    event_types: dict[str, int]
    first_date: dt.date
    last_date: dt.date
    bytes_written: int
    seconds: float = field(default=0.0, compare=False)

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())

    @property
    def expected_quarantine_reasons(self) -> dict[str, int]:
        """Silver quarantine reason -> rows, as silver must report for these files."""
        return {EXPECTED_REASONS[k]: n for k, n in self.invalid.items() if n}

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = list(self.files)
        out["first_date"] = self.first_date.isoformat()
        out["last_date"] = self.last_date.isoformat()
        out["invalid_total"] = self.invalid_total
        out["expected_quarantine_reasons"] = self.expected_quarantine_reasons
        return out

    def summary(self) -> str:
        def share(n: int) -> str:
            return f"{100.0 * n / self.events:.2f} %" if self.events else "-"

        types = ", ".join(f"{t} {n:,}" for t, n in self.event_types.items())
        kinds = ", ".join(f"{k} {n:,}" for k, n in self.invalid.items() if n) or "none"
        rate = self.events / self.seconds if self.seconds else 0.0
        return "\n".join(
            [
                f"generated {self.events:,} records in {len(self.files)} files ({self.first_date} .. "
                f"{self.last_date}) into {self.events_dir}: {self.bytes_written / 1e6:,.1f} MB, "
                f"{self.seconds:.1f} s ({rate:,.0f} records/s)",
                f"  valid unique events  {self.valid_events:>12,}  ({types})",
                f"  late (2-5 days)      {self.late:>12,}  ({share(self.late)} of records)",
                f"  re-deliveries        {self.duplicates:>12,}  ({share(self.duplicates)}; "
                f"{self.duplicates_in_later_file:,} in a later file)",
                f"  invalid              {self.invalid_total:>12,}  ({share(self.invalid_total)}; {kinds})",
            ]
        )

"""Bronze's pure decisions: which files of a micro-batch are new, already ingested, changed or
unreadable, and what the run reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from medallion.bronze.ledger import BadFile, LandingLedger
from medallion.tables.ops import MODIFIED_AFTER_INGESTION, UNREADABLE


@dataclass
class FileTriage:
    """The files of one micro-batch, sorted by what bronze does with them."""

    new: list[Any] = field(default_factory=list)  # file records to ingest
    known: list[str] = field(default_factory=list)  # paths already ingested: skipped
    bad: list[BadFile] = field(default_factory=list)  # unreadable, or changed after ingestion

    @property
    def skipped_paths(self) -> list[str]:
        """Paths whose framed lines must not be written (already in bronze)."""
        return self.known + [b.path for b in self.bad if b.problem == MODIFIED_AFTER_INGESTION]

    @property
    def records(self) -> int:
        return sum(int(f["lines"]) for f in self.new)


def triage(records: Iterable[Any], ledger: LandingLedger) -> FileTriage:
    """Sort a batch's file records (``file_records`` rows) against the ledger."""
    out = FileTriage()
    for f in records:
        size, mtime = int(f["file_size"]), f["file_modification_time"]
        if f["error"] is not None:  # none of its lines were framed
            out.bad.append(BadFile(f["file_path"], size, mtime, UNREADABLE, f["error"]))
        elif ledger.already_ingested(f["file_path"], size, mtime):
            out.known.append(f["file_path"])
        elif changed := ledger.modified(f["file_path"], size, mtime):
            out.bad.append(changed)  # its old lines are in bronze: not again
        else:
            out.new.append(f)
    return out


@dataclass
class BronzeResult:
    table: str
    batches: int = 0
    batches_skipped: int = 0  # replayed batches already committed (exactly-once)
    rows_ingested: int = 0
    files_read: int = 0
    seconds: float = 0.0
    batch_ids: list[int] = field(default_factory=list)
    files_already_ingested: int = 0  # files in ops.landing_files already (e.g. a new checkpoint)
    records_read: int = 0  # records the batches read (files: the framed lines of their new files)
    bad_files: list[BadFile] = field(default_factory=list)  # found by this run

    def summary(self) -> str:
        rate = self.rows_ingested / self.seconds if self.seconds else 0.0
        text = (
            f"bronze: {self.files_read} files read, {self.rows_ingested} rows ingested in "
            f"{self.batches} batches ({self.batches_skipped} replayed batches skipped), "
            f"{self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if self.files_already_ingested:
            text += f"\nbronze: {self.files_already_ingested} files skipped: already in ops.landing_files"
        if self.bad_files:
            text += "\n" + self.failure_message()
        return text

    @property
    def ok(self) -> bool:
        return not self.bad_files

    def failure_message(self) -> str:
        lines = [
            f"bronze: {len(self.bad_files)} landing file(s) NOT ingested, recorded in ops.bad_files "
            "(every other file was ingested):"
        ]
        lines += [f"  {bad.describe()}" for bad in self.bad_files]
        if any(b.problem == UNREADABLE for b in self.bad_files):
            lines.append("  fix: land a repaired copy under a new file name; the next run ingests it")
        if any(b.problem == MODIFIED_AFTER_INGESTION for b in self.bad_files):
            lines.append("  fix: land files complete and never change them; land the new lines as a new file")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_ingested": self.rows_ingested,
            "files_read": self.files_read,
            "files_already_ingested": self.files_already_ingested,
            "bad_files": [dataclasses.asdict(b) for b in self.bad_files],
        }

"""Writing the landing files (:func:`write_landing`)."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from medallion.synthetic.generator import MS_PER_DAY, _Day, _epoch_ms, _generate_day, _population
from medallion.synthetic.spec import EVENT_TYPES, INVALID_KINDS, GenerateSummary, SyntheticSpec


def _arrival_key(item: tuple[int, str]) -> int:
    return item[0]


# --- writing -------------------------------------------------------------------------------
def write_landing(
    spec: SyntheticSpec,
    events_dir: str | os.PathLike[str],
    days: Iterable[int] | None = None,
    overwrite: bool = False,
) -> GenerateSummary:
    """Write the landing files of ``days`` (day indexes, default all) into ``events_dir``
    (created if missing) and return the exact counts of what was written.

    Files are written under a hidden temporary name and renamed, so a stream reading the folder
    never sees a partial file. Existing files with the same names raise ``FileExistsError``
    unless ``overwrite`` (a landing file that was already ingested is never re-read).

    Writing a subset of days writes exactly those days' files of the full run; the re-deliveries
    the previous day carries into them are counted as duplicates (their originals are in the
    previous day's files).
    """
    started = time.monotonic()
    selected = sorted(set(range(spec.days) if days is None else days))
    if not selected or selected[0] < 0 or selected[-1] >= spec.days:
        raise ValueError(f"days must be a non-empty subset of 0..{spec.days - 1}")
    out = Path(events_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        clash = [n for n in spec.file_names(selected) if (out / n).exists()]
        if clash:
            raise FileExistsError(f"{out / clash[0]} exists ({len(clash)} files would be overwritten)")
    pop = _population(spec)
    slot = MS_PER_DAY / spec.files_per_day
    totals: Counter = Counter()
    invalid: Counter = Counter()
    types: Counter = Counter()
    names: list[str] = []
    previous: _Day | None = None
    previous_index = -2
    for d in selected:
        if d > 0 and previous_index != d - 1:
            previous = _generate_day(spec, pop, d - 1)  # only for what it carries into day d
        carry = previous.carry if previous is not None and d > 0 else []
        day = _generate_day(spec, pop, d)
        day_start = _epoch_ms(spec.day(d))
        for f, at, line in carry:
            day.files[f].append((day_start + at, line))
        totals["valid"] += day.valid
        totals["late"] += day.late
        totals["duplicates"] += day.duplicates + len(carry)
        totals["later_file"] += day.later_file + len(carry)
        invalid.update(day.invalid)
        types.update(day.types)
        for f, lines in enumerate(day.files):
            lines.sort(key=_arrival_key)
            data = ("\n".join(line for _, line in lines) + "\n" if lines else "").encode(
                "utf-8", "surrogateescape"
            )
            name = spec.file_name(d, f)
            tmp = out / f".{name}.tmp"
            tmp.write_bytes(data)
            arrived_ns = (day_start + int((f + 1) * slot)) * 1_000_000
            os.utime(tmp, ns=(arrived_ns, arrived_ns))
            os.replace(tmp, out / name)
            names.append(name)
            totals["bytes"] += len(data)
            totals["records"] += len(lines)
        previous, previous_index = day, d
    summary = GenerateSummary(
        events_dir=str(out),
        files=tuple(names),
        events=totals["records"],
        valid_events=totals["valid"],
        duplicates=totals["duplicates"],
        duplicates_in_later_file=totals["later_file"],
        late=totals["late"],
        invalid={k: invalid[k] for k in INVALID_KINDS},
        event_types={t: types[t] for t in EVENT_TYPES},
        first_date=spec.day(selected[0]),
        last_date=spec.day(selected[-1]),
        bytes_written=totals["bytes"],
        seconds=time.monotonic() - started,
    )
    if summary.events != summary.valid_events + summary.duplicates + summary.invalid_total:
        raise AssertionError(f"synthetic generator miscounted: {summary.as_dict()}")  # a bug
    return summary

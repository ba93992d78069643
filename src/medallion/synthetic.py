"""Deterministic synthetic video-engagement events: a realistic landing folder for local runs,
tests, demos and benchmarks.

What it models
--------------
* **Population.** ``users`` users with skewed activity (log-normal weights: a few heavy users,
  a long tail) and ``videos`` videos with Zipf-like popularity (weight ``1 / rank``, ranks
  shuffled so an id says nothing about popularity). Most videos (90 %) have a known duration
  (log-normal around 40 s, some long-form videos around 10 min); the rest have none, and their
  watch events carry no ``video_duration_ms``. Most users (85 %) run a client that sends
  ``schema_version``; the others omit it (absent means 1).
* **Sessions.** A session is one user watching several videos in a row (1 + exponential, mean
  6 watches), starting at a time of day drawn from a diurnal curve (quiet at night, peak in the
  evening). Watch time is drawn relative to the duration (swipe away early, partial, complete,
  loop several times), or log-normal when the duration is unknown. About one watch in four is
  followed by a like, comment, share or follow, so the mix is roughly watch 80 % / like 10 % /
  comment 4 % / share 3 % / follow 3 %.
* **Delivery.** Each day is split into ``files_per_day`` landing files by arrival time (event
  time plus a small delivery delay); lines in a file are in arrival order and file names sort in
  arrival order: ``events-<YYYY-MM-DD>-<NNN>.jsonl``. Each file's modification time is set to
  the end of its arrival slot, so bronze's ``enqueued_time`` reflects the simulated arrival.

The mess, at configurable rates (fractions of the records written, except ``late_rate``):

* ``duplicate_rate``: at-least-once re-deliveries - exact byte copies of valid events, 60 % in
  the same file, the rest in a later file (possibly the next day's). An event can be re-delivered
  more than once.
* ``late_rate``: the share of sessions that arrive late (a device that was offline): they
  started 2-5 days before the day of the file they land in, so every late event's time is
  before that day (sessions last at most a few hours).
* ``invalid_rate``: malformed or contract-breaking records, one problem each (see
  :data:`INVALID_KINDS` and :data:`EXPECTED_REASONS`, the silver quarantine reason each one
  must get).

Determinism: the same spec writes byte-identical files (and modification times). Every day has
its own ``random.Random`` seeded from ``(seed, day)``, so a subset of days (``write_landing(...,
days=[30])``) is written exactly as in the full run: that is how a benchmark lands "one more day".

Counts: every day holds exactly ``events_per_day`` records generated on it, so a full run writes
``days * events_per_day`` lines. The :class:`GenerateSummary` returned by :func:`write_landing`
holds the exact ground truth of what was written.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000


@cache
def max_watch_time_ms() -> int:
    """The contract's bound on watch_time_ms (imported lazily: the contract module needs PySpark,
    which ``medallion generate`` and ``medallion policies`` do not load)."""
    from medallion.contract import load_contract

    return int(load_contract().field("watch_time_ms").maximum)


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
_INVALID_WEIGHTS = (30, 20, 15, 10, 10, 10, 5)
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

# --- model parameters ----------------------------------------------------------------------
USER_ACTIVITY_SIGMA = 1.2  # log-normal spread of user activity weights
VIDEO_ZIPF_EXPONENT = 1.0  # video popularity ~ 1 / rank**s
DURATION_KNOWN_SHARE = 0.9
LONG_FORM_SHARE = 0.05
SCHEMA_VERSION_SHARE = 0.85
MEAN_WATCHES_PER_SESSION = 6.0
MAX_SESSION_MS = 4 * MS_PER_HOUR  # a session ends after its last watch that starts within 4 h
INTERACTION_SHARE = 0.25  # interactions per watch: like .125, comment .05, share .0375, follow .0375
_INTERACTIONS = ("like", "comment", "share", "follow")
_INTERACTION_CUM = tuple(accumulate((0.5, 0.2, 0.15, 0.15)))
LATE_DAYS = (2, 5)  # a late session happened this many days before its file's day (inclusive)
SAME_FILE_REDELIVERY_SHARE = 0.6
# diurnal curve (UTC hours 0..23): quiet at night, peak in the evening
_HOUR_WEIGHTS = (2, 1.5, 1, 1, 1, 1.5, 2.5, 3.5, 4, 4, 4, 4.5, 5, 5, 4.5, 4.5, 5, 6, 7, 8, 8.5, 8, 6, 4)
_HOUR_CUM = tuple(accumulate(_HOUR_WEIGHTS))
_UNKNOWN_TYPES = ("view", "dislike", "save", "WATCH", "impression")
_NON_UTF8_DEVICES = ("Caf\udce9 TV", "T\udcfcrkiye-phone", "Se\udcf1or tablet", "\udcc5land box")


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


# --- population ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Population:
    user_ids: tuple[str, ...]
    user_cum: tuple[float, ...]
    user_version: tuple[str, ...]  # ',"schema_version":1' or ''
    video_ids: tuple[str, ...]
    video_cum: tuple[float, ...]
    durations: tuple[int, ...]  # 0 = unknown


def _population(spec: SyntheticSpec) -> _Population:
    rng = random.Random(f"medallion.synthetic/{spec.seed}/population")  # noqa: S311 - not crypto
    user_weights = [rng.lognormvariate(0.0, USER_ACTIVITY_SIGMA) for _ in range(spec.users)]
    versions = [
        ',"schema_version":1' if rng.random() < SCHEMA_VERSION_SHARE else "" for _ in range(spec.users)
    ]
    ranks = list(range(1, spec.videos + 1))
    rng.shuffle(ranks)
    video_weights = [1.0 / r**VIDEO_ZIPF_EXPONENT for r in ranks]
    durations = []
    for _ in range(spec.videos):
        if rng.random() >= DURATION_KNOWN_SHARE:
            durations.append(0)
        elif rng.random() < LONG_FORM_SHARE:
            durations.append(_clip(int(rng.lognormvariate(math.log(600_000), 0.7)), 60_000, 10_800_000))
        else:
            durations.append(_clip(int(rng.lognormvariate(math.log(40_000), 0.8)), 3_000, 1_800_000))
    return _Population(
        user_ids=tuple(f"u{i:07d}" for i in range(spec.users)),
        user_cum=tuple(accumulate(user_weights)),
        user_version=tuple(versions),
        video_ids=tuple(f"v{i:07d}" for i in range(spec.videos)),
        video_cum=tuple(accumulate(video_weights)),
        durations=tuple(durations),
    )


def _clip(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


# --- one day -------------------------------------------------------------------------------
@dataclass
class _Day:
    files: list[list[tuple[int, str]]]  # per file: (arrival ms, line)
    carry: list[tuple[int, int, str]]  # copies for the next day: (file index, ms into the day, line)
    valid: int = 0
    late: int = 0
    duplicates: int = 0  # copies placed in this day's files
    later_file: int = 0  # of which in a later file than their original
    carried_later: int = 0  # carry entries (always in a later file)
    invalid: Counter = field(default_factory=Counter)
    types: Counter = field(default_factory=Counter)


def _stochastic_round(x: float, rng: random.Random) -> int:
    low = math.floor(x)
    return low + (1 if rng.random() < x - low else 0)


def _generate_day(spec: SyntheticSpec, pop: _Population, d: int) -> _Day:
    rng = random.Random(f"medallion.synthetic/{spec.seed}/day/{d}")  # noqa: S311 - not crypto
    rand, expo, lognorm, getrandbits = rng.random, rng.expovariate, rng.lognormvariate, rng.getrandbits
    n_files = spec.files_per_day
    files: list[list[tuple[int, str]]] = [[] for _ in range(n_files)]
    day = _Day(files=files, carry=[])
    day_start = _epoch_ms(spec.day(d))
    slot = MS_PER_DAY / n_files
    n_total = spec.events_per_day
    n_invalid = _stochastic_round(n_total * spec.invalid_rate, rng)
    n_dup = min(_stochastic_round(n_total * spec.duplicate_rate, rng), n_total - n_invalid)
    n_valid = n_total - n_invalid - n_dup
    if n_valid == 0:  # nothing to re-deliver: the budget goes to invalid records
        n_invalid, n_dup = n_total, 0

    user_ids, user_cum, user_version = pop.user_ids, pop.user_cum, pop.user_version
    video_ids, video_cum, durations = pop.video_ids, pop.video_cum, pop.durations
    user_total, video_total = user_cum[-1], video_cum[-1]
    n_users, n_videos = len(user_ids), len(video_ids)
    hour_total = _HOUR_CUM[-1]
    late_low, late_high = LATE_DAYS
    day_tag = f"{d:04x}"
    counter = 0
    valid_recs: list[tuple[int, int, str]] = []  # (file, arrival, line) of the originals
    types = day.types
    max_watch = max_watch_time_ms()

    def event_id() -> str:
        nonlocal counter
        counter += 1
        h = f"{getrandbits(72):018x}"
        return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-a{h[15:18]}-{day_tag}{counter:08x}"

    late_rate = spec.late_rate
    while len(valid_recs) < n_valid:
        u = min(bisect_right(user_cum, rand() * user_total), n_users - 1)
        user = user_ids[u]
        version = user_version[u]
        late = rand() < late_rate
        event_day = day_start - rng.randint(late_low, late_high) * MS_PER_DAY if late else day_start
        hour = min(bisect_right(_HOUR_CUM, rand() * hour_total), 23)
        start = t = event_day + hour * MS_PER_HOUR + int(rand() * MS_PER_HOUR)
        sync = day_start + int(rand() * MS_PER_DAY)  # when a late session's device comes back online
        watches = 1 + int(expo(1.0 / (MEAN_WATCHES_PER_SESSION - 1.0)))
        session: list[tuple[int, str, str]] = []  # (event time, event type, line)
        for _ in range(watches):
            v = min(bisect_right(video_cum, rand() * video_total), n_videos - 1)
            video = video_ids[v]
            duration = durations[v]
            if duration:
                r = rand()
                if r < 0.30:  # swiped away
                    frac = rand() * 0.2
                elif r < 0.70:  # partial
                    frac = 0.2 + 0.8 * rand()
                elif r < 0.93:  # complete
                    frac = 1.0
                else:  # looped
                    frac = 1.0 + 2.0 * rand()
                watched = _clip(int(duration * frac), 200, max_watch)
                dur = f',"video_duration_ms":{duration}'
            else:
                watched = _clip(int(lognorm(9.6, 1.0)), 200, 4 * MS_PER_HOUR)  # median ~15 s
                dur = ""
            session.append(
                (
                    t,
                    "watch",
                    f'{{"event_id":"{event_id()}","event_type":"watch","user_id":"{user}",'
                    f'"video_id":"{video}","timestamp":{t},"watch_time_ms":{watched}{dur}{version}}}',
                )
            )
            if rand() < INTERACTION_SHARE:
                kind = _INTERACTIONS[bisect_right(_INTERACTION_CUM, rand() * _INTERACTION_CUM[-1])]
                if kind == "comment":
                    at = t + watched + 2_000 + int(rand() * 38_000)
                elif kind == "share":
                    at = t + watched + 500 + int(rand() * 4_500)
                else:  # like / follow while watching
                    at = t + int(rand() * watched)
                session.append(
                    (
                        at,
                        kind,
                        f'{{"event_id":"{event_id()}","event_type":"{kind}","user_id":"{user}",'
                        f'"video_id":"{video}","timestamp":{at}{version}}}',
                    )
                )
            t += watched + 300 + int(expo(1.0 / 1_500))
            if t - start > MAX_SESSION_MS:
                break
        room = n_valid - len(valid_recs)
        for i, (ts, kind, line) in enumerate(session[:room]):
            arrival = sync + 10 * i if late else ts + 50 + int(expo(1.0 / 2_000))
            f = int((arrival - day_start) / slot)
            f = 0 if f < 0 else n_files - 1 if f >= n_files else f
            files[f].append((arrival, line))
            valid_recs.append((f, arrival, line))
            types[kind] += 1
        if late:
            day.late += min(len(session), room)
    day.valid = len(valid_recs)

    # re-deliveries: exact copies, in the same file or a later one
    last_day = d == spec.days - 1
    for _ in range(n_dup):
        f, arrival, line = valid_recs[int(rand() * len(valid_recs))]
        if rand() < SAME_FILE_REDELIVERY_SHARE:
            files[f].append((arrival + 1_000 + int(rand() * 29_000), line))
            day.duplicates += 1
            continue
        g = f + 1 + int(expo(0.7))
        offset = int(rand() * slot)
        if g < n_files:
            files[g].append((day_start + int(g * slot) + offset, line))
            day.duplicates += 1
            day.later_file += 1
        elif not last_day:
            g = min(g - n_files, n_files - 1)
            day.carry.append((g, int(g * slot) + offset, line))
            day.carried_later += 1
        else:  # nothing later exists: the last file of the run
            files[n_files - 1].append((day_start + int((n_files - 1) * slot) + offset, line))
            day.duplicates += 1
            day.later_file += f < n_files - 1

    # invalid records, one problem each
    kinds = rng.choices(INVALID_KINDS, weights=_INVALID_WEIGHTS, k=n_invalid)
    for kind in kinds:
        arrival = day_start + int(rand() * MS_PER_DAY)
        ts = arrival - 50 - int(expo(1.0 / 2_000))
        user = user_ids[int(rand() * n_users)]
        video = video_ids[int(rand() * n_videos)]
        watched = 1_000 + int(rand() * 60_000)
        eid = event_id()
        ids = f'"user_id":"{user}","video_id":"{video}"'
        watch = f'{{"event_id":"{eid}","event_type":"watch",'
        if kind == "truncated_json":
            full = f'{watch}{ids},"timestamp":{ts},"watch_time_ms":{watched}}}'
            line = full[: 1 + int(rand() * (len(full) - 1))]
        elif kind == "missing_user_id":
            line = f'{watch}"video_id":"{video}","timestamp":{ts},"watch_time_ms":{watched}}}'
        elif kind == "negative_watch_time":
            line = f'{watch}{ids},"timestamp":{ts},"watch_time_ms":{-watched}}}'
        elif kind == "unknown_event_type":
            etype = _UNKNOWN_TYPES[int(rand() * len(_UNKNOWN_TYPES))]
            line = f'{{"event_id":"{eid}","event_type":"{etype}",{ids},"timestamp":{ts}}}'
        elif kind == "string_timestamp":
            stamp = dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
            value = stamp.replace("+00:00", "Z") if rand() < 0.5 else str(ts)
            line = f'{watch}{ids},"timestamp":"{value}","watch_time_ms":{watched}}}'
        elif kind == "non_utf8":  # a Latin-1 producer: bytes that are not UTF-8 (surrogate-escaped here)
            device = _NON_UTF8_DEVICES[int(rand() * len(_NON_UTF8_DEVICES))]
            line = f'{watch}{ids},"timestamp":{ts},"watch_time_ms":{watched},"device_name":"{device}"}}'
        else:  # empty_line
            line = ""
        f = min(int((arrival - day_start) / slot), n_files - 1)
        files[f].append((arrival, line))
        day.invalid[kind] += 1
    return day


def _epoch_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * MS_PER_DAY


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


__all__ = [
    "EVENT_TYPES",
    "EXPECTED_REASONS",
    "INVALID_KINDS",
    "GenerateSummary",
    "SyntheticSpec",
    "write_landing",
]

"""The model behind the synthetic events: the population of users and videos, and one day of
sessions, re-deliveries and invalid records, each day from its own seeded ``random.Random``."""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate

from medallion.synthetic.spec import INVALID_KINDS, SyntheticSpec

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000


@cache
def max_watch_time_ms() -> int:
    """The contract's bound on watch_time_ms (imported lazily: the contract module needs PySpark,
    which ``medallion generate`` and ``medallion policies`` do not load)."""
    from medallion.contract import load_contract

    return int(load_contract().field("watch_time_ms").maximum)


# --- model parameters ----------------------------------------------------------------------
_INVALID_WEIGHTS = (30, 20, 15, 10, 10, 10, 5)  # of INVALID_KINDS, in order
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

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

The package: :mod:`~medallion.synthetic.spec` (the spec, the record kinds and the summary),
:mod:`~medallion.synthetic.generator` (the model, one day at a time) and
:mod:`~medallion.synthetic.landing` (writing the files); the public names are importable from here.
"""

from __future__ import annotations

from medallion.synthetic.landing import write_landing
from medallion.synthetic.spec import (
    EVENT_TYPES,
    EXPECTED_REASONS,
    INVALID_KINDS,
    GenerateSummary,
    SyntheticSpec,
)

__all__ = [
    "EVENT_TYPES",
    "EXPECTED_REASONS",
    "INVALID_KINDS",
    "GenerateSummary",
    "SyntheticSpec",
    "write_landing",
]

"""Convert the KuaiRand-27K watch-log subset (real data) into a medallion landing folder.

The input is the tab-separated ``processed_standard_kcore_15.tsv`` of the KuaiRand-27K "standard"
logs (one row per impression: user_id, video_id, date, hourmin, time_ms, is_click, is_follow,
is_comment, is_forward, long_view, play_time_ms, duration_ms, comment_stay_time,
is_profile_enter, label, timestamp; see the dataset's README). The output is JSON-lines files of
events under the event contract (v1), so that the pipeline (``medallion local --events``) and the
DuckDB reference (``benchmarks/reference.py --landing``) can run on real data. Nothing in the
project depends on the dataset: it is read only when this script is run.

Mapping (one dataset row = one impression)
------------------------------------------
* one ``watch`` event per row: ``user_id`` / ``video_id`` as decimal strings, ``timestamp`` =
  ``time_ms`` (epoch ms, UTC; ``date``/``hourmin``/``timestamp`` are derived from it and not
  used), ``watch_time_ms`` = ``play_time_ms`` (as is: 0 is a valid watch time, and a play time
  longer than the video is a replay), ``video_duration_ms`` = ``duration_ms`` when it is not 0
  (0 means unknown in the dataset, so the optional field is left out);
* one interaction event per flag set on the row, in this order: ``like`` when ``label`` is 1
  (an explicit like), ``comment`` when ``is_comment`` is 1, ``share`` when ``is_forward`` is 1,
  ``follow`` when ``is_follow`` is 1. The dataset has one time per impression, so interactions
  carry the impression's ``time_ms`` too;
* not mapped (the contract has no such event or field): ``label`` 0 (an explicit "hate"),
  ``is_click``, ``long_view``, ``is_profile_enter``, ``comment_stay_time``;
* ``event_id`` = ``kuairand-<user_id>-<video_id>-<time_ms>-<event_type>``: the impression's
  natural key. 124 rows repeat an earlier row's impression (116 exact duplicate rows, 8 that
  differ in the ``hourmin`` bucket only): their events get the same ids, so the pipeline drops
  them as duplicates (167 per delivery), as it drops every copy of a re-delivery.

Deliveries and files
--------------------
Events are ordered by ``time_ms``, then ``user_id``, ``video_id`` and row number, each watch
followed by its interactions, and split into ``--files-per-delivery`` files of (nearly) equal
line counts. ``--deliveries K`` writes the whole set K times, as if the source had re-delivered
it: delivery k's files are ``kuairand-d<kk>-<fff>.jsonl`` with modification times k days (plus f
minutes) after the UTC midnight that follows the last event, so names and modification times
are both in arrival order and the first delivery wins silver's dedup. Output is deterministic:
the same input gives the same bytes, names and modification times. Files are written under a
hidden temporary name and renamed, as the synthetic generator does.

    .venv/bin/python benchmarks/kuairand.py --dataset DIR --out LANDING               # 2 deliveries
    .venv/bin/python benchmarks/kuairand.py --dataset DIR --out LANDING --deliveries 1 --files-per-delivery 8
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

DATASET_FILE = "processed_standard_kcore_15.tsv"
#: Columns read from the dataset (the others are not mapped).
COLUMNS = (
    "user_id",
    "video_id",
    "time_ms",
    "play_time_ms",
    "duration_ms",
    "label",
    "is_comment",
    "is_forward",
    "is_follow",
)
#: Interaction flags -> event type, in the order the events are written after their watch.
INTERACTIONS = (
    ("label", "like"),
    ("is_comment", "comment"),
    ("is_forward", "share"),
    ("is_follow", "follow"),
)
EVENT_TYPES = ("watch", *(kind for _, kind in INTERACTIONS))
FILE_PREFIX = "kuairand-"
MS_PER_DAY = 86_400_000
MS_PER_MINUTE = 60_000


def dataset_path(dataset: str | os.PathLike[str]) -> Path:
    """The TSV file: ``dataset`` itself or ``<dataset>/processed_standard_kcore_15.tsv``."""
    path = Path(dataset)
    if path.is_dir():
        path = path / DATASET_FILE
    if not path.is_file():
        raise SystemExit(f"dataset file not found: {path}")
    return path


def read_dataset(path: Path) -> pd.DataFrame:
    """The mapped columns as int64, rows in event order (time_ms, user_id, video_id, row)."""
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SystemExit(f"{path}: missing columns {missing}")
    df = pd.read_csv(path, sep="\t", usecols=list(COLUMNS), dtype={c: "int64" for c in COLUMNS})
    df["row"] = range(len(df))
    return df.sort_values(["time_ms", "user_id", "video_id", "row"], kind="stable").reset_index(drop=True)


def event_lines(df: pd.DataFrame) -> tuple[list[str], Counter, int]:
    """One delivery's JSON lines in event order, the count of each event type and the number of
    distinct event ids (repeated source rows share theirs)."""
    lines: list[str] = []
    event_ids: set[str] = set()
    types: Counter = Counter()
    flags = [(df[col].to_numpy(), kind) for col, kind in INTERACTIONS]
    users, videos, times = df["user_id"].to_numpy(), df["video_id"].to_numpy(), df["time_ms"].to_numpy()
    plays, durations = df["play_time_ms"].to_numpy(), df["duration_ms"].to_numpy()
    for i in range(len(df)):
        user, video, ts = int(users[i]), int(videos[i]), int(times[i])
        key = f"kuairand-{user}-{video}-{ts}"
        ids = f'"user_id":"{user}","video_id":"{video}","timestamp":{ts}'
        duration = int(durations[i])
        dur = f',"video_duration_ms":{duration}' if duration != 0 else ""
        lines.append(
            f'{{"event_id":"{key}-watch","event_type":"watch",{ids},"watch_time_ms":{int(plays[i])}{dur}}}'
        )
        event_ids.add(f"{key}-watch")
        types["watch"] += 1
        for values, kind in flags:
            if values[i] == 1:
                lines.append(f'{{"event_id":"{key}-{kind}","event_type":"{kind}",{ids}}}')
                event_ids.add(f"{key}-{kind}")
                types[kind] += 1
    return lines, types, len(event_ids)


def file_name(delivery: int, index: int) -> str:
    return f"{FILE_PREFIX}d{delivery:02d}-{index:03d}.jsonl"


def prepare_out(out: Path, overwrite: bool) -> None:
    """Create ``out``; refuse a folder with other files (they would be read with ours) and, unless
    ``overwrite``, one with files of an earlier conversion (removed with ``overwrite``)."""
    out.mkdir(parents=True, exist_ok=True)
    present = [p for p in sorted(out.iterdir()) if not p.name.startswith((".", "_"))]
    foreign = [p.name for p in present if not (p.name.startswith(FILE_PREFIX) and p.suffix == ".jsonl")]
    if foreign:
        raise SystemExit(f"{out} holds other files ({foreign[:3]}): give an empty or new folder")
    if present and not overwrite:
        raise SystemExit(f"{out} already holds {len(present)} converted files (--overwrite replaces them)")
    for p in present:
        p.unlink()


def write_deliveries(
    lines: list[str], out: Path, deliveries: int, files_per_delivery: int, last_ms: int
) -> int:
    """Write ``deliveries`` copies of ``lines``; returns the bytes written."""
    n = len(lines)
    bounds = [n * f // files_per_delivery for f in range(files_per_delivery + 1)]
    chunks = [("\n".join(lines[a:b]) + "\n" if b > a else "").encode() for a, b in itertools.pairwise(bounds)]
    first_arrival_ms = (last_ms // MS_PER_DAY + 1) * MS_PER_DAY  # the UTC midnight after the last event
    written = 0
    for d in range(1, deliveries + 1):
        for f, data in enumerate(chunks):
            name = file_name(d, f)
            tmp = out / f".{name}.tmp"
            tmp.write_bytes(data)
            arrived_ns = (first_arrival_ms + (d - 1) * MS_PER_DAY + (f + 1) * MS_PER_MINUTE) * 1_000_000
            os.utime(tmp, ns=(arrived_ns, arrived_ns))
            os.replace(tmp, out / name)
            written += len(data)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", required=True, help=f"folder holding {DATASET_FILE} (or the file itself)"
    )
    parser.add_argument(
        "--out", required=True, help="landing folder to write (created; must hold no other files)"
    )
    parser.add_argument(
        "--deliveries", type=int, default=2, help="write the data this many times (default 2)"
    )
    parser.add_argument("--files-per-delivery", type=int, default=4, help="files per delivery (default 4)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier conversion")
    args = parser.parse_args(argv)
    if args.deliveries < 1 or args.files_per_delivery < 1:
        parser.error("--deliveries and --files-per-delivery must be at least 1")

    started = time.perf_counter()
    path = dataset_path(args.dataset)
    df = read_dataset(path)
    lines, types, unique = event_lines(df)
    out = Path(args.out)
    prepare_out(out, args.overwrite)
    written = write_deliveries(lines, out, args.deliveries, args.files_per_delivery, int(df["time_ms"].max()))
    seconds = time.perf_counter() - started

    per_delivery = len(lines)
    total = per_delivery * args.deliveries
    first = pd.Timestamp(int(df["time_ms"].min()), unit="ms", tz="UTC")
    last = pd.Timestamp(int(df["time_ms"].max()), unit="ms", tz="UTC")
    print(f"dataset: {path} ({len(df):,} rows, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC)")
    by_type = ", ".join(f"{t} {types[t]:,}" for t in EVENT_TYPES)
    print(f"events per delivery: {per_delivery:,} ({by_type})")
    print(
        f"records written: {total:,} = {args.deliveries} deliveries x {per_delivery:,}, in"
        f" {args.deliveries * args.files_per_delivery} files, {written / 1e6:.1f} MB,"
        f" {seconds:.1f} s -> {out}"
    )
    print(
        f"expected: {unique:,} unique events (valid), {total - unique:,} duplicates"
        f" ({per_delivery - unique:,} from the source's repeated rows, the rest re-deliveries)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Framing of landing files into records: one line, one record, exactly.

The files source reads each landing file whole (Spark's ``binaryFile`` format) and frames it
here, in plain Python over bytes, instead of with Spark's ``text`` source, because the text
source

* breaks lines on a bare ``\\r`` as well as on ``\\n`` (JSON allows ``\\r`` as whitespace, so a
  valid event was split in two),
* strips a UTF-8 byte-order mark (bronze promises the body exactly as received), and
* fails the whole stream, forever, on one file it cannot decompress.

Rules:

* Lines end at ``\\n``; one ``\\r`` right before it belongs to the line ending (CRLF files), a
  bare ``\\r`` anywhere else is content. The ``\\n`` that ends the file does not start another
  line; every other line, empty ones included, is a record (silver quarantines an empty one as
  ``empty_body``), so ``lines`` of a file is exactly its number of bronze rows.
* Bytes are never decoded or altered: invalid UTF-8 and a leading byte-order mark stay in the
  body (silver decides what is valid).
* Compression is chosen by the file name's suffix: ``.gz``/``.gzip`` (gzip, concatenated
  members allowed), ``.bz2``, ``.xz``/``.lzma`` and ``.deflate`` (zlib). Suffixes of other
  compression formats (``.zst``, ``.lz4``, ``.snappy``, ``.zip``, ``.br``, ``.7z``) are refused
  by name. A file that cannot be decompressed (truncated, corrupt, or not what its suffix says)
  is *unreadable*: none of its lines is ingested, and the reader's error is reported with the
  file, so the file can be fixed and landed again under a new name.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

KIND_LINE = "line"
KIND_FILE = "file"

_DECOMPRESSORS = {
    ".gz": ("gzip", gzip.decompress),
    ".gzip": ("gzip", gzip.decompress),
    ".bz2": ("bzip2", bz2.decompress),
    ".xz": ("xz", lzma.decompress),
    ".lzma": ("xz", lzma.decompress),
    ".deflate": ("deflate", zlib.decompress),
}
UNSUPPORTED_SUFFIXES = (".zst", ".zstd", ".lz4", ".snappy", ".zip", ".br", ".7z", ".tar")
MAX_ERROR_CHARS = 500


class UnreadableFileError(ValueError):
    """A landing file whose records cannot be read (its bytes at the container level)."""


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def decompress(path: str, data: bytes) -> bytes:
    """The file's bytes after decompression by its suffix (unchanged without one)."""
    suffix = _suffix(path)
    if suffix in UNSUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(_DECOMPRESSORS))
        raise UnreadableFileError(f"compression {suffix!r} is not supported (supported: {supported})")
    codec = _DECOMPRESSORS.get(suffix)
    if codec is None:
        return data
    name, func = codec
    try:
        return func(data)
    except (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as exc:
        if isinstance(exc, EOFError) or "ended before" in str(exc) or "incomplete" in str(exc).lower():
            raise UnreadableFileError(f"{name}: truncated ({exc})") from None
        raise UnreadableFileError(f"{name}: corrupt or not {name} data ({exc})") from None


def split_lines(data: bytes) -> list[bytes]:
    """Records of a file's bytes: split on ``\\n``, one ``\\r`` before it dropped."""
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()  # the newline that ends the file does not start another line
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def frame_file(path: str, data: bytes) -> list[bytes]:
    """The records of one landing file; :class:`UnreadableFileError` if it cannot be read."""
    return split_lines(decompress(path, data))


def framed_arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("kind", pa.string()),
            ("file_path", pa.string()),
            ("file_size", pa.int64()),
            ("file_modification_time", pa.timestamp("us", tz="UTC")),
            ("line_number", pa.int64()),
            ("body", pa.binary()),
            ("lines", pa.int64()),
            ("error", pa.string()),
        ]
    )


# the same columns as a Spark DDL string (mapInArrow's output schema)
FRAMED_DDL = (
    "kind string, file_path string, file_size bigint, file_modification_time timestamp, "
    "line_number bigint, body binary, lines bigint, error string"
)


def frame_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` function: ``binaryFile`` rows (path, modificationTime, length, content) ->
    one ``line`` row per record (1-based ``line_number``, ``body``) and one ``file`` row per
    file (``lines`` = its record count, or ``error`` when it is unreadable)."""
    import pyarrow as pa

    schema = framed_arrow_schema()
    for batch in batches:
        paths = batch.column("path").to_pylist()
        sizes = batch.column("length").to_pylist()
        mtimes = batch.column("modificationTime")
        contents = batch.column("content")
        for i, path in enumerate(paths):
            data = contents[i].as_py() or b""
            try:
                records = frame_file(path, data)
                error = None
            except UnreadableFileError as exc:
                records, error = [], str(exc)[:MAX_ERROR_CHARS]
            except MemoryError:
                records, error = [], "out of memory while decompressing (a decompression bomb?)"
            n = len(records)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([KIND_LINE] * n + [KIND_FILE], pa.string()),
                    pa.repeat(pa.scalar(path, pa.string()), n + 1),
                    pa.repeat(pa.scalar(sizes[i], pa.int64()), n + 1),
                    pa.repeat(mtimes[i], n + 1).cast(schema.field("file_modification_time").type),
                    pa.array([*range(1, n + 1), None], pa.int64()),
                    pa.array([*records, None], pa.binary()),
                    pa.array([None] * n + [n if error is None else None], pa.int64()),
                    pa.array([None] * n + [error], pa.string()),
                ],
                schema=schema,
            )

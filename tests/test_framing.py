"""Pure-Python tests of line framing (bronze) and the strict one-JSON-value check (silver)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib

import pytest

from medallion.bronze.framing import UnreadableFileError, decompress, frame_file, split_lines
from medallion.silver.strict_json import (
    INVALID_UNICODE_ESCAPE,
    MALFORMED_JSON,
    MULTIPLE_JSON_VALUES,
    TRAILING_CONTENT,
    body_problem,
)


# --- framing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"", []),
        (b"a", [b"a"]),
        (b"a\n", [b"a"]),
        (b"a\nb", [b"a", b"b"]),
        (b"a\r\nb\r\n", [b"a", b"b"]),  # CRLF: the CR belongs to the line ending
        (b"a\rb\n", [b"a\rb"]),  # a bare CR is content, never a line break
        (b"a\r\r\n", [b"a\r"]),  # only the one CR right before LF is framing
        (b"\n\n", [b"", b""]),  # empty lines are records
        (b"  \t\n", [b"  \t"]),
        (b"\xef\xbb\xbf{}\n", [b"\xef\xbb\xbf{}"]),  # a byte-order mark stays in the body
        (b"\xff\xfe\n", [b"\xff\xfe"]),  # invalid UTF-8 kept byte for byte
    ],
)
def test_split_lines(data, lines):
    assert split_lines(data) == lines


def test_huge_line_is_one_record():
    line = b'{"pad":"' + b"x" * 5_000_000 + b'"}'
    assert frame_file("file:/l/a.jsonl", line + b"\n" + b"{}") == [line, b"{}"]


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("a.jsonl.gz", gzip.compress),
        ("a.jsonl.GZ", gzip.compress),
        ("a.jsonl.bz2", bz2.compress),
        ("a.jsonl.xz", lzma.compress),
        ("a.jsonl.deflate", zlib.compress),
    ],
)
def test_compressed_files_are_framed_after_decompression(name, compress):
    assert frame_file(f"file:/l/{name}", compress(b"a\r\nb\n")) == [b"a", b"b"]


def test_concatenated_gzip_members_are_one_file():
    assert frame_file("x.gz", gzip.compress(b"a\n") + gzip.compress(b"b\n")) == [b"a", b"b"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("t.jsonl.gz", gzip.compress(b'{"a":1}\n' * 50)[:-10], "gzip: truncated"),
        ("n.jsonl.gz", b'{"not":"gzip"}\n', "gzip: corrupt or not gzip data"),
        ("t.jsonl.bz2", bz2.compress(b"a\n" * 100)[:-5], "bzip2: truncated"),
        ("n.jsonl.xz", b"plain", "xz: corrupt or not xz data"),
        ("z.jsonl.zst", b"\x28\xb5\x2f\xfd", "compression '.zst' is not supported"),
    ],
)
def test_unreadable_files_raise_with_the_readers_reason(name, data, message):
    with pytest.raises(UnreadableFileError, match=message.replace("(", r"\(").replace(".", r"\.")):
        decompress(name, data)


# --- strict JSON ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"a":1}', None),
        (b' \t{"a":1} \r\n', None),  # JSON whitespace around the value
        (b'\xef\xbb\xbf{"a":1}', None),  # a leading BOM is ignored (RFC 8259 8.1)
        (b'{"a":"\\ud83d\\ude00"}', None),  # a surrogate pair is fine
        (b'{"a":"\\\\ud800"}', None),  # an escaped backslash, not an escape
        (b'{"a":1}{"b":2}', MULTIPLE_JSON_VALUES),
        (b'{"a":1} {"b":2}', MULTIPLE_JSON_VALUES),
        (b'{"a":1} 5', MULTIPLE_JSON_VALUES),
        (b'{"a":1} xyz', TRAILING_CONTENT),
        (b'{"a":1},', TRAILING_CONTENT),
        (b'{"a":1}\x0c', TRAILING_CONTENT),  # form feed is not JSON whitespace
        (b'{"a":NaN}', MALFORMED_JSON),
        (b'{"a":-Infinity}', MALFORMED_JSON),
        (b"[" * 10_000 + b"]" * 10_000, MALFORMED_JSON),  # deeper than any parser here allows
        (b'{"a":"\\ud800x"}', INVALID_UNICODE_ESCAPE),
        (b'{"\\udc00":1}', INVALID_UNICODE_ESCAPE),  # in a key, too
        (b"", None),  # empty and non-UTF-8 bodies are judged by silver's own rules
        (b"\xff{}", None),
    ],
)
def test_body_problem(body, problem):
    assert body_problem(body) == problem

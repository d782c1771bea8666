"""gunzip: a first complete member takes the short path; everything reads exactly as GzipFile reads it."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import pytest
from isal import igzip

from pipeline.errors import FormatError
from pipeline.sources import decode
from pipeline.sources.decode import GZIP_MAGIC, gunzip


def _by_gzipfile(data: bytes, max_size: int) -> bytes | str:
    """What ``gunzip`` gave before the short path: the decompressed bytes or the error text."""
    try:
        with igzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(max_size + 1)
    except EOFError:
        return "truncated"
    except (OSError, zlib.error, ValueError, decode._ISAL_ERROR):
        return "corrupt"
    return "too large" if len(out) > max_size else out


def _ours(data: bytes, max_size: int) -> bytes | str:
    try:
        return gunzip(data, max_size=max_size)
    except FormatError as e:
        text = str(e)
        return "truncated" if "truncated" in text else "too large" if "exceeds the cap" in text else "corrupt"


def _cases(rnd: random.Random) -> list[bytes]:
    text = b"".join(b"line %d %s\n" % (i, bytes(rnd.randrange(97, 123) for _ in range(rnd.randrange(40)))) for i in range(rnd.randrange(1, 300)))
    one = gzip.compress(text, mtime=0)
    named = gzip.GzipFile  # a member with FNAME set, as gzip(1) writes it
    buf = io.BytesIO()
    with named(filename="x.log", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(text)
    flipped = bytearray(one)
    flipped[rnd.randrange(10, len(one))] ^= 1 << rnd.randrange(8)
    return [
        one,
        buf.getvalue(),
        one + gzip.compress(b"more\n"),  # concatenated members
        one + gzip.compress(b"more\n") + gzip.compress(text[: rnd.randrange(len(text))]),  # three
        one + gzip.compress(b"more\n")[: rnd.randrange(1, 20)],  # the second member truncated
        one + GZIP_MAGIC + b"garbage",  # the second member corrupt from its header
        one + gzip.compress(b"more\n") + b"\0" * rnd.randrange(1, 9),  # padding after the last member
        one + b"\0" * rnd.randrange(1, 9),  # zero padding
        one + b"garbage",
        one[: rnd.randrange(10, len(one))],  # truncated
        bytes(flipped),  # corrupt somewhere (data, CRC or length)
        gzip.compress(b""),  # an empty member
    ]


@pytest.mark.parametrize("seed", range(3))
def test_gunzip_equals_the_gzipfile_reader(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(seed)
    taken = []
    first_member = decode._first_member

    def spy(data: bytes, max_size: int) -> tuple[bytes | None, bytes]:
        got = first_member(data, max_size)
        taken.append("whole" if got[0] is not None and not got[1] else "continued" if got[0] is not None else "gzipfile")
        return got

    monkeypatch.setattr(decode, "_first_member", spy)
    for _ in range(40):
        for data in _cases(rnd):
            for cap in (1 << 30, rnd.randrange(1, 4000)):
                assert _ours(data, cap) == _by_gzipfile(data, cap), (data[:40], cap)
    assert set(taken) == {"whole", "continued", "gzipfile"}  # every path ran

"""Object bytes → the whole decompressed text, validated before any row is used.

Python's gzip readers hand out lines before they reach the end of a truncated or
corrupt member; we decompress the *whole* object (all concatenated members, CRC and
length checked) before parsing, so a bad object never leaves partial rows. A size
cap stops decompression bombs. ``isal`` is several times faster than zlib here.
"""

from __future__ import annotations

import io
import zlib

from isal import igzip, isal_zlib

from ..errors import FormatError

GZIP_MAGIC = b"\x1f\x8b"
_ISAL_ERROR: type[Exception] = isal_zlib.IsalError  # type: ignore[assignment]  # stubs: an instance
DEFAULT_MAX_DECOMPRESSED = 2 * 1024**3  # bytes per object; AWS log files are far smaller


def gunzip(data: bytes, *, max_size: int = DEFAULT_MAX_DECOMPRESSED, source_uri: str = "") -> bytes:
    """Every gzip member of ``data``, or ``FormatError`` (truncated, corrupt, over ``max_size``)."""
    if not data:
        return b""
    if not data.startswith(GZIP_MAGIC):
        raise FormatError("not gzip data (bad magic bytes) although the name ends in .gz", source_uri=source_uri)
    first, rest = _first_member(data, max_size)
    if first is not None and not rest:
        return first
    head, data = (first, rest) if first is not None else (b"", data)
    try:
        with igzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = head + f.read(max_size - len(head) + 1)
    except EOFError:
        raise FormatError("truncated gzip: the object ends before the end of its last member", source_uri=source_uri) from None
    except (OSError, zlib.error, _ISAL_ERROR, ValueError) as e:
        raise FormatError(f"corrupt gzip: {e}", source_uri=source_uri) from None
    if len(out) > max_size:
        raise FormatError(
            f"decompressed size exceeds the cap of {max_size} bytes (decompression bomb?); "
            "raise --max-object-size if this object is genuine",
            source_uri=source_uri,
        )
    return out


def _first_member(data: bytes, max_size: int) -> tuple[bytes | None, bytes]:
    """The first gzip member of ``data`` decompressed (CRC and length checked, within ``max_size``)
    and the bytes after it, when those are nothing or start another member; else ``(None, b"")``
    (bytes after the member that are not a member, truncated, corrupt, too large), which
    ``GzipFile`` then reads or reports from the start.

    One complete member is what AWS writes: this skips ``GzipFile``'s per-object set-up
    (~0.08 ms: as much as decompressing a 10 KB object, and a quiet bucket has thousands).
    Concatenated members continue in ``GzipFile`` after the first one, which is then not
    decompressed twice; ``GzipFile`` reads a member the same whatever came before it.
    """
    d = isal_zlib.decompressobj(31)  # gzip wrapper: header, CRC32 and ISIZE checked
    try:
        out = d.decompress(data, max_size + 1)
    except _ISAL_ERROR:
        return None, b""
    if not d.eof or len(out) > max_size or (d.unused_data and not d.unused_data.startswith(GZIP_MAGIC)):
        return None, b""  # zero padding and other trailing bytes: GzipFile's own rules, from the start
    return out, d.unused_data


def decode_object(data: bytes, fmt: str, *, max_size: int = DEFAULT_MAX_DECOMPRESSED, source_uri: str = "") -> bytes:
    """Bytes ready for the parser for a key format (``gzip-text``, ``text``, ``parquet``)."""
    if fmt == "gzip-text":
        return gunzip(data, max_size=max_size, source_uri=source_uri)
    if len(data) > max_size:
        raise FormatError(f"object larger than the cap of {max_size} bytes", source_uri=source_uri)
    return data

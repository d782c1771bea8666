"""Cutting a decompressed object into lines, the same way on every path.

A line ends at ``\\n``; one trailing ``\\r`` (CRLF files) is dropped; a final line
without a newline still counts. Nothing else (``\\x0b``, ``\\u2028`` ...) ends a
line, unlike ``str.splitlines``. Invalid UTF-8 is decoded with U+FFFD so the
line survives; the format modules decide whether that makes it a reject.
"""

from __future__ import annotations

import polars as pl

#: Bytes that may serve as a "never occurs" column separator for the fast line reader.
_SPARE_SEPARATORS = (b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06", b"\x07", b"\x08")


def count_lines(data: bytes) -> int:
    """Number of lines in ``data`` (a missing final newline still ends a line)."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def split_lines(data: bytes) -> list[str]:
    """The careful split: every line, decoded with replacement, CR of CRLF removed."""
    if not data:
        return []
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def first_line(data: bytes) -> tuple[str, int]:
    """The first line (decoded, CR removed) and the offset where the rest starts."""
    end = data.find(b"\n")
    if end < 0:
        raw, rest = data, len(data)
    else:
        raw, rest = data[:end], end + 1
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace"), rest


def normalise_newlines(data: bytes) -> bytes:
    """CRLF to LF (a lone CR stays: it is part of a value)."""
    return data.replace(b"\r\n", b"\n") if b"\r" in data else data


def read_lines_column(data: bytes) -> pl.Series | None:
    """All lines as one polars string column, fast; ``None`` when that cannot be trusted.

    Uses polars' multi-threaded CSV reader with a separator byte that does not occur
    in ``data`` and no quoting, so each line becomes one value. ``data`` must be valid
    UTF-8 with LF line ends (see ``normalise_newlines``); the row count is checked
    against the line count, because the reader may treat empty lines specially.
    """
    sep = next((s for s in _SPARE_SEPARATORS if s not in data), None)
    if sep is None or not data:
        return None
    try:
        frame = pl.read_csv(
            data,
            separator=sep.decode(),
            has_header=False,
            quote_char=None,
            new_columns=["line"],
            infer_schema=False,
            encoding="utf8",
        )
    except Exception:  # noqa: BLE001 - any reader failure means: use the careful path
        return None
    col = frame.get_column("line")
    if col.len() != count_lines(data):
        return None
    return col.fill_null("")

"""Cutting a decompressed object into lines, the same way on every path.

A line ends at ``\\n``; one trailing ``\\r`` (CRLF files) is dropped; a final line
without a newline still counts. Nothing else (``\\x0b``, ``\\u2028`` ...) ends a
line, unlike ``str.splitlines``. Invalid UTF-8 is decoded with U+FFFD so the
line survives; the format modules decide whether that makes it a reject.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: Bytes that may serve as a "never occurs" column separator for the fast line reader.
_SPARE_SEPARATORS = (b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06", b"\x07", b"\x08")


#: Bytes per block when counting newlines (fits in cache; one reused buffer).
_COUNT_BLOCK = 1 << 20


def count_lines(data: bytes) -> int:
    """Number of lines in ``data`` (a missing final newline still ends a line)."""
    if not data:
        return 0
    return _count_newlines(data) + (0 if data.endswith(b"\n") else 1)


def _count_newlines(data: bytes) -> int:
    """``data.count(b"\n")``, twice as fast on large objects (CPython counts a byte at a time)."""
    if len(data) < _COUNT_BLOCK:
        return data.count(b"\n")
    arr = np.frombuffer(data, dtype=np.uint8)
    hits = np.empty(_COUNT_BLOCK, dtype=np.bool_)
    n = 0
    for start in range(0, arr.size, _COUNT_BLOCK):
        block = arr[start : start + _COUNT_BLOCK]
        out = hits[: block.size]
        np.equal(block, 10, out=out)
        n += int(np.count_nonzero(out))
    return n


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


def read_lines_column(data: bytes, n_lines: int | None = None) -> pl.Series | None:
    """All lines as one polars string column, fast; ``None`` when that cannot be trusted.

    Uses polars' multi-threaded CSV reader with a separator byte that does not occur
    in ``data`` and no quoting, so each line becomes one value. ``data`` must be valid
    UTF-8 with LF line ends (see ``normalise_newlines``); the row count is checked
    against the line count (``n_lines`` when the caller has counted already), because
    the reader may treat empty lines specially.
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
    if col.len() != (count_lines(data) if n_lines is None else n_lines):
        return None
    return col.fill_null("")


def select_lines(
    body: bytes | memoryview, lines: pl.Series, keep: pl.Series, *, cut_share: float = 0.02, filler: str | None = None
) -> bytes:
    """The lines of ``body`` where ``keep``, as LF-terminated bytes; ``filler`` stands in for the others if given.

    ``lines`` is ``body``'s line column (``read_lines_column``: same bytes, LF ends, no
    BOM); kept lines are never empty. Few dropped lines: the kept runs are cut out of
    ``body`` (no per-line work); many: the kept lines are re-joined in polars.
    """
    n_drop = lines.len() - int(keep.sum())
    if n_drop > cut_share * lines.len():
        kept = lines.filter(keep) if filler is None else pl.select(pl.when(keep).then(lines).otherwise(pl.lit(filler))).to_series()
        text = kept.str.join("\n").item()
        return (text + "\n").encode() if text else b""
    sizes = lines.str.len_bytes().cast(pl.Int64) + 1
    ends = sizes.cum_sum()
    drop = (~keep).arg_true()
    view = memoryview(body)
    pieces: list[bytes | memoryview] = []
    stand_in = None if filler is None else (filler + "\n").encode()
    pos = 0
    for start, end in zip((ends - sizes).gather(drop).to_list(), ends.gather(drop).to_list(), strict=False):
        pieces.append(view[pos:start])
        if stand_in is not None:
            pieces.append(stand_in)
        pos = end
    pieces.append(view[pos:])
    out = b"".join(pieces)
    return out if not out or out.endswith(b"\n") else out + b"\n"

"""Space-separated logs with double-quoted fields (ALB access and connection logs).

AWS writes fields separated by one space; a field that may hold spaces is wrapped in
double quotes, and a ``"`` inside a value is written as ``\\x22``, so a well-formed
line matches ``FIELD( FIELD)*`` with ``FIELD = "[^"]*" | [^ "]+``.

Fast path: every line is checked against that grammar with one capture-free regex
(polars, vectorised); lines that match are split by polars' CSV reader (separator
space, quote ``"``), which reads exactly those lines right. Lines that do not match
go to the careful tokenizer, which tries in turn:

1. the same grammar, allowing runs of spaces (the common split, as the fast path);
2. a closing quote glued to the next field (``"-"1``), split into two fields;
3. a layout-specific anchored split (ALB: a raw ``"`` inside the user agent),
accepting 2 and 3 only when every field AWS always quotes is quoted and every field
it never quotes is not. A line none of them explains is a reject with the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .lines import count_lines, normalise_newlines, read_lines_column, select_lines, split_lines
from .result import Reject, make_reject

log = logging.getLogger(__name__)

_FIELD = r'(?:"[^"]*"|[^ "]+)'
#: A well-formed line, as AWS writes it (fast path; capture-free so polars runs it as a DFA).
FAST_GRAMMAR = rf"^{_FIELD}(?: {_FIELD})*$"
_STRICT = re.compile(rf" *{_FIELD}(?: +{_FIELD})* *")
_TOKEN = re.compile(r'"([^"]*)"|([^ "]+)')

_BOM = b"\xef\xbb\xbf"
_NEWLINE, _SPACE, _QUOTE = ord("\n"), ord(" "), ord('"')

EXTRA = "__extra"
NFIELDS = "__nfields"

Token = tuple[str, bool]  # (value without quotes, was quoted)
#: A layout-specific last resort: line -> tokens, or None.
AnchoredSplit = Callable[[str], "list[Token] | None"]


@dataclass(frozen=True)
class Layout:
    """Positions of a quoted log format, for the tokenizer's sanity checks."""

    positions: tuple[str, ...]
    quoted: frozenset[int] = frozenset()  # positions AWS always quotes
    #: positions AWS quotes in the logs it writes today (``quoted`` when None): the CSV-only
    #: path expects exactly these (an object quoted otherwise takes the line-checking path)
    written_quoted: frozenset[int] | None = None
    unquoted: frozenset[int] = frozenset()  # positions AWS never quotes
    anchored: AnchoredSplit | None = None
    foreign: Callable[[str], str | None] | None = None  # names another log format a line belongs to

    @property
    def quoted_as_written(self) -> frozenset[int]:
        return self.quoted if self.written_quoted is None else self.written_quoted

    @property
    def width(self) -> int:
        return len(self.positions)

    def column(self, i: int) -> str:
        return f"p{i}"


@dataclass
class Tokenized:
    """Strings per position (``p0``..), the raw tail of unknown fields, and rejects."""

    frame: pl.DataFrame  # p0..p{w-1} (str, '-' not yet nulled), __extra, __nfields, source_line
    rejects: list[Reject] = field(default_factory=list)
    lines_read: int = 0
    raw_lines: pl.Series | list[str] | None = None  # index = source_line - 1
    data: bytes | None = None  # the object, when ``raw_lines`` is cut from it only if a reject asks

    def raw(self, line_no: int) -> str:
        if self.raw_lines is None:
            assert self.data is not None
            self.raw_lines = split_lines(self.data)
        value = self.raw_lines[line_no - 1]
        return "" if value is None else str(value)


def strict_tokens(line: str) -> list[Token] | None:
    """Tokens of a well-formed line (runs of spaces allowed), else None."""
    if not _STRICT.fullmatch(line):
        return None
    return [(m[1], True) if m[1] is not None else (m[2], False) for m in _TOKEN.finditer(line)]


def glued_tokens(line: str) -> list[Token] | None:
    """Tokens where a closing quote may touch the next field (``"-"1``); None if a quote is stray."""
    if line.count('"') % 2 == 0:
        # the scan takes quotes in pairs from the left, so with an even count none is left
        # over and only spaces lie between tokens; an unquoted token is never empty, so an
        # empty second group marks a quoted one
        return [(q, True) if not u else (u, False) for q, u in _TOKEN.findall(line)]
    out: list[Token] = []
    pos = 0
    for m in _TOKEN.finditer(line):
        if line[pos : m.start()].strip(" "):
            return None  # something (a lone quote) was skipped
        out.append((m[1], True) if m[1] is not None else (m[2], False))
        pos = m.end()
    if line[pos:].strip(" "):
        return None
    return out


def _quoting_fits(tokens: list[Token], layout: Layout) -> bool:
    for i, (_, quoted) in enumerate(tokens[: layout.width]):
        if (i in layout.quoted and not quoted) or (i in layout.unquoted and quoted):
            return False
    return True


def _why_not(line: str) -> str:
    if not line.strip(" "):
        return "empty line"
    if line.count('"') % 2:
        return "unbalanced double quote (a quoted field has no end quote)"
    return 'double quote inside a field that no split explains (AWS writes a quote as \\x22)'


#: The anchored split backtracks over quote positions; real lines have about 30 quotes.
_MAX_ANCHORED_QUOTES = 64


def tokenize_line(line: str, layout: Layout) -> list[Token] | str:
    """The careful tokenizer: tokens, or the reason the line cannot be split."""
    quotes = line.count('"')
    if quotes % 2 == 0:  # an odd count can neither be well-formed nor glued
        tokens = strict_tokens(line)
        if tokens is not None:
            return tokens if tokens else "empty line"
        tokens = glued_tokens(line)
        if tokens and _quoting_fits(tokens, layout):
            return tokens
    if layout.anchored is not None and quotes <= _MAX_ANCHORED_QUOTES:
        tokens = layout.anchored(line)
        if tokens and _quoting_fits(tokens, layout):
            return tokens
    other = layout.foreign(line) if layout.foreign else None
    return other or _why_not(line)


def _tail(line: str, width: int) -> str | None:
    """The raw text after the first ``width`` fields (unknown trailing fields, as logged)."""
    m = re.match(rf" *(?:{_FIELD} +){{{width}}}(.*)", line)
    if m is None:  # glued or anchored split: rebuild from tokens
        return None
    return m.group(1).rstrip(" ") or None


def _careful_rows(lines: list[tuple[int, str]], layout: Layout) -> tuple[pl.DataFrame, list[Reject]]:
    width = layout.width
    rows: list[list[str | None]] = []
    numbers: list[int] = []
    extras: list[str | None] = []
    counts: list[int] = []
    rejects: list[Reject] = []
    for no, line in lines:
        got = tokenize_line(line, layout)
        if isinstance(got, str):
            rejects.append(make_reject(no, got, line))
            continue
        values: list[str | None] = [v for v, _ in got[:width]]
        values += [None] * (width - len(values))
        rows.append(values)
        numbers.append(no)
        counts.append(min(len(got), width + 1))
        if len(got) > width:
            tail = _tail(line, width)
            if tail is None:
                tail = " ".join(f'"{v}"' if q else v for v, q in got[width:])
            extras.append(tail)
        else:
            extras.append(None)
    cols = [layout.column(i) for i in range(width)]
    columns: list[tuple[str | None, ...]] = list(zip(*rows, strict=False)) if rows else [() for _ in cols]
    frame = pl.DataFrame({c: pl.Series(c, v, dtype=pl.String) for c, v in zip(cols, columns, strict=False)}).with_columns(
        pl.Series(EXTRA, extras, dtype=pl.String),
        pl.Series(NFIELDS, counts, dtype=pl.Int32),
        pl.Series("source_line", numbers, dtype=pl.Int64),
    )
    return frame, rejects


def _csv_rows(data: bytes, layout: Layout) -> pl.DataFrame | None:
    """Split well-formed lines with polars' CSV reader (one extra column flags unknown fields).

    polars takes the width from the first line; ``missing_columns``/``extra_columns``
    make it read the given width whatever the first line holds.
    """
    width = layout.width
    cols = [layout.column(i) for i in range(width)] + ["__more"]
    try:
        frame = pl.read_csv(
            data,
            separator=" ",
            quote_char='"',
            has_header=False,
            schema={c: pl.String for c in cols},
            missing_columns="insert",
            extra_columns="ignore",
            truncate_ragged_lines=True,  # the raw tail is re-read from the line itself
            encoding="utf8",
        )
    except Exception as e:  # noqa: BLE001
        log.debug("CSV reader declined: %s", e)
        return None
    if frame.width != len(cols):
        return None
    return frame


_BLOCK = 1 << 20  # bytes per block of the byte scans (one reused buffer, no object-sized temporaries)


def _line_ends_and_quotes(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """Offsets of every newline, and the number of double quotes, in one blockwise pass."""
    hits = np.empty(min(_BLOCK, raw.size), dtype=np.bool_)
    ends: list[np.ndarray] = []
    quotes = 0
    for start in range(0, raw.size, _BLOCK):
        block = raw[start : start + _BLOCK]
        out = hits[: block.size]
        np.equal(block, _NEWLINE, out=out)
        ends.append(np.flatnonzero(out) + start)
        np.equal(block, _QUOTE, out=out)
        quotes += int(np.count_nonzero(out))
    return (np.concatenate(ends) if ends else np.empty(0, dtype=np.intp)), quotes


def _clean_object(data: bytes, layout: Layout, lines_read: int) -> Tokenized | None:
    """Every line split by the CSV reader alone, when its output proves each line well-formed; else None.

    polars' reader refuses a field that starts with a quote and does not end with its
    closing quote (glued ``"-"1``, unclosed), reads ``""`` inside a quoted field as one
    quote, keeps a quote inside an unquoted field (``b"c``) and reads a run of spaces or
    a leading space as an empty (null) field. For a line it read, with ``k`` fields
    (``q`` of them quoted), ``e`` escaped pairs, ``m`` quotes inside unquoted fields and
    ``t`` empty fields after the last value:

        length = sum(value lengths) + 2q + e + (k + t - 1),   quotes = 2q + 2e + m.

    The checks: one row per line (no quoted newline), no empty field before the last
    value, no trailing space (``t = 0``), no field past the layout's width, every line's
    length as if exactly the layout's quoted positions were quoted (so ``2q + e`` is
    what they give), and the object's quote count equal to what those positions give
    (so ``e + m = 0`` over the object). Then every value is quote-free, so each line is
    ``FIELD( FIELD)*``. No regex runs and no line column is built.
    """
    frame = _csv_rows(data, layout)
    if frame is None or frame.height != lines_read:
        return None
    width = layout.width
    cols = [layout.column(i) for i in range(width)]
    present = [pl.col(c).is_not_null() for c in [*cols, "__more"]]
    stats = frame.lazy().select(
        pl.any_horizontal([~a & b for a, b in zip(present, present[1:], strict=False)]).any().alias("gap"),
        present[-1].any().alias("more"),
        pl.sum_horizontal([p.cast(pl.Int32) for p in present[:-1]]).cast(pl.Int32).alias(NFIELDS),
        pl.sum_horizontal([pl.col(c).str.len_bytes().fill_null(0).cast(pl.Int64) for c in cols]).alias("__bytes"),
    ).collect()
    if stats.item(0, "gap") or stats.item(0, "more"):
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    ends, quotes = _line_ends_and_quotes(raw)
    if raw.size and raw[-1] != _NEWLINE:
        ends = np.append(ends, raw.size)  # now one end per line: ``count_lines``, which gave ``lines_read``
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    if bool((raw[np.maximum(ends - 1, 0)] == _SPACE)[lengths > 0].any()):
        return None  # a trailing space
    nfields = stats.get_column(NFIELDS).to_numpy()
    quoted = np.cumsum([0] + [int(i in layout.quoted_as_written) for i in range(width)])[nfields]
    expected = stats.get_column("__bytes").to_numpy() + 2 * quoted + nfields - 1
    if not np.array_equal(expected, lengths) or quotes != 2 * int(quoted.sum()):
        return None
    frame = frame.drop("__more").with_columns(
        pl.lit(None, dtype=pl.String).alias(EXTRA),
        stats.get_column(NFIELDS),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("source_line"),
    )
    return Tokenized(frame=frame, lines_read=lines_read, data=data)


def tokenize_object(data: bytes, layout: Layout, *, fast: bool = True, n_lines: int | None = None) -> Tokenized:
    """Split every line of a decompressed object into position strings (or a reject).

    ``fast=False`` forces the careful tokenizer on every line (tests compare the two).
    ``n_lines``: ``count_lines(data)`` when the caller has counted already.
    """
    lines_read = count_lines(data) if n_lines is None else n_lines
    width = layout.width
    if lines_read == 0:
        return Tokenized(frame=_careful_rows([], layout)[0], lines_read=0, raw_lines=[])
    data = normalise_newlines(data)
    # polars' readers drop a BOM that starts their input and take a CR as a line end or
    # part of one; the careful path keeps both as data
    readable = fast and not (data.startswith(_BOM) or b"\r" in data)
    clean = _clean_object(data, layout, lines_read) if readable else None
    if clean is not None:
        return clean
    lines = read_lines_column(data, lines_read) if readable else None
    if lines is not None:
        # through the lazy engine, which spreads the regex over the column's chunks and the
        # cores (the eager Series method runs on one core); same values
        line = pl.col("line")
        ok = (
            pl.LazyFrame({"line": lines})
            .select(line.str.contains(FAST_GRAMMAR) & ~line.str.starts_with(_BOM.decode()))
            .collect()
            .to_series()
        )
        n_ok = int(ok.sum())
        every = n_ok == lines.len()
        frame = _csv_rows(data if every else select_lines(data, lines, ok), layout) if n_ok else None
        if frame is not None and frame.height == n_ok:
            good_lines = lines if every else lines.filter(ok)
            numbers = pl.int_range(1, lines.len() + 1, dtype=pl.Int64, eager=True)
            if not every:
                numbers = numbers.filter(ok)
            cols = [layout.column(i) for i in range(width)]
            nfields = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in cols + ["__more"]])
            more = frame.get_column("__more").is_not_null()
            tail = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(EXTRA)
            if more.any():  # unknown trailing fields: re-read them, as logged, from the line
                idx = more.arg_true()
                tail = tail.scatter(idx, good_lines.gather(idx).str.extract(rf"^(?:{_FIELD} ){{{width}}}(.*)$", 1))
            frame = frame.with_columns(
                tail.alias(EXTRA),
                nfields.cast(pl.Int32).alias(NFIELDS),
                numbers.alias("source_line"),
            ).drop("__more")
            rejects: list[Reject] = []
            if not every:
                odd = ~ok
                bad = list(zip(pl.int_range(1, lines.len() + 1, dtype=pl.Int64, eager=True).filter(odd).to_list(), lines.filter(odd).to_list(), strict=False))
                careful, rejects = _careful_rows(bad, layout)
                frame = frame.merge_sorted(careful, key="source_line")  # both in line order
            return Tokenized(frame=frame, rejects=rejects, lines_read=lines_read, raw_lines=lines)
    log.debug("careful path for the whole object")
    all_lines = split_lines(data)
    frame, rejects = _careful_rows(list(enumerate(all_lines, start=1)), layout)
    return Tokenized(frame=frame, rejects=rejects, lines_read=lines_read, raw_lines=all_lines)

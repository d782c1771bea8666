"""VPC Flow Logs and Transit Gateway flow logs, text as delivered to S3.

Header-driven: the object's first line names the fields (see ``flow_header``).
Three ways to split lines, one result:

* whole object: polars' CSV reader (separator one space, no quoting, ``-`` null,
  integer columns read as Int64) over the object's bytes as they are, when one
  vectorised pass over the bytes proves every line is exactly the header's fields
  (``_clean_body``) and the typed read succeeds;
* mixed: otherwise a line column sorts the lines; those the reader reads right
  (exactly width-1 single spaces, not the header, no tab or CR) still go through it,
  with all-null stand-ins for the others so rows stay in line order, and only the
  others are split in Python and written over their stand-ins. A value that is not
  an integer makes the typed read fail; then the integer columns are read as text
  and typed by ``casting``, which names the bad rows;
* careful: every line in Python (invalid UTF-8, a BOM, ``fast=False``), where a run
  of spaces is one separator, a repeated header line is skipped and a line of the
  wrong width is a reject.

polars' integer reader and ``casting`` accept the same values except a leading tab
and a trailing CR (polars trims them), so lines holding those bytes never reach it.
Invalid UTF-8 becomes U+FFFD: kept in string fields, a reject in integer fields.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from polars._typing import PolarsDataType

from ..errors import FormatError
from ..schema import FLOW_BY_AWS, VPC_FLOW_SCHEMA, Field
from .casting import MAX_EPOCH_SECONDS, numeric_fields, type_rows
from .flow_header import looks_like_header, parse_header, unknown_fields
from .flow_native import parse_vouched
from .flow_parquet import parse_flow_parquet  # noqa: F401 - also reachable here, where ingest's brief looks for it
from .grouped import cut_apart, join_objects, without_null_columns
from .lines import count_lines, first_line, normalise_newlines, read_lines_column, select_lines, split_lines
from .result import ParsedObject, Reject, make_reject
from .table_build import to_schema_table

log = logging.getLogger(__name__)


@dataclass
class FlowParse:
    """A parsed object plus the field names its lines carry (for per-line records)."""

    parsed: ParsedObject
    names: tuple[str, ...]


def parse_vpcflow(
    data: bytes, *, source_uri: str, header: str | Sequence[str] | None = None, uri_column: bool = True
) -> ParsedObject:
    """Parse one decompressed flow-log object (see module docstring); ``uri_column``: see ``parse_bytes``."""
    return parse_vpcflow_detailed(data, source_uri=source_uri, header=header, uri_column=uri_column).parsed


def parse_vpcflow_detailed(
    data: bytes, *, source_uri: str, header: str | Sequence[str] | None = None, fast: bool = True, uri_column: bool = True,
    compiled: bool = True,
) -> FlowParse:  # fmt: skip
    """Like ``parse_vpcflow``, plus the header; ``fast=False`` forces the careful path (tests).

    ``compiled``: try ``flow_native`` first (with ``fast``); tests turn it off to compare the two.
    """
    lines_read = count_lines(data)
    if lines_read == 0:
        names = parse_header(header, source_uri=source_uri) if header is not None else ()
        empty = VPC_FLOW_SCHEMA.empty_table()
        return FlowParse(ParsedObject("vpc_flow", empty if uri_column else empty.drop_columns(["source_uri"])), names)
    first, rest = first_line(data)
    if looks_like_header(first):
        names = parse_header(first, source_uri=source_uri, line=1, allow_unknown=True)
        header_text, header_lines = first, 1
    elif header is not None:
        names = parse_header(header, source_uri=source_uri)
        header_text, header_lines = " ".join(names), 0
    else:
        raise FormatError(
            f"{source_uri}: first line is not a flow-log header (got {first[:60]!r}); "
            "S3 objects start with the field names, e.g. 'version account-id interface-id ...'. "
            "For lines without a header pass header= (CLI: --header \"version account-id ...\")",
            source_uri=source_uri,
            line=1,
        )
    columns = [_field(n).column for n in names]
    drift = unknown_fields(names)
    if drift:
        log.warning("%s: header names field(s) AWS does not document: %s (kept in extra_fields)", source_uri, ", ".join(drift))
    first_no = header_lines + 1
    vouched = None
    if fast and compiled and not drift and not data.startswith(_BOM) and b"\r" not in data:  # exactly as AWS writes
        body_start = rest if header_lines else 0
        vouched = parse_vouched(
            data, names, body_start, first_no, lines_read - header_lines, source_uri=source_uri, uri_column=uri_column
        )
    got = _fast_parse(data, header_lines, lines_read, names, columns, header_text) if fast and vouched is None else None
    rejects: list[Reject] = []
    if vouched is not None:
        table = vouched
    elif got is not None:
        good, skipped, rejects = got
        header_lines += skipped
        table = _finish(good, columns, source_uri, uri_column=uri_column)
    else:
        log.debug("%s: line-by-line path", source_uri)
        body = data[rest:] if header_lines else data
        frame, skipped, rejects, raw_lines = _line_frame(body, columns, header_text, first_no)
        header_lines += skipped
        table, type_rejects = _type_frame(frame, names, columns, source_uri, uri_column=uri_column)
        if type_rejects:
            rejects.extend(make_reject(no, reason, str(raw_lines[no - first_no])) for no, reason in type_rejects)
            rejects.sort(key=lambda r: r.line)
    parsed = ParsedObject(
        table="vpc_flow",
        data=table,
        rejects=rejects,
        lines_read=lines_read,
        header_lines=header_lines,
        unknown_fields=drift,
    )
    return FlowParse(parsed, names)


def flow_group_key(data: bytes) -> bytes | None:
    """The header line of an object ``parse_vpcflow_many`` may parse with others that start with
    the same bytes; None: parse it alone.

    Not when the parser treats the object as a whole specially: a BOM first or a CR anywhere,
    a first line that is not a documented header (no header, an unreadable one, or fields AWS
    does not document, which are warned about per object).
    """
    if not data or data.startswith(_BOM) or b"\r" in data:
        return None
    head = _first_line_bytes(data)
    # a documented header names each field once: longer is not one (and is not kept in the cache)
    return head if len(head) <= _MAX_HEADER_BYTES and _documented_header(head) else None


def _first_line_bytes(data: bytes) -> bytes:
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


#: Every documented field named once, with a space after each (room to spare).
_MAX_HEADER_BYTES = 2 * sum(len(name) + 1 for name in FLOW_BY_AWS)


@functools.lru_cache(maxsize=256)
def _documented_header(head: bytes) -> bool:
    """A flow-log header naming only documented fields (a bucket has a few header lines, thousands of objects)."""
    try:
        text = head.decode("utf-8")
        return looks_like_header(text) and not unknown_fields(parse_header(text, source_uri="", line=1, allow_unknown=True))
    except (UnicodeDecodeError, FormatError):
        return False


def parse_vpcflow_many(
    objects: list[tuple[bytes, str]], *, uri_column: bool = True, for_lake: bool = False
) -> list[ParsedObject]:
    """Several flow-log objects ``(data, source_uri)`` with the same ``flow_group_key`` in one parse.

    Every split, check and type of a line depends on that line and the header alone, so the
    objects' bodies parsed together under their shared header, cut apart by line number,
    give each object exactly what ``parse_vpcflow`` gives it, for one parse's fixed cost
    (~4 ms: a few dozen polars and Arrow calls) instead of one per object: a bucket of
    quiet interfaces delivers thousands of objects of a few hundred lines.

    ``for_lake`` (ingest): each object's rows without ``source_uri`` and without the columns
    null on every row of the whole group (what the lake writer takes), found once for the
    group rather than per object.
    """
    head = _first_line_bytes(objects[0][0])
    skip = len(head) + 1
    joined, offsets = join_objects([memoryview(data)[skip:] for data, _uri in objects], head + b"\n")
    whole = parse_vpcflow_detailed(joined, source_uri="", uri_column=False).parsed
    # object i holds the joined lines (1 + offsets[i], 1 + offsets[i + 1]]: line 1 is the shared header
    cut = cut_apart(whole.data, whole.rejects, [1 + o for o in offsets[1:]], offsets[:-1])
    if for_lake:
        uri_column = False
        cut.table = without_null_columns(cut.table)
    out: list[ParsedObject] = []
    for i, (_data, uri) in enumerate(objects):
        part, rejects = cut.part(i), cut.rejects[i]
        if uri_column:
            at = VPC_FLOW_SCHEMA.get_field_index("source_uri")
            part = part.add_column(at, VPC_FLOW_SCHEMA.field(at), pa.repeat(pa.scalar(uri, pa.string()), part.num_rows))
        lines_read = 1 + offsets[i + 1] - offsets[i]
        out.append(
            ParsedObject(
                table="vpc_flow", data=part, rejects=rejects, lines_read=lines_read,
                header_lines=lines_read - part.num_rows - len(rejects),  # the header and its repeats
            )  # fmt: skip
        )
    return out


_EXTRA = "__extra:"


def _field(name: str) -> Field:
    """The documented field, or a text stand-in for a header name AWS does not document (yet)."""
    return FLOW_BY_AWS.get(name) or Field(aws=name, column=_EXTRA + name, kind="str")


#: Bytes on which polars' integer reader is laxer than ``casting`` (it trims a leading tab and
#: a trailing CR): lines holding them are split by the careful path.
_LAX_BYTES = (b"\t", b"\r")
_BOM = b"\xef\xbb\xbf"
#: Above this share of odd lines, the good ones are re-joined in polars rather than cut out of the bytes.
_CUT_SHARE = 0.02
_BLOCK = 1 << 20  # bytes per block of the clean-body check


def _schema(names: Sequence[str], columns: list[str], *, ints: bool) -> dict[str, PolarsDataType]:
    return {
        c: (pl.Int64 if ints and _field(n).kind == "int" else pl.String) for n, c in zip(names, columns, strict=False)
    }  # fmt: skip


def _read(data: bytes, skip: int, names: Sequence[str], columns: list[str], *, ints: bool) -> pl.DataFrame:
    """polars' CSV reader after ``skip`` lines: one space, no quoting, ``-`` null; integer columns typed when ``ints``."""
    return pl.read_csv(
        data,
        separator=" ",
        has_header=False,
        skip_lines=skip,
        quote_char=None,
        schema=_schema(names, columns, ints=ints),
        null_values=["-"],
        encoding="utf8",
    )


def _read_typed(
    data: bytes, skip: int, names: Sequence[str], columns: list[str], first_no: pl.Series, *, typed: bool = True
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """Lines known to hold exactly the header's fields, none empty, typed.

    Integers are read typed by the CSV reader; when a value is not an integer the
    reader fails the whole read, and then the integer columns are read as text and
    typed by ``casting`` (which names the bad rows). Values the two accept are the
    same (the bytes where polars' reader is laxer never get here).
    """
    numeric = numeric_fields([_field(n) for n in names], columns)
    rejects: list[tuple[int, str]] = []
    if typed:  # ``typed=False``: the caller already saw this read fail
        try:
            frame = _read(data, skip, names, columns, ints=True)
        except Exception as e:  # noqa: BLE001 - a value that is not an integer (or int64)
            log.debug("typed flow read declined: %s", e)
            typed = False
    if not typed:
        frame = _read(data, skip, names, columns, ints=False)
    if frame.height != first_no.len() or frame.width != len(columns):
        raise _Mismatch
    frame = frame.with_columns(first_no.alias("source_line"))
    if not typed:
        frame, rejects = type_rows(frame, numeric)
    return frame, rejects


class _Mismatch(Exception):
    """The reader did not return one row per line (cannot happen for lines that passed the checks)."""


def _fast_parse(
    data: bytes, skip: int, lines_read: int, names: tuple[str, ...], columns: list[str], header_text: str
) -> tuple[pl.DataFrame, int, list[Reject]] | None:
    """Typed rows (``-`` null, source_line), header lines skipped, rejects; None: use the careful path.

    ``skip``: 1 when the first line is the header. polars' CSV reader splits and types
    every line that holds exactly the header's fields separated by single spaces;
    only the other lines are split in Python.

    A clean object goes to the reader as it is, once its bytes prove it clean
    (``_clean_body``) and the typed read succeeds. Otherwise a line column sorts the
    lines: the others are replaced by all-null stand-ins in the bytes, which are read
    (integers typed by the reader, or by ``casting`` when one is not an integer), and
    only the others are split in Python and written over their stand-ins.
    """
    src = normalise_newlines(data)
    # polars' readers drop a BOM that starts their input and treat a CR left before LF
    # (from CR CR LF) as part of the line end; the careful path keeps both as data
    if src.startswith(_BOM) or b"\r" in src or lines_read <= skip:
        return None
    base = src.index(b"\n") + 1 if skip else 0  # where the body starts
    first_no = skip + 1
    n, width = lines_read - skip, len(columns)
    numbers = pl.int_range(first_no, first_no + n, dtype=pl.Int64, eager=True)
    typed_failed = False
    if _clean_body(src, base, n, width):
        try:
            frame = _read(src, skip, names, columns, ints=True)
            if frame.shape == (n, width) and not (
                # without integer columns a repeated header would read as a row
                all(_field(m).kind == "str" for m in names)
                and (frame.get_column(columns[0]) == header_text.split(" ", 1)[0]).any()
            ):
                return frame.with_columns(numbers.alias("source_line")), 0, []
        except Exception as e:  # noqa: BLE001 - not an integer, a wider line ...: sort the lines out below
            log.debug("whole-object flow read declined: %s", e)
            typed_failed = True
    lines = read_lines_column(src, lines_read)  # None: not UTF-8, or the reader disagrees on lines
    if lines is None:
        return None
    lines = lines.slice(skip)
    lax = any(b in src for b in _LAX_BYTES)
    ok = (
        (lines.str.count_matches(" ", literal=True) == width - 1)
        & ~lines.str.contains("  ", literal=True)
        & ~lines.str.starts_with(" ")
        & ~lines.str.ends_with(" ")
        & (lines.str.len_bytes() > 0)
        & (lines != header_text)
        & ~lines.str.starts_with("\ufeff")  # the reader would drop it if the line came first
    )
    if lax:
        ok = ok & ~lines.str.contains("[\t\r]")
    n_ok = int(ok.sum())
    odd_idx = (~ok).arg_true()
    odd = list(zip(numbers.gather(odd_idx).to_list(), lines.gather(odd_idx).to_list(), strict=False))
    careful, skipped, rejects = _careful_frame(odd, columns, header_text)
    fields = [_field(m) for m in names]
    careful, type_bad = type_rows(careful, numeric_fields(fields, columns), strings=[f.column for f in fields if f.kind == "str"])
    careful = careful.select(columns + ["source_line"])
    if n_ok == 0:
        frame = careful
    else:
        # Odd lines become all-null stand-ins, so the reader's rows stay in line order;
        # the careful rows are then written over their stand-ins, and the rest dropped.
        if n_ok == n:
            good_bytes, good_skip = src, skip
        else:
            filler = " ".join(["-"] * width)
            good_bytes, good_skip = select_lines(memoryview(src)[base:], lines, ok, cut_share=_CUT_SHARE, filler=filler), 0
        try:
            frame, bad = _read_typed(good_bytes, good_skip, names, columns, numbers, typed=not (typed_failed and n_ok == n))
        except _Mismatch:
            return None
        type_bad += bad
        if odd:
            at = frame.get_column("source_line").search_sorted(careful.get_column("source_line"))
            frame = pl.DataFrame(
                [frame.get_column(c).scatter(at, careful.get_column(c)) if careful.height else frame.get_column(c) for c in columns]
                + [frame.get_column("source_line")]
            )
            if careful.height < len(odd):  # rejects and repeated headers: drop their stand-ins
                kept = set(careful.get_column("source_line").to_list())
                gone = frame.get_column("source_line").search_sorted(pl.Series([no for no, _ in odd if no not in kept], dtype=pl.Int64))
                frame = frame.filter(pl.repeat(True, frame.height, eager=True).scatter(gone, False))
    rejects += _type_rejects(type_bad, lines, first_no)
    rejects.sort(key=lambda r: r.line)
    return frame, skipped, rejects


def _type_rejects(bad: list[tuple[int, str]], lines: pl.Series, first_no: int) -> list[Reject]:
    return [make_reject(no, reason, str(lines[no - first_no])) for no, reason in bad]


def _clean_body(src: bytes, base: int, n: int, width: int) -> bool:
    """True when every line after ``base`` is ``width`` non-empty fields, one space apart, or wider.

    No two whitespace-or-control bytes touch (no run of spaces, no leading or trailing
    space, no empty line), the body neither starts nor ends with one, there are
    exactly ``width - 1`` spaces per line, and no tab or CR (where polars' integer
    reader is laxer than ``casting``). A wider line makes the typed read fail, so no
    line can be narrower either.
    """
    if n <= 0 or any(b in src for b in _LAX_BYTES):
        return False
    body = np.frombuffer(src, dtype=np.uint8)[base:]
    if body.size == 0 or body[0] <= 32 or (body[-1] <= 32 and body[-1] != 10) or src.startswith(_BOM, base):
        return False
    # in blocks that stay in cache, into reused buffers (fresh 100 MB arrays cost more in page faults)
    ws = np.empty(_BLOCK + 1, dtype=np.bool_)
    pair = np.empty(_BLOCK, dtype=np.bool_)
    spaces = 0
    for start in range(0, body.size, _BLOCK):
        block = body[start : start + _BLOCK + 1]  # one byte of overlap: pairs across blocks
        w = ws[: block.size]
        np.less_equal(block, 32, out=w)
        p = pair[: block.size - 1]
        np.logical_and(w[1:], w[:-1], out=p)
        if p.any():
            return False
        np.equal(block[: _BLOCK], 32, out=w[: min(_BLOCK, block.size)])
        spaces += int(np.count_nonzero(w[: min(_BLOCK, block.size)]))
    return spaces == (width - 1) * n


def _line_frame(
    body: bytes, columns: list[str], header_text: str, first_no: int
) -> tuple[pl.DataFrame, int, list[Reject], list[str]]:
    """The careful path: every line split in Python."""
    all_lines = split_lines(body)
    frame, skipped, rejects = _careful_frame(list(enumerate(all_lines, start=first_no)), columns, header_text)
    return frame, skipped, rejects, all_lines


def _careful_frame(
    lines: list[tuple[int, str]], columns: list[str], header_text: str
) -> tuple[pl.DataFrame, int, list[Reject]]:
    """Line-by-line: a run of spaces is one separator; wrong width is a reject."""
    width = len(columns)
    header_tokens = header_text.split()
    rows: list[list[str]] = []
    numbers: list[int] = []
    rejects: list[Reject] = []
    skipped = 0
    for no, line in lines:
        tokens = line.split(" ")
        if len(tokens) != width or "" in tokens:
            tokens = [t for t in tokens if t]
        if len(tokens) == width:
            if tokens == header_tokens:
                skipped += 1  # the header repeated (concatenated objects)
                continue
            rows.append(tokens)
            numbers.append(no)
        elif not tokens:
            rejects.append(make_reject(no, "empty line", line))
        else:
            rejects.append(make_reject(no, f"line has {len(tokens)} fields but the header names {width}", line))
    values = list(zip(*rows, strict=False)) if rows else [() for _ in columns]
    frame = pl.DataFrame({c: pl.Series(c, v, dtype=pl.String) for c, v in zip(columns, values, strict=False)})
    frame = frame.with_columns(pl.Series("source_line", numbers, dtype=pl.Int64))
    return frame, skipped, rejects


def _type_frame(
    frame: pl.DataFrame, names: tuple[str, ...], columns: list[str], source_uri: str, *, uri_column: bool = True
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Typed rows in the lake schema, and (line, reason) for rows that do not type."""
    fields = [_field(n) for n in names]
    strings = [f.column for f in fields if f.kind == "str"]
    good, rejects = type_rows(frame, numeric_fields(fields, columns), strings=strings)
    return _finish(good, columns, source_uri, uri_column=uri_column), rejects


def _finish(good: pl.DataFrame, columns: list[str], source_uri: str, *, uri_column: bool = True) -> pa.Table:
    """Typed rows (``-`` already null) plus derived times, in the lake schema."""
    derived = []
    for src, dst in (("start", "start_time"), ("end", "end_time")):
        if src in columns:
            secs = pl.col(src)
            derived.append(
                pl.when(secs.is_between(0, MAX_EPOCH_SECONDS))
                .then((secs * 1_000_000).cast(pl.Datetime("us", "UTC")))
                .alias(dst)
            )
    extra = [c for c in columns if c.startswith(_EXTRA)]
    if extra:  # unknown header fields, kept as text: {"name": "value", ...} (a "-" is null)
        derived.append(pl.struct([pl.col(c).alias(c.removeprefix(_EXTRA)) for c in extra]).struct.json_encode().alias("extra_fields"))
    if derived:
        good = good.with_columns(derived)
    return to_schema_table(good, VPC_FLOW_SCHEMA, source_uri=source_uri, uri_column=uri_column)

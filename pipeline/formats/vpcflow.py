"""VPC Flow Logs and Transit Gateway flow logs, text as delivered to S3.

Header-driven: the object's first line names the fields (see ``flow_header``).
Three ways to split lines, one result:

* whole object: polars' CSV reader (separator one space, no quoting, all strings),
  kept only when the frame proves every line had exactly the header's fields
  (right width and height, no null: no runs of spaces, no empty or ragged line);
* mixed: otherwise the lines the reader reads right (exactly width-1 single spaces)
  still go through it and only the others are split in Python;
* careful: every line in Python (invalid UTF-8), where a run of spaces is one
  separator, a repeated header line is skipped and a line of the wrong width is a reject.

All hand strings to the same typing step (``casting``), so a value means the same
thing whichever path read it. Invalid UTF-8 becomes U+FFFD: kept in string fields,
a reject in integer fields.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import polars as pl
import pyarrow as pa

from ..errors import FormatError
from ..schema import FLOW_BY_AWS, VPC_FLOW_SCHEMA
from .casting import MAX_EPOCH_SECONDS, numeric_fields, type_rows
from .flow_header import looks_like_header, parse_header
from .flow_parquet import parse_flow_parquet  # noqa: F401 - also reachable here, where ingest's brief looks for it
from .lines import count_lines, first_line, normalise_newlines, read_lines_column, split_lines
from .result import ParsedObject, Reject, make_reject
from .table_build import to_schema_table

log = logging.getLogger(__name__)

@dataclass
class FlowParse:
    """A parsed object plus the field names its lines carry (for per-line records)."""

    parsed: ParsedObject
    names: tuple[str, ...]


def parse_vpcflow(data: bytes, *, source_uri: str, header: str | Sequence[str] | None = None) -> ParsedObject:
    """Parse one decompressed flow-log object (see module docstring)."""
    return parse_vpcflow_detailed(data, source_uri=source_uri, header=header).parsed


def parse_vpcflow_detailed(
    data: bytes, *, source_uri: str, header: str | Sequence[str] | None = None, fast: bool = True
) -> FlowParse:
    """Like ``parse_vpcflow``, plus the header; ``fast=False`` forces the careful path (tests)."""
    lines_read = count_lines(data)
    if lines_read == 0:
        names = parse_header(header, source_uri=source_uri) if header is not None else ()
        return FlowParse(ParsedObject("vpc_flow", VPC_FLOW_SCHEMA.empty_table()), names)
    first, rest = first_line(data)
    if looks_like_header(first):
        names = parse_header(first, source_uri=source_uri, line=1)
        header_text, header_lines, body = first, 1, data[rest:]
    elif header is not None:
        names = parse_header(header, source_uri=source_uri)
        header_text, header_lines, body = " ".join(names), 0, data
    else:
        raise FormatError(
            f"{source_uri}: first line is not a flow-log header (got {first[:60]!r}); "
            "S3 objects start with the field names, e.g. 'version account-id interface-id ...'. "
            "For lines without a header pass header= (CLI: --header \"version account-id ...\")",
            source_uri=source_uri,
            line=1,
        )
    columns = [FLOW_BY_AWS[n].column for n in names]
    first_no = header_lines + 1
    frame = _fast_frame(body, columns, header_text) if fast else None
    rejects: list[Reject] = []
    raw_lines: list[str] | pl.Series | None = None
    if frame is not None:
        frame = frame.with_columns(pl.int_range(first_no, first_no + frame.height, dtype=pl.Int64).alias("source_line"))
    else:
        log.debug("%s: line-by-line path", source_uri)
        frame, skipped, rejects, raw_lines = _line_frame(body, columns, header_text, first_no, fast=fast)
        header_lines += skipped
    table, type_rejects = _type_frame(frame, names, columns, source_uri)
    if type_rejects:
        if raw_lines is None:
            raw_lines = read_lines_column(normalise_newlines(body))
            if raw_lines is None:
                raw_lines = split_lines(body)
        rejects.extend(make_reject(no, reason, str(raw_lines[no - first_no])) for no, reason in type_rejects)
        rejects.sort(key=lambda r: r.line)
    parsed = ParsedObject(
        table="vpc_flow",
        data=table,
        rejects=rejects,
        lines_read=lines_read,
        header_lines=header_lines,
    )
    return FlowParse(parsed, names)


def _fast_frame(body: bytes, columns: list[str], header_text: str) -> pl.DataFrame | None:
    """All-string frame via polars' CSV reader, or None when that could misread a line.

    The reader splits on every single space and fills missing trailing fields with
    null, so a frame of the right width and height with no null at all proves every
    line had exactly the header's fields, none empty (no runs of spaces, no leading
    or trailing space, no empty line). A wider line makes the reader fail; invalid
    UTF-8 too. A repeated header shows up as its first name in the first column.
    """
    if not body:
        return None
    try:
        frame = pl.read_csv(
            body,
            separator=" ",
            has_header=False,
            quote_char=None,
            new_columns=columns,
            infer_schema=False,
            encoding="utf8",
        )
    except Exception as e:  # noqa: BLE001 - invalid UTF-8, ragged line ...: take the careful path
        log.debug("fast flow path declined: %s", e)
        return None
    if frame.width != len(columns) or frame.height != count_lines(body):
        return None
    if sum(frame.null_count().row(0)) or (frame.get_column(columns[0]) == header_text.split(" ", 1)[0]).any():
        return None
    return frame


def _line_frame(
    body: bytes, columns: list[str], header_text: str, first_no: int, *, fast: bool
) -> tuple[pl.DataFrame, int, list[Reject], list[str] | pl.Series]:
    """Lines the CSV reader reads right go through it; only the others are split in Python.

    A line is safe for the reader when it has exactly ``width - 1`` single spaces and
    no leading or trailing space (so exactly ``width`` non-empty fields) and is not
    the header. Falls back to Python for every line when the object is not valid
    UTF-8 (or ``fast`` is off).
    """
    lines = read_lines_column(normalise_newlines(body)) if fast else None
    if lines is None:
        all_lines = split_lines(body)
        frame, skipped, rejects = _careful_frame(list(enumerate(all_lines, start=first_no)), columns, header_text)
        return frame, skipped, rejects, all_lines
    width = len(columns)
    ok = (
        (lines.str.count_matches(" ", literal=True) == width - 1)
        & ~lines.str.contains("  ", literal=True)
        & ~lines.str.starts_with(" ")
        & ~lines.str.ends_with(" ")
        & (lines.str.len_bytes() > 0)
        & (lines != header_text)
    )
    numbers = pl.int_range(first_no, first_no + lines.len(), dtype=pl.Int64, eager=True)
    parts: list[pl.DataFrame] = []
    n_ok = int(ok.sum())
    if n_ok:
        good = pl.read_csv(
            ("\n".join(lines.filter(ok).to_list()) + "\n").encode(),
            separator=" ",
            has_header=False,
            quote_char=None,
            new_columns=columns,
            infer_schema=False,
        )
        if good.shape != (n_ok, width) or sum(good.null_count().row(0)):
            all_lines = split_lines(body)  # cannot happen by construction; stay correct if it does
            frame, skipped, rejects = _careful_frame(list(enumerate(all_lines, start=first_no)), columns, header_text)
            return frame, skipped, rejects, all_lines
        parts.append(good.with_columns(numbers.filter(ok).alias("source_line")))
    bad = [(no, line) for no, line, good_line in zip(numbers.to_list(), lines.to_list(), ok.to_list()) if not good_line]
    careful, skipped, rejects = _careful_frame(bad, columns, header_text)
    parts.append(careful)
    frame = pl.concat(parts).sort("source_line") if len(parts) > 1 else parts[0]
    return frame, skipped, rejects, lines


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
    values = list(zip(*rows)) if rows else [() for _ in columns]
    frame = pl.DataFrame({c: pl.Series(c, v, dtype=pl.String) for c, v in zip(columns, values)})
    frame = frame.with_columns(pl.Series("source_line", numbers, dtype=pl.Int64))
    return frame, skipped, rejects


def _type_frame(
    frame: pl.DataFrame, names: tuple[str, ...], columns: list[str], source_uri: str
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Typed rows in the lake schema, and (line, reason) for rows that do not type."""
    fields = [FLOW_BY_AWS[n] for n in names]
    strings = [f.column for f in fields if f.kind == "str"]
    good, rejects = type_rows(frame, numeric_fields(fields, columns), strings=strings)
    derived = []
    for src, dst in (("start", "start_time"), ("end", "end_time")):
        if src in columns:
            secs = pl.col(src)
            derived.append(
                pl.when(secs.is_between(0, MAX_EPOCH_SECONDS))
                .then((secs * 1_000_000).cast(pl.Datetime("us", "UTC")))
                .alias(dst)
            )
    if derived:
        good = good.with_columns(derived)
    return to_schema_table(good, VPC_FLOW_SCHEMA, source_uri=source_uri), rejects

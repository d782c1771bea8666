"""One parse of several objects' lines, cut back into one result per object.

Ingest parses small objects together (``vpcflow.parse_vpcflow_many``,
``alb.parse_alb_many``): a parse has a fixed cost of dozens of polars and Arrow calls,
more than a few hundred lines cost. Rows and rejects come back in line order, so each
object's share is a run of rows and a run of rejects, found by line number; everything
per object is done here once for the whole group (row numbers, columns that are the
object's own), so that what is left per object is a zero-copy slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .result import Reject, make_reject

_NEWLINE = ord("\n")


def join_objects(bodies: Sequence[bytes | memoryview], head: bytes = b"") -> tuple[bytes, list[int]]:
    """``head`` (whole lines) and the bodies as one bytes, each body ending in a newline (added
    where it lacks one); and the body lines before each body, then in all (``n + 1`` numbers).

    One copy and one newline scan for the group: slicing, counting and appending per object
    cost more than the polars parse of the whole group.
    """
    pieces: list[bytes | memoryview] = [head]
    ends = [len(head)]  # where the head and then each body end in the joined bytes
    for body in bodies:
        pieces.append(body)
        ends.append(ends[-1] + len(body))
        if len(body) and body[-1] != _NEWLINE:
            pieces.append(b"\n")
            ends[-1] += 1
    joined = b"".join(pieces)
    newlines = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == _NEWLINE)
    seen = np.searchsorted(newlines, np.asarray(ends), side="left")  # newlines before each end
    return joined, (seen - seen[0]).tolist()


@dataclass
class Cut:
    """The group's rows numbered per object, each object's row range and rejects."""

    table: pa.Table
    rows: list[tuple[int, int]]  # [start, end) of each object's rows in ``table``
    rejects: list[list[Reject]]

    def part(self, i: int) -> pa.Table:
        start, end = self.rows[i]
        return self.table.slice(start, end - start)


def cut_apart(table: pa.Table, rejects: list[Reject], last_lines: list[int], shifts: list[int]) -> Cut:
    """Object ``i`` holds the joined lines up to ``last_lines[i]`` (after the previous
    object's); its own line numbers are the joined ones minus ``shifts[i]``."""
    line_values = table.column("source_line").to_numpy()
    cuts = np.asarray(last_lines[:-1], dtype=np.int64)
    starts = [0, *np.searchsorted(line_values, cuts, side="right").tolist(), table.num_rows]
    reject_lines = np.asarray([r.line for r in rejects], dtype=np.int64)
    r_starts = [0, *np.searchsorted(reject_lines, cuts, side="right").tolist(), len(rejects)]
    at = table.column_names.index("source_line")
    own = line_values - np.repeat(np.asarray(shifts, dtype=np.int64), np.diff(starts))
    table = table.set_column(at, table.schema.field(at), pa.array(own, pa.int64()))
    return Cut(
        table=table,
        rows=list(zip(starts[:-1], starts[1:], strict=True)),
        rejects=[
            [make_reject(r.line - shifts[i], r.reason, r.raw) for r in rejects[r_starts[i] : r_starts[i + 1]]]
            for i in range(len(last_lines))
        ],
    )


def per_object_column(cut: Cut, values: list[str | None]) -> pa.Array:
    """A string column holding ``values[i]`` on every row of object ``i``."""
    counts = [end - start for start, end in cut.rows]
    index = np.repeat(np.arange(len(values), dtype=np.int32), counts)
    return pc.take(pa.array(values, pa.string()), pa.array(index, pa.int32()))


def valid_per_object(cut: Cut, column: str) -> list[int]:
    """How many rows of each object hold a value in ``column`` (0 when the table lacks it)."""
    if column not in cut.table.column_names:
        return [0] * len(cut.rows)
    valid = cut.table.column(column).is_valid().to_numpy(zero_copy_only=False)
    running = np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])
    return [int(running[end] - running[start]) for start, end in cut.rows]


def without_null_columns(table: pa.Table) -> pa.Table:
    """``table`` without ``source_uri`` and the columns null on every row: what the lake writer
    takes (it writes no all-null column and adds ``source_uri`` itself)."""
    n = table.num_rows
    keep = [
        name for name, col in zip(table.column_names, table.columns, strict=True) if col.null_count < n and name != "source_uri"
    ]  # fmt: skip
    return table.select(keep) if n and len(keep) < table.num_columns else table

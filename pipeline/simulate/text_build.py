"""Building log lines fast: string columns in polars, objects cut from one Arrow buffer.

Flow-log and ALB lines are built by ``concat_str`` over the record frame; these helpers
keep that cheap at benchmark volume (10M+ rows): literal runs merged, integers looked up
rather than formatted, row slices built in parallel, and object bodies sliced out of the
lines' Arrow buffer without building a Python string per object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa

LOOKUP_MAX = 1 << 18  # widest integer range turned into a lookup table of decimal strings
THREADS = max(2, min(8, os.cpu_count() or 2))


def text(parts: list[str | pl.Expr]) -> pl.Expr:
    """Concatenate expressions and literal text, merging adjacent literals (fewer pieces per row)."""
    merged: list[str | pl.Expr] = []
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in merged])


def as_text(df: pl.DataFrame, column: str) -> pl.Expr:
    """``column`` as text, ``-`` for null. Integers in a compact range are looked up in a
    table of their decimal strings, which polars does several times faster than casting."""
    if df.schema[column] != pl.Int64:
        return pl.col(column).cast(pl.String).fill_null("-")
    lo, hi = df.select(pl.col(column).min().alias("lo"), pl.col(column).max().alias("hi")).row(0)
    if lo is None or hi - lo > LOOKUP_MAX:
        return pl.col(column).cast(pl.String).fill_null("-")
    table = pl.Series([str(v) for v in range(lo, hi + 1)], dtype=pl.String)
    return pl.lit(table).gather(pl.col(column) - lo).fill_null("-")


def parallel_select(df: pl.DataFrame, expr: pl.Expr) -> pl.Series:
    """``df.select(expr)`` over row slices collected together: string building in polars
    runs on one core per expression, slices let it use them all."""
    k = THREADS if df.height > 200_000 else 1
    size = -(-df.height // k)
    frames = pl.collect_all([df.slice(i * size, size).lazy().select(expr) for i in range(k)])
    return pl.concat(frames).to_series()


def split_objects(groups: pl.DataFrame, lines: pl.Series) -> Iterator[tuple[tuple[int, ...], memoryview]]:
    """Split ``lines`` (sorted so each object's rows are contiguous) into object bodies.

    Each line gets its newline, then the Arrow string buffer is sliced at the group
    boundaries: one copy of the text in all, no per-object string building.
    """
    arr = (lines + "\n").to_arrow(compat_level=pl.CompatLevel.oldest())
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = memoryview(data_buf)
    runs = groups.with_row_index("_row").group_by(groups.columns, maintain_order=True).agg(
        pl.col("_row").first().alias("lo"), pl.col("_row").last().alias("hi")
    )
    for row in runs.iter_rows():
        *key, lo, hi = row
        yield tuple(int(k) for k in key), data[offsets[lo] : offsets[hi + 1]]

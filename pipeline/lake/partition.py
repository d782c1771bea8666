"""Split rows into ``date=YYYY-MM-DD/hour=HH`` partitions by UTC event time.

The event time is ``schema.EVENT_TIME_COLUMN`` (flow logs: ``start_time``; ALB:
``event_time``). When it is null the row still needs a home: flow logs fall back to
``end_time``, then (for every table) to the time stamp in the object's file name,
which is the delivery time and at most minutes after the event. Partition values are
formatted from timestamps, never taken from log or key text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import EVENT_TIME_COLUMN, UTC_TS

FALLBACK_TIME_COLUMNS: dict[str, tuple[str, ...]] = {"vpc_flow": ("end_time",)}


def partition_times(table_name: str, data: pa.Table, fallback: pa.Array) -> pa.Array:
    """Per-row time used for partitioning (never null given a non-null ``fallback``)."""
    names = (EVENT_TIME_COLUMN[table_name], *FALLBACK_TIME_COLUMNS.get(table_name, ()))
    cols = [data.column(c) for c in names if c in data.column_names]  # all-null columns may be absent
    cols.append(fallback.cast(UTC_TS))
    return pc.coalesce(*cols)


def fallback_column(times: list[tuple[int, datetime]]) -> pa.Array:
    """A per-row fallback time from (row count, time) runs, one run per object."""
    if not times:
        return pa.array([], type=UTC_TS)
    return pa.concat_arrays([pa.repeat(pa.scalar(t, type=UTC_TS), n) for n, t in times])


_US_PER_HOUR = 3_600_000_000
_EPOCH, _HOUR = datetime(1970, 1, 1, tzinfo=UTC), timedelta(hours=1)
#: (earliest, latest) event time of some rows; None for none
Span = tuple[datetime | None, datetime | None]


def split_partitions(
    table_name: str, data: pa.Table, fallback: pa.Array | Callable[[], pa.Array], *, span: Span | None = None
) -> list[tuple[str, str, pa.Table]]:
    """[(date, hour, rows)] in time order; rows keep their order within a partition.

    ``fallback``: the per-row fallback times (``partition_times``), or a function making
    them, called only when some row needs them. ``span``: ``event_span(table_name, data)``
    when the caller has it.
    """
    return [(date, hour, part) for date, hour, part, _ in split_objects(table_name, data, [data.num_rows], fallback, span=span)]


def split_objects(
    table_name: str, data: pa.Table, counts: Sequence[int], fallback: pa.Array | Callable[[], pa.Array], *, span: Span | None = None
) -> list[tuple[str, str, pa.Table, list[int]]]:
    """``split_partitions`` of the rows of several objects in a row (``counts[i]`` rows of object
    ``i``), each part with how many of its rows are each object's: the lake writer stages a group
    of small objects as one table and still knows every object's rows in every file.

    Hours are computed as integers (microseconds // 1 h): pyarrow's strftime is far slower.
    """
    if data.num_rows == 0:
        return []
    one = _single_hour(table_name, data, span)
    if one is not None:  # the usual object: no null event time, all in one hour
        return [(*_hour_text(one), data, list(counts))]
    if callable(fallback):
        fallback = fallback()
    times = partition_times(table_name, data, fallback)
    micros = pc.cast(times, pa.int64())
    hours = pc.cast(pc.floor(pc.divide(pc.cast(micros, pa.float64()), float(_US_PER_HOUR))), pa.int64())
    uniques = sorted(pc.unique(hours).to_pylist())
    if len(uniques) == 1:
        return [(*_hour_text(uniques[0]), data, list(counts))]
    per_row = hours.to_numpy(zero_copy_only=False)
    owner = np.repeat(np.arange(len(counts)), counts)
    out = []
    for h in uniques:
        mask = per_row == h
        share = np.bincount(owner[mask], minlength=len(counts)).tolist()
        out.append((*_hour_text(h), data.filter(pa.array(mask)), share))
    return out


def _single_hour(table_name: str, data: pa.Table, span: Span | None) -> int | None:
    """The hour (since the epoch) of every row when the event time is never null and spans one hour; else None.

    One ``min_max`` (or none: the caller's ``span``) instead of the coalesce, casts and
    ``unique`` below: for the thousands of small objects of a quiet bucket those calls cost
    more than parsing the object.
    """
    name = EVENT_TIME_COLUMN[table_name]
    if name not in data.column_names or data.column(name).null_count:
        return None
    lo, hi = span if span is not None else event_span(table_name, data)
    if lo is None or hi is None:
        return None
    first, last = (lo - _EPOCH) // _HOUR, (hi - _EPOCH) // _HOUR  # exact: timedelta arithmetic is integral
    return first if first == last else None


def _hour_text(hour: int) -> tuple[str, str]:
    start = datetime.fromtimestamp(hour * 3600, tz=UTC)
    return start.strftime("%Y-%m-%d"), start.strftime("%H")


def event_span(table_name: str, data: pa.Table) -> Span:
    """Min and max event time of the rows (nulls ignored)."""
    column = EVENT_TIME_COLUMN[table_name]
    if data.num_rows == 0 or column not in data.column_names:
        return None, None
    mm = pc.min_max(data.column(column))
    return mm["min"].as_py(), mm["max"].as_py()

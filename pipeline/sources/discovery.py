"""Walk a source down to the objects a time window needs, listing only those folders.

Without a window one recursive listing is cheapest. With one, we descend folder by
folder (delimiter listings) and drop year/month/day/hour folders whose delivery span
cannot hold in-window events (see ``window``), so a one-hour incident in a year of
logs lists a few folders, not the bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .layout import prefix_level, split_awslogs
from .objects import Lister, ObjectRef
from .window import TimeWindow

log = logging.getLogger(__name__)

MAX_DEPTH = 16
_DATE_NAMES = ("year=", "month=", "day=", "hour=")


def folder_span(rest: tuple[str, ...], hive: bool) -> tuple[datetime, datetime] | None:
    """Delivery-time span of a date folder below the region level, or None if not a date folder."""
    vals: list[int] = []
    for i, seg in enumerate(rest[:4]):
        if hive:
            if not seg.startswith(_DATE_NAMES[i]):
                return None
            seg = seg[len(_DATE_NAMES[i]) :]
        if not seg.isdigit():
            return None
        vals.append(int(seg))
    if not vals:
        return None
    try:
        if len(vals) == 1:
            return datetime(vals[0], 1, 1, tzinfo=UTC), datetime(vals[0] + 1, 1, 1, tzinfo=UTC)
        if len(vals) == 2:
            y, m = vals
            end = datetime(y + 1, 1, 1, tzinfo=UTC) if m == 12 else datetime(y, m + 1, 1, tzinfo=UTC)
            return datetime(y, m, 1, tzinfo=UTC), end
        start = datetime(vals[0], vals[1], vals[2], vals[3] if len(vals) > 3 else 0, tzinfo=UTC)
    except ValueError:
        return None
    return start, start + (timedelta(hours=1) if len(vals) > 3 else timedelta(days=1))


def _folder_wanted(prefix: str, window: TimeWindow) -> bool:
    split = split_awslogs(prefix.rstrip("/"))
    if split is None:
        return True
    level = prefix_level(split[1])
    if level.region is None or not level.rest:
        return True
    span = folder_span(level.rest, level.hive)
    return span is None or window.keeps_span(*span)


def discover(lister: Lister, prefix: str, window: TimeWindow) -> Iterator[ObjectRef]:
    """Every object under ``prefix`` that may matter for ``window`` (file-level pruning is the caller's)."""
    if not window.bounded:
        yield from lister.list_all(prefix)
        return
    stack: list[tuple[str, int]] = [(prefix, 0)]
    while stack:
        current, depth = stack.pop()
        files, folders = lister.list_dir(current)
        yield from files
        if depth >= MAX_DEPTH:
            log.warning("not descending below %d folder levels under %s", MAX_DEPTH, current)
            continue
        for folder in sorted(folders, reverse=True):
            if _folder_wanted(folder, window):
                stack.append((folder, depth + 1))
            else:
                log.debug("pruned folder %s", folder)

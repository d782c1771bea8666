"""Every incident on one shared time axis, one lane per Availability Zone.

Plain HTML and CSS (bars placed by percentages), so it costs nothing to draw however
many incidents there are and needs no chart library. An incident naming several AZs
shows in each of their lanes; one naming none in the "no AZ" lane. Bars in a lane that
overlap in time go to separate rows. Each bar links to its incident's section.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..incidents import Incident
from .escaping import h
from .lake_queries import parse_iso

NO_AZ = "no AZ named"
MAX_ROWS = 8  # per lane; further overlapping bars share the last row
_STEPS = [timedelta(minutes=m) for m in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)]


def _ticks(t0: datetime, t1: datetime, most: int = 8) -> list[datetime]:
    span = t1 - t0
    step = next((s for s in _STEPS if span / s <= most), _STEPS[-1])
    first = datetime.fromtimestamp((t0.timestamp() // step.total_seconds() + 1) * step.total_seconds(), tz=t0.tzinfo)
    out = []
    t = first
    while t < t1:
        out.append(t)
        t += step
    return out


def _pct(t: datetime, t0: datetime, total: float) -> float:
    return max(0.0, min(100.0, (t - t0).total_seconds() / total * 100))


def timeline_html(incidents: list[Incident]) -> str:
    """The timeline block, or "" when there are no incidents."""
    if not incidents:
        return ""
    starts = [parse_iso(i.window_start) for i in incidents]
    ends = [parse_iso(i.window_end) for i in incidents]
    t0, t1 = min(starts), max(ends)
    pad = max((t1 - t0) * 0.03, timedelta(minutes=5))
    t0, t1 = t0 - pad, t1 + pad
    total = (t1 - t0).total_seconds()
    lanes: dict[str, list[tuple[Incident, datetime, datetime]]] = {}
    for inc, s, e in zip(incidents, starts, ends, strict=True):
        for az in inc.azs or [NO_AZ]:
            lanes.setdefault(az, []).append((inc, s, e))
    order = sorted(lanes, key=lambda az: (az == NO_AZ, az))
    rows_html = []
    for az in order:
        rows_end: list[datetime] = []
        bars = []
        for inc, s, e in sorted(lanes[az], key=lambda x: (x[1], x[0].id)):
            row = next((r for r, end in enumerate(rows_end) if end <= s), None)
            if row is None:
                row = min(len(rows_end), MAX_ROWS - 1)
                if row == len(rows_end):
                    rows_end.append(e)
            rows_end[row] = max(rows_end[row], e)
            left = _pct(s, t0, total)
            width = max(0.8, _pct(e, t0, total) - left)
            tip = f"{inc.title} ({inc.severity}), {inc.window_start} to {inc.window_end}, {len(inc.members)} finding(s)"
            bars.append(
                f'<a class="bar sev-{h(inc.severity)}" href="#incident-{h(inc.id)}" title="{h(tip)}" '
                f'style="left:{left:.2f}%;width:{width:.2f}%;top:{row * 22 + 2}px">{h(inc.title)}</a>'
            )
        height = max(1, len(rows_end)) * 22 + 4
        rows_html.append(
            f'<div class="lane"><div class="lane-name mono">{h(az)}</div>'
            f'<div class="lane-track" style="height:{height}px">{"".join(bars)}</div></div>'
        )
    ticks = "".join(
        f'<span class="tick" style="left:{_pct(t, t0, total):.2f}%">{h(t.strftime("%H:%M" if t.date() == t0.date() else "%m-%d %H:%M"))}</span>'
        for t in _ticks(t0, t1)
    )
    axis = f'<div class="lane axis"><div class="lane-name muted">{h(t0.strftime("%Y-%m-%d"))} UTC</div><div class="lane-track">{ticks}</div></div>'
    return f'<div class="timeline">{"".join(rows_html)}{axis}</div>'

"""Plotly figures for the report and the notebooks, computed from the lake.

Every string that reaches a figure (locations, addresses, titles) goes through
``escaping.plot_text`` so plotly.js shows it as text, never as markup.
Functions return ``None`` when there is nothing to draw.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import timedelta
from typing import Any

import duckdb
import plotly.graph_objects as go

from ..detect.catalog import shipped_detector
from ..findings import Finding
from ..schema import TABLES
from ..topology.model import Topology
from . import lake_queries as q
from .escaping import plot_text

log = logging.getLogger(__name__)

_IP_KEY = re.compile(r"(addr|_ip|^ip|address|target|client)", re.IGNORECASE)
_BAD_NAME = {"vpc_flow": "REJECT", "alb_access": "5XX / no response", "alb_connection": "TLS verify failed"}
_SEVERITY_COLOURS = {"low": "#6b7280", "medium": "#d97706", "high": "#dc2626", "critical": "#7f1d1d"}


def _layout(fig: go.Figure, title: str, *, height: int = 340) -> go.Figure:
    fig.update_layout(
        title={"text": plot_text(title), "x": 0.01, "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        hovermode="closest",
    )
    return fig


def finding_span(finding: Finding, *, context: float = 2.0, minimum: timedelta = timedelta(minutes=30)) -> q.Span:
    """The finding's window widened on both sides so a chart shows the baseline around it."""
    start, end = q.parse_iso(finding.window_start), q.parse_iso(finding.window_end)
    pad = max((end - start) * context, minimum)
    return q.Span(start - pad, end + pad)


def _shade_window(fig: go.Figure, finding: Finding, *, outline: bool = False) -> None:
    colour = _SEVERITY_COLOURS.get(finding.severity, "#dc2626")
    x0, x1 = q.parse_iso(finding.window_start), q.parse_iso(finding.window_end)
    if outline:  # over a heatmap a fill would hide the cells
        fig.add_vrect(x0=x0, x1=x1, line={"color": colour, "width": 2, "dash": "dot"}, fillcolor="rgba(0,0,0,0)")
    else:
        fig.add_vrect(x0=x0, x1=x1, fillcolor=colour, opacity=0.12, line_width=0)


# --- overview ------------------------------------------------------------------------


def traffic_by_location(con: duckdb.DuckDBPyConnection, span: q.Span) -> go.Figure | None:
    """Flow records per location over time, ACCEPT solid and REJECT dashed."""
    b = q.bucket_seconds(span)
    rows = q.flow_by_location(con, span, b)
    if not rows:
        return None
    series: dict[tuple[str, str], tuple[list[Any], list[int]]] = defaultdict(lambda: ([], []))
    for t, loc, action, flows, _packets in rows:
        xs, ys = series[(str(loc), str(action))]
        xs.append(t)
        ys.append(flows)
    fig = go.Figure()
    for (loc, action), (xs, ys) in sorted(series.items()):
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", name=plot_text(f"{loc} {action}"),
                line={"dash": "dash" if action == "REJECT" else "solid"},
            )
        )  # fmt: skip
    fig.update_yaxes(title_text=f"flow records / {b // 60} min")
    return _layout(fig, "VPC flow records per location (REJECT dashed)")


def alb_status_by_location(con: duckdb.DuckDBPyConnection, span: q.Span) -> go.Figure | None:
    """ALB requests per status class and location over time."""
    b = q.bucket_seconds(span)
    rows = q.alb_status_by_location(con, span, b)
    if not rows:
        return None
    series: dict[tuple[str, str], tuple[list[Any], list[int]]] = defaultdict(lambda: ([], []))
    for t, loc, cls, n in rows:
        xs, ys = series[(str(loc), str(cls))]
        xs.append(t)
        ys.append(n)
    fig = go.Figure()
    for (loc, cls), (xs, ys) in sorted(series.items()):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", stackgroup=plot_text(loc), name=plot_text(f"{loc} {cls}")))
    fig.update_yaxes(title_text=f"requests / {b // 60} min")
    return _layout(fig, "ALB responses by status class and location")


def latency_percentiles(con: duckdb.DuckDBPyConnection, span: q.Span) -> go.Figure | None:
    """Target processing time p50/p90/p99 over time."""
    rows = q.target_latency(con, span, q.bucket_seconds(span))
    if not rows:
        return None
    fig = go.Figure()
    xs = [r[0] for r in rows]
    for i, name in enumerate(("p50", "p90", "p99"), start=1):
        fig.add_trace(go.Scatter(x=xs, y=[r[i] for r in rows], mode="lines", name=name))
    fig.update_yaxes(title_text="target_processing_time (s)")
    return _layout(fig, "Target latency percentiles")


def capture_gap_chart(con: duckdb.DuckDBPyConnection, span: q.Span) -> go.Figure | None:
    """NODATA / SKIPDATA flow records over time: when the flow logs themselves are incomplete."""
    rows = q.capture_gaps(con, span, q.bucket_seconds(span))
    if not rows:
        return None
    series: dict[str, tuple[list[Any], list[int]]] = defaultdict(lambda: ([], []))
    for t, status, n in rows:
        series[str(status)][0].append(t)
        series[str(status)][1].append(n)
    fig = go.Figure([go.Bar(x=xs, y=ys, name=plot_text(s)) for s, (xs, ys) in sorted(series.items())])
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="records")
    return _layout(fig, "Capture gaps (NODATA / SKIPDATA records)", height=260)


def overview_figures(con: duckdb.DuckDBPyConnection, span: q.Span) -> list[go.Figure]:
    """The overview charts that have data, in reading order."""
    out = []
    for build in (traffic_by_location, alb_status_by_location, latency_percentiles, capture_gap_chart):
        fig = build(con, span)
        if fig is not None:
            out.append(fig)
    return out


# --- per finding ---------------------------------------------------------------------


def az_5xx_heatmap(con: duckdb.DuckDBPyConnection, finding: Finding) -> go.Figure | None:
    """5XX responses per location x time around the finding: one AZ lights up."""
    span = finding_span(finding)
    b = q.bucket_seconds(span, max_buckets=60)
    lb = finding.entity.get("load_balancer") or finding.entity.get("elb")
    rows = q.alb_5xx_heatmap(con, span, b, lb)
    if not rows:
        return None
    times = sorted({r[0] for r in rows})
    locs = sorted({str(r[1]) for r in rows})
    grid = {(r[0], str(r[1])): r[2] for r in rows}
    z = [[grid.get((t, loc), 0) for t in times] for loc in locs]
    centres = [t + timedelta(seconds=b / 2) for t in times]  # heatmap x values are cell centres
    fig = go.Figure(go.Heatmap(x=centres, y=[plot_text(x) for x in locs], z=z, colorscale="Reds", colorbar={"title": "5XX"}))
    _shade_window(fig, finding, outline=True)
    return _layout(fig, "ALB 5XX per location over time")


def reject_destinations(con: duckdb.DuckDBPyConnection, finding: Finding) -> go.Figure | None:
    """The most REJECTed destinations during the finding's window."""
    span = q.Span(q.parse_iso(finding.window_start), q.parse_iso(finding.window_end) + timedelta(seconds=1))
    rows = q.top_rejected(con, span)
    if not rows:
        return None
    labels = [plot_text(f"{a}:{p}") for a, p, _ in rows][::-1]
    fig = go.Figure(go.Bar(x=[n for *_, n in rows][::-1], y=labels, orientation="h", marker_color="#dc2626"))
    fig.update_xaxes(title_text="REJECTed flow records")
    return _layout(fig, "Top REJECTed destinations in the window", height=max(260, 26 * len(rows) + 80))


def _entity_addresses(finding: Finding) -> list[str]:
    return sorted({v for k, v in finding.entity.items() if _IP_KEY.search(k) and v})


def paths_sankey(
    con: duckdb.DuckDBPyConnection,
    span: q.Span,
    addresses: list[str],
    topology: Topology | None = None,
    *,
    port: int | None = None,
) -> go.Figure | None:
    """Traffic to and from ``addresses`` through the interfaces that recorded it (bytes).

    Left to right: peers -> interface -> address for traffic towards the address, and
    address -> interface -> peers for traffic leaving it; when requests arrive through one
    interface and responses leave through another (asymmetric routing), the two paths
    cross different middle nodes.
    """
    rows = q.flow_paths(con, span, addresses, port) if addresses else []
    if not rows:
        return None
    kinds = {i.interface_id: i.kind for i in topology.interfaces} if topology else {}
    suffix = f":{port}" if port is not None else ""
    nodes: dict[tuple[str, str], int] = {}  # (key, label): the same label may appear once per direction

    def node(key: str, label: str) -> int:
        return nodes.setdefault((key, label), len(nodes))

    src, dst, val, colour = [], [], [], []
    for direction, addr, iface, nbytes, peers in rows:
        where = f"{iface} ({kinds.get(str(iface), 'unknown')})"
        mid = node(direction, where)
        if direction == "in":
            src += [node("peers-in", f"{peers} peers"), mid]
            dst += [mid, node("addr-in", f"{addr}{suffix}")]
        else:
            src += [node("addr-out", f"{addr}{suffix}"), mid]
            dst += [mid, node("peers-out", f"{peers} peers")]
        val += [nbytes, nbytes]
        colour += ["rgba(37,99,235,0.35)" if direction == "in" else "rgba(234,88,12,0.35)"] * 2
    labels = [plot_text(label) for _key, label in nodes]
    link = {"source": src, "target": dst, "value": val, "color": colour}
    fig = go.Figure(go.Sankey(node={"label": labels, "pad": 14}, link=link))
    return _layout(fig, "Paths by recording interface: towards the address (blue), from it (orange), bytes", height=380)


def path_sankey(con: duckdb.DuckDBPyConnection, finding: Finding, topology: Topology | None = None) -> go.Figure | None:
    """The paths of the address a finding names (its service port if it names one), in its window."""
    span = finding_span(finding, context=0.0, minimum=timedelta(0))
    addresses = _entity_addresses(finding)
    port_text = finding.entity.get("srcport") if finding.entity.get("srcaddr") else finding.entity.get("dstport")
    port = int(port_text) if port_text and port_text.isdigit() else None
    if finding.entity.get("srcaddr"):
        addresses = [finding.entity["srcaddr"]]
    return paths_sankey(con, q.Span(span.since, span.until + timedelta(seconds=1)), addresses, topology, port=port)


def conversation_chart(con: duckdb.DuckDBPyConnection, finding: Finding) -> go.Figure | None:
    """Bytes towards the finding's destination against bytes coming back: unanswered traffic shows as a gap."""
    addr = finding.entity.get("dstaddr")
    if not addr:
        return None
    port_text = finding.entity.get("dstport", "")
    port = int(port_text) if port_text.isdigit() else None
    span = finding_span(finding)
    b = q.bucket_seconds(span, max_buckets=80)
    rows = q.conversation_timeline(con, span, b, addr, port)
    if not rows:
        return None
    xs = [r[0] for r in rows]
    target = f"{addr}:{port}" if port is not None else addr
    fig = go.Figure(
        [
            go.Scatter(x=xs, y=[r[1] for r in rows], mode="lines+markers", name=plot_text(f"towards {target}")),
            go.Scatter(x=xs, y=[r[2] for r in rows], mode="lines+markers", name=plot_text(f"back from {target}")),
        ]
    )
    _shade_window(fig, finding)
    fig.update_yaxes(title_text=f"bytes / {b // 60} min")
    return _layout(fig, "Bytes towards the destination vs bytes answered, window shaded")


def _table_for(finding: Finding, sources: list[str] | None) -> str:
    for s in sources or []:
        if s in TABLES:
            return s
    alb_keys = set(TABLES["alb_access"].names) - set(TABLES["vpc_flow"].names)
    return "alb_access" if alb_keys & set(finding.entity) or finding.detector.startswith(("az_5xx", "unexpected")) else "vpc_flow"


def entity_timeline(con: duckdb.DuckDBPyConnection, finding: Finding, sources: list[str] | None = None) -> go.Figure | None:
    """Matching records over time against the median before the window (the baseline)."""
    table = _table_for(finding, sources)
    span = finding_span(finding)
    b = q.bucket_seconds(span, max_buckets=80)
    rows = q.entity_timeline(con, table, span, b, finding.entity)
    if not rows:
        return None
    start = q.parse_iso(finding.window_start)
    before = sorted(n for t, n, _bad in rows if t < start)
    xs = [r[0] for r in rows]
    fig = go.Figure(go.Scatter(x=xs, y=[r[1] for r in rows], mode="lines+markers", name="all records"))
    if any(r[2] for r in rows):
        fig.add_trace(go.Scatter(x=xs, y=[r[2] for r in rows], mode="lines+markers", name=_BAD_NAME[table], line={"color": "#dc2626"}))
    if before:
        baseline = before[len(before) // 2]
        fig.add_hline(y=baseline, line_dash="dot", annotation_text=f"baseline (median before) {baseline}")
    _shade_window(fig, finding)
    fig.update_yaxes(title_text=f"{table} records / {b // 60} min")
    return _layout(fig, f"{table} records for this entity, window shaded")


def finding_figure(
    con: duckdb.DuckDBPyConnection,
    finding: Finding,
    *,
    topology: Topology | None = None,
    sources: list[str] | None = None,
) -> go.Figure | None:
    """The one chart that best shows a finding, falling back to its entity timeline."""
    det = shipped_detector(finding.detector)
    draw = CHARTS.get(det.chart if det else "timeline")
    fig = draw(con, finding, topology) if draw else None
    return fig if fig is not None else entity_timeline(con, finding, sources)


#: The chart a detector's header names (``chart:``) -> how to draw it for a finding;
#: ``timeline`` (and any chart that finds nothing to draw) is the entity timeline.
CHARTS: dict[str, Any] = {
    "timeline": lambda con, finding, topology: None,
    "az_5xx_heatmap": lambda con, finding, topology: az_5xx_heatmap(con, finding),
    "reject_destinations": lambda con, finding, topology: reject_destinations(con, finding),
    "path_sankey": lambda con, finding, topology: path_sankey(con, finding, topology),
    "conversation": lambda con, finding, topology: conversation_chart(con, finding),
}

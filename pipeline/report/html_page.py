"""The self-contained HTML incident report.

One file that opens offline and can be attached to a ticket: plotly.js is inlined
once, figures are JSON blocks drawn by a tiny loader, a Content-Security-Policy
forbids every network request, and every value from the logs is escaped by
``escaping.h`` (HTML) or ``escaping.plot_text`` (figures) before it is written.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ..detect.catalog import shipped_detector
from ..findings import Finding, iso_utc
from ..incidents import Incident, correlate
from ..topology.model import Topology
from . import figures
from . import lake_queries as q
from . import summary as s
from .escaping import h, script_json
from .evidence import evidence_html, label, value_text
from .timeline import timeline_html

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
)
MAX_FINDING_CHARTS = 60  # past this, sections have no chart: keeps a noisy run's page light

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#111827;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}
h3{font-size:16px;margin:0 0 6px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px;margin:12px 0}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;text-transform:uppercase}
.sev-low{background:#6b7280}.sev-medium{background:#d97706}.sev-high{background:#dc2626}.sev-critical{background:#7f1d1d}
.state{font-size:12px;color:#374151;border:1px solid #9ca3af;border-radius:10px;padding:0 6px}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #e5e7eb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f4f6}.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{white-space:pre-wrap;background:#f3f4f6;padding:8px;border-radius:6px;overflow-x:auto}
.cell{max-width:360px;overflow-wrap:anywhere}.muted{color:#6b7280}.fig{min-height:200px}
.cause{border-left:4px solid #dc2626}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:20px}@media (max-width:800px){.grid{grid-template-columns:1fr}}
.lead{color:#374151;margin:4px 0 0}
ol.incidents{padding-left:24px;margin:8px 0}ol.incidents li{margin:0 0 10px}
.inc-where{color:#374151;font-size:13px}.next{margin-top:2px}.next b{color:#b91c1c}
.timeline{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px 12px}
.lane{display:flex;align-items:flex-start;border-bottom:1px dashed #e5e7eb}.lane.axis{border-bottom:0}
.lane-name{flex:0 0 130px;padding:4px 6px 0 0;font-size:12px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.lane-track{position:relative;flex:1;min-height:20px}
.bar{position:absolute;height:18px;border-radius:4px;color:#fff;font-size:11px;line-height:18px;padding:0 4px;
 overflow:hidden;white-space:nowrap;text-overflow:ellipsis;text-decoration:none;box-sizing:border-box;min-width:6px}
.bar.sev-low{background:#6b7280}.bar.sev-medium{background:#d97706}.bar.sev-high{background:#dc2626}.bar.sev-critical{background:#7f1d1d}
.tick{position:absolute;font-size:11px;color:#6b7280;transform:translateX(-50%);white-space:nowrap;top:2px}
details.incident{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:10px 0;padding:0 14px}
details.incident>summary{cursor:pointer;padding:10px 0;font-weight:600}details.incident[open]>summary{border-bottom:1px solid #e5e7eb}
.role{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#6b7280;margin-right:6px}
.card[data-role="root cause"]{border-left:4px solid #dc2626}.card[data-role=symptom]{border-left:4px solid #d97706}
.card[data-role="same incident"]{border-left:4px solid #9ca3af}
.scroll{overflow-x:auto}table.samples td{white-space:nowrap}table.samples th{white-space:nowrap}.obj{display:block}
input.uri{font:11px ui-monospace,monospace;border:1px solid #e5e7eb;background:#f9fafb;color:#374151;width:16em;padding:1px 3px}
table.kv th{width:32%;font-weight:600}
"""

# Figures are drawn when the section holding them opens (closed <details> draw nothing), so a
# report with hundreds of findings is interactive at once. A link to a closed section opens it.
_LOADER = """
(function(){
  function draw(root){
    var blocks=root.querySelectorAll('script[type="application/json"][data-figure]');
    for(var i=0;i<blocks.length;i++){
      var el=blocks[i];
      if(el.getAttribute('data-drawn')) continue;
      var closed=el.parentElement.closest('details:not([open])');
      if(closed) continue;
      el.setAttribute('data-drawn','1');
      var spec=JSON.parse(el.textContent), div=document.getElementById(el.getAttribute('data-figure'));
      Plotly.newPlot(div, spec.data, spec.layout, {displaylogo:false, responsive:true});
    }
  }
  var all=document.querySelectorAll('details');
  for(var i=0;i<all.length;i++){ all[i].addEventListener('toggle', function(e){ if(e.target.open) draw(e.target); }); }
  function reveal(){
    var id=decodeURIComponent(location.hash.slice(1)), el=id && document.getElementById(id);
    for(var p=el; p; p=p.parentElement){ if(p.tagName==='DETAILS') p.open=true; }
    if(el) el.scrollIntoView();
  }
  window.addEventListener('hashchange', reveal);
  var toggle=document.getElementById('open-all');
  if(toggle) toggle.addEventListener('click', function(){
    var open=toggle.getAttribute('data-open')!=='1', ds=document.querySelectorAll('details.incident');
    for(var i=0;i<ds.length;i++) ds[i].open=open;
    toggle.setAttribute('data-open', open?'1':'0'); toggle.textContent=open?'Close all incidents':'Open all incidents';
  });
  draw(document); reveal();
  window.flowsleuthReadyMs=performance.now();
})();
"""


class _Figures:
    """Collects figures as (div, JSON block) pairs and counts them."""

    def __init__(self) -> None:
        self.count = 0

    def embed(self, fig: go.Figure | None, *, caption: str = "") -> str:
        if fig is None:
            return f'<p class="muted">{h(caption or "No chart: no lake data for this (or past the chart limit).")}</p>'
        self.count += 1
        fid = f"fig-{self.count}"
        return (
            f'<div class="fig" id="{fid}"></div><script type="application/json" data-figure="{fid}">{script_json(fig.to_json())}</script>'
        )


def _kv_table(rows: list[tuple[Any, Any]]) -> str:
    body = "".join(f"<tr><th>{h(k)}</th><td class='cell'>{h(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _cell(value: Any) -> str:
    return value_text(value)


def _runbook_html(finding: Finding, det: Any) -> str:
    filled = (finding.evidence or {}).get("runbook")  # the runner fills it with the finding's values
    defaults = s.param_defaults(det) if det is not None else {}
    templates = filled if isinstance(filled, list) and filled else getattr(det, "runbook", None) or []
    steps = [s.fill_template(str(step), finding, defaults) for step in templates]
    return "<h4>Runbook</h4><ol>" + "".join(f"<li>{h(x)}</li>" for x in steps) + "</ol>" if steps else ""


def _detector_html(det: Any, overrides: dict[str, Any] | None = None) -> str:
    if det is None:
        return ""
    used = overrides or {}
    prows = "".join(
        f"<tr><td class='mono'>{h(n)}</td><td>{h(t)}</td><td>{h(d)}</td><td>{h(used.get(n, d))}</td><td>{h(doc)}</td></tr>"
        for n, t, d, doc in s.param_rows(det)
    )
    head = "<tr><th>param</th><th>type</th><th>default</th><th>this run</th><th>doc</th></tr>"
    params = f"<table>{head}{prows}</table>" if prows else ""
    refs = "".join(
        f'<li><a href="{h(r)}" rel="noreferrer noopener">{h(r)}</a></li>' if str(r).startswith("https://") else f"<li>{h(r)}</li>"
        for r in getattr(det, "references", None) or []
    )  # fmt: skip
    desc = getattr(det, "description", "") or ""
    fps = "".join(f"<li>{h(x)}</li>" for x in getattr(det, "false_positives", None) or [])
    return (
        "<details><summary>Detector: what it means, its SQL and parameters</summary>"
        + (f"<p>{h(desc)}</p>" if desc else "")
        + (f"<p>Known false positives:</p><ul>{fps}</ul>" if fps else "")
        + params
        + f"<pre>{h(getattr(det, 'sql', ''))}</pre>"
        + (f"<ul>{refs}</ul>" if refs else "")
        + "</details>"
    )


def _finding_html(
    con: duckdb.DuckDBPyConnection,
    f: Finding,
    det: Any,
    figs: _Figures,
    topology: Topology | None,
    *,
    chart: bool = True,
    overrides: dict[str, Any] | None = None,
    role: str = "",
) -> str:
    try:
        sources = list(getattr(det, "sources", None) or [])
        fig = figures.finding_figure(con, f, topology=topology, sources=sources) if chart else None
    except Exception as e:  # noqa: BLE001 - a chart must never sink the whole report
        log.warning("chart for finding %s (%s) failed: %s", f.id, f.detector, e)
        fig = None
    entity = "".join(
        f"<tr><th title='{h(k)}'>{h(label(k)[0])}</th><td class='cell mono'>{h(v)}</td></tr>" for k, v in sorted(f.entity.items())
    )
    entity = f"<table class='kv'>{entity}</table>" if entity else ""
    return (
        f'<section class="card" id="finding-{h(f.id)}" data-role="{h(role)}">'
        + (f"<div class='role'>{h(role)}</div>" if role else "")
        + f'<h3><span class="sev sev-{h(f.severity)}">{h(f.severity)}</span> <span class="state">{h(f.state)}</span> {h(f.title)}</h3>'
        f"<p><b>What:</b> {h(f.summary)}</p>"
        f"<p><b>When:</b> {h(f.window_start)} to {h(f.window_end)} &nbsp; <b>Detector:</b> <code>{h(f.detector)}</code> &nbsp; <span class='muted mono'>id {h(f.id)}</span></p>"
        f"<p><b>Where:</b></p>{entity}"
        + (f"<p><b>Likely cause and next check:</b> {h(f.hint)}</p>" if f.hint else "")
        + figs.embed(fig)
        + "<h4>Evidence</h4>"
        + evidence_html(f, det)
        + _runbook_html(f, det)
        + _detector_html(det, overrides)
        + "</section>"
    )


_INGEST_KEYS = (
    "objects_listed", "objects_done", "objects_unchanged", "objects_skipped", "objects_failed",
    "rows", "rejects", "min_event_time", "max_event_time", "elapsed_s",
)  # fmt: skip


def _ingest_rows(ingest: dict[str, Any]) -> list[tuple[str, str]]:
    """The ingest counts a reader needs (all non-empty scalars for an unknown shape)."""
    known = [k for k in _INGEST_KEYS if k in ingest]
    if known:
        return [(k.replace("_", " "), _cell(ingest[k])) for k in known if ingest[k] is not None]
    return [(k, _cell(v)) for k, v in ingest.items() if v not in (None, "") and not isinstance(v, (list, dict))]


def _gaps_text(gaps: dict[str, int], findings: list[Finding]) -> str:
    gap_ids = {f.detector for f in findings if (d := shipped_detector(f.detector)) and d.capture_gaps == "reports"}
    n = sum(1 for f in findings if f.detector in gap_ids)
    parts = [f"{k} {v} records" for k, v in gaps.items()] + ([f"{n} {'/'.join(sorted(gap_ids))} findings"] if n else [])
    return ", ".join(parts) or "none recorded"


def _data_html(
    findings: list[Finding], span: q.Span | None, counts: dict[str, int], ingest: dict[str, Any], notes: list[str], gaps: dict[str, int]
) -> str:
    """What the report is based on: the lake's coverage, what was ingested, detector notes."""
    rng = f"{iso_utc(span.since)} to {iso_utc(span.until)}" if span else "the lake is empty"
    ingest_rows = _ingest_rows(ingest)
    return (
        "<h2>Data</h2><div class='grid'><div><h3>Lake</h3>"
        + _kv_table(
            [("data covered", rng), *[(f"rows in {t}", n) for t, n in counts.items()], ("capture gaps", _gaps_text(gaps, findings))]
        )
        + "</div><div>"
        + (f"<h3>Sources ingested</h3>{_kv_table(ingest_rows)}" if ingest_rows else "")
        + "</div></div>"
        + (
            "<details><summary>Detector notes</summary><ul>" + "".join(f"<li>{h(n)}</li>" for n in notes) + "</ul></details>"
            if notes
            else ""
        )
    )


def _lead_html(span: q.Span | None, counts: dict[str, int], incidents: list[Incident], findings: list[Finding]) -> str:
    """One line under the title: what was looked at and how much was found."""
    rng = f"{iso_utc(span.since)} to {iso_utc(span.until)}" if span else "an empty lake"
    rows = ", ".join(f"{n:,} {t} rows" for t, n in counts.items() if n)
    sev = " ".join(f'<span class="sev sev-{h(k)}">{h(k)} {n}</span>' for k, n in s.by_severity(incidents).items() if n)
    states = ", ".join(f"{n} {k}" for k, n in s.by_state(incidents).items() if n)
    return (
        f"<p class='lead'>Logs from {h(rng)}{' (' + h(rows) + ')' if rows else ''}. "
        f"<b>{len(incidents)} incident{'s' if len(incidents) != 1 else ''}</b> from {len(findings)} finding"
        f"{'s' if len(findings) != 1 else ''} {sev} <span class='muted'>{h(states)}</span></p>"
    )


def _incident_lines_html(incidents: list[Incident], by_id: dict[str, Finding]) -> str:
    """The top of the page: one line per incident, root cause first, then what to do next."""
    if not incidents:
        return "<p>No findings: every detector was silent.</p>"
    items = []
    for inc in incidents:
        symptoms = [by_id[m] for m in inc.symptoms if m in by_id]
        where = s.incident_where(inc)
        more = len(inc.members) - 1 - len(symptoms)
        extra = []
        if symptoms:
            extra.append("symptoms: " + "; ".join(f"{f.title} ({f.window_start[11:16]}-{f.window_end[11:16]})" for f in symptoms))
        if more > 0:
            extra.append(f"{more} more finding{'s' if more > 1 else ''} of the same kind")
        items.append(
            f'<li><span class="sev sev-{h(inc.severity)}">{h(inc.severity)}</span> <span class="state">{h(inc.state)}</span> '
            f'<b><a href="#incident-{h(inc.id)}">{h(inc.title)}</a></b> '
            f"<span class='muted mono'>{h(inc.window_start)} to {h(inc.window_end)}</span>"
            + (f"<div class='inc-where'>{h(where)}</div>" if where else "")
            + f"<div>{h(inc.summary)}</div>"
            + (f"<div class='next'><b>Next:</b> {h(inc.hint)}</div>" if inc.hint else "")
            + (f"<div class='muted'>{h('; '.join(extra))}</div>" if extra else "")
            + "</li>"
        )
    return f"<ol class='incidents'>{''.join(items)}</ol>"


def _index_html(ranked: list[Finding]) -> str:
    if not ranked:
        return ""
    rows = "".join(
        f'<tr><td><span class="sev sev-{h(f.severity)}">{h(f.severity)}</span></td><td>{h(f.state)}</td>'
        f'<td><a href="#finding-{h(f.id)}">{h(f.title)}</a></td><td class="mono">{h(f.detector)}</td>'
        f"<td class='cell'>{h(s.entity_text(f))}</td><td class='mono'>{h(f.window_start)}</td></tr>"
        for f in ranked
    )
    head = "<tr><th>severity</th><th>state</th><th>finding</th><th>detector</th><th>where</th><th>since</th></tr>"
    return f"<details><summary>All {len(ranked)} findings as a table</summary><table>{head}{rows}</table></details>"


def render_html(
    con: duckdb.DuckDBPyConnection,
    findings: list[Finding],
    *,
    title: str | None = None,
    ingest_summary: Any = None,
    detect_notes: list[Any] | None = None,
    topology: Topology | None = None,
    detectors: list[Any] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    incidents: list[Incident] | None = None,
) -> tuple[str, int]:
    """The report page and the number of figures in it.

    ``incidents`` are correlated from ``findings`` when not given. Findings no incident
    lists (a stale findings.json) get a section of their own at the end.
    """
    q.register_locations(con, topology)
    span = q.lake_span(con)
    counts = q.table_counts(con)
    ranked = s.rank_findings(findings)
    if incidents is None:
        incidents = correlate(findings)
    by_id = {f.id: f for f in findings}
    dets = s.detector_info(detectors)
    figs = _Figures()
    title = title or "flowsleuth incident report"
    charts = 0

    def section(f: Finding, role: str) -> str:
        nonlocal charts
        charts += 1
        det = dets.get(f.detector)
        over = (params or {}).get(f.detector)
        return _finding_html(con, f, det, figs, topology, chart=charts <= MAX_FINDING_CHARTS, overrides=over, role=role)

    blocks = []
    for inc in incidents:
        members = [by_id[m] for m in inc.members if m in by_id]
        inner = "".join(
            section(f, "root cause" if f.id == inc.root_cause else "symptom" if f.id in inc.symptoms else "same incident")
            for f in members
        )
        blocks.append(
            f'<details class="incident" id="incident-{h(inc.id)}"><summary><span class="sev sev-{h(inc.severity)}">{h(inc.severity)}</span> '
            f"<span class='state'>{h(inc.state)}</span> {h(inc.title)} <span class='muted mono'>{h(inc.window_start)} to "
            f"{h(inc.window_end)} · {len(members)} finding{'s' if len(members) != 1 else ''} · {h(inc.id)}</span></summary>{inner}</details>"
        )
    listed = {m for inc in incidents for m in inc.members}
    loose = [f for f in ranked if f.id not in listed]
    if loose:
        inner = "".join(section(f, "") for f in loose)
        blocks.append(f'<details class="incident" id="incident-none"><summary>{len(loose)} findings in no incident</summary>{inner}</details>')
    overview = "".join(figs.embed(f) for f in figures.overview_figures(con, span)) if span else "<p>The lake is empty.</p>"
    generated = iso_utc(datetime.now(UTC))
    toggle = '<p><button id="open-all" type="button">Open all incidents</button></p>' if blocks else ""
    body = (
        f"<main><h1>{h(title)}</h1><p class='muted'>Generated {h(generated)} by flowsleuth. All times UTC.</p>"
        + _lead_html(span, counts, incidents, findings)
        + "<h2>Incidents, root cause first</h2>"
        + _incident_lines_html(incidents, by_id)
        + (f"<h2>Timeline</h2>{timeline_html(incidents)}" if incidents else "")
        + (f"<h2>Incident details</h2>{toggle}{''.join(blocks)}{_index_html(ranked)}" if blocks else "")
        + _data_html(findings, span, counts, s.plain_dict(ingest_summary), [str(n) for n in detect_notes or []], q.gap_records(con))
        + f"<h2>Overview</h2><details class='overview'><summary>Traffic, status and latency charts for the whole lake</summary>{overview}</details></main>"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'  # our constant: no quotes to escape
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{body}<script>{_LOADER}</script></body></html>"
    )
    return page, figs.count


def write_report(
    con: duckdb.DuckDBPyConnection,
    findings: list[Finding],
    out_dir: Path,
    *,
    title: str | None = None,
    ingest_summary: Any = None,
    detect_notes: list[Any] | None = None,
    topology: Topology | None = None,
    detectors: list[Any] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    incidents: list[Incident] | None = None,
) -> Path:
    """Write ``<out_dir>/report.html`` (atomically) and return its path.

    ``params`` (detector id -> name -> value) are the overrides the run used, shown next
    to each detector's defaults.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page, n = render_html(
        con, findings, title=title, ingest_summary=ingest_summary, detect_notes=detect_notes,
        topology=topology, detectors=detectors, params=params, incidents=incidents,
    )  # fmt: skip
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    log.info("wrote %s (%d findings, %d figures, %d bytes)", path, len(findings), n, len(page))
    return path

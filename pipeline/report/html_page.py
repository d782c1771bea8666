"""The self-contained HTML incident report.

One file that opens offline and can be attached to a ticket: plotly.js is inlined
once, figures are JSON blocks drawn by a tiny loader, a Content-Security-Policy
forbids every network request, and every value from the logs is escaped by
``escaping.h`` (HTML) or ``escaping.plot_text`` (figures) before it is written.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ..findings import Finding, iso_utc
from ..incidents import Incident
from ..topology.model import Topology
from . import figures
from . import lake_queries as q
from . import summary as s
from .escaping import h, script_json

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
)
_MAX_SAMPLES = 20
MAX_FINDING_CHARTS = 60  # past this, sections have no chart: keeps a noisy run's page light
_MAX_CELL = 300

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
"""

_LOADER = """
(function(){
  var blocks=document.querySelectorAll('script[type="application/json"][data-figure]');
  for(var i=0;i<blocks.length;i++){
    var el=blocks[i], spec=JSON.parse(el.textContent), div=document.getElementById(el.getAttribute('data-figure'));
    Plotly.newPlot(div, spec.data, spec.layout, {displaylogo:false, responsive:true});
  }
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
    if isinstance(value, datetime):
        value = iso_utc(value)
    elif isinstance(value, float):
        value = round(value, 3)
    text = json.dumps(value, default=str) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= _MAX_CELL else text[:_MAX_CELL] + "…"


def _provenance(sample: dict[str, Any]) -> str:
    uri, line = sample.get("source_uri"), sample.get("source_line")
    return f"{uri} line {line}" if uri else ""


def _evidence_html(finding: Finding) -> str:
    ev = dict(finding.evidence or {})
    samples = ev.pop("samples", None)
    ev.pop("runbook", None)  # shown as the runbook
    parts = []
    scalars = [(k, _cell(v)) for k, v in sorted(ev.items())]
    if scalars:
        parts.append(_kv_table(scalars))
    if isinstance(samples, list) and samples:
        rows = [x for x in samples[:_MAX_SAMPLES] if isinstance(x, dict)]
        cols = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in ("source_uri", "source_line")]
        head = "".join(f"<th>{h(c)}</th>" for c in ["provenance", *cols])
        body = "".join(
            "<tr><td class='cell mono'>" + h(_provenance(r)) + "</td>"
            + "".join(f"<td class='cell'>{h(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
            for r in rows
        )  # fmt: skip
        more = f"<p class='muted'>{len(samples) - len(rows)} more samples in findings.json</p>" if len(samples) > len(rows) else ""
        parts.append(f"<h4>Sample records</h4><table><tr>{head}</tr>{body}</table>{more}")
    return "".join(parts) or "<p class='muted'>No evidence recorded.</p>"


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
) -> str:
    try:
        sources = list(getattr(det, "sources", None) or [])
        fig = figures.finding_figure(con, f, topology=topology, sources=sources) if chart else None
    except Exception as e:  # noqa: BLE001 - a chart must never sink the whole report
        log.warning("chart for finding %s (%s) failed: %s", f.id, f.detector, e)
        fig = None
    entity = _kv_table(sorted(f.entity.items())) if f.entity else ""
    return (
        f'<section class="card" id="finding-{h(f.id)}">'
        f'<h3><span class="sev sev-{h(f.severity)}">{h(f.severity)}</span> <span class="state">{h(f.state)}</span> {h(f.title)}</h3>'
        f"<p><b>What:</b> {h(f.summary)}</p>"
        f"<p><b>When:</b> {h(f.window_start)} to {h(f.window_end)} &nbsp; <b>Detector:</b> <code>{h(f.detector)}</code> &nbsp; <span class='muted mono'>id {h(f.id)}</span></p>"
        f"<p><b>Where:</b></p>{entity}"
        + (f"<p><b>Likely cause and next check:</b> {h(f.hint)}</p>" if f.hint else "")
        + figs.embed(fig)
        + "<h4>Evidence</h4>"
        + _evidence_html(f)
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
    n = sum(1 for f in findings if f.detector == "capture_gap")
    parts = [f"{k} {v} records" for k, v in gaps.items()] + ([f"{n} capture_gap findings"] if n else [])
    return ", ".join(parts) or "none recorded"


def _summary_html(
    findings: list[Finding], span: q.Span | None, counts: dict[str, int], ingest: dict[str, Any], notes: list[str], gaps: dict[str, int]
) -> str:
    rng = f"{iso_utc(span.since)} to {iso_utc(span.until)}" if span else "the lake is empty"
    sev = " ".join(f'<span class="sev sev-{h(k)}">{h(k)} {n}</span>' for k, n in s.by_severity(findings).items())
    states = ", ".join(f"{n} {k}" for k, n in s.by_state(findings).items() if n)
    causes = "".join(
        f'<div class="card cause"><b><a href="#finding-{h(f.id)}">{h(f.title)}</a></b> '
        f'<span class="sev sev-{h(f.severity)}">{h(f.severity)}</span><br>{h(f.summary)}'
        + (f"<br><i>{h(f.hint)}</i>" if f.hint else "") + "</div>"
        for f in s.root_causes(findings)
    )  # fmt: skip
    ingest_rows = _ingest_rows(ingest)
    return (
        "<h2>Summary</h2><div class='grid'><div><h3>Lake</h3>"
        + _kv_table(
            [("data covered", rng), *[(f"rows in {t}", n) for t, n in counts.items()], ("capture gaps", _gaps_text(gaps, findings))]
        )
        + "</div><div>"
        + (f"<h3>Sources ingested</h3>{_kv_table(ingest_rows)}" if ingest_rows else "")
        + "</div></div>"
        + f"<p><b>Findings:</b> {len(findings)} {sev} <span class='muted'>{h(states)}</span></p>"
        + ("<h3>Most likely root causes</h3>" + causes if causes else "<p>No findings: every detector was silent.</p>")
        + (
            "<details><summary>Detector notes</summary><ul>" + "".join(f"<li>{h(n)}</li>" for n in notes) + "</ul></details>"
            if notes
            else ""
        )
    )


def _index_html(ranked: list[Finding]) -> str:
    if not ranked:
        return ""
    rows = "".join(
        f'<tr><td><span class="sev sev-{h(f.severity)}">{h(f.severity)}</span></td><td>{h(f.state)}</td>'
        f'<td><a href="#finding-{h(f.id)}">{h(f.title)}</a></td><td class="mono">{h(f.detector)}</td>'
        f"<td class='cell'>{h(s.entity_text(f))}</td><td class='mono'>{h(f.window_start)}</td></tr>"
        for f in ranked
    )
    return f"<h2>All findings</h2><table><tr><th>severity</th><th>state</th><th>finding</th><th>detector</th><th>where</th><th>since</th></tr>{rows}</table>"


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
    """The report page and the number of figures in it."""
    q.register_locations(con, topology)
    span = q.lake_span(con)
    counts = q.table_counts(con)
    ranked = s.rank_findings(findings)
    dets = s.detector_info(detectors)
    figs = _Figures()
    title = title or "flowsleuth incident report"
    overview = "".join(figs.embed(f) for f in figures.overview_figures(con, span)) if span else "<p>The lake is empty.</p>"
    sections = "".join(
        _finding_html(con, f, dets.get(f.detector), figs, topology, chart=i < MAX_FINDING_CHARTS, overrides=(params or {}).get(f.detector))
        for i, f in enumerate(ranked)
    )
    generated = iso_utc(datetime.now(UTC))
    body = (
        f"<main><h1>{h(title)}</h1><p class='muted'>Generated {h(generated)} by flowsleuth. All times UTC.</p>"
        + _summary_html(findings, span, counts, s.plain_dict(ingest_summary), [str(n) for n in detect_notes or []], q.gap_records(con))
        + _index_html(ranked)
        + (f"<h2>Findings</h2>{sections}" if sections else "")
        + f"<h2>Overview</h2>{overview}</main>"
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

"""Plain-text report formats: markdown for chat and tickets, CSV for spreadsheets.

Markdown escapes every markdown-active character of values that may come from
logs; CSV neutralises cells a spreadsheet would evaluate as a formula.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from ..findings import Finding
from ..incidents import Incident, correlate, incident_of
from . import summary as s
from .escaping import csv_cell, md

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "id", "incident_id", "incident_role", "state", "severity", "detector", "window_start", "window_end", "entity", "title",
    "summary", "hint",
)  # fmt: skip
INCIDENT_CSV_COLUMNS = (
    "id", "state", "severity", "title", "root_cause", "root_detector", "window_start", "window_end", "findings",
    "detectors", "azs", "subnets", "targets", "load_balancers", "summary", "hint",
)  # fmt: skip


def incident_lines(incidents: list[Incident], findings: list[Finding]) -> list[str]:
    """One markdown line per incident, root cause first, then what to do next."""
    by_id = {f.id: f for f in findings}
    lines = []
    for n, inc in enumerate(incidents, 1):
        where = s.incident_where(inc)
        lines.append(
            f"{n}. \\[{inc.severity}\\] \\[{inc.state}\\] **{md(inc.title)}** ({md(inc.window_start)} to {md(inc.window_end)}"
            + (f"; {md(where)}" if where else "") + f"): {md(inc.summary)}"
        )  # fmt: skip
        if inc.hint:
            lines.append(f"   Next: {md(inc.hint)}")
        symptoms = [by_id[m] for m in inc.symptoms if m in by_id]
        if symptoms:
            lines.append("   Symptoms: " + "; ".join(md(f"{f.title} ({f.window_start})") for f in symptoms))
        if len(inc.members) > 1:
            lines.append(f"   {len(inc.members)} findings, ids {md(', '.join(inc.members))}")
    return lines


def render_markdown(
    findings: list[Finding],
    *,
    title: str | None = None,
    ingest_summary: Any = None,
    detect_notes: list[Any] | None = None,
    report_path: str | Path | None = None,
    incidents: list[Incident] | None = None,
) -> str:
    """A short markdown summary: incidents (root cause first, what to do next), then one line per finding."""
    if incidents is None:
        incidents = correlate(findings)
    lines = [f"# {md(title or 'flowsleuth incident report')}", ""]
    sev = ", ".join(f"{n} {k}" for k, n in s.by_severity(incidents).items() if n) or "none"
    states = ", ".join(f"{n} {k}" for k, n in s.by_state(incidents).items() if n)
    lines.append(f"**Incidents:** {len(incidents)} ({sev})" + (f"; {states}" if states else "") + f", from {len(findings)} findings")
    ingest = {k: v for k, v in s.plain_dict(ingest_summary).items() if isinstance(v, (int, float, str))}
    if ingest:
        lines.append("**Ingested:** " + ", ".join(f"{md(k)} {md(v)}" for k, v in ingest.items()))
    if incidents:
        lines += ["", "## Incidents, root cause first", "", *incident_lines(incidents, findings)]
    if findings:
        lines += ["", "## All findings", ""]
        owner = incident_of(incidents)
        for f in s.rank_findings(findings):
            inc = owner.get(f.id)
            lines.append(
                f"- \\[{f.severity}\\] \\[{f.state}\\] {md(f.title)}: {md(s.entity_text(f))} "
                f"from {md(f.window_start)} ({md(f.detector)}, id {md(f.id)}" + (f", incident {md(inc.id)})" if inc else ")")
            )
    else:
        lines += ["", "No findings: every detector was silent."]
    notes = [str(n) for n in detect_notes or []]
    if notes:
        lines += ["", "## Detector notes", ""] + [f"- {md(n)}" for n in notes]
    if report_path:
        lines += ["", f"Full report: {md(report_path)}"]
    return "\n".join(lines) + "\n"


def write_csv(findings: list[Finding], path: Path, *, incidents: list[Incident] | None = None) -> Path:
    """Findings as CSV, ranked, with their incident; ``incidents.csv`` beside it. Every cell formula-safe."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if incidents is None:
        incidents = correlate(findings)
    owner = incident_of(incidents)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for f in s.rank_findings(findings):
            inc = owner.get(f.id)
            role = "" if inc is None else "root_cause" if inc.root_cause == f.id else "symptom" if f.id in inc.symptoms else "member"
            row = {**f.to_dict(), "entity": s.entity_text(f), "incident_id": inc.id if inc else "", "incident_role": role}
            w.writerow([csv_cell(row.get(c)) for c in CSV_COLUMNS])
    with (path.parent / "incidents.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(INCIDENT_CSV_COLUMNS)
        for inc in incidents:
            row = {**inc.to_dict(), "findings": len(inc.members)}
            w.writerow([csv_cell(" ".join(v) if isinstance(v := row.get(c), list) else v) for c in INCIDENT_CSV_COLUMNS])
    log.info("wrote %s (%d findings) and incidents.csv (%d incidents)", path, len(findings), len(incidents))
    return path

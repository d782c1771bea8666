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
from . import summary as s
from .escaping import csv_cell, md

log = logging.getLogger(__name__)

CSV_COLUMNS = ("id", "state", "severity", "detector", "window_start", "window_end", "entity", "title", "summary", "hint")


def render_markdown(
    findings: list[Finding],
    *,
    title: str | None = None,
    ingest_summary: Any = None,
    detect_notes: list[Any] | None = None,
    report_path: str | Path | None = None,
) -> str:
    """A short markdown summary: counts, likely root causes, then one line per finding."""
    lines = [f"# {md(title or 'flowsleuth incident report')}", ""]
    sev = ", ".join(f"{n} {k}" for k, n in s.by_severity(findings).items() if n) or "none"
    states = ", ".join(f"{n} {k}" for k, n in s.by_state(findings).items() if n)
    lines.append(f"**Findings:** {len(findings)} ({sev})" + (f"; {states}" if states else ""))
    ingest = {k: v for k, v in s.plain_dict(ingest_summary).items() if isinstance(v, (int, float, str))}
    if ingest:
        lines.append("**Ingested:** " + ", ".join(f"{md(k)} {md(v)}" for k, v in ingest.items()))
    causes = s.root_causes(findings)
    if causes:
        lines += ["", "## Most likely root causes", ""]
        for i, f in enumerate(causes, 1):
            lines.append(f"{i}. **{md(f.title)}** ({f.severity}, {md(f.window_start)} to {md(f.window_end)}): {md(f.summary)}")
            if f.hint:
                lines.append(f"   Next: {md(f.hint)}")
    if findings:
        lines += ["", "## All findings", ""]
        for f in s.rank_findings(findings):
            lines.append(
                f"- \\[{f.severity}\\] \\[{f.state}\\] {md(f.title)}: {md(s.entity_text(f))} "
                f"from {md(f.window_start)} ({md(f.detector)}, id {md(f.id)})"
            )
    else:
        lines += ["", "No findings: every detector was silent."]
    notes = [str(n) for n in detect_notes or []]
    if notes:
        lines += ["", "## Detector notes", ""] + [f"- {md(n)}" for n in notes]
    if report_path:
        lines += ["", f"Full report: {md(report_path)}"]
    return "\n".join(lines) + "\n"


def write_csv(findings: list[Finding], path: Path) -> Path:
    """Findings as CSV, ranked, every cell formula-safe."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for f in s.rank_findings(findings):
            row = {**f.to_dict(), "entity": s.entity_text(f)}
            w.writerow([csv_cell(row.get(c)) for c in CSV_COLUMNS])
    log.info("wrote %s (%d findings)", path, len(findings))
    return path

"""The incident report: self-contained HTML, markdown for chat, CSV for spreadsheets.

write_report(con, findings, out_dir, *, title, ingest_summary, detect_notes, topology, detectors) -> Path
render_markdown(findings, *, title, ingest_summary, detect_notes, report_path) -> str
write_csv(findings, path) -> Path
figures.*: the report's charts, for notebooks
"""

from . import figures
from .html_page import CSP, render_html, write_report
from .summary import rank_findings, root_causes
from .text_formats import render_markdown, write_csv

__all__ = ["CSP", "figures", "rank_findings", "render_html", "render_markdown", "root_causes", "write_csv", "write_report"]

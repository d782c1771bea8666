"""docs/detectors.md, generated from the detector headers (``python -m pipeline.detect.docs``).

The per-detector part of the page is rendered from ``queries/*.sql`` so it cannot drift from
what the detectors declare; the cross-cutting prose after it is kept as written. A test
checks the committed page equals what this renders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import Detector, load_detectors

BEGIN = "<!-- BEGIN GENERATED from queries/*.sql headers by `python -m pipeline.detect.docs`; do not edit by hand -->"
END = "<!-- END GENERATED -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _bound(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _requires(det: Detector) -> str:
    parts = [", ".join(f"`{c}`" for c in det.requires)] if det.requires else []
    if det.requires_any:
        parts.append("one of: " + "; ".join(" + ".join(f"`{e}`" for e in alt) for alt in det.requires_any))
    return "; ".join(parts) or "-"


def _section(det: Detector) -> list[str]:
    out = [f"### `{det.id}`: {det.title}", ""]
    out.append(
        f"Severity {det.severity} · status {det.status} · version {det.version} · reads {', '.join(det.sources)}"
        f" · chart `{det.chart}` · config checks {', '.join(f'`{c}`' for c in det.config_checks) or 'none'}"
        f" · capture gaps: {det.capture_gaps}"
    )
    out += ["", det.description, ""]
    if det.params:
        out += ["| param | type | default | range | meaning |", "| --- | --- | --- | --- | --- |"]
        for p in det.params.values():
            rng = "" if p.min is None and p.max is None else f"{_bound(p.min)}..{_bound(p.max)}"
            out.append(f"| `{p.name}` | {p.type} | `{_cell(str(p.default))}` | {rng} | {_cell(p.doc)} |")
        out.append("")
    if det.false_positives:
        out += ["False positives:", *[f"- {_cell(fp)}" for fp in det.false_positives], ""]
    out += ["Runbook:", *[f"{i}. {_cell(step)}" for i, step in enumerate(det.runbook, 1)], ""]
    return out


def render(detectors: list[Detector]) -> str:
    """The generated part of docs/detectors.md (markers included)."""
    out = [BEGIN, "", "| id | title | severity | status | version | needs | chart |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for d in detectors:
        out.append(f"| `{d.id}` | {_cell(d.title)} | {d.severity} | {d.status} | {d.version} | {_requires(d)} | `{d.chart}` |")
    out += ["", "## Each detector", ""]
    for d in detectors:
        out += _section(d)
    out.append(END)
    return "\n".join(out) + "\n"


def updated_page(page: str, detectors: list[Detector]) -> str:
    """``page`` with its generated part replaced (appended when it has none)."""
    generated = render(detectors)
    if BEGIN in page and END in page:
        head, rest = page.split(BEGIN, 1)
        return head + generated + rest.split(END, 1)[1].lstrip("\n")
    return page.rstrip("\n") + "\n\n" + generated


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--page", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "detectors.md")
    p.add_argument("--check", action="store_true", help="exit 1 when the page is not current")
    a = p.parse_args(argv)
    page = a.page.read_text(encoding="utf-8")
    new = updated_page(page, load_detectors())
    if a.check:
        return 0 if new == page else 1
    a.page.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Flag findings whose window overlaps a capture gap on a related entity.

A finding computed over a window where the logs themselves are incomplete (SKIPDATA, an
interface gone silent) may be an artefact of the gap: the reader must know.
"""

from __future__ import annotations

from ..findings import Finding
from .catalog import Detector

_PLACE_KEYS = ("interface_id", "subnet_id", "az_id")


def _related(finding: Finding, gap: Finding) -> bool:
    """Same interface/subnet/AZ when both name one; related when the place is unknown."""
    shared = [k for k in _PLACE_KEYS if k in finding.entity and k in gap.entity]
    if not shared:
        return True
    return finding.entity[shared[0]] == gap.entity[shared[0]]


def annotate_capture_gaps(findings: list[Finding], detectors: list[Detector]) -> None:
    """Add ``evidence.capture_gap_overlap`` (and a sentence in the summary) in place.

    Each detector's header says what gaps mean to it (``capture_gaps``): its findings are the
    gaps (``reports``), are flagged when they overlap one (``overlap``), or neither (``ignore``).
    """
    role = {d.id: d.capture_gaps for d in detectors}
    gaps = [f for f in findings if role.get(f.detector) == "reports"]
    if not gaps:
        return
    for f in findings:
        if role.get(f.detector, "overlap") != "overlap":
            continue
        overlaps = [
            g
            for g in gaps
            if g.window_start < f.window_end and f.window_start < g.window_end and _related(f, g)
        ]
        if not overlaps:
            continue
        f.evidence["capture_gap_overlap"] = [
            {"id": g.id, "window_start": g.window_start, "window_end": g.window_end, "entity": g.entity}
            for g in overlaps
        ]
        where = ", ".join(sorted({"/".join(g.entity.values()) or "unknown" for g in overlaps}))
        f.summary += f" (overlaps a capture gap on {where}: logs for this window may be incomplete)"

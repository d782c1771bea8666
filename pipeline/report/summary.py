"""What every report format says first: counts, likely root causes, detector details.

Shared by the HTML, markdown and CSV writers so they rank and describe findings
the same way.
"""

from __future__ import annotations

import dataclasses
import math
import string
from collections import Counter
from typing import Any

from ..findings import SEVERITIES, Finding, severity_rank

#: Evidence keys read as "how strong is this", strongest meaning first.
_STRENGTH_KEYS = ("score", "ratio", "zscore", "z", "lift", "share")
_COUNT_KEYS = ("count", "rejects", "requests", "flows", "errors", "n", "attempts")


def evidence_strength(finding: Finding) -> float:
    """A comparable number for ranking findings of equal severity (higher = stronger)."""
    ev = finding.evidence or {}
    for key in _STRENGTH_KEYS:
        v = ev.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            return float(v)
    counts = [ev[k] for k in _COUNT_KEYS if isinstance(ev.get(k), (int, float))]
    return math.log10(1 + max(counts)) if counts else 0.0


def rank_findings(findings: list[Finding]) -> list[Finding]:
    """Open findings first; then severity, evidence strength, and having a hint."""
    return sorted(
        findings,
        key=lambda f: (f.state == "resolved", -severity_rank(f.severity), -evidence_strength(f), not f.hint, f.window_start),
    )


def root_causes(findings: list[Finding], n: int = 2) -> list[Finding]:
    """The ``n`` most likely root causes: top-ranked open findings."""
    return [f for f in rank_findings(findings) if f.state != "resolved"][:n]


def by_severity(findings: list[Any]) -> dict[str, int]:
    """Count per severity (of findings or incidents), critical first, zeros included."""
    c = Counter(f.severity for f in findings)
    return {s: c.get(s, 0) for s in reversed(SEVERITIES)}


def by_state(findings: list[Any]) -> dict[str, int]:
    c = Counter(f.state for f in findings)
    return {s: c.get(s, 0) for s in ("new", "ongoing", "resolved")}


def plain_dict(obj: Any) -> dict[str, Any]:
    """A dataclass, mapping or object as a flat dict of its public fields (for summaries)."""
    if obj is None:
        return {}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return dict(obj)
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_template(template: str, finding: Finding, params: dict[str, Any] | None = None) -> str:
    """Fill ``{name}`` from the finding's entity, evidence and params; unknown names stay as written."""
    evidence = {k: v for k, v in (finding.evidence or {}).items() if not isinstance(v, (list, dict))}
    window = {"window_start": finding.window_start, "window_end": finding.window_end}
    values = _Keep({**(params or {}), **evidence, **window, **finding.entity})
    try:
        return string.Formatter().vformat(template, (), values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


def detector_info(detectors: list[Any] | None) -> dict[str, Any]:
    """Detector objects (from ``pipeline.detect.load_detectors``) by id."""
    return {str(d.id): d for d in detectors or [] if getattr(d, "id", None)}


def param_rows(detector: Any) -> list[tuple[str, str, str, str]]:
    """(name, type, default, doc) for each declared parameter of a detector object."""
    out = []
    params = getattr(detector, "params", None) or {}
    items = params.items() if isinstance(params, dict) else ((getattr(p, "name", "?"), p) for p in params)
    for name, p in items:
        get = (lambda k, p=p: p.get(k)) if isinstance(p, dict) else (lambda k, p=p: getattr(p, k, None))
        out.append((str(name), str(get("type") or ""), str(get("default")), str(get("doc") or "")))
    return out


def param_defaults(detector: Any) -> dict[str, Any]:
    return {name: default for name, _t, default, _d in param_rows(detector)}


def entity_text(finding: Finding) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(finding.entity.items()))


def incident_where(incident: Any) -> str:
    """AZs, subnets, load balancers and targets of an incident, shortened for one line."""
    parts = []
    for label, values in (
        ("AZ", incident.azs), ("subnet", incident.subnets), ("load balancer", incident.load_balancers), ("address", incident.targets),
    ):  # fmt: skip
        if values:
            shown = ", ".join(values[:3]) + (f" and {len(values) - 3} more" if len(values) > 3 else "")
            parts.append(f"{label}{'s' if len(values) > 1 else ''} {shown}")
    return "; ".join(parts)

"""Does a finding describe a labelled incident? The one rule tests, the scorecard and docs/evaluation.md use.

A finding matches a label when it comes from the labelled detector, its window overlaps the
label's (half-open ``[start, end)``), the two entities share at least one key, and no shared
key has different values. Sharing no key at all means "cannot tell it is the same thing".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class _FindingLike(Protocol):
    detector: str
    window_start: str
    window_end: str
    entity: dict[str, str]


def parse_ts(value: str) -> datetime:
    """A label's or finding's ISO time (``Z`` accepted)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def overlaps(finding: _FindingLike, incident: dict[str, Any]) -> bool:
    """Half-open windows [start, end) overlap."""
    start, end = parse_ts(finding.window_start), parse_ts(finding.window_end)
    return start < parse_ts(incident["window_end"]) and parse_ts(incident["window_start"]) < end


def entity_conflicts(finding: _FindingLike, incident: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Keys present in both entities whose values differ: {key: (label value, finding value)}."""
    label = {str(k): str(v) for k, v in incident.get("entity", {}).items()}
    return {k: (v, str(finding.entity[k])) for k, v in label.items() if k in finding.entity and str(finding.entity[k]) != v}


def shared_keys(finding: _FindingLike, incident: dict[str, Any]) -> set[str]:
    return {str(k) for k in incident.get("entity", {})} & set(finding.entity)


def matches(finding: _FindingLike, incident: dict[str, Any]) -> bool:
    """The finding describes the labelled incident (see the module docstring)."""
    return (
        finding.detector == incident.get("detector")
        and overlaps(finding, incident)
        and bool(shared_keys(finding, incident))
        and not entity_conflicts(finding, incident)
    )

"""The finding record: what every detector produces and every consumer reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
State = Literal["new", "ongoing", "resolved"]


def severity_rank(severity: str) -> int:
    """0 for low ... 3 for critical; raises ValueError for anything else."""
    return list[str](SEVERITIES).index(severity)


def iso_utc(ts: datetime) -> str:
    """ISO 8601 UTC with a ``Z``, second precision."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def finding_id(detector: str, entity: dict[str, str], window_start: str) -> str:
    """Stable across reruns: the same detector, entity and window start give the same id."""
    key = json.dumps([detector, sorted(entity.items()), window_start], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Finding:
    detector: str
    severity: Severity
    window_start: str  # ISO 8601 UTC, Z
    window_end: str
    entity: dict[str, str]
    title: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    hint: str = ""
    state: State = "new"
    id: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        self.entity = {str(k): str(v) for k, v in self.entity.items() if v is not None}
        if not self.id:
            self.id = finding_id(self.detector, self.entity, self.window_start)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"id": d.pop("id"), **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

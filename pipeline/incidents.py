"""Group findings into incidents: one answer per fault, its root cause named first.

Detectors report what they see, one finding per entity and window; a reader wants one
line per thing that went wrong. The rules are data (``queries/incidents.yaml``: each
detector's role and the entity keys that make two of its findings "the same"), so this
module names no detector. Steps, all deterministic:

1. per detector, findings whose ``same`` keys agree and whose windows overlap or nearly
   touch become one group;
2. each symptom group joins the cause group that best matches its places (AZ, subnet,
   load balancer, addresses) and window; a symptom nothing explains stands alone;
3. each cause group (with its symptoms), unexplained symptom group and standalone group
   is one :class:`Incident`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import DetectorError
from .findings import Finding, State, iso_utc, severity_rank

Role = Literal["cause", "symptom", "standalone"]
ROLES: tuple[Role, ...] = ("cause", "symptom", "standalone")
RULES_FILE = "incidents.yaml"
_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+)):[0-9]+$")


@dataclass(frozen=True)
class DetectorRule:
    role: Role
    same: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """``queries/incidents.yaml``, validated."""

    merge_gap: timedelta
    link_gap: timedelta
    places: dict[str, tuple[str, ...]]
    strip_port: frozenset[str]
    match_on: tuple[str, ...]
    agree_on: tuple[str, ...]
    detectors: dict[str, DetectorRule]

    def rule(self, finding: Finding) -> DetectorRule:
        """The detector's rule; an unknown detector stands alone and merges on its whole entity."""
        return self.detectors.get(finding.detector) or DetectorRule("standalone", tuple(sorted(finding.entity)))


@dataclass
class Incident:
    """One fault: its root-cause finding, every member finding, where and when."""

    id: str
    severity: str
    title: str
    summary: str
    hint: str
    root_cause: str  # finding id
    root_detector: str
    window_start: str
    window_end: str
    members: list[str]  # finding ids, the root cause first
    symptoms: list[str] = field(default_factory=list)  # member ids from symptom detectors linked to the cause
    detectors: list[str] = field(default_factory=list)
    azs: list[str] = field(default_factory=list)
    subnets: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # addresses and address:port the members name
    load_balancers: list[str] = field(default_factory=list)
    state: State = "new"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Incident:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def default_rules_path() -> Path:
    from .detect.catalog import default_queries_dir

    return default_queries_dir() / RULES_FILE


def load_rules(path: str | Path | None = None) -> Rules:
    """Read and check the rules file; every problem is named in one DetectorError."""
    path = Path(path) if path else default_rules_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise DetectorError(f"incident rules {str(path)!r} unreadable: {e}") from None
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise DetectorError(f"incident rules {str(path)!r}: must be a YAML mapping")
    places = {str(k): tuple(map(str, v)) for k, v in (raw.get("places") or {}).items() if isinstance(v, list)}
    if not places:
        problems.append("places: must map place kinds to lists of entity keys")
    match_on = tuple(map(str, raw.get("match_on") or ()))
    agree_on = tuple(map(str, raw.get("agree_on") or ()))
    for key, kinds in (("match_on", match_on), ("agree_on", agree_on)):
        problems += [f"{key}: unknown place kind {k!r}" for k in kinds if k not in places]
    detectors: dict[str, DetectorRule] = {}
    for det, spec in (raw.get("detectors") or {}).items():
        if not isinstance(spec, dict) or spec.get("role") not in ROLES:
            problems.append(f"detectors.{det}: role must be one of {', '.join(ROLES)}")
            continue
        same = spec.get("same") or []
        if not isinstance(same, list) or not same or not all(isinstance(k, str) for k in same):
            problems.append(f"detectors.{det}: same must list entity keys")
            continue
        detectors[str(det)] = DetectorRule(spec["role"], tuple(same))
    gaps = {}
    for key in ("merge_gap_minutes", "link_gap_minutes"):
        value = raw.get(key)
        if not isinstance(value, (int, float)) or value < 0:
            problems.append(f"{key}: must be a number of minutes >= 0")
            value = 0
        gaps[key] = timedelta(minutes=float(value))
    if problems:
        raise DetectorError(f"incident rules {str(path)!r}: " + "; ".join(problems))
    return Rules(
        merge_gap=gaps["merge_gap_minutes"], link_gap=gaps["link_gap_minutes"], places=places,
        strip_port=frozenset(map(str, raw.get("strip_port") or ())), match_on=match_on, agree_on=agree_on,
        detectors=detectors,
    )  # fmt: skip


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class _Group:
    """Findings of one detector that describe the same thing."""

    detector: str
    role: Role
    keys: dict[str, str]
    members: list[Finding]
    start: datetime
    end: datetime

    def places(self, rules: Rules) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for kind, keys in rules.places.items():
            values = {_place_value(k, f.entity[k], rules) for f in self.members for k in keys if f.entity.get(k)}
            if values:
                out[kind] = values
        return out

    def root(self) -> Finding:
        return min(self.members, key=lambda f: (-severity_rank(f.severity), f.window_start, f.id))


def _place_value(key: str, value: str, rules: Rules) -> str:
    if key in rules.strip_port and (m := _PORT.match(value)):
        return m.group("v6") or m.group("v4")
    return value


def _near(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime, gap: timedelta) -> bool:
    """Windows overlap or lie at most ``gap`` apart."""
    return a_start <= b_end + gap and b_start <= a_end + gap


def _groups(findings: list[Finding], rules: Rules) -> list[_Group]:
    groups: list[_Group] = []
    for f in sorted(findings, key=lambda f: (f.detector, f.window_start, f.id)):
        rule = rules.rule(f)
        keys = {k: f.entity[k] for k in rule.same if f.entity.get(k)}
        start, end = _ts(f.window_start), _ts(f.window_end)
        for g in groups:
            if (
                g.detector == f.detector
                and all(g.keys[k] == v for k, v in keys.items() if k in g.keys)
                and _near(g.start, g.end, start, end, rules.merge_gap)
            ):
                g.members.append(f)
                g.keys.update({k: v for k, v in keys.items() if k not in g.keys})
                g.start, g.end = min(g.start, start), max(g.end, end)
                break
        else:
            groups.append(_Group(f.detector, rule.role, keys, [f], start, end))
    return groups


def _link_score(symptom: _Group, cause: _Group, rules: Rules) -> tuple[int, float] | None:
    """How well a cause explains a symptom (higher is better), or None when it does not."""
    if not _near(symptom.start, symptom.end, cause.start, cause.end, rules.link_gap):
        return None
    sp, cp = symptom.places(rules), cause.places(rules)
    if any(kind in sp and kind in cp and not sp[kind] & cp[kind] for kind in rules.agree_on):
        return None
    shared = sum(1 for kind in rules.match_on if sp.get(kind, set()) & cp.get(kind, set()))
    if not shared:
        return None
    overlap = (min(symptom.end, cause.end) - max(symptom.start, cause.start)).total_seconds()
    return shared, overlap


def incident_id(group_detector: str, keys: dict[str, str], window_start: str) -> str:
    """Stable across reruns: the root group's detector, identifying keys and first window start."""
    key = json.dumps(["incident", group_detector, sorted(keys.items()), window_start], separators=(",", ":"))
    return "inc-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _incident(root: _Group, symptoms: list[_Group], rules: Rules) -> Incident:
    head = root.root()
    ordered = [head, *sorted((f for f in root.members if f is not head), key=lambda f: (f.window_start, f.id))]
    linked = sorted((f for g in symptoms for f in g.members), key=lambda f: (f.window_start, f.detector, f.id))
    members = ordered + linked
    places: dict[str, set[str]] = {}
    for g in (root, *symptoms):
        for kind, values in g.places(rules).items():
            places.setdefault(kind, set()).update(values)
    targets = {f.entity["target"] for f in members if f.entity.get("target")} | places.get("address", set())
    start = min(g.start for g in (root, *symptoms))
    end = max(g.end for g in (root, *symptoms))
    return Incident(
        id=incident_id(root.detector, root.keys, iso_utc(root.start)),
        severity=max((f.severity for f in members), key=severity_rank),
        title=head.title,
        summary=head.summary,
        hint=head.hint,
        root_cause=head.id,
        root_detector=head.detector,
        window_start=iso_utc(start),
        window_end=iso_utc(end),
        members=[f.id for f in members],
        symptoms=[f.id for f in linked],
        detectors=list(dict.fromkeys(f.detector for f in members)),
        azs=sorted(places.get("az_id") or places.get("az") or ()),  # AZ ids when known (names differ per account)
        subnets=sorted(places.get("subnet", set())),
        targets=sorted(targets),
        load_balancers=sorted(places.get("load_balancer", set())),
    )


def correlate(findings: list[Finding], rules: Rules | None = None) -> list[Incident]:
    """Every finding in exactly one incident; incidents ordered by severity, then start time."""
    rules = rules or load_rules()
    groups = _groups(findings, rules)
    causes = [g for g in groups if g.role == "cause"]
    linked: dict[int, list[_Group]] = {id(c): [] for c in causes}
    alone: list[_Group] = [g for g in groups if g.role == "standalone"]
    for g in (g for g in groups if g.role == "symptom"):
        scored = [(s, c) for c in causes if (s := _link_score(g, c, rules)) is not None]
        if scored:
            best = max(scored, key=lambda sc: (sc[0], severity_rank(sc[1].root().severity), sc[1].root().id))[1]
            linked[id(best)].append(g)
        else:
            alone.append(g)
    incidents = [_incident(c, linked[id(c)], rules) for c in causes] + [_incident(g, [], rules) for g in alone]
    return sorted(incidents, key=lambda i: (-severity_rank(i.severity), i.window_start, i.id))


def incident_of(incidents: list[Incident]) -> dict[str, Incident]:
    """Finding id -> the incident it belongs to."""
    return {fid: inc for inc in incidents for fid in inc.members}


__all__ = ["ROLES", "Incident", "Rules", "correlate", "incident_id", "incident_of", "load_rules"]

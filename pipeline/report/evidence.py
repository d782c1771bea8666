"""A finding's evidence as a reader sees it: human labels with units, provenance, samples.

Detectors return evidence under SQL column names (``share_pct``, ``baseline_mean``) and
some columns exist only to fill the summary sentence (a ``via_label`` or ``alb_text``
already in the text above). Here the first become labels with units, the second are
left out, sample records keep the columns the detector declares (``sample_columns`` in
its header) and provenance reads as object name + line, the full URI in a one-line
field that can be copied. Every value is escaped with ``escaping.h``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..findings import Finding, iso_utc
from .escaping import h

MAX_SAMPLES = 20
MAX_CELL = 300
_MAX_LIST = 12
#: Column-name endings and what they mean: (suffix, label suffix, unit after the value).
_UNITS: tuple[tuple[str, str, str], ...] = (
    ("_pct", "", "%"),
    ("_share", " share", ""),
    ("_seconds", "", " s"),
    ("_s", "", " s"),
    ("_ms", "", " ms"),
    ("_bytes", "", " bytes"),
    ("_minutes", "", " min"),
)
_WORDS = {
    "az": "AZ", "id": "ID", "ip": "IP", "alb": "ALB", "elb": "ELB", "tcp": "TCP", "nat": "NAT", "tgw": "TGW", "eni": "ENI",
    "srcaddr": "source address", "dstaddr": "destination address", "srcport": "source port", "dstport": "destination port",
    "pkt": "packet", "addr": "address", "src": "source", "dst": "destination", "5xx": "5XX",
}  # fmt: skip
_NAME_HEAD, _NAME_TAIL = 14, 34  # AWS object names run to ~100 characters: keep the account and the time/hash end
_FIELD = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
_HIDDEN = ("samples", "runbook")


def label(key: str) -> tuple[str, str]:
    """(human label, unit) for an evidence or sample column name: ``share_pct`` -> ("share", "%")."""
    unit = ""
    for suffix, extra, u in _UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            key, unit = key[: -len(suffix)] + extra.replace(" ", "_"), u
            break
    words = [_WORDS.get(w, w) for w in key.split("_") if w]
    text = " ".join(words)
    return (text[:1].upper() + text[1:] if text else key), unit


def value_text(value: Any, unit: str = "") -> str:
    """A value on one line: times in ISO UTC, floats rounded, lists joined, long text cut."""
    if isinstance(value, datetime):
        value = iso_utc(value)
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    elif isinstance(value, float):
        value = f"{round(value, 3):g}" if abs(value) < 1e15 else f"{value:.3g}"
    elif isinstance(value, list):
        shown = ", ".join(value_text(v) for v in value[:_MAX_LIST])
        value = shown + (f" and {len(value) - _MAX_LIST} more" if len(value) > _MAX_LIST else "")
    elif isinstance(value, dict):
        value = json.dumps(value, default=str)
    text = "" if value is None else str(value)
    text = text if len(text) <= MAX_CELL else text[:MAX_CELL] + "…"
    return f"{text}{unit}" if unit and text else text


def template_only_keys(finding: Finding, det: Any) -> set[str]:
    """Text evidence that only fills the detector's summary/hint sentences (already shown there)."""
    templates = " ".join(str(getattr(det, k, "") or "") for k in ("summary", "hint"))
    used = set(_FIELD.findall(templates))
    ev = finding.evidence or {}
    out = {k for k in used if isinstance(ev.get(k), str) and k not in finding.entity}
    # a sentence fragment ("; as an ALB node ...") is never a value on its own
    out |= {k for k, v in ev.items() if isinstance(v, str) and v.startswith(("; ", ", "))}
    return out


def provenance_html(sample: dict[str, Any]) -> str:
    """Object name + line, and the full URI in a read-only one-line field (select to copy)."""
    uri, line = sample.get("source_uri"), sample.get("source_line")
    if not uri:
        return ""
    name = str(uri).rstrip("/").rsplit("/", 1)[-1]
    if len(name) > _NAME_HEAD + _NAME_TAIL + 1:
        name = f"{name[:_NAME_HEAD]}…{name[-_NAME_TAIL:]}"
    where = f"{name} line {line}" if line is not None else name
    return (
        f"<span class='mono obj' title='{h(uri)}'>{h(where)}</span>"
        f"<input class='uri' readonly value='{h(uri)}' aria-label='full object URI' size='24'>"
    )


def evidence_html(finding: Finding, det: Any = None) -> str:
    """The evidence table and the sample records of one finding."""
    ev = dict(finding.evidence or {})
    samples = ev.get("samples")
    skip = set(_HIDDEN) | template_only_keys(finding, det)
    items = [(k, v) for k, v in ev.items() if k not in skip and v is not None and v != []]
    items.sort(key=lambda kv: (isinstance(kv[1], (list, dict, str)), kv[0]))  # numbers first
    parts = []
    if items:
        rows = []
        for key, value in items:
            text, unit = label(key)
            if not unit and key.endswith("share") and isinstance(value, (int, float)) and 0 <= value <= 1:
                value, unit = value * 100, "%"  # a fraction reads better as a percentage
            rows.append(f"<tr><th title='{h(key)}'>{h(text)}</th><td class='cell'>{h(value_text(value, unit))}</td></tr>")
        parts.append(f"<table class='kv'>{''.join(rows)}</table>")
    if isinstance(samples, list) and samples:
        parts.append(samples_html(samples, list(getattr(det, "sample_columns", None) or [])))
    return "".join(parts) or "<p class='muted'>No evidence recorded.</p>"


def samples_html(samples: list[Any], declared: list[str]) -> str:
    rows = [x for x in samples[:MAX_SAMPLES] if isinstance(x, dict)]
    present = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in ("source_uri", "source_line")]
    cols = [c for c in declared if c in present] if declared else present
    head = "".join(f"<th title='{h(c)}'>{h(label(c)[0])}</th>" for c in ["source", *cols])
    body = "".join(
        "<tr><td class='prov'>" + provenance_html(r) + "</td>"
        + "".join(f"<td>{h(value_text(r.get(c), label(c)[1]))}</td>" for c in cols) + "</tr>"
        for r in rows
    )  # fmt: skip
    more = f"<p class='muted'>{len(samples) - len(rows)} more samples in findings.json</p>" if len(samples) > len(rows) else ""
    return f"<h4>Sample records</h4><div class='scroll'><table class='samples'><tr>{head}</tr>{body}</table></div>{more}"

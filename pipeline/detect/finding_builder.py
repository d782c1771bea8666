"""Turn a detector's result rows into :class:`~pipeline.findings.Finding` records.

Result rows carry window_start/window_end, the entity columns, optionally ``severity`` and
``samples``; every other column becomes evidence. Everything is made JSON-safe here so
findings.json, the lake copy and the report never meet a Decimal or a datetime.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from ..errors import DetectorError
from ..findings import SEVERITIES, Finding, Severity, iso_utc
from .catalog import Detector

log = logging.getLogger(__name__)

RESERVED = ("window_start", "window_end", "severity", "samples")


def json_safe(value: Any) -> Any:
    """A value that json.dumps accepts and that reads well: ISO times, floats, plain containers."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    return str(value)


class _Missing(dict[str, Any]):
    """Template values where an unknown ``{key}`` stays as written instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _SafeFormatter(string.Formatter):
    """Fills ``{key}`` and ``{key:.1f}``; a value that does not fit its format spec is shown plain."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            return "{" + str(key) + "}"
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> Any:
        if value is None:
            return "n/a"
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return str(value)

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        try:
            return super().get_field(field_name, args, kwargs)
        except (AttributeError, IndexError, KeyError, TypeError):
            return "{" + field_name + "}", field_name


_FORMATTER = _SafeFormatter()


def fill(template: str, values: Mapping[str, Any]) -> str:
    """Fill a summary/hint/runbook template; never raises on data (missing keys stay ``{key}``)."""
    try:
        return _FORMATTER.vformat(template, (), _Missing(values))
    except (ValueError, IndexError):  # malformed template braces: show it unfilled
        return template


def _window(value: Any, det: Detector, column: str) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, str) and value:
        return value if value.endswith("Z") else iso_utc(datetime.fromisoformat(value))
    raise DetectorError(f"detector {det.id}: output column {column} must be a timestamp, got {value!r}", detector=det.id)


def build_findings(det: Detector, rows: Iterable[Mapping[str, Any]], params: Mapping[str, Any]) -> list[Finding]:
    """One Finding per result row of ``det`` run with ``params``."""
    findings: list[Finding] = []
    for row in rows:
        for col in ("window_start", "window_end"):
            if col not in row:
                raise DetectorError(f"detector {det.id}: result lacks the {col} column", detector=det.id)
        values = {k: json_safe(v) for k, v in row.items()}
        entity = {c: str(values[c]) for c in det.entity if values.get(c) is not None}
        evidence: dict[str, Any] = {
            k: v for k, v in values.items() if k not in RESERVED and k not in det.entity
        }
        if values.get("samples") is not None:
            evidence["samples"] = values["samples"]
        severity = values.get("severity") or det.severity
        if severity not in SEVERITIES:
            log.warning("detector %s returned severity %r; using %s", det.id, severity, det.severity)
            severity = det.severity
        template_values = {**{k: json_safe(v) for k, v in params.items()}, **values}
        runbook = [fill(step, template_values) for step in det.runbook]
        if runbook:
            evidence["runbook"] = runbook
        findings.append(
            Finding(
                detector=det.id,
                severity=cast(Severity, severity),
                window_start=_window(row["window_start"], det, "window_start"),
                window_end=_window(row["window_end"], det, "window_end"),
                entity=entity,
                title=det.title,
                summary=fill(det.summary, template_values),
                evidence=evidence,
                hint=fill(det.hint, template_values),
            )
        )
    return findings

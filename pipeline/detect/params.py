"""Detector parameters: declared types, typed defaults, and user overrides.

Overrides arrive as strings (``--param ID.NAME=VALUE``) or as typed values (the batch
job's config); both are checked against the declared type so a typo fails loudly with
the parameter's name instead of silently changing what a detector finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..errors import UsageError

ParamType = Literal["int", "float", "str", "bool", "list[str]", "list[int]"]
PARAM_TYPES: tuple[ParamType, ...] = ("int", "float", "str", "bool", "list[str]", "list[int]")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class HasParams(Protocol):
    """A detector, or the run's preparation (its settings): an id and declared params."""

    id: str
    params: dict[str, Param]

    def defaults(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Param:
    """One declared parameter of a detector."""

    name: str
    type: ParamType
    default: Any
    doc: str
    min: float | None = None  # int/float params: the smallest and largest value allowed
    max: float | None = None

    def check(self, value: Any) -> Any:
        """``value`` when it lies in the declared range; ValueError saying which bound it breaks."""
        if self.min is not None and value < self.min:
            raise ValueError(f"{value!r} is below the minimum {_num(self.min)}")
        if self.max is not None and value > self.max:
            raise ValueError(f"{value!r} is above the maximum {_num(self.max)}")
        return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def coerce_default(value: Any, ptype: str) -> Any:
    """A typed value (from YAML or a config file) checked against ``ptype``; ValueError if wrong."""
    if ptype == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected a bool, got {value!r}")
    if ptype == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"expected an int, got {value!r}")
    if ptype == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"expected a number, got {value!r}")
    if ptype == "str":
        if isinstance(value, str):
            return value
        raise ValueError(f"expected a string, got {value!r}")
    if ptype in ("list[str]", "list[int]"):
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        item = ptype[5:-1]
        return [coerce_default(v, item) for v in value]
    raise ValueError(f"unknown type {ptype!r}")


def parse_value(text: str, ptype: str) -> Any:
    """A command-line string converted to ``ptype``; ValueError if it does not fit."""
    text = text.strip()
    if ptype == "bool":
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if ptype == "int":
        return int(text)
    if ptype == "float":
        return float(text)
    if ptype == "str":
        return text
    if ptype in ("list[str]", "list[int]"):
        if not text:
            return []
        return [parse_value(part, ptype[5:-1]) for part in text.split(",")]
    raise ValueError(f"unknown type {ptype!r}")


def parse_param_args(items: Sequence[str]) -> dict[str, dict[str, str]]:
    """``["some_detector.min_rejects=20", ...]`` -> ``{"some_detector": {"min_rejects": "20"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        det, dot, name = key.strip().partition(".")
        if not sep or not dot or not det or not name:
            raise UsageError(f"--param {item!r} must look like DETECTOR.NAME=VALUE")
        out.setdefault(det, {})[name] = value
    return out


def resolve_params(detectors: Sequence[HasParams], overrides: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Per detector id, the values to bind: defaults updated with checked overrides.

    String overrides are parsed with the declared type; typed values are checked. Unknown
    detectors or parameters raise UsageError listing the valid names.
    """
    by_id = {d.id: d for d in detectors}
    resolved = {d.id: d.defaults() for d in detectors}
    for det_id, values in (overrides or {}).items():
        det = by_id.get(det_id)
        if det is None:
            raise UsageError(f"--param: unknown detector {det_id!r} (valid: {', '.join(sorted(by_id)) or 'none selected'})")
        for name, value in values.items():
            spec = det.params.get(name)
            if spec is None:
                valid = ", ".join(sorted(det.params)) or "it has no parameters"
                raise UsageError(f"--param: detector {det_id!r} has no parameter {name!r} (valid: {valid})")
            try:
                typed = parse_value(value, spec.type) if isinstance(value, str) else coerce_default(value, spec.type)
            except ValueError as e:
                raise UsageError(f"--param {det_id}.{name}: expected {spec.type}: {e}") from None
            try:
                spec.check(typed)
            except ValueError as e:
                raise UsageError(f"--param {det_id}.{name}: {e}") from None
            resolved[det_id][name] = typed
    return resolved

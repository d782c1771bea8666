"""Load and validate detector files (``queries/<id>.sql``): YAML header + one DuckDB query.

The header schema is checked here, once, so the runner, the report and the meta-test all
see the same typed :class:`Detector`. A file with a bad header is rejected with every
problem it has, named by file, so an author fixes them in one pass.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from ..errors import DetectorError
from ..findings import SEVERITIES, Severity
from ..schema import TABLES
from ..topology.model import InterfaceKind
from .params import PARAM_TYPES, Param, ParamType, coerce_default
from .prep import expand_blocks

log = logging.getLogger(__name__)

#: Views a detector may read: the lake tables and the topology views.
KNOWN_SOURCES: tuple[str, ...] = (*TABLES, "topo_interfaces", "topo_subnets")
RUNNER_PARAMS: tuple[str, ...] = ("since", "until")
REQUIRED_KEYS: tuple[str, ...] = (
    "id", "title", "sources", "severity", "entity", "summary", "hint", "description", "runbook",
)  # fmt: skip
OPTIONAL_KEYS: tuple[str, ...] = (
    "requires", "requires_any", "params", "false_positives", "references", "sample_columns", "lookback",
    "chart", "config_checks", "config_summary", "capture_gaps", "version", "status",
)  # fmt: skip
#: ``status:`` how far to trust a detector; ``version:`` (an int) goes up when its findings change.
Status = Literal["stable", "experimental", "deprecated"]
STATUSES: tuple[Status, ...] = get_args(Status)
#: ``chart:`` the report's chart for a finding (pipeline.report.figures.CHARTS draws each).
CHARTS: tuple[str, ...] = ("timeline", "az_5xx_heatmap", "reject_destinations", "path_sankey", "conversation")
#: ``config_checks:`` which topology-configuration hints apply (pipeline.topology.hints.CHECKS runs each).
CONFIG_CHECKS: tuple[str, ...] = (
    "lb_path_routes", "alb_subnet_routes", "nacl", "alb_nacl", "return_nacl", "endpoint", "tgw", "source_routes",
)  # fmt: skip
#: ``capture_gaps:`` what capture gaps mean to a detector: its findings *are* gaps (``reports``),
#: its findings over a gap on a related place get flagged (``overlap``, the default), or neither.
GAP_ROLES: tuple[str, ...] = ("reports", "overlap", "ignore")
#: ``requires``/``requires_any`` entries of the form ``topology:<kind>``: the topology views
#: (file merged over what the logs let us infer) name at least one interface of that kind.
TOPOLOGY_PREFIX = "topology:"
TOPOLOGY_KINDS: tuple[str, ...] = tuple(k for k in get_args(InterfaceKind) if k != "unknown")
_IDENT = re.compile(r"[a-z][a-z0-9_]*\Z")
_HEADER = re.compile(r"\A\s*/\*(?P<header>.*?)\*/(?P<sql>.*)\Z", re.DOTALL)
# Strings, quoted identifiers and comments are removed before looking for $names.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Detector:
    """One detector file, validated."""

    id: str
    title: str
    sources: list[str]
    severity: Severity
    entity: list[str]
    summary: str
    hint: str
    description: str
    runbook: list[str]
    sql: str
    requires: list[str] = field(default_factory=list)
    #: alternatives: the detector runs when every entry of at least one inner list holds
    requires_any: list[list[str]] = field(default_factory=list)
    params: dict[str, Param] = field(default_factory=dict)
    false_positives: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    #: the sample-record columns the report shows, in order (default: all the SQL returns)
    sample_columns: list[str] = field(default_factory=list)
    #: int params (and constants) whose product is how many minutes before ``since`` the detector reads
    lookback: list[str | int] = field(default_factory=list)
    chart: str = "timeline"
    config_checks: list[str] = field(default_factory=list)
    #: "the logs show ..." phrase of its configuration hints: ``{a|b|'text'}`` is the first
    #: non-empty of entity fields a, b or the text; ``[...]`` is left out when a field in it is empty
    config_summary: str = ""
    capture_gaps: str = "overlap"
    version: int = 1
    status: Status = "stable"
    path: Path | None = None

    def defaults(self) -> dict[str, Any]:
        """Declared parameter defaults, by name."""
        return {name: p.default for name, p in self.params.items()}

    def lookback_minutes(self, values: dict[str, Any]) -> int:
        """Minutes before ``since`` this detector reads with these parameter values."""
        minutes = 1 if self.lookback else 0
        for name in self.lookback:
            minutes *= name if isinstance(name, int) else int(values[name])
        return minutes


def default_queries_dir() -> Path:
    """``queries/`` shipped inside the wheel (``pipeline/queries``) or in a source checkout."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "queries", here.parents[2] / "queries"):
        if candidate.is_dir():
            return candidate
    raise DetectorError(
        "cannot find the queries/ directory next to the pipeline package; "
        "pass queries_dir explicitly or reinstall flowsleuth"
    )


def split_header(text: str) -> tuple[str, str]:
    """(header YAML, SQL body); raises ValueError when the file does not open with ``/* */``."""
    m = _HEADER.match(text)
    if not m:
        raise ValueError("file must open with a /* ... */ comment holding the YAML header")
    return m.group("header"), m.group("sql")


def sql_parameters(sql: str) -> set[str]:
    """Names used as ``$name`` in the SQL, ignoring strings, quoted identifiers and comments."""
    return set(_DOLLAR.findall(_NOT_CODE.sub(" ", sql)))


def check_detector_file(path: Path) -> tuple[Detector | None, list[str]]:
    """Parse and validate one file: (detector or None, every problem found)."""
    problems: list[str] = []
    try:
        header_text, sql = split_header(path.read_text(encoding="utf-8"))
        header = yaml.safe_load(header_text)
        sql = expand_blocks(sql, path.parent)
    except (ValueError, yaml.YAMLError, OSError) as e:
        return None, [f"header: {e}"]
    if not isinstance(header, dict):
        return None, ["header: must be a YAML mapping"]

    for key in REQUIRED_KEYS:
        if key not in header or header[key] in (None, "", []):
            problems.append(f"header: missing required key {key!r}")
    for key in header:
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            problems.append(f"header: unknown key {key!r} (allowed: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    if problems:
        return None, problems

    det_id = header["id"]
    if det_id != path.stem:
        problems.append(f"id {det_id!r} must equal the file stem {path.stem!r}")
    for key in ("title", "summary", "hint", "description"):
        if not isinstance(header[key], str) or not header[key].strip():
            problems.append(f"{key}: must be a non-empty string")
    if header["severity"] not in SEVERITIES:
        problems.append(f"severity {header['severity']!r} must be one of {', '.join(SEVERITIES)}")

    sources = _str_list(header, "sources", problems)
    for s in sources:
        if s not in KNOWN_SOURCES:
            problems.append(f"sources: unknown view {s!r} (known: {', '.join(KNOWN_SOURCES)})")
    entity = _str_list(header, "entity", problems)
    if "entity" in header and not entity:
        problems.append("entity: must list at least one output column")
    runbook = _str_list(header, "runbook", problems)
    if any(not step.strip() for step in runbook):
        problems.append("runbook: steps must be non-empty strings")
    requires = _str_list(header, "requires", problems)
    for col in requires:
        problems += _requirement_problems("requires", col, sources)
    requires_any = _alternatives(header, sources, problems)
    false_positives = _str_list(header, "false_positives", problems)
    references = _str_list(header, "references", problems)
    sample_columns = _str_list(header, "sample_columns", problems)
    for ref in references:
        if not ref.startswith(("https://", "http://")):
            problems.append(f"references: {ref!r} is not a URL")

    params: dict[str, Param] = {}
    raw_params = header.get("params") or {}
    if not isinstance(raw_params, dict):
        problems.append("params: must be a mapping of name -> {type, default, doc}")
        raw_params = {}
    for name, spec in raw_params.items():
        param, why = param_from_spec(str(name), spec)
        if why:
            problems.append(f"params.{name}: {why}")
        elif param:
            params[param.name] = param

    chart = header.get("chart", "timeline")
    if chart not in CHARTS:
        problems.append(f"chart {chart!r} must be one of {', '.join(CHARTS)}")
    config_checks = _str_list(header, "config_checks", problems)
    for check in config_checks:
        if check not in CONFIG_CHECKS:
            problems.append(f"config_checks: {check!r} is not a check (known: {', '.join(CONFIG_CHECKS)})")
    config_summary = header.get("config_summary", "")
    if not isinstance(config_summary, str):
        problems.append("config_summary: must be a string")
    capture_gaps = header.get("capture_gaps", "overlap")
    if capture_gaps not in GAP_ROLES:
        problems.append(f"capture_gaps {capture_gaps!r} must be one of {', '.join(GAP_ROLES)}")
    version = header.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(f"version {version!r} must be a positive integer")
    status = header.get("status", "stable")
    if status not in STATUSES:
        problems.append(f"status {status!r} must be one of {', '.join(STATUSES)}")
    lookback = _lookback(header.get("lookback"), params, problems)

    used = sql_parameters(sql)
    for name in sorted(used - set(params) - set(RUNNER_PARAMS)):
        problems.append(f"SQL uses ${name} but params does not declare it")
    for name in sorted(set(params) - used):
        problems.append(f"param {name!r} is declared but the SQL never uses ${name}")
    for name in RUNNER_PARAMS:
        if name not in used:
            problems.append(f"SQL must filter on ${name} (the runner's time window)")
    if not sql.strip():
        problems.append("SQL body is empty")

    if problems:
        return None, problems
    det = Detector(
        id=det_id,
        title=header["title"].strip(),
        sources=sources,
        severity=cast(Severity, header["severity"]),
        entity=entity,
        summary=header["summary"].strip(),
        hint=header["hint"].strip(),
        description=header["description"].strip(),
        runbook=[s.strip() for s in runbook],
        sql=sql.strip().rstrip(";"),
        requires=requires,
        requires_any=requires_any,
        params=params,
        false_positives=false_positives,
        references=references,
        sample_columns=sample_columns,
        lookback=lookback,
        chart=chart,
        config_checks=config_checks,
        config_summary=config_summary.strip(),
        capture_gaps=capture_gaps,
        version=version,
        status=status,
        path=path,
    )
    return det, []


def _lookback(value: object, params: dict[str, Param], problems: list[str]) -> list[str | int]:
    """``lookback``: int params and positive int constants (``[baseline_hours, 60]``), their product in minutes."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str | int] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and item > 0:
            out.append(item)
        elif isinstance(item, str) and item in params and params[item].type == "int":
            out.append(item)
        else:
            problems.append(
                f"lookback: {item!r} must name a declared int param or be a positive integer (the look-back is their product, in minutes)"
            )
    return out


def _str_list(header: dict[str, Any], key: str, problems: list[str]) -> list[str]:
    value = header.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key}: must be a list of strings")
        return []
    return list(value)


def _requirement_problems(key: str, entry: str, sources: list[str]) -> list[str]:
    """Problems of one ``requires``/``requires_any`` entry: a lake column of the sources, or
    ``topology:<kind>`` with ``topo_interfaces`` among the sources."""
    if entry.startswith(TOPOLOGY_PREFIX):
        kind = entry[len(TOPOLOGY_PREFIX):]
        out = []
        if kind not in TOPOLOGY_KINDS:
            out.append(f"{key}: {entry!r} names no interface kind (known: {', '.join(TOPOLOGY_KINDS)})")
        if "topo_interfaces" not in sources:
            out.append(f"{key}: {entry!r} needs topo_interfaces among the sources")
        return out
    if not any(entry in TABLES[t].names for t in sources if t in TABLES):
        return [f"{key}: {entry!r} is not a column of the detector's lake sources {sources}"]
    return []


def _alternatives(header: dict[str, Any], sources: list[str], problems: list[str]) -> list[list[str]]:
    """``requires_any``: a list of at least two alternatives, each a non-empty list of entries."""
    value = header.get("requires_any")
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) < 2
        or not all(isinstance(alt, list) and alt and all(isinstance(e, str) for e in alt) for alt in value)
    ):
        problems.append("requires_any: must be a list of at least two alternatives, each a non-empty list of strings")
        return []
    for alt in value:
        for entry in alt:
            problems.extend(_requirement_problems("requires_any", entry, sources))
    return [list(alt) for alt in value]


def param_from_spec(name: str, spec: Any) -> tuple[Param | None, str]:
    if not _IDENT.match(name) or name in RUNNER_PARAMS:
        return None, "name must be lower_snake_case and not since/until"
    if not isinstance(spec, dict):
        return None, "must be a mapping {type, default, doc}"
    unknown = set(spec) - {"type", "default", "doc", "min", "max"}
    if unknown:
        return None, f"unknown keys {sorted(unknown)}"
    ptype = spec.get("type")
    if ptype not in PARAM_TYPES:
        return None, f"type {ptype!r} must be one of {', '.join(PARAM_TYPES)}"
    if "default" not in spec:
        return None, "missing default"
    doc = spec.get("doc")
    if not isinstance(doc, str) or not doc.strip():
        return None, "missing doc"
    bounds = {k: spec[k] for k in ("min", "max") if k in spec}
    if bounds and ptype not in ("int", "float"):
        return None, "min/max apply to int and float params only"
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in bounds.values()):
        return None, "min/max must be numbers"
    typed: ParamType = ptype
    param = Param(name=name, type=typed, default=None, doc=doc.strip(), min=bounds.get("min"), max=bounds.get("max"))
    try:
        default = param.check(coerce_default(spec["default"], ptype))
    except ValueError as e:
        return None, f"default: {e}"
    return dataclasses.replace(param, default=default), ""


def load_detectors(queries_dir: Path | None = None) -> list[Detector]:
    """Every ``*.sql`` detector in ``queries_dir`` (default: the shipped ones), sorted by id.

    Raises DetectorError naming the file and all its problems when any header is invalid.
    """
    qdir = Path(queries_dir) if queries_dir is not None else default_queries_dir()
    if not qdir.is_dir():
        raise DetectorError(f"detector directory {str(qdir)!r} does not exist")
    detectors: list[Detector] = []
    for path in sorted(qdir.glob("*.sql")):
        det, problems = check_detector_file(path)
        if problems or det is None:
            raise DetectorError(f"{path.name}: " + "; ".join(problems), detector=path.stem)
        detectors.append(det)
    log.debug("loaded %d detectors from %s", len(detectors), qdir)
    return detectors


@functools.cache
def _shipped() -> dict[str, Detector]:
    return {d.id: d for d in load_detectors()}


def shipped_detector(det_id: str) -> Detector | None:
    """The shipped detector ``det_id`` (None for one that is not shipped): what the report and
    the hints read from its header (chart, config checks) for a finding of that detector."""
    try:
        return _shipped().get(det_id)
    except DetectorError as e:
        log.warning("cannot read the shipped detectors: %s", e)
        return None

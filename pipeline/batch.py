"""The scheduled job behind ``flowsleuth run``: ingest what is new, detect, report.

Each run detects over the event-time span of what it ingested, widened backwards by
the lookback (logs arrive late, so recent windows are scanned again), and keeps
``<out>/state.json`` of open findings and incidents so each is ``new`` once, ``ongoing``
while it is seen again, and ``resolved`` once, when a later run covers its window without
finding it. An incident (``pipeline.incidents``) is the same incident in a later run when
it keeps its id or shares a member finding with it; it then keeps its first id. Overlapping runs are stopped by an fcntl lock on ``<out>/.lock``.

Exit codes (as the CLI): 0 ran; 3 findings at or above ``fail_on``; 1 something
failed (an object did not ingest, a detector's SQL failed; the report is still
written); 2 bad usage.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlowsleuthError, UsageError
from .findings import SEVERITIES, Finding, iso_utc, severity_rank
from .incidents import Incident, correlate
from .lake.storage import is_remote, lake_location
from .timeparse import parse_duration, parse_time

if TYPE_CHECKING:
    from .ingest import IngestSummary

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_FINDINGS = 0, 1, 3
STATE_FILE = "state.json"
LOCK_FILE = ".lock"


@dataclass
class RunConfig:
    """Everything one run needs. Fields are also the keys of ``flowsleuth.toml``."""

    sources: list[str] = field(default_factory=list)  # s3://bucket/prefix or local folders
    lake: Path | str | None = None  # the Parquet lake: a folder, or s3://bucket/prefix/ (kept as a string)
    out: Path | None = None  # findings.json, report.html, state.json
    lookback: timedelta = timedelta(hours=2)  # re-scan this far before the earliest new record
    since: datetime | None = None  # explicit detection window (overrides the ingested span)
    until: datetime | None = None
    detectors: list[str] | None = None  # default: all
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # detector -> name -> value
    topology: Path | None = None  # topology.json
    fail_on: str | None = None  # low | medium | high | critical
    title: str | None = None  # report title
    profile: str | None = None  # ingest: AWS profile
    region: str | None = None
    endpoint_url: str | None = None
    workers: int | None = None
    retention_days: float | None = None  # drop lake partitions older than this (default: keep all)
    engine: str = "duckdb"  # detect on duckdb (this process) or spark
    spark_master: str | None = None  # with engine spark: local[N], spark://..., sc://...
    spark_lake_url: str | None = None  # with engine spark: where executors read the lake (default s3a:// for S3)


CONFIG_KEYS = tuple(f.name for f in fields(RunConfig))


# --- parsing -------------------------------------------------------------------------


def _check_severity(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise UsageError(f"fail_on {value!r} must be one of {', '.join(SEVERITIES)}")
    return value


def load_config_file(path: Path) -> dict[str, Any]:
    """Read ``flowsleuth.toml``; unknown keys and wrong types are UsageErrors naming them.

    Relative paths (lake, out, topology, local sources) are taken relative to the file.
    """
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {str(path)!r} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {e}") from None
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if unknown:
        raise UsageError(f"config file {str(path)!r}: unknown keys {', '.join(unknown)} (valid: {', '.join(CONFIG_KEYS)})")
    base = Path(path).resolve().parent

    def rel(p: str) -> str:
        return p if "://" in p or os.path.isabs(p) else str(base / p)

    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "sources":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"config file {str(path)!r}: sources must be a list of strings")
            value = [rel(v) for v in value]
        elif key in ("lake", "out", "topology"):
            if not isinstance(value, str):
                raise UsageError(f"config file {str(path)!r}: {key} must be a path string")
            value = rel(value)
        elif key == "detectors" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise UsageError(f"config file {str(path)!r}: detectors must be a list of detector ids")
        elif key == "params" and not (isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())):
            raise UsageError(f"config file {str(path)!r}: params must be tables like [params.DETECTOR] min_rejects = 20")
        elif key == "engine" and value not in ("duckdb", "spark"):
            raise UsageError(f"config file {str(path)!r}: engine must be duckdb or spark")
        elif key == "workers" and not isinstance(value, int):
            raise UsageError(f"config file {str(path)!r}: workers must be an integer")
        elif key == "retention_days" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise UsageError(f"config file {str(path)!r}: retention_days must be a positive number of days")
        out[key] = value
    return out


def build_config(file_values: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Merge the config file with command-line values (a flag given wins; ``params`` merge per name)."""
    merged: dict[str, Any] = dict(file_values or {})
    for key, value in (overrides or {}).items():
        if key not in CONFIG_KEYS:
            raise UsageError(f"unknown setting {key!r}")
        if value is None or value == [] or value == {}:
            continue
        if key == "params":
            params = {d: dict(v) for d, v in merged.get("params", {}).items()}
            for det, values in value.items():
                params.setdefault(det, {}).update(values)
            value = params
        merged[key] = value
    cfg = RunConfig()
    cfg.sources = list(merged.get("sources") or [])
    lake = merged.get("lake")
    cfg.lake = (str(lake) if is_remote(str(lake)) else Path(lake).resolve()) if lake else None
    cfg.out = Path(merged["out"]).resolve() if merged.get("out") else None
    cfg.lookback = parse_duration(merged["lookback"], name="lookback") if merged.get("lookback") is not None else cfg.lookback
    cfg.since = parse_time(merged["since"], name="since") if merged.get("since") else None
    cfg.until = parse_time(merged["until"], name="until") if merged.get("until") else None
    cfg.detectors = list(merged["detectors"]) if merged.get("detectors") else None
    cfg.params = merged.get("params") or {}
    cfg.topology = Path(merged["topology"]) if merged.get("topology") else None
    cfg.fail_on = _check_severity(merged.get("fail_on"))
    for key in ("title", "profile", "region", "endpoint_url", "workers", "retention_days"):
        setattr(cfg, key, merged.get(key))
    if cfg.retention_days is not None and cfg.retention_days <= 0:
        raise UsageError(f"retention_days must be positive (got {cfg.retention_days})")
    missing = [k for k, v in (("sources", cfg.sources), ("lake", cfg.lake), ("out", cfg.out)) if not v]
    if missing:
        flags = " ".join("--source" if k == "sources" else f"--{k}" for k in missing)
        raise UsageError(f"missing {', '.join(missing)}: give {flags} or set them in the --config file")
    if cfg.since and cfg.until and cfg.since >= cfg.until:
        raise UsageError(f"since {iso_utc(cfg.since)} must be before until {iso_utc(cfg.until)}")
    return cfg


# --- finding state -------------------------------------------------------------------


def load_state(out: Path) -> dict[str, Finding]:
    """Open findings from the previous run, by id (empty on the first run)."""
    path = Path(out) / STATE_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {d["id"]: Finding.from_dict(d) for d in data.get("open", [])}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise FlowsleuthError(f"state file {str(path)!r} is unreadable ({e}); move it aside to start afresh") from None


def load_incident_state(out: Path) -> dict[str, Incident]:
    """Open incidents from the previous run, by id (empty on the first run or an older state file)."""
    path = Path(out) / STATE_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {d["id"]: Incident.from_dict(d) for d in data.get("open_incidents", [])}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise FlowsleuthError(f"state file {str(path)!r} is unreadable ({e}); move it aside to start afresh") from None


def save_state(
    out: Path,
    open_findings: dict[str, Finding],
    *,
    span: tuple[datetime, datetime] | None,
    open_incidents: dict[str, Incident] | None = None,
) -> Path:
    """Write the open findings and incidents atomically."""
    path = Path(out) / STATE_FILE
    data = {
        "version": 1,
        "updated": iso_utc(datetime.now(UTC)),
        "last_span": [iso_utc(span[0]), iso_utc(span[1])] if span else None,
        "open": [f.to_dict() for f in sorted(open_findings.values(), key=lambda f: f.id)],
        "open_incidents": [i.to_dict() for i in sorted((open_incidents or {}).values(), key=lambda i: i.id)],
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def apply_state(
    previous: dict[str, Finding], current: list[Finding], span: tuple[datetime, datetime] | None
) -> tuple[list[Finding], dict[str, Finding]]:
    """This run's findings with their state, and the open set to keep.

    Seen before -> ``ongoing``; first seen -> ``new``; open before, not seen now, and its
    window inside this run's detection span -> ``resolved`` (emitted once, then dropped).
    Open findings outside the span stay open and are not emitted.
    """
    emitted: list[Finding] = []
    still_open: dict[str, Finding] = {}
    for f in current:
        f.state = "ongoing" if f.id in previous else "new"
        emitted.append(f)
        still_open[f.id] = f
    for fid, old in previous.items():
        if fid in still_open:
            continue
        if _covered(old.window_start, old.window_end, span):
            old.state = "resolved"
            emitted.append(old)
        else:
            still_open[fid] = old
    return emitted, still_open


def _covered(window_start: str, window_end: str, span: tuple[datetime, datetime] | None) -> bool:
    return span is not None and parse_time(window_start) >= span[0] and parse_time(window_end) <= span[1]


def apply_incident_state(
    previous: dict[str, Incident], findings: list[Finding], span: tuple[datetime, datetime] | None
) -> tuple[list[Incident], dict[str, Incident]]:
    """Incidents of this run's findings with their state, and the open set to keep.

    ``findings`` are the ones :func:`apply_state` emitted. The open ones are correlated; one
    that keeps an open incident's id or shares a member with it is ``ongoing`` under that
    incident's id, the rest ``new``. An open incident matched by none, whose window this
    run covers, is ``resolved`` (emitted once, then dropped); resolved findings are listed
    under the incident that held them.
    """
    open_now = [f for f in findings if f.state != "resolved"]
    current = correlate(open_now)
    owner = {fid: pid for pid, p in previous.items() for fid in p.members}
    matched: set[str] = set()
    for inc in current:
        prev = inc.id if inc.id in previous else next((owner[m] for m in inc.members if m in owner), None)
        if prev is not None and prev not in matched:
            inc.id, inc.state = prev, "ongoing"
            matched.add(prev)
        else:
            inc.state = "new"
    emitted = list(current)
    still_open = {i.id: i for i in current}
    for pid, old in previous.items():
        if pid in matched:
            continue
        if _covered(old.window_start, old.window_end, span):
            old.state = "resolved"
            emitted.append(old)
        else:
            still_open[pid] = old
    by_id = {i.id: i for i in emitted}
    listed = {m for i in emitted for m in i.members}
    for f in findings:
        if f.state == "resolved" and f.id not in listed and (holder := by_id.get(owner.get(f.id, ""))) is not None:
            holder.members.append(f.id)
    return emitted, still_open


def ingest_notes(summary: IngestSummary, shown: int = 5) -> list[str]:
    """Schema drift and rejected lines of this ingest: how many, and in which objects."""
    notes = []
    drift = summary.schema_drift
    if summary.objects_with_drift:
        listed = "; ".join(f"{uri}: {', '.join(names)}" for uri, names in list(drift.items())[:shown])
        notes.append(
            f"schema drift: {summary.objects_with_drift} flow-log object(s) name header fields AWS does not document "
            f"(kept in extra_fields, known columns read as usual): {listed}"
        )
    by_object = summary.rejects_by_object
    if summary.rejects:
        top = sorted(by_object.items(), key=lambda kv: (-kv[1], kv[0]))[:shown]
        listed = "; ".join(f"{uri}: {n}" for uri, n in top)
        notes.append(
            f"{summary.rejects} line(s) rejected in {summary.objects_with_rejects} object(s), each with its reason in "
            f"<lake>/_rejects/ (source_uri, source_line, reason); most in {listed}"
        )
    return notes


def exit_code(findings: list[Finding], *, failed: bool, fail_on: str | None) -> int:
    """1 when something failed; else 3 when an open finding is at or above ``fail_on``; else 0."""
    if failed:
        return EXIT_FAILED
    if fail_on and any(f.state != "resolved" and severity_rank(f.severity) >= severity_rank(fail_on) for f in findings):
        return EXIT_FINDINGS
    return EXIT_OK


# --- the run -------------------------------------------------------------------------


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``<out>/.lock`` for the run; a second run fails at once instead of interleaving."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    fh = path.open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FlowsleuthError(f"another flowsleuth run holds {str(path)!r}; wait for it to finish (runs must not overlap)") from None
        yield
    finally:
        fh.close()


@dataclass
class RunResult:
    """What one run did, for the CLI's summary line and for tests."""

    findings: list[Finding]
    incidents: list[Incident]
    objects: int
    rows: int
    failed_objects: int
    span: tuple[datetime, datetime] | None
    report: Path
    findings_path: Path
    notes: list[str]
    exit_code: int

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.state == s) for s in ("new", "ongoing", "resolved")}

    def incident_counts(self) -> dict[str, int]:
        return {s: sum(1 for i in self.incidents if i.state == s) for s in ("new", "ongoing", "resolved")}

    def summary_line(self) -> str:
        c, i = self.counts(), self.incident_counts()
        return (
            f"flowsleuth run: {self.objects} objects, {self.rows} rows, {len(self.incidents)} incidents "
            f"({i['new']} new, {i['ongoing']} ongoing, {i['resolved']} resolved) from {len(self.findings)} findings "
            f"({c['new']} new, {c['ongoing']} ongoing, {c['resolved']} resolved), report: {self.report}"
        )


def detection_span(cfg: RunConfig, ingest_summary: IngestSummary) -> tuple[datetime | None, datetime | None] | None:
    """What to detect over, or None to skip detection (nothing new and no explicit window).

    Explicit since/until win; otherwise the ingested event-time span, widened back by the
    lookback. A None end (explicit ``--since`` alone, nothing new) means "the lake's edge".
    """
    lo, hi = ingest_summary.min_event_time, ingest_summary.max_event_time
    since = cfg.since or (lo - cfg.lookback if lo is not None else None)
    until = cfg.until or (hi + timedelta(seconds=1) if hi is not None else None)
    if since is None and until is None:
        return None
    return since, until


def run_batch(cfg: RunConfig) -> RunResult:
    """One scheduled run: ingest, detect, keep finding state, write findings and reports."""
    from .db import open_lake
    from .detect import load_detectors, resolve_params, run_detectors, write_findings, write_lake_findings
    from .ingest import ingest
    from .report import render_markdown, write_csv, write_report
    from .topology.model import Topology

    if cfg.lake is None or cfg.out is None or not cfg.sources:
        raise UsageError("a run needs sources, lake and out (build the config with build_config)")
    out = Path(cfg.out)
    available = load_detectors()
    unknown = sorted(set(cfg.detectors or []) - {d.id for d in available})
    if unknown:  # checked before ingesting, so a typo fails fast even when nothing is new
        raise UsageError(f"unknown detector {', '.join(unknown)} (valid: {', '.join(sorted(d.id for d in available))})")
    detectors = [d for d in available if not cfg.detectors or d.id in cfg.detectors]
    resolve_params(detectors, cfg.params)  # bad --param / [params] -> UsageError naming it
    topology = Topology.load(cfg.topology) if cfg.topology else None
    with run_lock(out):
        previous = load_state(out)
        lake = lake_location(cfg.lake, profile=cfg.profile, region=cfg.region, endpoint_url=cfg.endpoint_url)
        previous_incidents = load_incident_state(out)
        summary = ingest(
            cfg.sources, lake, since=cfg.since, until=cfg.until, profile=cfg.profile,
            region=cfg.region, endpoint_url=cfg.endpoint_url, workers=cfg.workers, retention_days=cfg.retention_days,
        )  # fmt: skip
        failed_objects = summary.objects_failed_new
        notes: list[str] = []
        if summary.failing_total:
            notes.append(
                f"{summary.failing_total} object(s) failing ({summary.objects_failed_new} new this run); "
                "see flowsleuth lake status and the lake ledger"
            )
            notes += summary.failure_lines(10)
        notes += ingest_notes(summary)
        wanted = detection_span(cfg, summary)
        con = open_lake(lake)  # the report's figures read the lake here whatever the engine
        detect_con = con
        if cfg.engine == "spark":
            from .spark import open_spark_lake

            detect_con = open_spark_lake(lake, cfg.spark_master, cfg.spark_lake_url)
        current: list[Finding] = []
        detect_failed = False
        span: tuple[datetime, datetime] | None = None
        if wanted is None:
            notes.append("nothing new was ingested and no --since/--until given: detection skipped")
        else:
            result = run_detectors(detect_con, since=wanted[0], until=wanted[1], detectors=cfg.detectors, params=cfg.params, topology=topology)
            span = (result.since, result.until) if result.since and result.until else None
            current = result.findings
            notes += list(result.notes) + [f"detector failed: {e}" for e in result.errors]
            detect_failed = bool(result.errors)
            topology = topology or result.topology
        findings, still_open = apply_state(previous, current, span)
        incidents, open_incidents = apply_incident_state(previous_incidents, findings, span)
        findings_path = write_findings(findings, out, incidents=incidents)
        if current:
            write_lake_findings(current, lake)
        report = write_report(
            con, findings, out, title=cfg.title, ingest_summary=summary, detect_notes=notes,
            topology=topology, detectors=detectors, params=cfg.params, incidents=incidents,
        )  # fmt: skip
        (out / "report.md").write_text(
            render_markdown(
                findings, title=cfg.title, ingest_summary=summary, detect_notes=notes, report_path=report, incidents=incidents
            ),
            encoding="utf-8",
        )
        write_csv(findings, out / "findings.csv", incidents=incidents)
        save_state(out, still_open, span=span, open_incidents=open_incidents)
    code = exit_code(findings, failed=not summary.ok or detect_failed, fail_on=cfg.fail_on)
    return RunResult(
        findings, incidents, summary.objects_done, summary.rows, failed_objects, span, report, findings_path, notes, code
    )

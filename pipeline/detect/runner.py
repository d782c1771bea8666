"""Run detectors over the lake views: pick, check, bind, execute, convert.

The time window defaults to the event-time span of the lake (logs are analysed after the
fact; there is no "now minus N"). One failing detector does not hide the others: its
error is recorded in the result and the run goes on.

Detectors run one after another on the run's connection, each with all of DuckDB's
threads. (Running two at once on cursors was tried: no gain measurable on a shared
2-core machine, and it changes which of two tied values ``mode()`` picks in evidence.)
``DetectResult.stages`` says where the wall time went: topology inference, the run's
preparation (``queries/_prep``: what several detectors read, computed once), the
``requires`` check, the detectors.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ..errors import DetectorError, UsageError
from ..findings import Finding, severity_rank
from ..schema import EVENT_TIME_COLUMN, TABLES
from ..topology.model import Topology
from .catalog import Detector, default_queries_dir, load_detectors
from .finding_builder import build_findings
from .gap_overlap import annotate_capture_gaps
from .params import resolve_params
from .prep import RUN_ID, Prep, load_prep, run_prep
from .requirements import column_counts, missing_reason
from .topology_views import register_views, resolve_topology

log = logging.getLogger(__name__)


@dataclass
class DetectResult:
    """What one detection run produced."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "cannot run" and other things the reader must know
    errors: list[str] = field(default_factory=list)  # detectors whose SQL failed
    timings: dict[str, float] = field(default_factory=dict)  # detector id -> seconds
    stages: dict[str, float] = field(default_factory=dict)  # runner stage (topology, requirements, detectors) -> seconds
    since: datetime | None = None
    until: datetime | None = None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    topology: Topology | None = None


def lake_time_span(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, datetime | None]:
    """(earliest, latest) event time over every lake table; (None, None) when the lake is empty."""
    parts = " UNION ALL ".join(
        f"SELECT min({EVENT_TIME_COLUMN[t]}) AS lo, max({EVENT_TIME_COLUMN[t]}) AS hi FROM {t}" for t in TABLES
    )
    rows = con.execute(f"SELECT min(lo), max(hi) FROM ({parts})").fetchall()
    if not rows:
        return None, None
    return _utc(rows[0][0]), _utc(rows[0][1])


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def select_detectors(available: list[Detector], wanted: list[str] | None) -> list[Detector]:
    """The detectors named in ``wanted`` (all when None); unknown names raise UsageError."""
    if not wanted:
        return list(available)
    by_id = {d.id: d for d in available}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        raise UsageError(f"unknown detector {', '.join(map(repr, unknown))} (valid: {', '.join(sorted(by_id))})")
    return [by_id[w] for w in dict.fromkeys(wanted)]


def run_detectors(
    con: duckdb.DuckDBPyConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    detectors: list[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    topology: Topology | None = None,
    queries_dir: Path | None = None,
    infer_topology: bool = True,
) -> DetectResult:
    """Run the selected detectors (all by default) over ``con``'s lake views.

    ``con`` must have the lake views (``pipeline.db.open_lake``). ``params`` maps detector
    id -> name -> value (strings are parsed with the declared type). ``since``/``until``
    default to the lake's event-time span; ``until`` is exclusive.
    """
    qdir = Path(queries_dir) if queries_dir is not None else default_queries_dir()
    available = load_detectors(qdir)
    prep = load_prep(qdir)
    chosen = select_detectors(available, detectors)
    bound = resolve_params([*available, prep], params)  # overrides for unselected detectors are checked, not an error
    result = DetectResult()

    lo, hi = lake_time_span(con)
    since = _utc(since) or lo
    until = _utc(until) or (hi + timedelta(seconds=1) if hi else None)
    if since is None or until is None:
        result.notes.append("the lake holds no records: nothing to detect")
        result.skipped = [d.id for d in chosen]
        register_views(con, topology)
        return result
    if since >= until:
        raise UsageError(f"--since {since.isoformat()} must be before --until {until.isoformat()}")
    result.since, result.until = since, until

    t_stage = time.perf_counter()
    topo, topo_notes = resolve_topology(con, topology, infer=infer_topology)
    result.notes.extend(topo_notes)
    result.topology = topo
    register_views(con, topo)
    result.stages["topology"] = round(time.perf_counter() - t_stage, 4)

    t_stage = time.perf_counter()
    prepare_run(con, prep, chosen, bound, since=since, until=until)
    result.stages["prep"] = round(time.perf_counter() - t_stage, 4)

    t_stage = time.perf_counter()
    counts = column_counts(con, chosen, since, until)
    result.stages["requirements"] = round(time.perf_counter() - t_stage, 4)
    t_stage = time.perf_counter()
    for det in chosen:
        reason = missing_reason(det, counts)
        if reason:
            log.info(reason)
            result.notes.append(reason)
            result.skipped.append(det.id)
            continue
        values = {**bound[det.id], "since": since, "until": until}
        t0 = time.perf_counter()
        try:
            found = run_one(con, det, values)
        except DetectorError as e:
            log.error("%s", e)
            result.errors.append(str(e))
            continue
        finally:
            result.timings[det.id] = round(time.perf_counter() - t0, 4)
        log.info("detector %s: %d findings in %.2fs", det.id, len(found), result.timings[det.id])
        result.findings.extend(found)
        result.ran.append(det.id)
    result.stages["detectors"] = round(time.perf_counter() - t_stage, 4)

    annotate_capture_gaps(result.findings, chosen)
    result.findings.sort(key=lambda f: (-severity_rank(f.severity), f.window_start, f.detector, f.id))
    return result


def prepare_run(
    con: duckdb.DuckDBPyConnection,
    prep: Prep,
    chosen: list[Detector],
    bound: dict[str, dict[str, Any]],
    *,
    since: datetime,
    until: datetime,
) -> None:
    """Materialise the run's preparation for ``chosen`` (look-back: the longest they declare)."""
    lookback = max((d.lookback_minutes(bound[d.id]) for d in chosen), default=0)
    run_prep(con, prep, since=since, until=until, lookback_minutes=lookback, settings=bound.get(RUN_ID, prep.defaults()))


def run_one(con: duckdb.DuckDBPyConnection, det: Detector, values: dict[str, Any]) -> list[Finding]:
    """Execute one detector with bound parameters and convert its rows."""
    try:
        table = con.sql(det.sql, params=values).to_arrow_table()
    except duckdb.Error as e:
        raise DetectorError(f"detector {det.id} failed: {e}", detector=det.id) from e
    missing = [c for c in ("window_start", "window_end", *det.entity) if c not in table.column_names]
    if missing:
        raise DetectorError(f"detector {det.id}: result lacks columns {missing}", detector=det.id)
    return build_findings(det, table.to_pylist(), values)

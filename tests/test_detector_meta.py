"""Every detector in queries/, checked together (in the style of detection-rules' test_all_rules).

Each test walks all detector files, collects every offender and fails once with the whole
list, so an author sees all problems of all files in one run.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlglot
import yaml
from fixtures.flow_world import background, make_env, write_lake
from fixtures.lake import make_lake

from pipeline.db import open_lake
from pipeline.detect import load_detectors, load_prep, prepare_run, run_detectors, run_one
from pipeline.detect.catalog import (
    CHARTS,
    CONFIG_CHECKS,
    KNOWN_SOURCES,
    RUNNER_PARAMS,
    check_detector_file,
    default_queries_dir,
    split_header,
    sql_parameters,
)
from pipeline.detect.topology_views import register_views
from pipeline.findings import SEVERITIES
from pipeline.simulate.label_match import matches
from pipeline.topology.model import Topology

QUERIES = default_queries_dir()
FILES = sorted(QUERIES.glob("*.sql"))
#: The nine detectors the project ships (docs/detectors.md describes them).
EXPECTED = {
    "reject_burst", "port_scan", "return_traffic_reject", "capture_gap", "unanswered_flow",
    "az_5xx_spike", "unexpected_status", "asymmetric_flow", "endpoint_bypass",
}  # fmt: skip


def _fail_with(offenders: list[str]) -> None:
    if offenders:
        pytest.fail(f"{len(offenders)} problem(s):\n  " + "\n  ".join(offenders), pytrace=False)


def test_there_are_detectors() -> None:
    assert FILES, f"no detector files in {QUERIES}"


def test_headers_valid() -> None:
    """Required keys, vocabularies, typed defaults, id == stem, $names declared and used."""
    offenders: list[str] = []
    for path in FILES:
        _, problems = check_detector_file(path)
        offenders += [f"{path.name}: {p}" for p in problems]
    _fail_with(offenders)


def test_header_vocabularies_and_runbooks() -> None:
    """Independent of the loader: severity/sources vocabularies, numbered non-empty runbook, docs."""
    offenders: list[str] = []
    for path in FILES:
        try:
            header = yaml.safe_load(split_header(path.read_text())[0])
        except (ValueError, yaml.YAMLError) as e:
            offenders.append(f"{path.name}: header unreadable: {e}")
            continue
        if header.get("severity") not in SEVERITIES:
            offenders.append(f"{path.name}: severity {header.get('severity')!r} not in {SEVERITIES}")
        for s in header.get("sources") or []:
            if s not in KNOWN_SOURCES:
                offenders.append(f"{path.name}: unknown source {s!r}")
        runbook = header.get("runbook")
        if not isinstance(runbook, list) or len(runbook) < 2 or not all(isinstance(s, str) and len(s.strip()) > 10 for s in runbook):
            offenders.append(f"{path.name}: runbook must be a numbered list (YAML list) of at least 2 real steps")
        if not header.get("false_positives"):
            offenders.append(f"{path.name}: false_positives must list the known ones (known gaps beat unknown gaps)")
        if "miss" not in str(header.get("description", "")).lower():
            offenders.append(f"{path.name}: description must say what the detector misses")
        for name, spec in (header.get("params") or {}).items():
            if not isinstance(spec, dict) or not str(spec.get("doc", "")).strip():
                offenders.append(f"{path.name}: param {name} needs a doc")
    _fail_with(offenders)


def test_sql_uses_runner_window_and_parses_with_sqlglot() -> None:
    offenders: list[str] = []
    for path in FILES:
        try:
            _, sql = split_header(path.read_text())
        except ValueError as e:
            offenders.append(f"{path.name}: {e}")
            continue
        used = sql_parameters(sql)
        for name in RUNNER_PARAMS:
            if name not in used:
                offenders.append(f"{path.name}: never uses ${name}")
        try:
            parsed = sqlglot.parse(sql, read="duckdb")
        except sqlglot.errors.SqlglotError as e:
            offenders.append(f"{path.name}: sqlglot (duckdb) cannot parse: {str(e).splitlines()[0]}")
            continue
        if len([p for p in parsed if p is not None]) != 1:
            offenders.append(f"{path.name}: must hold exactly one statement")
    _fail_with(offenders)


def test_entity_and_window_columns_in_output_on_empty_lake(tmp_path: Path) -> None:
    """Run every detector's SQL on an empty lake: it must execute and expose its entity columns."""
    con = open_lake(make_lake(tmp_path / "lake"))
    register_views(con, None)
    window = {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 1, 2, tzinfo=UTC)}
    offenders: list[str] = []
    dets = load_detectors()
    prepare_run(con, load_prep(default_queries_dir()), dets, {d.id: d.defaults() for d in dets}, **window)
    for det in dets:
        try:
            cols = con.sql(det.sql, params={**det.defaults(), **window}).columns
            run_one(con, det, {**det.defaults(), **window})
        except Exception as e:  # noqa: BLE001 - collect every offender
            offenders.append(f"{det.id}.sql: fails on an empty lake: {str(e).splitlines()[0]}")
            continue
        for col in ("window_start", "window_end", *det.entity):
            if col not in cols:
                offenders.append(f"{det.id}.sql: output lacks column {col!r}")
    _fail_with(offenders)


def test_all_shipped_detectors_present() -> None:
    missing = EXPECTED - {p.stem for p in FILES}
    assert not missing, f"detectors not written yet: {sorted(missing)}"


@pytest.mark.parametrize("seed, v2_only", [(1, False), (2, False), (4, True)])
def test_every_detector_silent_on_noisy_healthy_background(tmp_path: Path, seed: int, v2_only: bool) -> None:
    """Sigma's goodlog rule: scanners, spread 5xx, NAT egress, endpoints, NODATA, odd SKIPDATA."""
    env = make_env(seed)
    flows, alb = background(env, hours=3, v2_only=v2_only)
    con = open_lake(write_lake(tmp_path / "lake", flows, alb))
    result = run_detectors(con)  # topology inferred from the logs, as in production
    offenders = [f"{f.detector}: {f.window_start} {f.entity} {f.summary}" for f in result.findings]
    offenders += [f"error: {e}" for e in result.errors]
    _fail_with(offenders)


# --- end to end over the simulator's labelled scenarios --------------------------------
# Every visible labelled incident must be found (same detector, overlapping window, entity
# agreeing on the keys both name); every finding must explain a labelled incident; the clean
# baseline must yield nothing. Uses data-samples/ when committed, else simulates (slower).

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data-samples"
SCENARIOS = (
    "clean", "asymmetric_route", "health_check_299", "nacl_ephemeral", "endpoint_route_missing",
    "s3_endpoint_policy", "nacl_deny_destination", "tgw_route_missing", "firewall_drop", "mixed",
)  # fmt: skip


def _dataset(name: str, tmp: Path) -> Path:
    for candidate in (SAMPLES / "scenarios" / name, SAMPLES / name):
        if (candidate / "labels.json").exists():
            return candidate
    from pipeline.simulate import generate

    duration = timedelta(hours=8) if name == "mixed" else None
    return generate(name, tmp / "src", seed=7, duration=duration, scale=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_labels_found_and_nothing_else(tmp_path: Path, scenario: str) -> None:
    from pipeline.ingest import ingest

    src = _dataset(scenario, tmp_path)
    labels = json.loads((src / "labels.json").read_text())
    ingest([str(src)], tmp_path / "lake")
    topology = Topology.load(src / "topology.json") if (src / "topology.json").exists() else None
    result = run_detectors(open_lake(tmp_path / "lake"), topology=topology)
    assert result.errors == []
    visible = [i for i in labels["incidents"] if i.get("visible_in_logs", True) and i.get("detector")]
    missed = [i for i in visible if not any(matches(f, i) for f in result.findings)]
    unexplained = [f for f in result.findings if not any(matches(f, i) for i in visible)]
    assert not missed, f"labelled incidents not found: {missed}"
    assert not unexplained, "findings no label explains:\n" + "\n".join(
        f"{f.detector} {f.window_start} {f.entity} {f.summary}" for f in unexplained
    )


# --- requires / requires_any ------------------------------------------------------------


def test_requirement_entries_name_columns_or_topology_kinds() -> None:
    """Every requires / requires_any entry is a column of the detector's lake sources or
    topology:<kind> with topo_interfaces among its sources; requires_any has >= 2 alternatives."""
    from pipeline.detect.catalog import TOPOLOGY_KINDS, TOPOLOGY_PREFIX
    from pipeline.schema import TABLES

    offenders: list[str] = []
    for path in FILES:
        header = yaml.safe_load(split_header(path.read_text())[0])
        sources = header.get("sources") or []
        alts = header.get("requires_any")
        if alts is not None and (not isinstance(alts, list) or len(alts) < 2 or not all(isinstance(a, list) and a for a in alts)):
            offenders.append(f"{path.name}: requires_any must list >= 2 non-empty alternatives")
            alts = []
        for entry in [*(header.get("requires") or []), *(e for a in alts or [] for e in a)]:
            if entry.startswith(TOPOLOGY_PREFIX):
                if entry[len(TOPOLOGY_PREFIX):] not in TOPOLOGY_KINDS or "topo_interfaces" not in sources:
                    offenders.append(f"{path.name}: bad topology requirement {entry!r}")
            elif not any(entry in TABLES[t].names for t in sources if t in TABLES):
                offenders.append(f"{path.name}: requirement {entry!r} is no column of {sources}")
    _fail_with(offenders)


_ANY_HEADER = """/*
id: anyof
title: t
sources: [vpc_flow, topo_interfaces]
severity: low
requires: [srcaddr]
requires_any: {alts}
entity: [srcaddr]
summary: s
hint: h
description: d, misses nothing
runbook: ["step one of it", "step two of it"]
*/
SELECT start_time AS window_start, start_time AS window_end, srcaddr FROM vpc_flow
WHERE start_time >= $since AND start_time < $until
"""


@pytest.mark.parametrize(
    "alts, problem",
    [
        ("[[pkt_dstaddr]]", "at least two alternatives"),
        ("[pkt_dstaddr, tcp_flags]", "at least two alternatives"),
        ("[[pkt_dstaddr], []]", "at least two alternatives"),
        ("[[pkt_dstaddr], [status]]", "'status' is not a column"),
        ('[[pkt_dstaddr], ["topology:router"]]', "names no interface kind"),
    ],
)
def test_requires_any_rejects_bad_headers(tmp_path: Path, alts: str, problem: str) -> None:
    path = tmp_path / "anyof.sql"
    path.write_text(_ANY_HEADER.format(alts=alts))
    det, problems = check_detector_file(path)
    assert det is None and any(problem in p for p in problems), problems


def test_topology_requirement_needs_topo_interfaces_source(tmp_path: Path) -> None:
    path = tmp_path / "anyof.sql"
    path.write_text(_ANY_HEADER.format(alts='[[pkt_dstaddr], ["topology:nat"]]').replace(", topo_interfaces]", "]"))
    det, problems = check_detector_file(path)
    assert det is None and any("needs topo_interfaces" in p for p in problems), problems


def test_requires_any_runs_when_one_alternative_holds(tmp_path: Path) -> None:
    """No pkt_* data: runs only when the topology names a NAT; otherwise one note naming both ways."""
    from pipeline.topology.model import Interface

    qdir = tmp_path / "q"
    qdir.mkdir()
    (qdir / "anyof.sql").write_text(_ANY_HEADER.format(alts='[[pkt_dstaddr], ["topology:nat"]]'))
    row = {"version": 2, "interface_id": "eni-1", "srcaddr": "10.9.0.5", "dstaddr": "10.9.0.6", "srcport": 1,
           "dstport": 2, "protocol": 6, "packets": 1, "bytes": 40, "start": 1767225600, "end": 1767225659,
           "action": "ACCEPT", "log_status": "OK"}
    lake = make_lake(tmp_path / "lake", vpc_flow=[row])
    res = run_detectors(open_lake(lake), queries_dir=qdir, infer_topology=False)
    assert res.skipped == ["anyof"] and res.notes == [
        "detector anyof cannot run: flow logs lack pkt_dstaddr (v3+ field) and no topology names a nat interface"
    ]
    nat = Topology(interfaces=[Interface(interface_id="eni-9", private_ip="10.9.0.9", kind="nat")])
    res = run_detectors(open_lake(lake), queries_dir=qdir, topology=nat, infer_topology=False)
    assert res.ran == ["anyof"] and len(res.findings) == 1 and res.notes == []
    with_pkt = make_lake(tmp_path / "lake2", vpc_flow=[{**row, "version": 5, "pkt_srcaddr": "10.9.0.5", "pkt_dstaddr": "10.9.0.6"}])
    assert run_detectors(open_lake(with_pkt), queries_dir=qdir, infer_topology=False).ran == ["anyof"]


def test_no_python_file_names_a_detector() -> None:
    """Everything about a detector lives in its file: chart, config checks and capture-gap role
    are header keys, so no code outside the simulator (whose scenarios label the detector they
    exercise) switches on a detector id."""
    root = Path(__file__).resolve().parents[1] / "pipeline"
    ids = sorted(p.stem for p in FILES)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b")
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "simulate" in path.relative_to(root).parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if m := pattern.search(line):
                offenders.append(f"{path.relative_to(root.parent)}:{n} names detector {m.group(1)!r}")
    _fail_with(offenders)


def test_header_vocabularies_have_implementations() -> None:
    """Every chart and config check a header may name is drawn / run by the report and hints."""
    from pipeline.report.figures import CHARTS as DRAWN
    from pipeline.topology.hints import CHECKS

    assert set(DRAWN) == set(CHARTS)
    assert set(CHECKS) == set(CONFIG_CHECKS)


def test_every_shipped_header_sets_version_and_status() -> None:
    offenders = []
    for path in FILES:
        header = yaml.safe_load(split_header(path.read_text())[0])
        for key in ("version", "status"):
            if key not in header:
                offenders.append(f"{path.name}: header lacks {key!r}")
    _fail_with(offenders)


def test_param_out_of_range_is_one_line_naming_it() -> None:
    from pipeline.detect import resolve_params
    from pipeline.errors import UsageError

    dets = load_detectors()
    det = next(d for d in dets if "window_minutes" in d.params)
    with pytest.raises(UsageError) as e:
        resolve_params(dets, {det.id: {"window_minutes": "0"}})
    assert str(e.value) == f"--param {det.id}.window_minutes: 0 is below the minimum 1"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("{type: int, default: 0, min: 1, doc: d}", "default: 0 is below the minimum 1"),
        ("{type: str, default: x, min: 1, doc: d}", "min/max apply to int and float params only"),
        ("{type: float, default: 2.0, max: 1, doc: d}", "default: 2.0 is above the maximum 1"),
    ],
)
def test_param_ranges_checked_in_header(tmp_path: Path, spec: str, problem: str) -> None:
    src = FILES[0].read_text()
    header, sql = split_header(src)
    data = yaml.safe_load(header)
    first = next(iter(data["params"]))
    text = src.replace(f"\n  {first}: {{", f"\n  {first}: {spec}\n  _old_{first}: {{", 1)
    path = tmp_path / FILES[0].name
    path.write_text(text)
    _, problems = check_detector_file(path)
    assert any(problem in p for p in problems), problems


def test_detectors_doc_is_generated_from_the_headers() -> None:
    """docs/detectors.md's per-detector part is what `python -m pipeline.detect.docs` renders."""
    from pipeline.detect.docs import updated_page

    page = (Path(__file__).resolve().parents[1] / "docs" / "detectors.md").read_text(encoding="utf-8")
    assert updated_page(page, load_detectors()) == page, "run: python -m pipeline.detect.docs"

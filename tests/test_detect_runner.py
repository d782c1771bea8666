"""The detector runner: loading, validation, params, requires, finding building, outputs, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures.lake import make_lake

from pipeline.cli import main
from pipeline.db import open_lake
from pipeline.detect import (
    DetectResult,
    fill,
    load_detectors,
    read_lake_findings,
    run_detectors,
    write_findings,
    write_lake_findings,
)
from pipeline.detect.catalog import check_detector_file, default_queries_dir, sql_parameters
from pipeline.errors import DetectorError, UsageError
from pipeline.topology.model import Interface, Subnet, Topology

T0 = 1767225600  # 2026-01-01T00:00:00Z

REJECTS_SQL = """/*
id: {id}
title: Rejects per destination
sources: [vpc_flow]
severity: medium
requires: {requires}
params:
  min_rejects: {{type: int, default: 3, doc: "Fewest REJECTs to report."}}
  tag: {{type: str, default: "x", doc: "Free text carried into evidence."}}
entity: [dstaddr, dstport]
summary: "{{rejects}} REJECTs to {{dstaddr}}:{{dstport}} (min {{min_rejects}}), ratio {{ratio:.1f}} {{nope}}"
hint: "Check the NACL for {{dstaddr}}."
description: Test detector.
runbook:
  - "Look at {{dstaddr}} between {{window_start}} and {{window_end}}."
references: [https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html]
*/
SELECT min(start_time) AS window_start, max(end_time) AS window_end, dstaddr, dstport,
       count(*) AS rejects, NULL::DOUBLE AS ratio, $tag AS tag, 1.5::DECIMAL(4,2) AS dec,
       list({{'source_uri': source_uri, 'source_line': source_line}} ORDER BY source_line)[1:2] AS samples
FROM vpc_flow
WHERE action = 'REJECT' AND start_time >= $since AND start_time < $until
GROUP BY dstaddr, dstport
HAVING count(*) >= $min_rejects
"""


def write_detector(qdir: Path, det_id: str = "rejects", requires: str = "[action, dstaddr]", sql: str = REJECTS_SQL) -> Path:
    qdir.mkdir(parents=True, exist_ok=True)
    path = qdir / f"{det_id}.sql"
    path.write_text(sql.format(id=det_id, requires=requires))
    return path


def flow(i: int, *, dst: str = "198.51.100.7", action: str = "REJECT", tcp_flags: int | None = None, t: int = T0) -> dict:
    return {
        "version": 2, "interface_id": "eni-a", "srcaddr": f"10.0.1.{i % 200 + 1}", "dstaddr": dst,
        "srcport": 40000 + i, "dstport": 443, "protocol": 6, "packets": 1, "bytes": 60,
        "start": t + i, "end": t + i + 30, "action": action, "log_status": "OK", "tcp_flags": tcp_flags,
    }  # fmt: skip


@pytest.fixture()
def lake(tmp_path: Path) -> Path:
    return make_lake(tmp_path / "lake", vpc_flow=[flow(i) for i in range(5)] + [flow(9, dst="203.0.113.1", action="ACCEPT")])


def test_load_and_run_builds_findings(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    con = open_lake(lake)
    result = run_detectors(con, queries_dir=qdir, infer_topology=False)
    assert isinstance(result, DetectResult)
    assert result.errors == [] and result.ran == ["rejects"]
    assert len(result.findings) == 1
    f = result.findings[0]
    assert f.entity == {"dstaddr": "198.51.100.7", "dstport": "443"}
    assert f.window_start == "2026-01-01T00:00:00Z" and f.window_end.endswith("Z")
    assert f.severity == "medium"
    assert f.evidence["rejects"] == 5 and f.evidence["dec"] == 1.5 and f.evidence["tag"] == "x"
    assert f.evidence["samples"][0] == {"source_uri": "s3://fixture-bucket/vpc_flow.log.gz", "source_line": 1}
    assert "5 REJECTs to 198.51.100.7:443 (min 3), ratio n/a {nope}" == f.summary
    assert f.evidence["runbook"][0].startswith("Look at 198.51.100.7 between 2026-01-01T00:00:00Z")
    assert result.since == datetime(2026, 1, 1, tzinfo=UTC)
    json.dumps(f.to_dict())  # JSON-safe


def test_params_override_and_errors(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    con = open_lake(lake)
    assert run_detectors(con, queries_dir=qdir, params={"rejects": {"min_rejects": "6"}}, infer_topology=False).findings == []
    with pytest.raises(UsageError, match="min_rejects.*int"):
        run_detectors(con, queries_dir=qdir, params={"rejects": {"min_rejects": "many"}})
    with pytest.raises(UsageError, match="valid: min_rejects, tag"):
        run_detectors(con, queries_dir=qdir, params={"rejects": {"bogus": "1"}})
    with pytest.raises(UsageError, match="valid: rejects"):
        run_detectors(con, queries_dir=qdir, detectors=["nope"])


def test_since_until_bound(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    con = open_lake(lake)
    later = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    result = run_detectors(con, queries_dir=qdir, since=later, infer_topology=False)
    assert result.findings == []  # only 2 REJECTs at or after 00:00:03


def test_requires_missing_column_is_noted_once(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir, requires="[action, tcp_flags]")
    con = open_lake(lake)
    result = run_detectors(con, queries_dir=qdir, infer_topology=False)
    assert result.findings == [] and result.skipped == ["rejects"]
    assert result.notes == ["detector rejects cannot run: flow logs lack tcp_flags (v3+ field)"]


def test_requires_no_rows_in_table(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    lake = make_lake(tmp_path / "lake", alb_access=[{"time": "2026-01-01T00:00:00Z", "elb": "app/x/1"}])
    result = run_detectors(open_lake(lake), queries_dir=qdir, infer_topology=False)
    assert result.notes == ["detector rejects cannot run: no flow logs in the time window"]


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda s: s.replace("severity: medium", "severity: urgent"), "severity 'urgent'"),
        (lambda s: s.replace("id: rejects", "id: other"), "must equal the file stem"),
        (lambda s: s.replace("$min_rejects", "$min_reject"), "SQL uses $min_reject"),
        (lambda s: s.replace("default: 3,", "default: three,"), "params.min_rejects: default"),
        (lambda s: s.replace("runbook:", "runbooks:"), "missing required key 'runbook'"),
        (lambda s: s.replace("start_time < $until", "start_time < now()"), "$until"),
        (lambda s: s.replace("requires: [action, dstaddr]", "requires: [status]"), "requires: 'status'"),
        (lambda s: s.replace("/*", "", 1), "/* ... */"),
    ],
)
def test_invalid_header_names_file_and_problem(tmp_path: Path, mutate, problem: str) -> None:  # type: ignore[no-untyped-def]
    qdir = tmp_path / "q"
    path = write_detector(qdir)
    path.write_text(mutate(path.read_text()))
    with pytest.raises(DetectorError) as e:
        load_detectors(qdir)
    assert "rejects.sql" in str(e.value) and problem in str(e.value)


def test_sql_parameters_ignore_strings_and_comments() -> None:
    assert sql_parameters("SELECT $a, '$b', \"$c\" -- $d\n /* $e */ FROM t WHERE x = $f") == {"a", "f"}


def test_fill_is_safe() -> None:
    assert fill("{a} {b:.2f} {c.d} {0}", {"a": "{b}", "b": "x"}) == "{b} x {c.d} {0}"


def test_topology_views_registered(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    con = open_lake(lake)
    run_detectors(con, queries_dir=qdir, infer_topology=False)
    assert con.execute("SELECT count(*) FROM topo_interfaces").fetchone() == (0,)
    cols = [r[0] for r in con.execute("DESCRIBE topo_subnets").fetchall()]
    contract = ["subnet_id", "cidr", "az", "az_id", "vpc_id", "role", "route_table_id", "nacl_id"]
    assert cols[: len(contract)] == contract
    topo = Topology(
        subnets=[Subnet(subnet_id="subnet-1", cidr="10.0.1.0/24", az_id="use1-az1")],
        interfaces=[Interface(interface_id="eni-a", private_ip="10.0.1.5", kind="instance", subnet_id="subnet-1")],
    )
    run_detectors(con, queries_dir=qdir, topology=topo, infer_topology=False)
    assert con.execute("SELECT kind, subnet_id FROM topo_interfaces").fetchall() == [("instance", "subnet-1")]


def test_capture_gap_overlap_annotated(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    gap = REJECTS_SQL.replace("entity: [dstaddr, dstport]", "entity: [interface_id]").replace(
        "GROUP BY dstaddr, dstport", "GROUP BY interface_id, dstaddr, dstport"
    ).replace("SELECT min(start_time)", "SELECT interface_id, min(start_time)")
    gap = gap.replace("\nseverity:", "\ncapture_gaps: reports\nseverity:", 1)  # its findings are the gaps
    assert "capture_gaps: reports" in gap
    write_detector(qdir, "some_gap_detector", sql=gap)
    result = run_detectors(open_lake(lake), queries_dir=qdir, infer_topology=False)
    rej = next(f for f in result.findings if f.detector == "rejects")
    assert rej.evidence["capture_gap_overlap"][0]["entity"] == {"interface_id": "eni-a"}
    assert "capture gap on eni-a" in rej.summary


def test_failing_detector_does_not_stop_others(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    broken = REJECTS_SQL.replace("FROM vpc_flow\n", "FROM vpc_flow CROSS JOIN no_such_table\n")
    write_detector(qdir, "broken", sql=broken)
    result = run_detectors(open_lake(lake), queries_dir=qdir, infer_topology=False)
    assert result.ran == ["rejects"] and len(result.errors) == 1 and "broken" in result.errors[0]


def test_outputs_do_not_duplicate(tmp_path: Path, lake: Path) -> None:
    qdir = tmp_path / "q"
    write_detector(qdir)
    findings = run_detectors(open_lake(lake), queries_dir=qdir, infer_topology=False).findings
    path = write_findings(findings, tmp_path / "out")
    data = json.loads(path.read_text())
    assert [d["id"] for d in data["findings"]] == [f.id for f in findings]
    assert sorted(m for i in data["incidents"] for m in i["members"]) == sorted(f.id for f in findings)
    write_lake_findings(findings, lake)
    write_lake_findings(findings, lake)
    stored = read_lake_findings(lake)
    assert [f.id for f in stored] == [f.id for f in findings]
    assert len(list((lake / "_findings").glob("*.jsonl"))) == 1


def test_default_queries_dir_is_repo_queries() -> None:
    assert default_queries_dir() == Path(__file__).resolve().parents[1] / "queries"


def test_shipped_detectors_load() -> None:
    ids = [d.id for d in load_detectors()]
    for path in default_queries_dir().glob("*.sql"):
        assert check_detector_file(path)[1] == []
        assert path.stem in ids


def test_cli_detect(tmp_path: Path, lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main(["detect", "--lake", str(lake), "--out", str(out), "--detector", "reject_burst", "--fail-on", "low"])
    assert rc in (0, 3)
    assert (out / "findings.json").exists()
    assert "findings:" in capsys.readouterr().out
    assert main(["detect", "--lake", str(lake), "--out", str(out), "--param", "reject_burst.nope=1"]) == 2
    assert main(["detect", "--lake", str(lake), "--out", str(out), "--since", "yesterday"]) == 2
    assert main(["detect", "--list"]) == 0


def test_findings_file_is_readable_like_the_report(tmp_path: Path) -> None:
    import os
    import stat

    from pipeline.detect import write_findings

    old = os.umask(0o022)
    try:
        path = write_findings([], tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

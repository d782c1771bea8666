"""Three classes of mistakes real buckets provoke (issue 13), each on a dataset shaped like it.

1. Several accounts/VPCs in one bucket: peers and baselines are scoped to (account, region,
   VPC); a benign default VPC without gateway endpoints beside the app's VPC is no bypass.
2. Records at a NAT gateway's interface: connections are judged and named by their real
   ends; the NAT's own address is never reported as the unanswered destination.
3. Asymmetric routing (an ALB subnet routed through the NAT) on AWS's default v2 format,
   without a topology file: the NAT is recognised from its own records.

The datasets come from the simulator (``other_accounts``, ``api_via_nat``, v2 flow logs);
the detectors never see which simulator options made them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.db import open_lake
from pipeline.detect import run_detectors
from pipeline.findings import severity_rank
from pipeline.ingest import ingest
from pipeline.schema import FLOW_BY_AWS
from pipeline.simulate import build_env, generate
from pipeline.simulate.environment import DEFAULT_VPC_CIDR, FlowLog
from pipeline.simulate.label_match import matches
from pipeline.topology.infer import infer_from_lake

V2_FIELDS = tuple(f for f in FLOW_BY_AWS if FLOW_BY_AWS[f].version == 2)
HOURS = timedelta(hours=1.5)


def describe(f: Any) -> str:
    return f"{f.detector} [{f.severity}] {f.window_start}..{f.window_end} {f.entity}"


def _lake(tmp: Path, scenario: str, seed: int, **kw: Any) -> tuple[Path, dict[str, Any]]:
    out = tmp / "sim"
    generate(scenario, out, seed=seed, duration=HOURS, **kw)
    summary = ingest([str(out)], tmp / "lake", workers=2)
    assert summary.ok and summary.rows > 0
    return tmp / "lake", json.loads((out / "labels.json").read_text())


def _detect(lake: Path, detectors: list[str] | None = None) -> Any:
    con = open_lake(lake, threads=2, memory_limit="2GB")
    try:
        return run_detectors(con, detectors=detectors)
    finally:
        con.close()


def test_benign_second_account_is_no_endpoint_bypass(tmp_path: Path) -> None:
    """A default VPC of another account (no gateway endpoints, S3 through its internet gateway)
    beside the app VPC, whose subnets all use the S3 endpoint: no finding of medium or above."""
    lake, _ = _lake(tmp_path, "clean", 7, scale=1.0, targets_per_az=3, other_accounts=1, vpc_cidr=DEFAULT_VPC_CIDR)
    result = _detect(lake)
    loud = [f for f in result.findings if severity_rank(f.severity) >= severity_rank("medium")]
    assert not loud, "\n".join(describe(f) for f in loud)


def test_overlapping_vpcs_are_not_merged_by_inference(tmp_path: Path) -> None:
    """Two other accounts' default VPCs, logged in the default v2 format (no instance-id), reuse
    the app VPC's addresses, one of them an ALB node's: inference keeps every interface in its
    own account and VPC, and only the app account's interface is the ALB node."""
    base = build_env(11, targets_per_az=1, other_accounts=2, vpc_cidr=DEFAULT_VPC_CIDR)
    others = [replace(v, flow_log=replace(v.flow_log, fields=V2_FIELDS)) for v in base.other_vpcs]
    lake, _ = _lake(tmp_path, "clean", 11, scale=0.3, targets_per_az=1, other_accounts=2, vpc_cidr=DEFAULT_VPC_CIDR,
                    other_vpcs=others)  # fmt: skip
    con = open_lake(lake, threads=2)
    try:
        topo = infer_from_lake(con)
    finally:
        con.close()
    node_ips = {h.ip for h in base.alb_nodes}
    foreign = {h.eni for v in base.other_vpcs for h in v.instances}
    clashing = [i for i in topo.interfaces if i.interface_id in foreign and i.private_ip in node_ips]
    assert clashing, "the dataset should reuse an ALB node's address in another account's VPC"
    wrong = [i for i in topo.interfaces if i.interface_id in foreign and i.kind == "alb"]
    assert not wrong, [(i.interface_id, i.private_ip, i.kind) for i in wrong]
    nodes = {i.interface_id for i in topo.interfaces if i.kind == "alb"}
    assert nodes == {h.eni for h in base.alb_nodes}


@pytest.mark.parametrize("fmt", ["custom-v5", "default-v2"])
def test_nat_relayed_outage_names_the_real_destination(tmp_path: Path, fmt: str) -> None:
    """tgw_route_missing whose calls fall back to the NAT gateway: one finding, for the API host
    (v5: by pkt-dstaddr; v2, no topology: the NAT is inferred and its inside hop left out)."""
    env = build_env(8, targets_per_az=2)
    logs = env.flow_logs if fmt == "custom-v5" else [FlowLog(fl.flow_log_id, fl.vpc_id, V2_FIELDS) for fl in env.flow_logs]
    lake, labels = _lake(tmp_path, "tgw_route_missing", 8, scale=1.0, targets_per_az=2, api_via_nat=True, flow_logs=logs)
    result = _detect(lake, ["unanswered_flow"])
    named = {f.entity.get("dstaddr") for f in result.findings}
    assert env.nat.ip not in named, "the NAT gateway's own address is not a destination: " + "; ".join(map(describe, result.findings))
    inc = labels["incidents"][0]
    assert any(matches(f, inc) for f in result.findings)
    assert len(result.findings) == 1, "; ".join(map(describe, result.findings))


def test_asymmetric_route_on_default_v2_logs_without_topology(tmp_path: Path) -> None:
    """Incident 1 on AWS's default format (v2: no pkt-*, no flow-direction) and no topology file."""
    env = build_env(7, targets_per_az=1)
    v2 = [FlowLog(fl.flow_log_id, fl.vpc_id, V2_FIELDS) for fl in env.flow_logs]
    lake, labels = _lake(tmp_path, "asymmetric_route", 7, scale=0.5, targets_per_az=1, flow_logs=v2)
    result = _detect(lake)
    assert "asymmetric_flow" not in result.skipped, result.notes
    inc = next(i for i in labels["incidents"] if i["detector"] == "asymmetric_flow")
    found = [f for f in result.findings if matches(f, inc)]
    assert found, "; ".join(map(describe, result.findings))
    assert found[0].entity.get("nat_interface_id") == env.nat.eni
    loud = [f for f in result.findings if severity_rank(f.severity) >= severity_rank("medium") and not matches(f, inc)]
    assert not loud, "\n".join(describe(f) for f in loud)


def test_port_scan_names_the_scanners_own_interface(tmp_path: Path) -> None:
    """Every victim's interface records the probes it REJECTs; the finding names the scanner's."""
    lake, labels = _lake(tmp_path, "port_scan", 300, scale=0.3)
    result = _detect(lake, ["port_scan"])
    inc = labels["incidents"][0]
    assert [f.entity.get("interface_id") for f in result.findings if matches(f, inc)] == [inc["entity"]["interface_id"]], (
        "; ".join(map(describe, result.findings))
    )
    assert all(f.severity == "low" for f in result.findings)

"""Simulator shapes real buckets have: other accounts' VPCs, overlapping default-VPC CIDRs,
NAT-relayed incidents, Parquet delivery, Hive-compatible hourly prefixes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.db import open_lake
from pipeline.ingest import ingest
from pipeline.simulate import build_env, generate
from pipeline.simulate.environment import DEFAULT_VPC_CIDR, FlowLog


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("shaped") / "sim"
    env = build_env(11)
    logs = [FlowLog(fl.flow_log_id, fl.vpc_id, fl.fields, file_format="parquet", hive=True, hourly=True) for fl in env.flow_logs]
    generate("tgw_route_missing", out, seed=11, duration=timedelta(minutes=40), scale=0.3, targets_per_az=1,
             other_accounts=2, vpc_cidr=DEFAULT_VPC_CIDR, api_via_nat=True, flow_logs=logs)  # fmt: skip
    lake = out.parent / "lake"
    summary = ingest([str(out)], lake, workers=1)
    assert summary.ok and summary.rows > 0
    return out, lake


def test_other_accounts_keep_the_apps_draws() -> None:
    plain, more = build_env(11), build_env(11, other_accounts=2)
    assert plain.hosts == more.hosts and plain.flow_logs == more.flow_logs
    assert len(more.other_vpcs) == 2 and len({v.account for v in more.other_vpcs} | {more.account}) == 3
    assert all(v.cidr == DEFAULT_VPC_CIDR for v in more.other_vpcs)
    cidr = build_env(11, vpc_cidr="100.70.0.0/16")
    assert all(h.ip.startswith("100.70.") for h in [*cidr.alb_nodes, *cidr.targets])


def test_bucket_holds_every_account_parquet_and_hive(shaped: tuple[Path, Path]) -> None:
    out, lake = shaped
    keys = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    assert any("/aws-service=vpcflowlogs/" in k and "/hour=" in k and k.endswith(".log.parquet") for k in keys)
    assert any(k.endswith(".log.gz") and "/vpcflowlogs/" in k and "aws-account-id=" not in k for k in keys)  # other accounts
    con = open_lake(lake, threads=1)
    try:
        accounts = con.execute("SELECT count(DISTINCT account_id), count(DISTINCT vpc_id) FROM vpc_flow").fetchone()
        assert accounts == (3, 3)  # the API VPC logs v2: no vpc-id
        # overlapping default VPCs: one private address is logged in two VPCs
        clash = con.execute(
            "SELECT count(*) FROM (SELECT srcaddr FROM vpc_flow WHERE flow_direction = 'egress' AND instance_id IS NOT NULL "
            "GROUP BY srcaddr HAVING count(DISTINCT vpc_id) > 1)"
        ).fetchone()
        assert clash is not None and clash[0] >= 1
        # S3 straight through the internet gateway in the VPCs without endpoints
        igw = con.execute("SELECT count(*) FROM vpc_flow WHERE pkt_dst_aws_service = 'S3' AND traffic_path = 8").fetchone()
        assert igw is not None and igw[0] > 0
    finally:
        con.close()


def test_nat_relays_the_unrouted_api_calls(shaped: tuple[Path, Path]) -> None:
    out, lake = shaped
    env = build_env(11, vpc_cidr=DEFAULT_VPC_CIDR, targets_per_az=1)
    con = open_lake(lake, threads=1)
    try:
        row = con.execute(
            "SELECT count(*) FILTER (WHERE dstaddr = $nat AND pkt_dstaddr = $api), count(*) FILTER (WHERE srcaddr = $nat AND dstaddr = $api) "
            "FROM vpc_flow WHERE interface_id = $eni",
            {"nat": env.nat.ip, "api": env.api_host.ip, "eni": env.nat.eni},
        ).fetchone()
        assert row is not None and row[0] > 0 and row[1] > 0
    finally:
        con.close()

"""DuckDB topology tables, the lake copy, and `flowsleuth topology` from logs and files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from fixtures.lake import make_lake
from fixtures.topology import example_topology
from fixtures.topology_rows import alb, network_rows

from pipeline.cli import main
from pipeline.db import connect, open_lake
from pipeline.topology.model import Topology
from pipeline.topology.views import (
    INTERFACE_COLUMNS,
    SUBNET_COLUMNS,
    register_lake_topology_views,
    register_topology_views,
    write_topology_to_lake,
)


def _cols(con, table: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def test_empty_views_have_the_contract_columns() -> None:
    con = connect(threads=1, memory_limit="1GB")
    register_topology_views(con, None)
    assert _cols(con, "topo_interfaces")[: len(INTERFACE_COLUMNS)] == list(INTERFACE_COLUMNS)
    assert _cols(con, "topo_subnets")[: len(SUBNET_COLUMNS)] == list(SUBNET_COLUMNS)
    assert con.execute("SELECT count(*) FROM topo_interfaces").fetchall()[0] == (0,)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name='topo_interfaces'").fetchall())
    assert types["confidence"] == "DOUBLE" and types["private_ip"] == "VARCHAR"


def test_views_join_flow_records(tmp_path: Path) -> None:
    con = open_lake(make_lake(tmp_path / "lake", vpc_flow=network_rows()), threads=1, memory_limit="1GB")
    topo = example_topology()
    topo.subnets[0].cidr = ""  # unknown CIDRs become NULL
    register_topology_views(con, topo)
    assert con.execute("SELECT cidr FROM topo_subnets WHERE subnet_id='subnet-pubA'").fetchall()[0] == (None,)
    rows = con.execute(
        """SELECT t.kind, s.az, count(*) FROM vpc_flow f JOIN topo_interfaces t ON f.srcaddr = t.private_ip
           JOIN topo_subnets s ON s.subnet_id = t.subnet_id WHERE t.kind = 'alb' GROUP BY ALL ORDER BY 2"""
    ).fetchall()
    assert rows == [("alb", "us-east-1a", 4), ("alb", "us-east-1b", 4)]  # 3 at the node, 1 at the target
    assert con.execute("SELECT count(*) FROM topo_routes WHERE target='nat-1'").fetchall()[0] == (3,)
    register_topology_views(con, None)  # re-registering replaces
    assert con.execute("SELECT count(*) FROM topo_interfaces").fetchall()[0] == (0,)


def test_lake_copy_and_topology_view(tmp_path: Path) -> None:
    lake = make_lake(tmp_path / "lake", vpc_flow=network_rows())
    d = write_topology_to_lake(example_topology(), lake)
    assert sorted(p.name for p in d.iterdir()) == ["interfaces.parquet", "routes.parquet", "subnets.parquet", "topology.json"]
    assert pl.read_parquet(d / "interfaces.parquet").height == len(example_topology().interfaces)
    con = open_lake(lake, threads=1, memory_limit="1GB")
    assert register_lake_topology_views(con, lake) is True
    row = con.execute("SELECT kind, subnet_cidr, subnet_role, route_table_id FROM topology WHERE private_ip = '10.0.2.20'").fetchone()
    assert row == ("alb", "10.0.2.0/24", "public", "rtb-nat")
    con2 = open_lake(make_lake(tmp_path / "bare"), threads=1, memory_limit="1GB")
    assert register_lake_topology_views(con2, tmp_path / "bare") is False
    assert con2.execute("SELECT count(*) FROM topology").fetchall()[0] == (0,)


def test_cli_infers_from_lake_and_merges_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = make_lake(tmp_path / "lake", vpc_flow=network_rows(), alb_access=[alb("10.0.0.10", "10.0.1.5")])
    given = tmp_path / "given.json"
    example_topology().dump(given)
    out = tmp_path / "out.json"
    assert main(["topology", "--lake", str(lake), "--topology", str(given), "--out", str(out)]) == 0
    topo = Topology.load(out)
    ifs = {i.interface_id: i for i in topo.interfaces}
    assert ifs["eni-albA"].source == "api" and ifs["eni-inst"].source == "logs"
    assert Topology.load(lake / "_topology" / "topology.json") == topo
    assert "interfaces" in capsys.readouterr().out
    assert json.loads(out.read_text())["source"] == "api"


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "--out", str(tmp_path / "x.json")]) == 2
    assert "nothing to build the topology from" in capsys.readouterr().err
    assert main(["topology", "--vpc-id", "vpc-1", "--lake", str(tmp_path)]) == 2
    assert main(["topology", "--topology", str(tmp_path / "missing.json")]) == 2


def test_cli_merges_snapshot_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.topology.snapshots import save_snapshot

    snaps = tmp_path / "snaps"
    save_snapshot(example_topology(), snaps)
    out = tmp_path / "out.json"
    assert main(["topology", "--snapshots", str(snaps), "--out", str(out)]) == 0
    assert len(Topology.load(out).interfaces) == len(example_topology().interfaces)
    assert main(["topology", "--snapshots", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err

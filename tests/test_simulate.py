"""The simulator's output: AWS object names and headers, determinism, seeds, labels, topology, CLI.

Raw objects are read here with a deliberately simple reader (polars over the gunzipped
text), not with flowsleuth's parsers, so these tests check the simulator alone.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from fixtures.simulated import ALB_KEY, ALB_LINE, FLOW_KEY, keys, read_alb, read_flows, window

from pipeline.cli import main
from pipeline.schema import ALB_LOG_ORDER, FLOW_BY_AWS, FLOW_DEFAULT_HEADER
from pipeline.simulate import INCIDENTS, SCENARIOS, build_env, generate
from pipeline.topology import Topology

SMALL = {"duration": timedelta(hours=1), "scale": 0.3}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("mixed", tmp_path_factory.mktemp("mixed"), seed=7, duration=timedelta(hours=2), scale=0.3)


def test_object_names_headers_and_field_counts(mixed: Path) -> None:
    flow_objects, alb_objects = keys(mixed, "vpcflowlogs"), keys(mixed, "elasticloadbalancing")
    assert flow_objects and alb_objects
    formats = set()
    for p in flow_objects:
        assert FLOW_KEY.match(p.relative_to(mixed).as_posix()), p
        lines = gzip.decompress(p.read_bytes()).decode().splitlines()
        header = lines[0].split(" ")
        assert header[0] in FLOW_BY_AWS and all(f in FLOW_BY_AWS for f in header), header
        formats.add(tuple(header))
        version = max(FLOW_BY_AWS[f].version for f in header)
        vi = header.index("version")
        for line in lines[1:]:
            fields = line.split(" ")
            assert len(fields) == len(header), line
            assert fields[vi] == str(version)
    assert FLOW_DEFAULT_HEADER in formats and len(formats) == 2  # one default-format and one custom flow log
    node_ips = {h["node_ip"] for h in read_alb(mixed).select("node_ip").to_dicts()}
    for p in alb_objects:
        m = ALB_KEY.match(p.relative_to(mixed).as_posix())
        assert m, p
        for line in gzip.decompress(p.read_bytes()).decode().splitlines():
            assert ALB_LINE.match(line), line
            # 33 positions once client:port / target:port are counted as one each
            assert len(re.findall(r'"[^"]*"|\S+', line)) == len(ALB_LOG_ORDER), line
    assert len(node_ips) == 3
    acct = next((mixed / "AWSLogs").iterdir()).name
    marker = (mixed / "AWSLogs" / acct / "ELBAccessLogTestFile").read_text()
    assert marker.startswith("Enable AccessLog for ELB: app/")


def test_alb_conventions(mixed: Path) -> None:
    alb = read_alb(mixed)
    fail = alb.filter(pl.col("elb_status") == "504")
    assert fail.height > 0
    assert (fail["tpt"] == "-1").all() and (fail["rsp"] == "-1").all() and (fail["target_status"] == "-").all()
    v6 = alb.filter(pl.col("client").str.count_matches(":") > 1)
    assert v6.height > 0 and not v6["client"].str.contains(r"\[").any()  # IPv6 clients without brackets
    assert set(alb["type"].unique()) <= {"https", "h2"}
    lines = [ln for p in keys(mixed, "elasticloadbalancing") for ln in gzip.decompress(p.read_bytes()).decode().splitlines()]
    assert any("\\x22" in ln for ln in lines)
    assert all(re.search(r' "Root=1-[0-9a-f]{8}-[0-9a-f]{24}" ', ln) for ln in lines[:200])


def test_flow_record_semantics(mixed: Path) -> None:
    f = read_flows(mixed)
    ok = f.filter(pl.col("log_status") == "OK")
    assert set(f["log_status"].unique()) == {"OK", "NODATA", "SKIPDATA"}
    assert (ok["start"] <= ok["end"]).all() and ((ok["end"] - ok["start"]) < 60).all()
    v5 = ok.filter(pl.col("flow_direction").is_not_null())
    assert v5.filter(pl.col("flow_direction") == "ingress")["traffic_path"].is_null().all()
    gw = v5.filter(pl.col("traffic_path") == 7)
    assert set(gw["pkt_dst_aws_service"].unique()) == {"S3", "DYNAMODB"}
    assert "IPv6" in set(ok["type"].drop_nulls())
    topo = Topology.load(mixed / "topology.json")
    managed = {i.interface_id for i in topo.interfaces if i.kind in ("alb", "nat")}
    assert ok.filter(pl.col("interface_id").is_in(list(managed)))["instance_id"].is_null().all()
    # records straddle the 5-minute objects: some land in a later object than their interval
    obj_time = pl.col("object").str.extract(r"_(\d{8}T\d{4})Z_").str.to_datetime("%Y%m%dT%H%M", time_zone="UTC")
    lag = ok.select((obj_time.dt.epoch("s") - pl.col("end")).alias("lag"))["lag"]
    assert lag.min() > 0 and lag.max() > 300


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate("nacl_ephemeral", tmp_path / "a", seed=3, **SMALL)
    b = generate("nacl_ephemeral", tmp_path / "b", seed=3, **SMALL)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / p).read_bytes() == (b / p).read_bytes() for p in files_a)
    c = generate("nacl_ephemeral", tmp_path / "c", seed=4, **SMALL)
    assert (a / "labels.json").read_text() != (c / "labels.json").read_text()


def test_seeds_vary_the_environment() -> None:
    envs = [build_env(s) for s in range(12)]
    assert len({e.region for e in envs}) >= 3
    assert len({e.vpc_cidr for e in envs}) >= 10
    assert len({e.app_port for e in envs}) >= 3
    assert len({tuple(e.az_ids) for e in envs}) >= 10
    assert len({e.flow_logs[0].fields for e in envs}) >= 3
    assert any(e.account.startswith("0") for e in envs)
    assert all(len(e.account) == 12 for e in envs)
    for e in envs:  # AZ ids belong to the region
        assert all(z.startswith(e.region_code + "-az") for z in e.az_ids)
    assert build_env(3, app_port=8443).app_port == 8443


def test_labels_shape(mixed: Path) -> None:
    truth = json.loads((mixed / "labels.json").read_text())
    assert truth["scenario"] == "mixed" and truth["seed"] == 7
    t0, t1 = window({"window_start": truth["start"], "window_end": truth["end"]})
    primaries = [i for i in truth["incidents"] if i["role"] == "primary"]
    assert len(primaries) >= 5
    starts = sorted(window(i) for i in primaries)
    assert any(a[1] > b[0] for a, b in zip(starts, starts[1:], strict=False))  # windows overlap in time
    for inc in truth["incidents"]:
        s, e = window(inc)
        assert t0 < s < e <= t1, inc
        assert isinstance(inc["entity"], dict) and all(isinstance(v, str) for v in inc["entity"].values())
        assert inc["visible_in_logs"] == (inc["detector"] is not None)


def test_topology_carries_the_misconfiguration(tmp_path: Path) -> None:
    topo = Topology.load(generate("asymmetric_route", tmp_path / "asym", seed=2, **SMALL) / "topology.json")
    truth = json.loads((tmp_path / "asym" / "labels.json").read_text())
    subnet = truth["incidents"][0]["entity"]["subnet_id"]
    rtb = next(r for r in topo.route_tables if subnet in r.subnet_ids)
    nat_id = next(i.resource_id for i in topo.interfaces if i.kind == "nat")
    assert any(r.destination == "0.0.0.0/0" and r.target == nat_id for r in rtb.routes)
    assert len(topo.load_balancers[0].node_ips) == 3 and topo.transit_gateway_cidrs

    topo = Topology.load(generate("nacl_ephemeral", tmp_path / "eph", seed=2, **SMALL) / "topology.json")
    truth = json.loads((tmp_path / "eph" / "labels.json").read_text())
    subnet = next(i for i in truth["incidents"] if i["role"] == "primary")["entity"]["subnet_id"]
    nacl = next(n for n in topo.nacls if subnet in n.subnet_ids)
    assert not any(e.egress and e.action == "allow" and (e.port_from or 0) <= 1024 and (e.port_to or 65535) >= 65535
                   for e in nacl.entries)  # fmt: skip
    clean = Topology.load(generate("clean", tmp_path / "clean", seed=2, **SMALL) / "topology.json")
    nacl = next(n for n in clean.nacls if subnet in n.subnet_ids)
    assert any(e.egress and e.action == "allow" for e in nacl.entries)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["simulate", "--scenario", "tgw_route_missing", "--out", str(out), "--seed", "1",
                 "--duration", "30m", "--scale", "0.2", "--start", "2025-01-02T03:00:00Z"]) == 0  # fmt: skip
    truth = json.loads((out / "labels.json").read_text())
    assert truth["start"] == "2025-01-02T03:00:00Z" and truth["end"] == "2025-01-02T03:30:00Z"
    assert "tgw_route_missing" in capsys.readouterr().out
    # rerun into its own earlier output is allowed; into a folder holding other files is not
    assert main(["simulate", "--scenario", "clean", "--out", str(out), "--duration", "15m"]) == 0
    assert json.loads((out / "labels.json").read_text())["scenario"] == "clean"
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["simulate", "--scenario", "clean", "--out", str(other)]) == 2
    assert (other / "keep.txt").read_text() == "mine"
    real = tmp_path / "real"  # a bucket copy without labels.json is never overwritten
    (real / "AWSLogs").mkdir(parents=True)
    (real / "AWSLogs" / "x.log.gz").write_bytes(b"data")
    assert main(["simulate", "--scenario", "clean", "--out", str(real)]) == 2
    assert (real / "AWSLogs" / "x.log.gz").read_bytes() == b"data"
    for bad in (["--duration", "5x"], ["--duration", "5m"], ["--scale", "0"], ["--start", "yesterday"],
                ["--scenario", "nope"], ["--duration", "1h", "--scenario", "mixed"], ["--targets-per-az", "4"]):  # fmt: skip
        argv = ["simulate", "--scenario", "clean", "--out", str(tmp_path / "bad"), *bad]
        assert main(argv) == 2, bad
    err = capsys.readouterr().err
    assert "Traceback" not in err and "flowsleuth: error:" in err


def test_every_scenario_is_known() -> None:
    assert set(INCIDENTS) < set(SCENARIOS) and {"clean", "mixed"} <= set(SCENARIOS)


def test_start_must_be_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time zone"):
        generate("clean", tmp_path / "x", start=datetime(2025, 1, 1), duration=timedelta(minutes=15))
    assert generate("clean", tmp_path / "y", start=datetime(2025, 1, 1, tzinfo=UTC), duration=timedelta(minutes=15))


def test_chunked_generation_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Large datasets are generated in chunks; objects straddling chunks must still hold every record once."""
    import pipeline.simulate as simulate

    monkeypatch.setattr(simulate, "CHUNK_RECORDS", 3_000)  # forces 5-minute chunks
    assert simulate.chunk_seconds(0.3, 6) == 300
    with caplog.at_level("INFO", logger="pipeline.simulate"):
        out = generate("nacl_deny_destination", tmp_path / "chunked", seed=5, **SMALL)
    m = re.search(r"(\d+) flow records, (\d+) ALB lines", caplog.text)
    assert m
    flows, alb = read_flows(out), read_alb(out)
    assert flows.height == int(m[1]) and alb.height == int(m[2])
    obj_time = pl.col("object").str.extract(r"_(\d{8}T\d{4})Z_").str.to_datetime("%Y%m%dT%H%M", time_zone="UTC")
    lag = flows.select((obj_time.dt.epoch("s") - pl.col("end")).alias("lag"))["lag"]
    assert lag.min() > 0 and lag.max() <= 400 + 300
    again = generate("nacl_deny_destination", tmp_path / "again", seed=5, **SMALL)
    names = sorted(p.relative_to(out) for p in out.rglob("*.gz"))
    assert names == sorted(p.relative_to(again) for p in again.rglob("*.gz"))
    assert all((out / p).read_bytes() == (again / p).read_bytes() for p in names)

"""Each incident is visible in the raw objects inside its labelled window, and absent from ``clean``.

The checks read the gzip objects directly (see test_simulate.read_flows / read_alb), not
flowsleuth's detectors: they pin what the simulator writes, so a detector that misses an
incident is the detector's problem, not the dataset's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from fixtures.simulated import read_alb, read_flows, window

from pipeline.simulate import INCIDENTS, generate
from pipeline.topology import Topology

SEED = 11
SMALL = {"duration": timedelta(hours=1), "scale": 0.3}


class Dataset:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.flows = read_flows(root)
        self.alb = read_alb(root)
        self.labels = json.loads((root / "labels.json").read_text())
        self.topo = Topology.load(root / "topology.json")

    def kind_of(self, kind: str) -> list[str]:
        return [i.interface_id for i in self.topo.interfaces if i.kind == kind]

    def ip_of(self, kind: str) -> list[str]:
        return [i.private_ip for i in self.topo.interfaces if i.kind == kind]

    def extra(self, key: str) -> dict:
        return self.topo.extra[key]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return Dataset(generate("clean", tmp_path_factory.mktemp("clean"), seed=SEED, **SMALL))


# Each signal: the raw records that show the incident (a polars frame with a `start` epoch column).
def asymmetric(d: Dataset) -> pl.DataFrame:
    """The NAT ENI carries the ALB node's replies: srcaddr = node IP, srcport = listener port."""
    nat = d.kind_of("nat")
    return d.flows.filter(pl.col("interface_id").is_in(nat) & pl.col("srcaddr").is_in(d.ip_of("alb"))
                          & (pl.col("srcport") == d.topo.extra["listener_port"]))  # fmt: skip


def status_299(d: Dataset) -> pl.DataFrame:
    return d.alb.filter(pl.col("target_status") == "299").with_columns(
        pl.col("time").str.to_datetime(time_zone="UTC").dt.epoch("s").alias("start")
    )


def return_reject(d: Dataset) -> pl.DataFrame:
    """Egress REJECTs at target ENIs, from the app port to an ephemeral port."""
    port = d.extra("target_group")["port"]
    return d.flows.filter((pl.col("action") == "REJECT") & (pl.col("flow_direction") == "egress")
                          & (pl.col("srcport") == port) & (pl.col("dstport") >= 1024))  # fmt: skip


def ddb_through_nat(d: Dataset) -> pl.DataFrame:
    return d.flows.filter(pl.col("interface_id").is_in(d.kind_of("nat")) & (pl.col("pkt_dst_aws_service") == "DYNAMODB"))


def s3_signal(d: Dataset) -> pl.DataFrame:
    """Nothing in the logs says 403: S3 flows keep their path, action and service label."""
    return d.flows.filter((pl.col("pkt_dst_aws_service") == "S3") & ((pl.col("traffic_path") != 7) | (pl.col("action") != "ACCEPT")))


def deny_burst(d: Dataset) -> pl.DataFrame:
    probe = d.topo.extra["probe_destination"]
    return d.flows.filter((pl.col("action") == "REJECT") & (pl.col("dstaddr") == probe) & (pl.col("flow_direction") == "egress"))


def _api(d: Dataset) -> tuple[str, int]:
    api = d.topo.extra["api_endpoint"]
    return api["ip"], api["port"]


def syn_only(d: Dataset) -> pl.DataFrame:
    """SYN-only flows to the API, with no reverse flow anywhere."""
    ip, port = _api(d)
    fwd = d.flows.filter((pl.col("dstaddr") == ip) & (pl.col("dstport") == port) & (pl.col("tcp_flags") == 2))
    rev = d.flows.filter(pl.col("srcaddr") == ip).select(pl.col("dstaddr").alias("srcaddr"), pl.col("dstport").alias("srcport"))
    return fwd.join(rev, on=["srcaddr", "srcport"], how="anti")


def unanswered_request(d: Dataset) -> pl.DataFrame:
    """Handshake done (reverse SYN-ACK only) but FIN/RST after retransmits: the request got no answer."""
    ip, port = _api(d)
    fwd = d.flows.filter((pl.col("dstaddr") == ip) & (pl.col("dstport") == port) & pl.col("tcp_flags").is_in([3, 6])
                         & pl.col("flow_direction").is_not_null())  # fmt: skip
    rev = d.flows.filter((pl.col("srcaddr") == ip) & (pl.col("tcp_flags") == 18)).select(
        pl.col("dstaddr").alias("srcaddr"), pl.col("dstport").alias("srcport"), "start", pl.col("bytes").alias("rev_bytes")
    )
    return fwd.join(rev, on=["srcaddr", "srcport", "start"]).filter(pl.col("rev_bytes") < 200)


def lateral_scan(d: Dataset) -> pl.DataFrame:
    """Probes from one of our instances REJECTed at the other hosts' interfaces."""
    return d.flows.filter((pl.col("action") == "REJECT") & (pl.col("flow_direction") == "ingress")
                          & pl.col("srcaddr").is_in(d.ip_of("instance")))  # fmt: skip


def skipdata_run(d: Dataset) -> pl.DataFrame:
    """SKIPDATA of one interface in consecutive minutes (the odd single SKIPDATA is normal)."""
    skip = d.flows.filter(pl.col("log_status") == "SKIPDATA").sort("interface_id", "start")
    near = (pl.col("start").diff().over("interface_id") == 60) | (pl.col("start").diff(-1).over("interface_id") == -60)
    return skip.filter(near)


SIGNALS: dict[str, Callable[[Dataset], pl.DataFrame]] = {
    "asymmetric_route": asymmetric,
    "health_check_299": status_299,
    "nacl_ephemeral": return_reject,
    "endpoint_route_missing": ddb_through_nat,
    "s3_endpoint_policy": s3_signal,
    "nacl_deny_destination": deny_burst,
    "tgw_route_missing": syn_only,
    "firewall_drop": unanswered_request,
    "port_scan": lateral_scan,
    "capture_gap": skipdata_run,
}


def test_every_incident_has_a_signal() -> None:
    assert set(SIGNALS) == set(INCIDENTS)


@pytest.mark.parametrize("scenario", INCIDENTS)
def test_incident_visible_in_window_and_absent_from_clean(scenario: str, clean: Dataset, tmp_path: Path) -> None:
    d = Dataset(generate(scenario, tmp_path / scenario, seed=SEED, **SMALL))
    label = next(i for i in d.labels["incidents"] if i["role"] == "primary")
    assert label["scenario"] == scenario
    signal = SIGNALS[scenario]
    assert signal(clean).height == 0, "the clean baseline must not show the incident"
    hits = signal(d)
    if not label["visible_in_logs"]:
        assert label["detector"] is None and hits.height == 0
        return
    s, e = window(label)
    assert hits.height >= 10, f"{scenario}: only {hits.height} records show the incident"
    assert hits["start"].min() >= s and hits["start"].max() < e + 60, "signal outside the labelled window"


def test_asymmetric_route_node_stops_logging(tmp_path: Path) -> None:
    d = Dataset(generate("asymmetric_route", tmp_path / "a", seed=SEED, **SMALL))
    label = d.labels["incidents"][0]
    s, e = window(label)
    t = pl.col("time").str.to_datetime(time_zone="UTC").dt.epoch("s")
    node = d.alb.filter(pl.col("node_ip") == label["entity"]["node_ip"])
    v4 = pl.col("client").str.count_matches(":") == 1
    inside = node.filter(t.is_between(s + 30, e - 30) & v4).height
    before = node.filter(t.is_between(s - (e - s), s) & v4).height
    assert before > 20 and inside == 0
    # the node's clients retransmit: SYN-only ingress and SYN-ACK egress via the NAT (traffic-path 1)
    at_node = d.flows.filter((pl.col("interface_id") == label["entity"]["interface_id"]) & (pl.col("tcp_flags") == 18)
                             & (pl.col("traffic_path") == 1))  # fmt: skip
    assert at_node.height > 0


def test_nacl_ephemeral_504s_then_fewer(tmp_path: Path) -> None:
    d = Dataset(generate("nacl_ephemeral", tmp_path / "n", seed=13, duration=timedelta(hours=1), scale=1.0))
    primary = next(i for i in d.labels["incidents"] if i["role"] == "primary")
    spike = next(i for i in d.labels["incidents"] if i["detector"] == "az_5xx_spike")
    assert spike["elb_504"] == d.alb.filter(pl.col("elb_status") == "504").height >= 10
    s, e = window(primary)
    t = pl.col("time").str.to_datetime(time_zone="UTC").dt.epoch("s")
    f504 = d.alb.filter(pl.col("elb_status") == "504")
    assert f504.height > 0
    ss, se = window(spike)
    assert f504.filter(t.is_between(ss, se)).height == f504.height  # all within the secondary window
    assert se < e  # health checks take the targets out before the incident ends
    subnet = primary["entity"]["subnet_id"]
    targets = {i.private_ip for i in d.topo.interfaces if i.subnet_id == subnet and i.kind == "instance"}
    assert set(f504["target"].str.split(":").list.first().unique()) <= targets


def test_no_spike_label_for_a_handful_of_504s(tmp_path: Path) -> None:
    d = Dataset(generate("nacl_ephemeral", tmp_path / "n", seed=SEED, duration=timedelta(hours=1), scale=0.05))
    n504 = d.alb.filter(pl.col("elb_status") == "504").height
    assert n504 < 10 and not any(i["detector"] == "az_5xx_spike" for i in d.labels["incidents"])


def test_health_check_299_fails_open(tmp_path: Path) -> None:
    d = Dataset(generate("health_check_299", tmp_path / "h", seed=SEED, **SMALL))
    s, e = window(d.labels["incidents"][0])
    t = pl.col("time").str.to_datetime(time_zone="UTC").dt.epoch("s")
    late = d.alb.filter(t.is_between(s + 300, e - 10))
    share = late.filter(pl.col("target_status") == "299").height / late.height
    assert share > 0.9  # every target unhealthy: the ALB routes to all of them and passes 299 through
    assert (late.filter(pl.col("target_status") == "299")["elb_status"] == "299").all()


def test_mixed_shows_every_visible_incident(tmp_path: Path) -> None:
    d = Dataset(generate("mixed", tmp_path / "m", seed=SEED, duration=timedelta(hours=2), scale=0.3))
    for label in d.labels["incidents"]:
        if label["role"] != "primary" or not label["visible_in_logs"]:
            continue
        hits = SIGNALS[label["scenario"]](d)
        s, e = window(label)
        assert hits.filter(pl.col("start").is_between(s, e + 60)).height >= 5, label["scenario"]


# -- the committed data-samples ---------------------------------------------------------
SAMPLES = Path(__file__).resolve().parents[1] / "data-samples"


def test_samples_are_small_and_complete() -> None:
    from pipeline.simulate.samples import SAMPLES as RECIPES

    total = sum(p.stat().st_size for r in RECIPES for p in (SAMPLES / r.folder).rglob("*") if p.is_file())
    assert total <= 8 * 1024 * 1024
    for r in RECIPES:
        assert json.loads((SAMPLES / r.folder / "labels.json").read_text())["scenario"] == r.scenario


def test_samples_match_their_recipe(tmp_path: Path) -> None:
    from pipeline.simulate.samples import SAMPLES as RECIPES
    from pipeline.simulate.samples import write_sample

    recipe = next(r for r in RECIPES if r.scenario == "tgw_route_missing")
    fresh = write_sample(tmp_path, recipe)
    committed = SAMPLES / recipe.folder
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    stale = [str(p) for p in files if (fresh / p).read_bytes() != (committed / p).read_bytes()]
    assert not stale, "data-samples are stale: run .venv/bin/python -m pipeline.simulate.samples"


@pytest.fixture(scope="module")
def sample_clean() -> Dataset:
    return Dataset(SAMPLES / "clean")


@pytest.mark.parametrize("scenario", INCIDENTS)
def test_sample_scenarios_show_their_incident(scenario: str, sample_clean: Dataset) -> None:
    d = Dataset(SAMPLES / "scenarios" / scenario)
    label = next(i for i in d.labels["incidents"] if i["role"] == "primary")
    hits = SIGNALS[scenario](d)
    assert SIGNALS[scenario](sample_clean).height == 0
    if label["visible_in_logs"]:
        s, e = window(label)
        assert hits.height >= 5 and hits["start"].min() >= s and hits["start"].max() < e + 60
    else:
        assert hits.height == 0


def test_demo_shows_every_visible_incident() -> None:
    d = Dataset(SAMPLES / "demo")
    shown = 0
    for label in d.labels["incidents"]:
        if label["role"] == "primary" and label["visible_in_logs"]:
            s, e = window(label)
            assert SIGNALS[label["scenario"]](d).filter(pl.col("start").is_between(s, e + 60)).height >= 5, label
            shown += 1
    assert shown >= 5

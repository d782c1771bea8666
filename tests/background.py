"""A realistic-noise background for detector tests: a 3-AZ web app seen through its logs.

Every detector must stay silent on this. Addresses, ports, AZ ids and the VPC CIDR are
drawn from the seed so no detector can lean on one set of values. Rows are lake-column
dicts for ``lake_fixtures.make_lake``.

What is in it (per 1-minute aggregation interval, both directions, every interface):
internet scanners probing the ALB nodes and the NAT gateway (REJECT, many sources and
ports, all day, one scanner much busier than the rest); clients (some IPv6) to the ALB
listener; ALB nodes to targets on the app port, and health checks; instances to the
internet through the NAT gateway (AWS's NAT record shape: srcaddr/dstaddr vs
pkt_srcaddr/pkt_dstaddr); instances to S3 through the gateway endpoint (traffic_path 7);
a low steady trickle of REJECTs from one instance to one blocked external address;
NODATA for an idle endpoint interface every minute; the odd SKIPDATA; ALB access log
lines with ordinary 4xx and sporadic 5xx spread over every target.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

T0 = 1767261600  # 2026-01-01T10:00:00Z: a fixed start keeps fixtures deterministic
SYN, FIN, RST, SYN_ACK = 2, 1, 4, 18
V2_COLUMNS = (
    "version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
    "packets", "bytes", "start", "end", "action", "log_status",
)  # fmt: skip


@dataclass
class Host:
    eni: str
    ip: str
    subnet_id: str
    az_id: str
    kind: str
    instance_id: str | None = None


@dataclass
class Env:
    """The drawn environment; tests use it to inject incidents onto real addresses."""

    seed: int
    account: str
    region: str
    vpc_id: str
    vpc_cidr: str
    az_ids: list[str]
    app_port: int
    listener_port: int
    alb_nodes: list[Host]
    targets: list[Host]
    nat: Host
    endpoint: Host
    blocked_ip: str
    elb: str
    subnets: dict[str, str] = field(default_factory=dict)  # subnet_id -> cidr


def _rid(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.getrandbits(68):017x}"


def public_ip(rng: random.Random) -> str:
    """A random global unicast IPv4 address (never RFC 1918, CGNAT, loopback or multicast)."""
    while True:
        ip = ipaddress.IPv4Address(rng.getrandbits(32))
        if ip.is_global and not ip.is_multicast:
            return str(ip)


def public_ip6(rng: random.Random) -> str:
    return str(ipaddress.IPv6Address((0x2001_0DB9 << 96) | rng.getrandbits(96)))


def make_env(seed: int = 0) -> Env:
    rng = random.Random(seed)
    style = rng.randrange(3)
    a = rng.randrange(0, 250)
    vpc_cidr = [f"10.{a}.0.0/16", f"172.{16 + rng.randrange(16)}.0.0/16", "192.168.0.0/16"][style]
    net = ipaddress.ip_network(vpc_cidr)
    code = rng.choice(["use1", "euw2", "apse1", "usw2", "cac1"])
    region = {"use1": "us-east-1", "euw2": "eu-west-2", "apse1": "ap-southeast-1", "usw2": "us-west-2", "cac1": "ca-central-1"}[code]
    az_ids = [f"{code}-az{n}" for n in rng.sample(range(1, 7), 3)]
    thirds = rng.sample(range(0, 250), 7)
    subnets: dict[str, str] = {}
    used: set[str] = set()

    def subnet(i: int) -> tuple[str, ipaddress.IPv4Network]:
        cidr = ipaddress.ip_network(f"{net.network_address + thirds[i] * 256}/24")
        sid = _rid(rng, "subnet")
        subnets[sid] = str(cidr)
        return sid, cidr  # type: ignore[return-value]

    def host(sid: str, cidr: ipaddress.IPv4Network, az: str, kind: str, inst: bool = False) -> Host:
        while True:
            ip = str(cidr.network_address + rng.randrange(4, 250))
            if ip not in used:
                used.add(ip)
                return Host(_rid(rng, "eni"), ip, sid, az, kind, _rid(rng, "i") if inst else None)

    pubs = [subnet(i) for i in range(3)]
    privs = [subnet(3 + i) for i in range(3)]
    alb_nodes = [host(s, c, az_ids[i], "alb") for i, (s, c) in enumerate(pubs)]
    targets = [host(s, c, az_ids[i], "instance", True) for i, (s, c) in enumerate(privs) for _ in range(2)]
    nat = host(pubs[0][0], pubs[0][1], az_ids[0], "nat")
    endpoint = host(privs[1][0], privs[1][1], az_ids[1], "endpoint")
    return Env(
        seed=seed,
        account=("0" if rng.random() < 0.4 else "1") + "".join(str(rng.randrange(10)) for _ in range(11)),
        region=region,
        vpc_id=_rid(rng, "vpc"),
        vpc_cidr=vpc_cidr,
        az_ids=az_ids,
        app_port=rng.choice([8080, 8443, 80, 3000, 9000]),
        listener_port=rng.choice([443, 80]),
        alb_nodes=alb_nodes,
        targets=targets,
        nat=nat,
        endpoint=endpoint,
        blocked_ip=public_ip(rng),
        elb=f"app/web-{rng.randrange(1000)}/{rng.getrandbits(64):016x}",
        subnets=subnets,
    )


class Recorder:
    """Collects flow records the way AWS writes them: one per direction per interface."""

    def __init__(self, env: Env, rng: random.Random, v2_only: bool) -> None:
        self.env, self.rng, self.v2_only = env, rng, v2_only
        self.rows: list[dict[str, Any]] = []

    def record(self, at: Host, src: str, dst: str, sport: int, dport: int, *, t: int, packets: int, nbytes: int,
               flags: int, action: str = "ACCEPT", proto: int = 6, direction: str = "egress",
               pkt_src: str | None = None, pkt_dst: str | None = None, path: int | None = None,
               dst_service: str | None = None) -> None:  # fmt: skip
        if packets <= 0:
            return
        start = t + self.rng.randrange(0, 50)
        row: dict[str, Any] = {
            "version": 2 if self.v2_only else 5, "account_id": self.env.account, "interface_id": at.eni,
            "srcaddr": src, "dstaddr": dst, "srcport": sport, "dstport": dport, "protocol": proto,
            "packets": packets, "bytes": nbytes, "start": start, "end": min(start + self.rng.randrange(1, 10), t + 59),
            "action": action, "log_status": "OK",
        }  # fmt: skip
        if not self.v2_only:
            row.update(
                vpc_id=self.env.vpc_id, subnet_id=at.subnet_id, instance_id=at.instance_id,
                tcp_flags=flags if proto == 6 else 0, type="IPv6" if ":" in src else "IPv4",
                pkt_srcaddr=pkt_src or src, pkt_dstaddr=pkt_dst or dst, region=self.env.region, az_id=at.az_id,
                flow_direction=direction, traffic_path=path if direction == "egress" else None,
                pkt_dst_aws_service=dst_service,
            )  # fmt: skip
        self.rows.append(row)

    def conversation(self, a_at: list[Host], b_at: list[Host], a: str, b: str, aport: int, bport: int, *, t: int,
                     fwd: tuple[int, int], rev: tuple[int, int], fflags: int = SYN | FIN, rflags: int = SYN_ACK | FIN,
                     path: int | None = 1, rev_action: str = "ACCEPT", **pkt: Any) -> None:  # fmt: skip
        """Both directions at the initiator's interfaces (a_at) and the responder's (b_at)."""
        for h in a_at:
            self.record(h, a, b, aport, bport, t=t, packets=fwd[0], nbytes=fwd[1], flags=fflags, direction="egress", path=path, **pkt)
            self.record(h, b, a, bport, aport, t=t, packets=rev[0], nbytes=rev[1], flags=rflags, direction="ingress", action=rev_action)
        for h in b_at:
            self.record(h, a, b, aport, bport, t=t, packets=fwd[0], nbytes=fwd[1], flags=fflags, direction="ingress")
            self.record(h, b, a, bport, aport, t=t, packets=rev[0], nbytes=rev[1], flags=rflags, direction="egress", path=path, action=rev_action)

    def status(self, at: Host, t: int, status: str) -> None:
        row = {"version": 2 if self.v2_only else 5, "account_id": self.env.account, "interface_id": at.eni,
               "start": t, "end": t + 59, "log_status": status}  # fmt: skip
        self.rows.append(row)


def eph(rng: random.Random) -> int:
    return rng.randrange(32768, 61000)


def background(env: Env, *, hours: float = 3.0, start: int = T0, seed: int | None = None, v2_only: bool = False,
               rate: float = 1.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """(vpc_flow rows, alb_access rows) of a healthy, noisy environment."""
    rng = random.Random(env.seed if seed is None else seed)
    rec = Recorder(env, rng, v2_only)
    alb: list[dict[str, Any]] = []
    scanners = [public_ip(rng) for _ in range(150)]
    remotes = [public_ip(rng) for _ in range(40)]
    s3_ips = [public_ip(rng) for _ in range(4)]
    clients = [public_ip(rng) for _ in range(200)] + [public_ip6(rng) for _ in range(30)]
    common_ports = [22, 23, 25, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200]
    minutes = int(hours * 60)
    n_int = lambda mean: max(0, int(rng.gauss(mean * rate, (mean * rate) ** 0.5)))  # noqa: E731
    for m in range(minutes):
        t = start + m * 60
        # internet scanning of public-facing interfaces: REJECTed, many sources, many ports
        for _ in range(n_int(12)):
            src = scanners[min(int(rng.paretovariate(1.2)) - 1, len(scanners) - 1)]
            dst = rng.choice(env.alb_nodes + [env.nat])
            port = rng.choice(common_ports) if rng.random() < 0.7 else rng.randrange(1, 65536)
            proto = 6 if rng.random() < 0.9 else 17
            rec.record(dst, src, dst.ip, rng.randrange(1024, 65536), port, t=t, packets=rng.randint(1, 2),
                       nbytes=44, flags=SYN, action="REJECT", proto=proto, direction="ingress")  # fmt: skip
        # clients -> ALB listener -> targets
        for _ in range(n_int(8)):
            node = rng.choice(env.alb_nodes)
            target = rng.choice(env.targets)
            client = rng.choice(clients)
            req, resp = rng.randint(300, 2000), rng.randint(500, 60000)
            rec.conversation([], [node], client, node.ip, eph(rng), env.listener_port, t=t,
                             fwd=(rng.randint(5, 12), req + 400), rev=(rng.randint(5, 40), resp + 400))  # fmt: skip
            rec.conversation([node], [target], node.ip, target.ip, rng.randrange(1024, 65536), env.app_port, t=t,
                             fwd=(rng.randint(5, 12), req + 400), rev=(rng.randint(5, 40), resp + 400))  # fmt: skip
            status = 200 if rng.random() < 0.9 else rng.choice([301, 304, 400, 403, 404, 404])
            elb_status, tstatus = status, status
            if rng.random() < 0.01:
                elb_status = rng.choice([500, 502, 503, 504])
                tstatus = elb_status if elb_status == 500 else None
            alb.append({
                "type": "https" if env.listener_port == 443 else "http",
                "time": f"{_iso(t + rng.randrange(60))}", "elb": env.elb, "client_ip": client,
                "client_port": eph(rng), "target_ip": target.ip, "target_port": env.app_port,
                "request_processing_time": 0.001, "target_processing_time": -1.0 if tstatus is None else round(rng.uniform(0.005, 0.4), 3),
                "response_processing_time": -1.0 if tstatus is None else 0.0,
                "elb_status_code": elb_status, "target_status_code": tstatus, "received_bytes": req, "sent_bytes": resp,
                "request_verb": "GET", "request_url": f"https://example.test:{env.listener_port}/p/{rng.randrange(50)}",
                "request_proto": "HTTP/1.1", "user_agent": "Mozilla/5.0", "node_ip": node.ip,
                "load_balancer": env.elb.replace("/", "."),
            })  # fmt: skip
        # health checks: every node to every target twice a minute
        for node in env.alb_nodes:
            for target in env.targets:
                rec.conversation([node], [target], node.ip, target.ip, rng.randrange(1024, 65536), env.app_port, t=t,
                                 fwd=(10, 900), rev=(8, 1200))  # fmt: skip
        # instances -> internet through the NAT gateway (AWS's NAT record shape)
        for _ in range(n_int(4)):
            inst = rng.choice(env.targets)
            remote = rng.choice(remotes)
            sport, nport = eph(rng), rng.randrange(1024, 65536)
            fwd, rev = (rng.randint(8, 30), rng.randint(900, 4000)), (rng.randint(10, 80), rng.randint(4000, 90000))
            rec.conversation([inst], [], inst.ip, remote, sport, 443, t=t, fwd=fwd, rev=rev, path=2)
            rec.conversation([], [env.nat], inst.ip, env.nat.ip, sport, 443, t=t, fwd=fwd, rev=rev, pkt_b=remote)
            rec.conversation([env.nat], [], env.nat.ip, remote, nport, 443, t=t, fwd=fwd, rev=rev, path=2)
        # instances -> S3 through the gateway endpoint
        for _ in range(n_int(2)):
            inst = rng.choice(env.targets)
            rec.conversation([inst], [], inst.ip, rng.choice(s3_ips), eph(rng), 443, t=t,
                             fwd=(rng.randint(6, 15), 3000), rev=(rng.randint(6, 15), 5000), path=7, dst_service="S3")  # fmt: skip
        # a steady trickle of REJECTs from one instance to one blocked external address
        if m % 7 == 0:
            inst = env.targets[0]
            rec.record(inst, inst.ip, env.blocked_ip, eph(rng), 443, t=t, packets=2, nbytes=120, flags=SYN, action="REJECT")
        # idle endpoint interface reports NODATA; the odd SKIPDATA on a target
        rec.status(env.endpoint, t, "NODATA")
        if m % 120 == 61:
            rec.status(rng.choice(env.targets), t, "SKIPDATA")
    if v2_only:
        rec.rows = [{k: v for k, v in r.items() if k in V2_COLUMNS} for r in rec.rows]
    return rec.rows, alb


def _iso(epoch: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def detect_on(lake_dir: Any, flows: list[dict[str, Any]], alb: list[dict[str, Any]] | None = None,
              detector: str | None = None, **kwargs: Any) -> Any:  # fmt: skip
    """Build a lake from rows and run one detector (all when None); returns the DetectResult."""
    from pipeline.db import open_lake
    from pipeline.detect import run_detectors

    con = open_lake(write_lake(lake_dir, flows, alb or []))
    try:
        kwargs.setdefault("infer_topology", False)
        return run_detectors(con, detectors=[detector] if detector else None, **kwargs)
    finally:
        con.close()


def minute(m: int, start: int = T0) -> int:
    """Epoch seconds of minute ``m`` of the background."""
    return start + m * 60


def iso_minute(m: int, start: int = T0) -> str:
    """ISO Z of minute ``m`` of the background (for asserting finding windows)."""
    return _iso(minute(m, start))[:19] + "Z"


def write_lake(lake: Any, flows: list[dict[str, Any]], alb: list[dict[str, Any]]) -> Any:
    """Like ``lake_fixtures.make_lake`` but columnar, for the tens of thousands of background rows."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from lake_fixtures import make_lake

    from pipeline.schema import TABLES, UTC_TS

    lake = Path(lake)
    make_lake(lake, alb_access=alb)
    if not flows:
        return lake
    schema = TABLES["vpc_flow"]
    present = sorted({k for r in flows for k in r})
    table = pa.Table.from_pylist(flows, schema=pa.schema([schema.field(k) for k in present]))
    n = table.num_rows
    derived = {
        "start_time": pc.cast(pc.multiply(table["start"], 1_000_000), pa.int64()).cast(UTC_TS),
        "end_time": pc.cast(pc.multiply(table["end"], 1_000_000), pa.int64()).cast(UTC_TS),
        "source_uri": pa.array(["s3://fixture-bucket/AWSLogs/vpcflowlogs/background.log.gz"] * n),
        "source_line": pa.array(range(1, n + 1), pa.int64()),
    }
    cols = [table[f.name] if f.name in present else derived.get(f.name, pa.nulls(n, f.type)) for f in schema]
    full = pa.Table.from_arrays(cols, schema=schema)
    full = full.append_column("date", pc.strftime(full["start_time"], "%Y-%m-%d")).append_column(
        "hour", pc.strftime(full["start_time"], "%H")
    )
    ds.write_dataset(
        full, lake / "vpc_flow", format="parquet", partitioning=["date", "hour"], partitioning_flavor="hive",
        existing_data_behavior="overwrite_or_ignore", basename_template="background-{i}.parquet",
    )  # fmt: skip
    return lake

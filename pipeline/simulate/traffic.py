"""The app's traffic, as flow records and ALB requests, with the active faults applied.

Each generator draws its conversations for the whole period at once (numpy), then
changes the ones a fault touches, then asks ``flow_records.observe`` for the records
at every interface the packets cross. Rates are per second at ``scale`` 1; periodic
traffic (health checks, probes) follows its configuration and does not scale.

Modelling choices that follow AWS's documentation:
- NAT gateway ENI records (srcaddr/dstaddr vs pkt-srcaddr/pkt-dstaddr) as in the NAT
  gateway example of flow-logs-records-examples.html; ``instance-id`` is ``-`` for the
  ALB and NAT interfaces (requester-managed).
- traffic-path (egress only): 1 through a resource in the same VPC (NAT gateway, ALB
  to targets, TGW attachment), 7 gateway endpoint, 8 internet gateway.
- pkt-dst-aws-service / pkt-src-aws-service name S3 or DYNAMODB whenever the packet's
  far end is in the service's ranges, whichever path it takes.
- ALB: health checks are not logged; if every target is unhealthy the ALB fails
  open and routes to all targets (target-group-health-checks.html); a target that
  does not answer in time gives 504 with target_processing_time -1 and
  target_status_code ``-`` (load-balancer-troubleshooting.html#http-504-issues).

References:
- https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
- https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from .environment import Env
from .faults import Faults
from .flow_records import FIN, RST, SYN, SYN_ACK, Conversation, empty, ipv4, observe, pick, status_records
from .sampling import eph, hex_strings, in_ranges, internet_v4, periodic, poisson_times

log = logging.getLogger(__name__)

CLIENT_REQUESTS_PER_S = 2.0
SCANS_PER_S = 0.5
NAT_EGRESS_PER_INSTANCE_S = 1 / 60
S3_PER_INSTANCE_S = 2 / 60
DDB_PER_INSTANCE_S = 4 / 60
API_PER_INSTANCE_S = 3 / 60
PROBE_EVERY_S = 30
PROBE_RETRIES, PROBE_RETRY_S = 2, 5
ENDPOINT_CALL_EVERY_S = 600
TARGET_CONNECT_TIMEOUT_S = 10.0
OTHER_S3_PER_INSTANCE_S = 1 / 60  # the other accounts' light, steady S3 use
HC_ROLLOUT_STEP_S = 20  # health_check_299: one target switches to the new build every 20 s


class Traffic:
    """Generates one dataset's flow records and ALB requests for [t0, t1)."""

    def __init__(self, env: Env, rng: np.random.Generator, t0: int, t1: int, scale: float, faults: Faults) -> None:
        self.env, self.rng, self.t0, self.t1, self.scale, self.faults = env, rng, t0, t1, scale, faults
        e = env
        self.target_ip = [h.ip for h in e.targets]
        self.target_eni = [h.eni for h in e.targets]
        self.target_subnet = np.array([e.app_subnets.index(h.subnet) for h in e.targets])
        self.node_ip = [h.ip for h in e.alb_nodes]
        self.node_v6 = [h.ipv6 or "" for h in e.alb_nodes]
        self.node_eni = [h.eni for h in e.alb_nodes]
        self.flows: list[pl.DataFrame] = []
        self.stats: dict[str, int] = {}  # counts the labels need (e.g. how many 504s a fault caused)
        self.client_pool = ipv4(internet_v4(rng, 4000))
        self.client_v6_pool = pl.select(
            pl.concat_str([pl.lit("2a0"), pl.lit(hex_strings(rng, 300, 1)), pl.lit(":"), pl.lit(hex_strings(rng, 300, 4)),
                           pl.lit(":"), pl.lit(hex_strings(rng, 300, 4)), pl.lit("::"), pl.lit(hex_strings(rng, 300, 3))])
        ).to_series().str.replace_all(r"(^|:)0+([0-9a-f])", "$1$2")  # canonical: no leading zeros  # fmt: skip
        self.remote_pool = ipv4(internet_v4(rng, 150))

    def window(self, t0: int, t1: int) -> None:
        """Generate the next chunk [t0, t1) (keeps address pools and counters)."""
        self.t0, self.t1 = t0, t1

    # -- building blocks -------------------------------------------------------------
    def _clients(self, n: int, v6: np.ndarray) -> pl.Series:
        rank = np.minimum(self.rng.zipf(1.3, n) - 1, len(self.client_pool) - 1)
        v4 = self.client_pool.gather(pl.Series(rank.astype(np.int64)))
        six = self.client_v6_pool.gather(pl.Series(self.rng.integers(0, len(self.client_v6_pool), n)))
        return pl.select(pl.when(pl.lit(pl.Series(v6))).then(pl.lit(six)).otherwise(pl.lit(v4))).to_series()

    def _via_nat(self, t: np.ndarray, inst: np.ndarray, remote: pl.Series, rport: int | np.ndarray, *,
                 proto: int, fp: np.ndarray, fb: np.ndarray, rp: np.ndarray, rb: np.ndarray,
                 ff: int, rf: int, service: str | None = None) -> None:  # fmt: skip
        """Instance -> NAT gateway -> internet: records at the instance ENI and the NAT ENI."""
        n = len(t)
        if n == 0:
            return
        e, rng = self.env, self.rng
        inst_ip, inst_eni = pick(self.target_ip, inst), pick(self.target_eni, inst)
        sport = eph(rng, n)
        dur = rng.uniform(0.05, 2.0, n)
        c = Conversation(t, dur, inst_ip, sport, remote, rport, proto, fp, fb, rp, rb, ff, rf)
        self.flows.append(observe(c, inst_eni, "a", path=1, b_service=service))
        nat_ip = pl.repeat(e.nat.ip, n, eager=True)
        hop1 = Conversation(t, dur, inst_ip, sport, nat_ip, rport, proto, fp, fb, rp, rb, ff, rf)
        self.flows.append(observe(hop1, e.nat.eni, "b", path=1, pkt_b=remote, b_service=service))
        hop2 = Conversation(t + 0.001, dur, nat_ip, rng.integers(1024, 65536, n), remote, rport, proto, fp, fb, rp, rb, ff, rf)
        self.flows.append(observe(hop2, e.nat.eni, "a", path=8, b_service=service))

    # -- ALB clients -----------------------------------------------------------------
    def client_requests(self) -> pl.DataFrame:
        """Client -> ALB node -> target, with ALB log rows; returns the ALB request frame."""
        e, rng, f = self.env, self.rng, self.faults
        t = poisson_times(rng, CLIENT_REQUESTS_PER_S * self.scale, self.t0, self.t1, diurnal=True)
        n = len(t)
        node = rng.integers(0, len(e.alb_nodes), n)
        v6 = rng.random(n) < 0.06
        client = self._clients(n, v6)
        cport = rng.integers(1024, 65536, n)
        T = len(e.targets)
        tgt = rng.integers(0, T, n)
        status = rng.choice(
            np.array([200, 200, 200, 200, 200, 200, 200, 200, 304, 301, 404, 401, 403, 400]), n
        ).astype(np.int64)
        rare = rng.random(n)
        status[rare < 0.0015] = 500
        status[(rare >= 0.0015) & (rare < 0.002)] = 502
        tpt = np.round(rng.lognormal(-3.5, 0.8, n), 3)
        timeout = np.zeros(n, dtype=bool)

        # asymmetric_route: that node's IPv4 responses leave through the NAT gateway.
        lost = np.zeros(n, dtype=bool)
        if (fa := f.get("asymmetric_route")) is not None:
            lost = fa.mask(t) & (node == fa.index) & ~v6
        # health_check_299: a deploy makes targets answer 299; unhealthy ones get no traffic
        # until all are unhealthy, then the ALB fails open and routes to every target.
        if (fh := f.get("health_check_299")) is not None:
            m = fh.mask(t)
            since = t[m] - fh.start
            failed = np.clip(np.floor((since - e.unhealthy_after) / HC_ROLLOUT_STEP_S).astype(np.int64) + 1, 0, T)
            u = rng.random(m.sum())
            new_t = np.where(failed < T, failed + np.floor(u * (T - failed)), np.floor(u * T)).astype(np.int64)
            tgt[m] = np.minimum(new_t, T - 1)
            switched = since >= tgt[m] * HC_ROLLOUT_STEP_S
            st = status[m]
            st[switched & (st < 500)] = 299
            status[m] = st
        # nacl_ephemeral: that subnet's targets cannot answer; 504 until health checks remove them.
        if (fn := f.get("nacl_ephemeral")) is not None:
            m = fn.mask(t) & (self.target_subnet[tgt] == fn.index)
            early = m & (t < fn.start + e.unhealthy_after + TARGET_CONNECT_TIMEOUT_S)
            timeout = early
            late = m & ~early
            others = np.flatnonzero(self.target_subnet != fn.index)
            tgt[late] = rng.choice(others, late.sum())
        status[timeout] = 504
        # only logged requests count: a node whose responses are lost (asymmetric_route) logs nothing
        self.stats["nacl_ephemeral_504"] = self.stats.get("nacl_ephemeral_504", 0) + int((timeout & ~lost).sum())
        tpt[timeout] = -1.0

        recv = rng.integers(180, 1400, n)
        sent = np.where(status == 304, rng.integers(120, 300, n), rng.integers(300, 60000, n))
        sent[timeout] = 0
        sent[np.isin(status, [502, 504])] = rng.integers(110, 200, np.isin(status, [502, 504]).sum())
        ok = ~lost
        dur = np.where(timeout, TARGET_CONNECT_TIMEOUT_S, np.maximum(tpt, 0) + 0.02)

        # client <-> ALB node, at the node's ENI
        node_addr = pl.select(
            pl.when(pl.lit(pl.Series(v6))).then(pl.lit(pick(self.node_v6, node))).otherwise(pl.lit(pick(self.node_ip, node)))
        ).to_series()  # fmt: skip
        fam = pl.select(pl.when(pl.lit(pl.Series(v6))).then(pl.lit("IPv6")).otherwise(pl.lit("IPv4"))).to_series()
        fp = np.where(lost, rng.integers(3, 6, n), rng.integers(6, 13, n))
        rp = np.where(lost, rng.integers(3, 6, n), 5 + sent // 1400)
        c = Conversation(t, dur, client, cport, node_addr, e.listener_port, 6, fp,
                         np.where(lost, fp * 60, recv + 520), rp, np.where(lost, rp * 60, sent + 4100),
                         np.where(lost, SYN, SYN | FIN), np.where(lost, SYN_ACK, SYN_ACK | FIN), fam)  # fmt: skip
        self.flows.append(observe(c.select(ok), pick(self.node_eni, node[ok]), "b", path=8))
        if lost.any():
            cl = c.select(lost)
            self.flows.append(observe(cl, pick(self.node_eni, node[lost]), "b", path=1))
            # the NAT gateway receives the node's SYN-ACKs and sends them out from its own address
            k = int(lost.sum())
            zero = np.zeros(k, dtype=np.int64)
            node_ip = pick(self.node_ip, node[lost])
            nat_ip = pl.repeat(e.nat.ip, k, eager=True)
            hop1 = Conversation(cl.t, cl.dur, node_ip, e.listener_port, nat_ip, cl.a_port, 6,
                                cl.rev_packets, cl.rev_bytes, zero, zero, SYN_ACK, 0)  # fmt: skip
            self.flows.append(observe(hop1, e.nat.eni, "b", path=None, pkt_b=cl.a))
            hop2 = Conversation(cl.t, cl.dur, nat_ip, rng.integers(1024, 65536, k), cl.a, cl.a_port, 6,
                                cl.rev_packets, cl.rev_bytes, zero, zero, SYN_ACK, 0)  # fmt: skip
            self.flows.append(observe(hop2, e.nat.eni, "a", path=8))

        # ALB node -> target (cross-zone), at both ENIs
        fwd = ok
        tt = t + 0.001
        a_port = eph(rng, n)
        tgt_ip = pick(self.target_ip, tgt)
        fpk = np.where(timeout, rng.integers(3, 5, n), rng.integers(4, 9, n))
        rpk = np.where(timeout, rng.integers(3, 5, n), 3 + sent // 1400)
        bk = Conversation(tt, dur, pick(self.node_ip, node), a_port, tgt_ip, e.app_port, 6,
                          fpk, np.where(timeout, fpk * 60, recv + 240), rpk, np.where(timeout, rpk * 60, sent + 220),
                          np.where(timeout, SYN, SYN | FIN), np.where(timeout, SYN_ACK, SYN_ACK | FIN))  # fmt: skip
        at_alb = bk.select(fwd)
        at_alb.rev_packets = np.where(timeout[fwd], 0, at_alb.rev_packets)  # rejected replies never reach the ALB
        self.flows.append(observe(at_alb, pick(self.node_eni, node[fwd]), "a", path=1))
        self.flows.append(observe(bk.select(fwd), pick(self.target_eni, tgt[fwd]), "b", path=1,
                                  rev_action=np.where(timeout[fwd], "REJECT", "ACCEPT")))  # fmt: skip

        # ALB log rows (requests the node received). 502: the target closed the connection,
        # 504: no connection in time; both log -1 for the target and response times.
        m = ok
        k = int(m.sum())
        no_answer = (timeout | (status == 502))[m]
        rpt = np.round(rng.uniform(0, 0.002, k), 3)
        rsp = np.where(no_answer, -1.0, 0.0)
        tp = np.where(no_answer, -1.0, tpt[m])
        resp_time = t[m] + rpt + np.where(timeout[m], TARGET_CONNECT_TIMEOUT_S, np.maximum(tpt[m], 0)) + np.maximum(rsp, 0)
        h2 = rng.random(k) < 0.4
        return pl.DataFrame(
            {
                "time": resp_time,
                "creation": t[m],
                "node": node[m],
                "type": np.where(h2, "h2", "https"),
                "client_ip": client.filter(pl.Series(m)),
                "client_port": cport[m],
                "target_ip": tgt_ip.filter(pl.Series(m)),
                "target_port": np.full(k, e.app_port),
                "request_processing_time": rpt,
                "target_processing_time": tp,
                "response_processing_time": rsp,
                "elb_status_code": status[m],
                "target_status_code": np.where(no_answer, "-", status[m].astype(str)),
                "received_bytes": recv[m],
                "sent_bytes": sent[m],
                "http2": h2,
            }
        )

    # -- health checks ---------------------------------------------------------------
    def health_checks(self) -> None:
        e, rng, f = self.env, self.rng, self.faults
        pairs = len(e.alb_nodes) * len(e.targets)
        t, pair = periodic(rng, e.hc_interval, self.t0, self.t1, pairs)
        node, tgt = pair // len(e.targets), pair % len(e.targets)
        n = len(t)
        blocked = np.zeros(n, dtype=bool)
        if (fn := f.get("nacl_ephemeral")) is not None:
            blocked = fn.mask(t) & (self.target_subnet[tgt] == fn.index)
        fp = np.where(blocked, rng.integers(2, 4, n), 5)
        rp = np.where(blocked, rng.integers(2, 4, n), 4)
        c = Conversation(t, np.full(n, 0.01), pick(self.node_ip, node), eph(rng, n), pick(self.target_ip, tgt),
                         e.app_port, 6, fp, np.where(blocked, fp * 60, rng.integers(330, 420, n)), rp,
                         np.where(blocked, rp * 60, rng.integers(420, 560, n)),
                         np.where(blocked, SYN, SYN | FIN), np.where(blocked, SYN_ACK, SYN_ACK | FIN))  # fmt: skip
        at_alb = c.select(np.ones(n, dtype=bool))
        at_alb.rev_packets = np.where(blocked, 0, rp)
        self.flows.append(observe(at_alb, pick(self.node_eni, node), "a", path=1))
        self.flows.append(observe(c, pick(self.target_eni, tgt), "b", path=1,
                                  rev_action=np.where(blocked, "REJECT", "ACCEPT")))  # fmt: skip

    # -- internet background -----------------------------------------------------------
    def scanning(self) -> None:
        """Unsolicited probes of the ALB nodes' interfaces, REJECTed by the security group."""
        e, rng = self.env, self.rng
        t = poisson_times(rng, SCANS_PER_S * self.scale, self.t0, self.t1)
        n = len(t)
        scanners = ipv4(internet_v4(rng, 400))
        src = scanners.gather(pl.Series(np.minimum(rng.zipf(1.2, n) - 1, 399).astype(np.int64)))
        node = rng.integers(0, len(e.alb_nodes), n)
        ports = np.array([22, 23, 25, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200, 27017])
        dport = np.where(rng.random(n) < 0.7, rng.choice(ports, n), rng.integers(1, 65536, n))
        proto = rng.choice(np.array([6] * 9 + [17]), n)
        pk = rng.integers(1, 3, n)
        zero = np.zeros(n, dtype=np.int64)
        c = Conversation(t, rng.uniform(0, 3, n), src, rng.integers(1024, 65536, n), pick(self.node_ip, node), dport,
                         proto, pk, pk * np.where(proto == 6, 44, 60), zero, zero,
                         np.where(proto == 6, SYN, 0), 0)  # fmt: skip
        df = observe(c, pick(self.node_eni, node), "b", path=None, fwd_action="REJECT")
        self.flows.append(df.with_columns(pl.when(pl.col("protocol") == 6).then(pl.col("tcp_flags")).otherwise(0).alias("tcp_flags")))

    def nat_egress(self) -> None:
        """Package mirrors and third-party APIs, and the periodic reachability probe of env.probe_ip."""
        e, rng, f = self.env, self.rng, self.faults
        T = len(e.targets)
        t = poisson_times(rng, NAT_EGRESS_PER_INSTANCE_S * T * max(self.scale, 0.2), self.t0, self.t1)
        n = len(t)
        remote = self.remote_pool.gather(pl.Series(rng.integers(0, len(self.remote_pool), n)))
        self._via_nat(t, rng.integers(0, T, n), remote, rng.choice(np.array([443, 443, 443, 80]), n), proto=6,
                      fp=rng.integers(8, 30, n), fb=rng.integers(900, 4000, n), rp=rng.integers(10, 80, n),
                      rb=rng.integers(4000, 90000, n), ff=SYN | FIN, rf=SYN_ACK | FIN)  # fmt: skip
        # reachability probe: every instance, HTTPS to one external address
        t, inst = periodic(rng, PROBE_EVERY_S, self.t0, self.t1, T)
        n = len(t)
        denied = f.active("nacl_deny_destination", t)
        probe = pl.repeat(e.probe_ip, n, eager=True)
        ok = ~denied
        self._via_nat(t[ok], inst[ok], probe.filter(pl.Series(ok)), 443, proto=6, fp=np.full(ok.sum(), 9),
                      fb=rng.integers(1000, 1300, ok.sum()), rp=np.full(ok.sum(), 8), rb=rng.integers(4200, 5200, ok.sum()),
                      ff=SYN | FIN, rf=SYN_ACK | FIN)  # fmt: skip
        if denied.any():  # outbound NACL deny: REJECTed at the instance's ENI, nothing reaches the NAT
            # a failed probe is retried PROBE_RETRIES times, PROBE_RETRY_S apart, each from a new port
            td = (t[denied][:, None] + np.arange(PROBE_RETRIES + 1) * PROBE_RETRY_S).ravel()
            idx = np.repeat(inst[denied], PROBE_RETRIES + 1)
            k = len(td)
            pk = rng.integers(3, 6, k)
            c = Conversation(td, rng.uniform(3, 4, k), pick(self.target_ip, idx), eph(rng, k),
                             pl.repeat(e.probe_ip, k, eager=True), 443, 6, pk, pk * 60, np.zeros(k, dtype=np.int64),
                             np.zeros(k, dtype=np.int64), SYN, 0)  # fmt: skip
            self.flows.append(observe(c, pick(self.target_eni, idx), "a", path=1, fwd_action="REJECT"))

    def aws_services(self) -> None:
        """S3 and DynamoDB calls through the gateway endpoints (or the NAT gateway when a route is missing)."""
        e, rng, f = self.env, self.rng, self.faults
        T = len(e.targets)
        s = max(self.scale, 0.2)
        for svc, rate, ranges, name in (("S3", S3_PER_INSTANCE_S, e.s3_ranges, "s3"),
                                        ("DYNAMODB", DDB_PER_INSTANCE_S, e.dynamodb_ranges, "dynamodb")):  # fmt: skip
            t = poisson_times(rng, rate * T * s, self.t0, self.t1)
            n = len(t)
            inst = rng.integers(0, T, n)
            remote = in_ranges(rng, ranges, n)
            fp, rp = rng.integers(6, 20, n), rng.integers(6, 60, n)
            fb, rb = fp * 120 + rng.integers(300, 2000, n), rp * 900 + rng.integers(300, 9000, n)
            if svc == "S3" and (fs := f.get("s3_endpoint_policy")) is not None:
                m = fs.mask(t)  # AccessDenied: a short XML body instead of the object
                rp[m] = rng.integers(5, 8, m.sum())
                rb[m] = rp[m] * 60 + rng.integers(240, 520, m.sum())
            bypass = np.zeros(n, dtype=bool)
            if svc == "DYNAMODB" and (fd := f.get("endpoint_route_missing")) is not None:
                bypass = fd.mask(t) & (self.target_subnet[inst] == fd.index)
            gw = ~bypass
            c = Conversation(t[gw], rng.uniform(0.02, 1.5, gw.sum()), pick(self.target_ip, inst[gw]), eph(rng, gw.sum()),
                             remote.filter(pl.Series(gw)), 443, 6, fp[gw], fb[gw], rp[gw], rb[gw], SYN | FIN, SYN_ACK | FIN)  # fmt: skip
            self.flows.append(observe(c, pick(self.target_eni, inst[gw]), "a", path=7, b_service=svc))
            self._via_nat(t[bypass], inst[bypass], remote.filter(pl.Series(bypass)), 443, proto=6, fp=fp[bypass],
                          fb=fb[bypass], rp=rp[bypass], rb=rb[bypass], ff=SYN | FIN, rf=SYN_ACK | FIN, service=svc)  # fmt: skip
            log.debug("%s calls: %d (%d through the NAT gateway)", name, n, int(bypass.sum()))

    def api_calls(self) -> None:
        """App instances -> API host in the other VPC, through the TGW and the Network Firewall."""
        e, rng, f = self.env, self.rng, self.faults
        T = len(e.targets)
        t = poisson_times(rng, API_PER_INSTANCE_S * T * max(self.scale, 0.2), self.t0, self.t1)
        n = len(t)
        inst = rng.integers(0, T, n)
        noroute, dropped = f.active("tgw_route_missing", t), f.active("firewall_drop", t)
        fp, rp = rng.integers(6, 12, n), rng.integers(5, 14, n)
        fb, rb = fp * 80 + rng.integers(200, 900, n), rp * 400 + rng.integers(500, 6000, n)
        ff, rf = np.full(n, SYN | FIN), np.full(n, SYN_ACK | FIN)
        dur = rng.uniform(0.02, 0.6, n)
        # no route in the TGW route table: SYN retransmits, never answered, nothing reaches the API VPC
        k = int(noroute.sum())
        fp[noroute] = rng.integers(2, 5, k)
        fb[noroute] = fp[noroute] * 60
        rp[noroute], rb[noroute], ff[noroute], rf[noroute] = 0, 0, SYN, 0
        dur[noroute] = rng.uniform(3, 30, k)
        # firewall drops HTTP: handshake completes, the request is retransmitted unanswered, then FIN or RST
        k = int(dropped.sum())
        retrans = rng.integers(3, 6, k)
        fp[dropped] = 2 + retrans + 1
        fb[dropped] = 112 + retrans * rng.integers(180, 600, k) + 52
        rp[dropped] = rng.integers(1, 3, k)
        rb[dropped] = rp[dropped] * 56
        ff[dropped] = SYN | np.where(rng.random(k) < 0.5, FIN, RST)
        rf[dropped] = SYN_ACK
        dur[dropped] = rng.uniform(15, 59, k)
        c = Conversation(t, dur, pick(self.target_ip, inst), eph(rng, n), pl.repeat(e.api_host.ip, n, eager=True),
                         e.api_port, 6, fp, fb, rp, rb, ff, rf)  # fmt: skip
        self.flows.append(observe(c, pick(self.target_eni, inst), "a", path=1))
        if e.api_via_nat and noroute.any():
            # the route table's 0.0.0.0/0 -> NAT catches the API CIDR: the NAT relays the SYNs
            # (NAT ENI: srcaddr instance, dstaddr NAT, pkt-dstaddr API host) and sends them from
            # its own address into its subnet's route table, where nothing answers
            cn = c.select(noroute)
            k = cn.n
            nat_ip = pl.repeat(e.nat.ip, k, eager=True)
            hop1 = Conversation(cn.t, cn.dur, cn.a, cn.a_port, nat_ip, e.api_port, 6, cn.fwd_packets, cn.fwd_bytes,
                                cn.rev_packets, cn.rev_bytes, SYN, 0)  # fmt: skip
            self.flows.append(observe(hop1, e.nat.eni, "b", path=1, pkt_b=cn.b))
            hop2 = Conversation(cn.t + 0.001, cn.dur, nat_ip, rng.integers(1024, 65536, k), cn.b, e.api_port, 6,
                                cn.fwd_packets, cn.fwd_bytes, cn.rev_packets, cn.rev_bytes, SYN, 0)  # fmt: skip
            self.flows.append(observe(hop2, e.nat.eni, "a", path=8))
        reach = ~noroute
        at_api = c.select(reach)
        d = dropped[reach]  # the API host only saw the handshake
        at_api.fwd_packets = np.where(d, 2, at_api.fwd_packets)
        at_api.fwd_bytes = np.where(d, 112, at_api.fwd_bytes)
        at_api.rev_packets = np.where(d, 1, at_api.rev_packets)
        at_api.rev_bytes = np.where(d, 60, at_api.rev_bytes)
        self.flows.append(observe(at_api, e.api_host.eni, "b", path=1))

    def endpoint_idle(self) -> None:
        """Interface endpoints: occasional calls; NODATA for every idle minute; the odd SKIPDATA."""
        e, rng = self.env, self.rng
        T = len(e.targets)
        t, inst = periodic(rng, ENDPOINT_CALL_EVERY_S, self.t0, self.t1, T)
        n = len(t)
        # each instance uses the endpoint ENI in its own subnet (private DNS resolves per AZ)
        by_subnet: dict[int, list[int]] = {}
        for i, h in enumerate(e.endpoint_enis):
            by_subnet.setdefault(e.app_subnets.index(h.subnet), []).append(i)
        choice = np.array([by_subnet[int(s)][0] for s in self.target_subnet])[inst] if n else np.zeros(0, dtype=np.int64)
        alt = rng.random(n) < 0.5
        choice = np.where(alt, choice + len(e.app_subnets), choice) % len(e.endpoint_enis)
        ep_ip = pick([h.ip for h in e.endpoint_enis], choice)
        fp, rp = rng.integers(6, 15, n), rng.integers(6, 15, n)
        c = Conversation(t, rng.uniform(0.05, 0.5, n), pick(self.target_ip, inst), eph(rng, n), ep_ip, 443, 6, fp,
                         fp * 200, rp, rp * 350, SYN | FIN, SYN_ACK | FIN)  # fmt: skip
        self.flows.append(observe(c, pick(self.target_eni, inst), "a", path=1))
        self.flows.append(observe(c, pick([h.eni for h in e.endpoint_enis], choice), "b", path=1))
        minutes = np.arange(self.t0 // 60 * 60, self.t1, 60)
        busy = {(int(ci), int(x) // 60) for ci, x in zip(choice, t, strict=True)}
        idle_eni, idle_t = [], []
        for i, h in enumerate(e.endpoint_enis):
            for m in minutes:
                if (i, int(m) // 60) not in busy:
                    idle_eni.append(h.eni)
                    idle_t.append(m)
        if idle_t:
            self.flows.append(status_records(idle_eni, np.array(idle_t, dtype=np.int64), "NODATA"))
        k = int((self.t1 - self.t0) / 7200 + rng.random())  # one every 2 hours on average
        skip_t = (rng.uniform(self.t0, self.t1, k) // 60 * 60).astype(np.int64)
        self.flows.append(status_records([self.target_eni[int(i)] for i in rng.integers(0, T, k)], skip_t, "SKIPDATA"))

    # -- labelled scan and capture gap ---------------------------------------------------
    def lateral_scan(self) -> None:
        """port_scan: one instance probes many ports of the VPC's other hosts (SYN, REJECTed there)."""
        e, rng, f = self.env, self.rng, self.faults
        fs = f.get("port_scan")
        if fs is None:
            return
        lo, hi = max(fs.start, self.t0), min(fs.end, self.t1)
        if lo >= hi:
            return
        src = e.targets[fs.index % len(e.targets)]
        victims = [h for h in [*e.targets, *e.alb_nodes] if h.eni != src.eni]
        ports = np.unique(np.concatenate([[21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 993, 1433, 1521, 2049,
                                           2375, 3306, 3389, 5432, 5900, 6379, 8080, 9200, 11211, 27017],
                                          rng.integers(1, 10000, 40)]))  # fmt: skip
        t = np.sort(rng.uniform(lo, hi, len(victims) * len(ports)))
        n = len(t)
        order = rng.permutation(n)
        vic, port = order // len(ports), ports[order % len(ports)]
        zero = np.zeros(n, dtype=np.int64)
        pk = rng.integers(1, 3, n)
        c = Conversation(t, rng.uniform(0, 2, n), pl.repeat(src.ip, n, eager=True), eph(rng, n), pick([h.ip for h in victims], vic),
                         port, 6, pk, pk * 44, zero, zero, SYN, 0)  # fmt: skip
        self.flows.append(observe(c, pl.repeat(src.eni, n, eager=True), "a", path=1))
        self.flows.append(observe(c, pick([h.eni for h in victims], vic), "b", path=None, fwd_action="REJECT"))

    def capture_gap(self, flows: pl.DataFrame) -> pl.DataFrame:
        """capture_gap: the instance's records of the window are replaced by one SKIPDATA per minute."""
        fg = self.faults.get("capture_gap")
        if fg is None:
            return flows
        lo, hi = max(fg.start, self.t0), min(fg.end, self.t1)
        if lo >= hi:
            return flows
        eni = self.env.targets[fg.index % len(self.env.targets)].eni
        lost = (pl.col("interface_id") == eni) & pl.col("start").is_between(lo, hi - 1)
        minutes = np.arange(lo // 60 * 60, hi, 60, dtype=np.int64)
        return pl.concat([flows.filter(~lost), status_records([eni], minutes, "SKIPDATA")])

    # -- other accounts' VPCs in the same bucket ------------------------------------------
    def other_vpcs(self) -> None:
        """Benign default VPCs of other accounts: public web servers, S3 through the internet
        gateway (no gateway endpoint, traffic-path 8), egress to the internet, scanning."""
        rng = self.rng
        s = max(self.scale, 0.2)
        for v in self.env.other_vpcs:
            ips, enis = [h.ip for h in v.instances], [h.eni for h in v.instances]
            m = len(ips)
            # internet clients -> the instances' listener (the ENI logs the private address)
            t = poisson_times(rng, 0.3 * s * m, self.t0, self.t1, diurnal=True)
            n = len(t)
            inst = rng.integers(0, m, n)
            fp, rp = rng.integers(6, 14, n), rng.integers(5, 30, n)
            c = Conversation(t, rng.uniform(0.05, 2, n), self.client_pool.gather(pl.Series(rng.integers(0, len(self.client_pool), n))),
                             rng.integers(1024, 65536, n), pick(ips, inst), v.listener_port, 6, fp, fp * 90 + 400,
                             rp, rp * 1200 + 300, SYN | FIN, SYN_ACK | FIN)  # fmt: skip
            self.flows.append(observe(c, pick(enis, inst), "b", path=8))
            # S3 (steady, all day) and other internet egress, both through the internet gateway
            for rate, ranges, svc in ((OTHER_S3_PER_INSTANCE_S, self.env.s3_ranges, "S3"), (NAT_EGRESS_PER_INSTANCE_S, None, None)):
                t = poisson_times(rng, rate * m * s, self.t0, self.t1)
                n = len(t)
                inst = rng.integers(0, m, n)
                remote = in_ranges(rng, ranges, n) if ranges else self.remote_pool.gather(pl.Series(rng.integers(0, len(self.remote_pool), n)))
                fp, rp = rng.integers(6, 20, n), rng.integers(6, 60, n)
                c = Conversation(t, rng.uniform(0.02, 1.5, n), pick(ips, inst), eph(rng, n), remote, 443, 6,
                                 fp, fp * 120 + 300, rp, rp * 900 + 300, SYN | FIN, SYN_ACK | FIN)  # fmt: skip
                self.flows.append(observe(c, pick(enis, inst), "a", path=8, b_service=svc))
            # unsolicited probes of the public addresses, REJECTed by the security group
            t = poisson_times(rng, 0.1 * s * m, self.t0, self.t1)
            n = len(t)
            inst = rng.integers(0, m, n)
            zero = np.zeros(n, dtype=np.int64)
            c = Conversation(t, rng.uniform(0, 3, n), ipv4(internet_v4(rng, n)), rng.integers(1024, 65536, n), pick(ips, inst),
                             rng.choice(np.array([22, 23, 445, 3389, 5432, 6379]), n), 6, np.ones(n, dtype=np.int64),
                             np.full(n, 44), zero, zero, SYN, 0)  # fmt: skip
            self.flows.append(observe(c, pick(enis, inst), "b", path=None, fwd_action="REJECT"))

    def take_flows(self) -> pl.DataFrame:
        """All records generated so far, as one frame; the generator lets go of its parts."""
        parts, self.flows = self.flows, []
        return pl.concat([f for f in parts if f.height] or [empty()])

"""The scenarios: which faults a dataset carries, when, and what a correct finding names.

Each incident scenario injects one misconfiguration for a window in the middle of a
clean period; ``mixed`` injects several, overlapping in time. ``labels()`` gives the
ground truth written to ``labels.json``: the detector expected to fire, its window and
the identifiers (``entity``) a correct finding names. Why each detector:

- asymmetric_route -> ``asymmetric_flow``: replies of one ALB node leave through the
  NAT gateway (egress records at the ALB ENI with traffic-path 1, NAT records with
  srcport = listener port); its clients retransmit SYNs, nothing completes.
- health_check_299 -> ``unexpected_status``: target_status_code 299 at volume.
- nacl_ephemeral -> ``return_traffic_reject`` (egress REJECTs at target ENIs, srcport =
  app port, ephemeral dstport), secondary ``az_5xx_spike`` (504s for that AZ's targets
  until health checks take them out).
- endpoint_route_missing -> ``endpoint_bypass``: DYNAMODB traffic on the NAT ENI and
  traffic-path 1 instead of 7 at the instances.
- s3_endpoint_policy -> none: S3 answers 403 inside TLS; flow logs look normal.
- nacl_deny_destination -> ``reject_burst``: egress REJECTs to one external address.
- tgw_route_missing -> ``unanswered_flow``: SYN-only flows (tcp-flags 2), no reverse.
- firewall_drop -> ``unanswered_flow``: the handshake completes (the firewall must see
  the HTTP request to drop it) but the request is never answered: small one-sided byte
  counts, SYN-ACK as the only reverse flags, FIN/RST from the client after its timeout.
- port_scan -> ``port_scan`` (severity low): one app instance (compromised, or a scanner
  nobody announced) probes many ports of the other hosts in its VPC; their security groups
  REJECT the probes at their interfaces.
- capture_gap -> ``capture_gap``: one busy app instance's flow log writes SKIPDATA instead of
  its records for the window (AWS could not capture them).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from .environment import Env
from .faults import Fault, Faults
from .traffic import TARGET_CONNECT_TIMEOUT_S

INCIDENTS: tuple[str, ...] = (
    "asymmetric_route",
    "health_check_299",
    "nacl_ephemeral",
    "endpoint_route_missing",
    "s3_endpoint_policy",
    "nacl_deny_destination",
    "tgw_route_missing",
    "firewall_drop",
    "port_scan",
    "capture_gap",
)
SCENARIOS: tuple[str, ...] = ("clean", *INCIDENTS, "mixed")
#: ``all`` writes every scenario above into its own sub-folder.
ALL = "all"
MIXED_INCIDENTS: tuple[str, ...] = (
    "nacl_deny_destination",
    "asymmetric_route",
    "endpoint_route_missing",
    "nacl_ephemeral",
    "tgw_route_missing",
    "s3_endpoint_policy",
    "firewall_drop",
)
DETECTORS: dict[str, str | None] = {
    "asymmetric_route": "asymmetric_flow",
    "health_check_299": "unexpected_status",
    "nacl_ephemeral": "return_traffic_reject",
    "endpoint_route_missing": "endpoint_bypass",
    "s3_endpoint_policy": None,
    "nacl_deny_destination": "reject_burst",
    "tgw_route_missing": "unanswered_flow",
    "firewall_drop": "unanswered_flow",
    "port_scan": "port_scan",
    "capture_gap": "capture_gap",
}


def scenario_rng(seed: int, scenario: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(scenario.encode())])


def _minute(x: float) -> int:
    return int(x // 60 * 60)


def plan(scenario: str, env: Env, rng: np.random.Generator, t0: int, t1: int) -> Faults:
    """The faults of ``scenario`` over [t0, t1): windows in the middle, never at the edges."""
    span = t1 - t0
    length = _minute(min(max(span / 5, 600), 2700))
    if scenario == "clean":
        return Faults()
    if scenario == "mixed":
        names = MIXED_INCIDENTS
        first, last = t0 + span * 0.15, t1 - span * 0.15 - length
        step = (last - first) / max(len(names) - 1, 1)
        starts = [_minute(first + i * step) for i in range(len(names))]
        # firewall_drop and tgw_route_missing touch the same calls: keep them apart
        starts[names.index("firewall_drop")] = max(starts[names.index("firewall_drop")],
                                                   starts[names.index("tgw_route_missing")] + length + 60)  # fmt: skip
    else:
        names = (scenario,)
        starts = [_minute(t0 + span / 2 - length / 2 + float(rng.uniform(-0.1, 0.1)) * length)]
    faults = []
    for name, s in zip(names, starts, strict=True):
        index = int(rng.integers(0, 3))
        faults.append(Fault(name, s, min(s + length, t1), index))
    return Faults(faults)


def _iso(epoch: int) -> str:
    return np.datetime_as_string(np.datetime64(int(epoch), "s"), unit="s") + "Z"


#: Fewest ELB 504s for the nacl_ephemeral secondary (az_5xx_spike) to count as visible.
MIN_SPIKE_504 = 10


def labels(scenario: str, env: Env, faults: Faults, seed: int, t0: int, t1: int, stats: dict[str, int]) -> dict[str, Any]:
    """The ground truth of one dataset (``labels.json``).

    The nacl_ephemeral secondary (``az_5xx_spike``) is listed only when the fault caused at
    least MIN_SPIKE_504 504s: at low volume a few timeouts before the health checks react
    are no spike, and a label there would reward a detector for firing on noise.
    """
    incidents = []
    for f in faults:
        entity: dict[str, str]
        window = (f.start, f.end)
        extra: list[dict[str, Any]] = []
        if f.scenario == "asymmetric_route":
            node = env.alb_nodes[f.index]
            entity = {"interface_id": node.eni, "node_ip": node.ip, "subnet_id": node.subnet.subnet_id,
                      "az_id": env.az_ids[node.subnet.az], "nat_interface_id": env.nat.eni}  # fmt: skip
        elif f.scenario == "health_check_299":
            entity = {"target_status_code": "299", "load_balancer": env.load_balancer, "target_group_arn": env.target_group}
        elif f.scenario == "nacl_ephemeral":
            sub = env.app_subnets[f.index]
            entity = {"subnet_id": sub.subnet_id, "az_id": env.az_ids[sub.az], "srcport": str(env.app_port)}
            spike_end = _minute(f.start + env.unhealthy_after + 2 * TARGET_CONNECT_TIMEOUT_S + 59)
            n504 = stats.get("nacl_ephemeral_504", 0)
            if n504 >= MIN_SPIKE_504:
                extra.append({"detector": "az_5xx_spike", "window_start": _iso(f.start), "window_end": _iso(min(spike_end, f.end)),
                              "role": "secondary", "elb_504": n504,
                              "entity": {"az_id": env.az_ids[sub.az], "elb_status_code": "504"}})  # fmt: skip
        elif f.scenario == "endpoint_route_missing":
            sub = env.app_subnets[f.index]
            entity = {"subnet_id": sub.subnet_id, "az_id": env.az_ids[sub.az], "pkt_dst_aws_service": "DYNAMODB",
                      "nat_interface_id": env.nat.eni}  # fmt: skip
        elif f.scenario == "s3_endpoint_policy":
            entity = {"endpoint_id": env.ids["vpce_s3"], "service": "s3"}
        elif f.scenario == "nacl_deny_destination":
            entity = {"dstaddr": env.probe_ip, "dstport": "443", "nacl_id": env.ids["acl_app"]}
        elif f.scenario == "port_scan":
            h = env.targets[f.index % len(env.targets)]
            entity = {"srcaddr": h.ip, "interface_id": h.eni}
        elif f.scenario == "capture_gap":
            h = env.targets[f.index % len(env.targets)]
            entity = {"interface_id": h.eni, "subnet_id": h.subnet.subnet_id, "az_id": env.az_ids[h.subnet.az]}
        else:  # tgw_route_missing, firewall_drop
            entity = {"dstaddr": env.api_host.ip, "dstport": str(env.api_port)}
        base = {
            "scenario": f.scenario,
            "detector": DETECTORS[f.scenario],
            "window_start": _iso(window[0]),
            "window_end": _iso(window[1]),
            "visible_in_logs": DETECTORS[f.scenario] is not None,
            "role": "primary",
            "entity": entity,
        }
        incidents.append(base)
        incidents.extend({"scenario": f.scenario, "visible_in_logs": True, **e} for e in extra)
    return {"scenario": scenario, "seed": seed, "start": _iso(t0), "end": _iso(t1), "incidents": incidents}

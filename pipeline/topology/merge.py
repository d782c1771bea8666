"""Merge topologies from several sources into one map, keeping who said what.

Precedence: a configuration snapshot (``api``, ``file``, ``simulator``) beats what the
logs suggest (``logs``); between two snapshots the newer ``taken_at`` wins. The merge
is per object (interface, subnet, route table, ...) and, for interfaces and subnets,
per field: a winner's missing field is filled from the loser, and the winner's
``source``/``confidence`` are kept. An interface whose address changed keeps its
older addresses in ``previous_ips`` so old flow records still resolve.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import fields
from typing import Any, TypeVar

from .model import Interface, LoadBalancer, Subnet, Topology

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Higher ranks win. Snapshots of configuration outrank inference from logs.
SOURCE_RANK: dict[str, int] = {"logs": 0, "file": 1, "simulator": 1, "api": 1}

# Values that mean "this source does not know".
_UNKNOWN: tuple[Any, ...] = (None, "", "unknown")
_PROVENANCE = ("source", "confidence", "seen_at", "previous_ips")


def _order_key(topo: Topology) -> tuple[int, str]:
    return SOURCE_RANK.get(topo.source, 1), topo.taken_at or ""


def _overlay(old: T, new: T) -> T:
    """``new`` with its unknown fields filled from ``old`` (provenance stays ``new``'s)."""
    out = copy.deepcopy(new)
    for f in fields(out):  # type: ignore[arg-type]
        if f.name in _PROVENANCE:
            continue
        if getattr(out, f.name) in _UNKNOWN and getattr(old, f.name) not in _UNKNOWN:
            setattr(out, f.name, copy.deepcopy(getattr(old, f.name)))
    return out


def _merge_interface(old: Interface, new: Interface) -> Interface:
    out = _overlay(old, new)
    if new.kind == "unknown" and old.kind != "unknown":
        out.source, out.confidence = old.source, old.confidence
    previous = [*old.previous_ips, *new.previous_ips]
    if old.private_ip and old.private_ip != out.private_ip:
        previous.append(old.private_ip)
    out.previous_ips = sorted({ip for ip in previous if ip and ip != out.private_ip})
    out.seen_at = max(filter(None, (old.seen_at, new.seen_at)), default=None)
    return out


def _stamp(topo: Topology) -> Topology:
    """A copy whose interfaces and subnets carry their snapshot's source and time."""
    t = copy.deepcopy(topo)
    for i in t.interfaces:
        i.seen_at = i.seen_at or t.taken_at
        if t.source == "logs":
            i.source = "logs"
        elif i.source == "file":  # the field's default: take the snapshot's own source
            i.source = t.source
    for s in t.subnets:
        s.source = s.source or t.source
    return t


def merge(*topologies: Topology) -> Topology:
    """One topology from many; see the module docstring for precedence."""
    ordered = [_stamp(t) for t in sorted(topologies, key=_order_key)]
    out = Topology(source="logs")
    if not ordered:
        return out
    interfaces: dict[str, Interface] = {}
    subnets: dict[str, Subnet] = {}
    keyed: dict[str, dict[str, Any]] = {"route_tables": {}, "nacls": {}, "endpoints": {}}
    key_of = {"route_tables": "route_table_id", "nacls": "nacl_id", "endpoints": "endpoint_id"}
    lbs: dict[str, LoadBalancer] = {}
    vpcs: set[str] = set()
    tgw_cidrs: list[str] = []
    for t in ordered:  # lowest precedence first; later ones overlay
        for i in t.interfaces:
            interfaces[i.interface_id] = _merge_interface(interfaces[i.interface_id], i) if i.interface_id in interfaces else i
        for s in t.subnets:
            subnets[s.subnet_id] = _overlay(subnets[s.subnet_id], s) if s.subnet_id in subnets else s
        for attr, key in key_of.items():
            for obj in getattr(t, attr):
                keyed[attr][getattr(obj, key)] = obj
        for lb in t.load_balancers:
            prev = lbs.get(lb.name)
            if prev is None:
                lbs[lb.name] = lb
            else:
                prev.node_ips = sorted({*prev.node_ips, *lb.node_ips})
                prev.subnet_ids = sorted({*prev.subnet_ids, *lb.subnet_ids})
        vpcs.update(t.vpc_ids)
        tgw_cidrs.extend(c for c in t.transit_gateway_cidrs if c not in tgw_cidrs)
        out.region = t.region or out.region
        out.account_id = t.account_id or out.account_id
        out.extra.update(t.extra)
    top = ordered[-1]
    out.source = top.source
    # The time of the newest configuration snapshot (hints quote it); logs only if nothing else.
    configs = [t for t in ordered if t.source != "logs"] or ordered
    out.taken_at = max((t.taken_at for t in configs if t.taken_at), default=None)
    out.interfaces = sorted(interfaces.values(), key=lambda i: i.interface_id)
    out.subnets = sorted(subnets.values(), key=lambda s: s.subnet_id)
    out.route_tables = sorted(keyed["route_tables"].values(), key=lambda r: r.route_table_id)
    out.nacls = sorted(keyed["nacls"].values(), key=lambda n: n.nacl_id)
    out.endpoints = sorted(keyed["endpoints"].values(), key=lambda e: e.endpoint_id)
    out.load_balancers = sorted(lbs.values(), key=lambda lb: lb.name)
    out.vpc_ids = sorted(vpcs)
    out.transit_gateway_cidrs = tgw_cidrs
    out.extra["merged_from"] = [{"source": t.source, "taken_at": t.taken_at} for t in ordered]
    log.debug("merged %d topologies: %d interfaces, %d subnets", len(ordered), len(interfaces), len(subnets))
    return out

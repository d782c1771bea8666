"""Evaluate network ACL rules the way AWS does: lowest rule number first, first match decides.

Used by the configuration hints to say which rule decides a REJECTed flow, or which
part of a port range (the ephemeral ports of return traffic) no rule allows.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .model import Nacl, NaclEntry

EPHEMERAL_PORTS: tuple[int, int] = (1024, 65535)
DEFAULT_RULE_NUMBER = 32767  # the "*" rule AWS lists last in every NACL
_PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "all": -1}
_PROTOCOL_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", -1: "all traffic"}


@dataclass(frozen=True)
class PortDecision:
    """Ports ``low``..``high`` are decided by ``entry`` (None: no rule matched, the default deny)."""

    low: int
    high: int
    entry: NaclEntry | None

    @property
    def allowed(self) -> bool:
        return self.entry is not None and self.entry.action == "allow"


def protocol_number(value: str | int | None) -> int:
    """-1 for "all", else the IANA number; accepts "6", 6, "tcp"."""
    if value is None:
        return -1
    s = str(value).strip().lower()
    if s in _PROTOCOL_NUMBERS:
        return _PROTOCOL_NUMBERS[s]
    try:
        return int(s)
    except ValueError:
        return -1


def protocol_name(value: str | int | None) -> str:
    n = protocol_number(value)
    return _PROTOCOL_NAMES.get(n, f"protocol {n}")


def _addr_matches(entry: NaclEntry, ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip)
        net = ipaddress.ip_network(entry.cidr, strict=False)
    except ValueError:
        return False
    return a.version == net.version and a in net


def _entry_ports(entry: NaclEntry) -> tuple[int, int]:
    if protocol_number(entry.protocol) in (6, 17) and entry.port_from is not None:
        return int(entry.port_from), int(entry.port_to if entry.port_to is not None else entry.port_from)
    return 0, 65535


def _candidates(nacl: Nacl, *, egress: bool, addr: str, protocol: int) -> list[NaclEntry]:
    out = []
    for e in sorted(nacl.entries, key=lambda e: e.rule_number):
        p = protocol_number(e.protocol)
        if e.egress == egress and (p == -1 or p == protocol) and _addr_matches(e, addr):
            out.append(e)
    return out


def decide(nacl: Nacl, *, egress: bool, addr: str, protocol: int, port: int | None) -> NaclEntry | None:
    """The rule that decides one packet (peer ``addr``, ``port``); None means the default deny."""
    for e in _candidates(nacl, egress=egress, addr=addr, protocol=protocol):
        lo, hi = _entry_ports(e)
        if port is None or lo <= port <= hi:
            return e
    return None


def decide_range(nacl: Nacl, *, egress: bool, addr: str, protocol: int, low: int, high: int) -> list[PortDecision]:
    """How every port in ``low..high`` toward/from ``addr`` is decided, as contiguous segments."""
    remaining = [(low, high)]
    decided: list[PortDecision] = []
    for e in _candidates(nacl, egress=egress, addr=addr, protocol=protocol):
        lo, hi = _entry_ports(e)
        left = []
        for a, b in remaining:
            if b < lo or a > hi:
                left.append((a, b))
                continue
            decided.append(PortDecision(max(a, lo), min(b, hi), e))
            if a < lo:
                left.append((a, lo - 1))
            if b > hi:
                left.append((hi + 1, b))
        remaining = left
        if not remaining:
            break
    decided.extend(PortDecision(a, b, None) for a, b in remaining)
    return sorted(decided, key=lambda d: d.low)


def describe_entry(entry: NaclEntry | None) -> str:
    """``rule 100 (allow tcp 443 to 0.0.0.0/0)`` or ``the default deny rule (*)``."""
    if entry is None or entry.rule_number >= DEFAULT_RULE_NUMBER:
        return "the default deny rule (*)"
    ports = ""
    if protocol_number(entry.protocol) in (6, 17) and entry.port_from is not None:
        lo, hi = _entry_ports(entry)
        ports = f" {lo}" if lo == hi else f" {lo}-{hi}"
    way = "to" if entry.egress else "from"
    return f"rule {entry.rule_number} ({entry.action} {protocol_name(entry.protocol)}{ports} {way} {entry.cidr})"

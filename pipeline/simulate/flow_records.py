"""Vectorised flow-record building: conversations in, per-interface records out.

A *conversation* is one TCP/UDP exchange between an ``a`` end (the initiator) and a
``b`` end, with packet/byte counts and the OR of TCP flags in each direction. Each
interface the packets cross records both directions (flow logs capture traffic at every
ENI), so ``observe`` turns N conversations into up to 2N records for one interface:
the a->b direction is ``egress`` at the a-side interface and ``ingress`` at the b-side.
``traffic-path`` is set on egress records only, as AWS does.

The aggregation interval is 60 s: ``start``/``end`` of a record stay inside the
minute of its first packet.

Reference: https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
(fields, tcp-flags as the OR over the interval, flow-direction, traffic-path values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

AGGREGATION_SECONDS = 60

#: Columns of the simulator's record frames (lake column names, see pipeline.schema).
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "interface_id": pl.String(),
    "srcaddr": pl.String(),
    "dstaddr": pl.String(),
    "srcport": pl.Int64(),
    "dstport": pl.Int64(),
    "protocol": pl.Int64(),
    "packets": pl.Int64(),
    "bytes": pl.Int64(),
    "start": pl.Int64(),
    "end": pl.Int64(),
    "action": pl.String(),
    "log_status": pl.String(),
    "tcp_flags": pl.Int64(),
    "type": pl.String(),
    "pkt_srcaddr": pl.String(),
    "pkt_dstaddr": pl.String(),
    "pkt_src_aws_service": pl.String(),
    "pkt_dst_aws_service": pl.String(),
    "flow_direction": pl.String(),
    "traffic_path": pl.Int64(),
}

Values = str | int | None | np.ndarray | pl.Series

# TCP flag values as flow logs report them (ACK is not reported on its own).
FIN, SYN, RST, SYN_ACK = 1, 2, 4, 18


def col(name: str, v: Values, n: int) -> pl.Series:
    """A column of length ``n`` from a scalar, numpy array or Series, typed per RECORD_SCHEMA."""
    dtype = RECORD_SCHEMA[name]
    if isinstance(v, pl.Series):
        s = v.alias(name)
    elif isinstance(v, np.ndarray):
        s = pl.Series(name, v)
    else:
        return pl.repeat(v, n, dtype=dtype, eager=True).alias(name)
    return s.cast(dtype)


def ipv4(u32: np.ndarray) -> pl.Series:
    """Dotted-quad strings for an array of 32-bit addresses (no Python loop)."""
    x = pl.Series("x", u32.astype(np.int64))
    return pl.select(
        pl.concat_str([(pl.lit(x) // (1 << s) % 256).cast(pl.String) for s in (24, 16, 8, 0)], separator=".")
    ).to_series()


def pick(pool: list[str], idx: np.ndarray) -> pl.Series:
    """``pool[idx]`` as a string Series."""
    return pl.Series(pool, dtype=pl.String).gather(pl.Series(idx.astype(np.int64)))


@dataclass
class Conversation:
    t: np.ndarray  # first packet, epoch seconds (float)
    dur: np.ndarray  # seconds until the last packet
    a: pl.Series
    a_port: Values
    b: pl.Series
    b_port: Values
    proto: Values
    fwd_packets: np.ndarray
    fwd_bytes: np.ndarray
    rev_packets: np.ndarray
    rev_bytes: np.ndarray
    fwd_flags: Values
    rev_flags: Values
    family: Values = "IPv4"

    @property
    def n(self) -> int:
        return len(self.t)

    def select(self, mask: np.ndarray) -> Conversation:
        """The conversations where ``mask`` holds."""

        def sub(v: Values) -> Values:
            if isinstance(v, np.ndarray):
                return v[mask]
            if isinstance(v, pl.Series):
                return v.filter(pl.Series(mask))
            return v

        changes: dict[str, Any] = {k: sub(getattr(self, k)) for k in self.__dataclass_fields__}
        return dataclasses.replace(self, **changes)


def _times(t: np.ndarray, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    start = np.floor(t).astype(np.int64)
    window_end = (start // AGGREGATION_SECONDS + 1) * AGGREGATION_SECONDS
    end = np.minimum(np.floor(t + dur).astype(np.int64), window_end - 1)
    return start, np.maximum(end, start)


def observe(
    c: Conversation,
    iface: str | pl.Series,
    side: str,
    *,
    path: int | None,
    fwd_action: Values = "ACCEPT",
    rev_action: Values = "ACCEPT",
    pkt_a: pl.Series | None = None,
    pkt_b: pl.Series | None = None,
    a_service: Values = None,
    b_service: Values = None,
) -> pl.DataFrame:
    """Both directions of ``c`` as recorded at ``iface``, which sits on ``side`` ('a' or 'b').

    ``pkt_a``/``pkt_b`` give the packet-level addresses when they differ from the
    interface-level ones (NAT gateway, ALB/TGW forwarding). Zero-packet directions
    (no answer) produce no record.
    """
    n = c.n
    if n == 0:
        return empty()
    start, end = _times(c.t, c.dur)
    pa_, pb_ = (c.a if pkt_a is None else pkt_a), (c.b if pkt_b is None else pkt_b)
    fwd_dir, rev_dir = ("egress", "ingress") if side == "a" else ("ingress", "egress")
    fwd_path, rev_path = (path, None) if side == "a" else (None, path)
    parts = []
    for src, dst, sp, dp, psrc, pdst, pk, by, fl, act, d, tp, ssvc, dsvc in (
        (c.a, c.b, c.a_port, c.b_port, pa_, pb_, c.fwd_packets, c.fwd_bytes, c.fwd_flags, fwd_action, fwd_dir, fwd_path, a_service, b_service),
        (c.b, c.a, c.b_port, c.a_port, pb_, pa_, c.rev_packets, c.rev_bytes, c.rev_flags, rev_action, rev_dir, rev_path, b_service, a_service),
    ):  # fmt: skip
        df = pl.DataFrame(
            [
                col("interface_id", iface, n), col("srcaddr", src, n), col("dstaddr", dst, n),
                col("srcport", sp, n), col("dstport", dp, n), col("protocol", c.proto, n),
                col("packets", pk, n), col("bytes", by, n), col("start", start, n), col("end", end, n),
                col("action", act, n), col("log_status", "OK", n), col("tcp_flags", fl, n),
                col("type", c.family, n), col("pkt_srcaddr", psrc, n), col("pkt_dstaddr", pdst, n),
                col("pkt_src_aws_service", ssvc, n), col("pkt_dst_aws_service", dsvc, n),
                col("flow_direction", d, n), col("traffic_path", tp, n),
            ]
        )  # fmt: skip
        parts.append(df.filter(pl.col("packets") > 0))
    return pl.concat(parts)


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RECORD_SCHEMA)


def status_records(ifaces: list[str], starts: np.ndarray, status: str) -> pl.DataFrame:
    """NODATA / SKIPDATA records: only the interface, interval and status are known."""
    n = len(starts)
    idx = np.arange(n) % max(len(ifaces), 1)
    return pl.DataFrame(
        [col(k, None, n) for k in RECORD_SCHEMA if k not in ("interface_id", "start", "end", "log_status")]
        + [pick(ifaces, idx).alias("interface_id"), col("start", starts, n),
           col("end", starts + AGGREGATION_SECONDS - 1, n), col("log_status", status, n)]
    ).select(list(RECORD_SCHEMA))  # fmt: skip

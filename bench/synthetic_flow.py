"""Synthetic VPC flow-log records in a custom version-5 field order (fallback data).

FALLBACK DATA ONLY (see synthetic_env.py). Conversations are recorded in both
directions at every interface they cross, as AWS does, so a one-way-flow query has
realistic work to do; internet scanners add one-way REJECTs; idle interfaces add
NODATA. Field names and the v5 field set come from ``pipeline.schema``.
"""

from __future__ import annotations

import random

import polars as pl

from bench.random_columns import RandomColumns, frame, ipv4
from bench.synthetic_env import ACCOUNT, APP_PORT, FILE_SECONDS, REGION, START, VPC_ID, Env
from pipeline.schema import FLOW_FIELDS

FLOW_VERSION = 5
#: Share of records per kind; scanner REJECTs take the remainder.
SHARES = {"client_alb": 0.28, "alb_target": 0.32, "nat": 0.16, "s3": 0.10, "nodata": 0.01}
RECORDS_PER_EVENT = {"client_alb": 2, "alb_target": 4, "nat": 4, "s3": 2, "nodata": 1, "scan": 1}
SCAN_PORTS = [22, 23, 80, 443, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200]


def field_order(seed: int) -> list[str]:
    """A custom order of every v2-v5 field (AWS names), different per seed."""
    names = [f.aws for f in FLOW_FIELDS if 2 <= f.version <= 5]
    random.Random(seed).shuffle(names)
    return names


def _times(rc: RandomColumns, duration_s: int, offset_s: int) -> list[pl.Expr]:
    t0 = int(START.timestamp()) + offset_s
    minute = rc.int(1, 0, max(1, duration_s // 60))
    start = t0 + minute * 60 + rc.int(2, 0, 30)
    return [start.alias("start"), (start + rc.int(3, 5, 30)).alias("end")]


def _traffic(rc: RandomColumns) -> list[pl.Expr]:
    return [rc.int(4, 1, 40).alias("packets"), rc.int(5, 60, 60_000).alias("bytes"), rc.int(6, 1024, 65536).alias("eport")]


def _rec(
    df: pl.DataFrame,
    *,
    iface: pl.Expr,
    src: pl.Expr,
    dst: pl.Expr,
    sport: pl.Expr,
    dport: pl.Expr,
    direction: str,
    path: int | None,
    flags: int,
    action: str = "ACCEPT",
    pkt_src: pl.Expr | None = None,
    pkt_dst: pl.Expr | None = None,
    src_service: str | None = None,
    dst_service: str | None = None,
) -> pl.DataFrame:
    """One record per row of ``df`` as seen at ``iface`` (traffic-path only on egress)."""
    return df.select(
        iface.cast(pl.Int64).alias("iface"),
        src.alias("srcaddr"),
        dst.alias("dstaddr"),
        sport.cast(pl.Int64).alias("srcport"),
        dport.cast(pl.Int64).alias("dstport"),
        pl.lit(6, pl.Int64).alias("protocol"),
        "packets",
        "bytes",
        "start",
        "end",
        pl.lit(action).alias("action"),
        pl.lit(flags, pl.Int64).alias("tcp_flags"),
        pl.lit(direction).alias("flow_direction"),
        pl.lit(path if direction == "egress" else None, pl.Int64).alias("traffic_path"),
        (pkt_src if pkt_src is not None else src).alias("pkt_srcaddr"),
        (pkt_dst if pkt_dst is not None else dst).alias("pkt_dstaddr"),
        pl.lit(src_service, pl.String).alias("pkt_src_aws_service"),
        pl.lit(dst_service, pl.String).alias("pkt_dst_aws_service"),
        pl.lit("OK").alias("log_status"),
    )


def _ip_of(index: pl.Expr, ips: list[str]) -> pl.Expr:
    return index.replace_strict(dict(enumerate(ips)), return_dtype=pl.String)


def _kind_frames(kind: str, n: int, rc: RandomColumns, env: Env, duration_s: int, offset_s: int) -> list[pl.DataFrame]:
    if n <= 0:
        return []
    nodes, insts = env.alb_nodes, env.instances
    n_nodes, off_inst, nat_idx = len(nodes), len(nodes), len(nodes) + len(insts)
    base = frame(n).with_columns(*_times(rc, duration_s, offset_s), *_traffic(rc))
    node = rc.int(10, 0, n_nodes)
    inst = rc.int(11, 0, len(insts))
    node_ip = _ip_of(node, [i.ip for i in nodes])
    inst_ip = _ip_of(inst, [i.ip for i in insts])
    eport = pl.col("eport")
    if kind == "client_alb":
        # skewed client population: a few heavy clients, a long tail
        client = ipv4(pl.lit(45 << 24) + ((rc.unit(12) ** 3) * 200_000).cast(pl.Int64) * 2_654_435)
        b = base.with_columns(node.alias("n"), client.alias("c"), node_ip.alias("nip"))
        n_, c, nip = pl.col("n"), pl.col("c"), pl.col("nip")
        return [
            _rec(b, iface=n_, src=c, dst=nip, sport=eport, dport=pl.lit(443), direction="ingress", path=None, flags=3),
            _rec(b, iface=n_, src=nip, dst=c, sport=pl.lit(443), dport=eport, direction="egress", path=8, flags=19),
        ]
    if kind == "alb_target":
        b = base.with_columns(node.alias("n"), inst.alias("t"), node_ip.alias("nip"), inst_ip.alias("tip"))
        n_, t, nip, tip, app = pl.col("n"), pl.col("t") + off_inst, pl.col("nip"), pl.col("tip"), pl.lit(APP_PORT)
        return [
            _rec(b, iface=n_, src=nip, dst=tip, sport=eport, dport=app, direction="egress", path=1, flags=3),
            _rec(b, iface=n_, src=tip, dst=nip, sport=app, dport=eport, direction="ingress", path=None, flags=19),
            _rec(b, iface=t, src=nip, dst=tip, sport=eport, dport=app, direction="ingress", path=None, flags=3),
            _rec(b, iface=t, src=tip, dst=nip, sport=app, dport=eport, direction="egress", path=1, flags=19),
        ]
    if kind == "nat":
        ext = ipv4(pl.lit(34 << 24) + rc.int(13, 0, 2000) * 7919)
        b = base.with_columns(inst.alias("t"), inst_ip.alias("tip"), ext.alias("x"))
        t, tip, x, https = pl.col("t") + off_inst, pl.col("tip"), pl.col("x"), pl.lit(443)
        nat, nat_ip = pl.lit(nat_idx), pl.lit(env.nat.ip)
        return [
            _rec(b, iface=t, src=tip, dst=x, sport=eport, dport=https, direction="egress", path=1, flags=3),
            _rec(b, iface=t, src=x, dst=tip, sport=https, dport=eport, direction="ingress", path=None, flags=19),
            _rec(b, iface=nat, src=tip, dst=x, sport=eport, dport=https, direction="ingress", path=None, flags=3),
            _rec(b, iface=nat, src=x, dst=tip, sport=https, dport=eport, direction="egress", path=8, flags=19,
                 pkt_src=x, pkt_dst=nat_ip),
        ]  # fmt: skip
    if kind == "s3":
        s3ip = ipv4(pl.lit((52 << 24) + (216 << 16)) + rc.int(14, 0, 65536))
        b = base.with_columns(inst.alias("t"), inst_ip.alias("tip"), s3ip.alias("x"))
        t, tip, x, https = pl.col("t") + off_inst, pl.col("tip"), pl.col("x"), pl.lit(443)
        return [
            _rec(b, iface=t, src=tip, dst=x, sport=eport, dport=https, direction="egress", path=7, flags=3, dst_service="S3"),
            _rec(b, iface=t, src=x, dst=tip, sport=https, dport=eport, direction="ingress", path=None, flags=19,
                 src_service="S3"),
        ]  # fmt: skip
    if kind == "scan":
        public_ifaces = list(range(n_nodes)) + [nat_idx]
        target = rc.int(15, 0, len(public_ifaces)).replace_strict(dict(enumerate(public_ifaces)), return_dtype=pl.Int64)
        target_ip = rc.int(15, 0, len(public_ifaces)).replace_strict(
            dict(enumerate([nodes[i].ip for i in range(n_nodes)] + [env.nat.ip])), return_dtype=pl.String
        )
        scanner = ipv4(pl.lit(185 << 24) + rc.int(16, 0, 5000) * 104_729)
        port = pl.when(rc.unit(17) < 0.7).then(rc.pick(18, [str(p) for p in SCAN_PORTS]).cast(pl.Int64))
        port = port.otherwise(rc.int(19, 1, 65536))
        b = base.with_columns(pl.lit(1).alias("packets"), pl.lit(40).alias("bytes"))
        return [
            _rec(b, iface=target, src=scanner, dst=target_ip, sport=eport, dport=port, direction="ingress", path=None,
                 flags=2, action="REJECT")
        ]  # fmt: skip
    if kind == "nodata":
        return [
            base.select(
                rc.int(20, 0, len(env.interfaces)).alias("iface"),
                "start",
                (pl.col("start") + 60).alias("end"),
                pl.lit("NODATA").alias("log_status"),
            )
        ]
    raise ValueError(f"unknown record kind {kind!r}")


def flow_records(n: int, *, duration_s: int, seed: int, env: Env, offset_s: int = 0) -> pl.DataFrame:
    """``n`` records (lake column names) plus ``file``: the index of the 5-minute object each lands in.

    Records fall in ``[START + offset_s, START + offset_s + duration_s)``; ``file`` counts from START.
    """
    counts = {k: int(n * share) // RECORDS_PER_EVENT[k] for k, share in SHARES.items()}
    counts["scan"] = n - sum(c * RECORDS_PER_EVENT[k] for k, c in counts.items())
    parts: list[pl.DataFrame] = []
    for stream, (kind, events) in enumerate(counts.items()):
        rc_kind = RandomColumns(seed * 31 + stream)
        parts.extend(_kind_frames(kind, events, rc_kind, env, duration_s, offset_s))
    df = pl.concat(parts, how="diagonal_relaxed")
    df = df.join(env.interface_frame(), on="iface", how="left").drop("iface")
    first_file = offset_s // FILE_SECONDS
    last_file = first_file + max(0, (duration_s - 1) // FILE_SECONDS)
    t0 = int(START.timestamp())
    df = df.with_columns(
        pl.lit(FLOW_VERSION, pl.Int64).alias("version"),
        pl.lit(ACCOUNT).alias("account_id"),
        pl.lit(VPC_ID).alias("vpc_id"),
        pl.lit(REGION).alias("region"),
        pl.when(pl.col("log_status") == "OK").then(pl.lit("IPv4")).alias("type"),
        ((pl.col("end") - t0) // FILE_SECONDS).clip(first_file, last_file).alias("file"),
    )
    return df.sort("file", "start", maintain_order=True)


def render_lines(df: pl.DataFrame, order: list[str]) -> pl.Series:
    """Each record as AWS writes it: fields in ``order``, one space apart, ``-`` for absent."""
    cols = []
    for aws in order:
        col = aws.replace("-", "_")
        cols.append(pl.col(col).cast(pl.String).fill_null("-") if col in df.columns else pl.lit("-"))
    return df.select(pl.concat_str(cols, separator=" ").alias("line"))["line"]

"""Synthetic ALB access-log lines in the newest documented shape (fallback data).

FALLBACK DATA ONLY (see synthetic_env.py). Quoting, ``-`` placeholders, ``-1``
timings and ``-`` targets for 502/503/504, ``\\x22``-escaped quotes in user agents
and IPv6 clients without brackets follow the ALB access-log documentation:
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from bench.random_columns import RandomColumns, frame, ipv4
from bench.synthetic_env import ACCOUNT, APP_PORT, FILE_SECONDS, LB_ID, LB_NAME, REGION, START, Env

TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/bench-app/73e2d6bc24d8a067"
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"
PATHS = ["/", "/api/v1/items/{}", "/api/v1/cart/{}", "/static/app.{}.js", "/login", "/search?q={}", "/health", "/img/{}.png"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
    r"Mozilla/5.0 (compatible; \x22quoted\x22 bot/1.0)",
    "-",
]


def _ms(expr: pl.Expr) -> pl.Expr:
    """Seconds with three decimals from integer milliseconds, ``-1`` kept as ``-1``."""
    return (
        pl.when(expr < 0)
        .then(pl.lit("-1"))
        .otherwise(pl.concat_str([(expr // 1000).cast(pl.String), pl.lit("."), (expr % 1000).cast(pl.String).str.zfill(3)]))
    )


def _q(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit('"'), expr, pl.lit('"')])


def alb_lines(n: int, *, duration_s: int, seed: int, env: Env, offset_s: int = 0) -> pl.DataFrame:
    """``n`` lines with ``node`` (index of the ALB node) and ``file`` (5-minute window index)."""
    rc = RandomColumns(seed * 31 + 101)
    nodes, insts = env.alb_nodes, env.instances
    t0 = pl.lit(START)
    df = frame(n).with_columns(
        (t0 + pl.duration(seconds=offset_s) + pl.duration(microseconds=(rc.unit(1) * duration_s * 1_000_000).cast(pl.Int64))).alias("ts"),
        rc.int(2, 0, len(nodes)).alias("node"),
        rc.weighted(3, [(0.7, "https"), (0.2, "http"), (0.1, "h2")]).alias("type"),
        rc.weighted(
            4, [(0.90, 200), (0.03, 304), (0.02, 301), (0.025, 404), (0.01, 400), (0.005, 500), (0.004, 502), (0.003, 503), (0.003, 504)]
        ).cast(pl.Int64).alias("status"),
        rc.int(5, 0, len(insts)).alias("target"),
        rc.int(6, 0, 3).alias("rpt_ms"),
        ((-(rc.unit(7) + 1e-9).log()) * 60).cast(pl.Int64).alias("tpt_ms"),
        rc.int(8, 0, 2).alias("rsp_ms"),
    )
    status = pl.col("status")
    no_target = status == 503
    no_answer = status.is_in([502, 504])
    client_v4 = ipv4(pl.lit(23 << 24) + ((rc.unit(9) ** 3) * 300_000).cast(pl.Int64) * 2_654_435)
    client_v6 = pl.concat_str([pl.lit("2600:1f18:"), (rc.int(10, 0, 65536)).cast(pl.String), pl.lit("::"), rc.int(11, 1, 9999).cast(pl.String)])
    client = pl.when(rc.unit(12) < 0.02).then(client_v6).otherwise(client_v4)
    target_ip = pl.col("target").replace_strict(dict(enumerate(i.ip for i in insts)), return_dtype=pl.String)
    target = pl.when(no_target).then(pl.lit("-")).otherwise(pl.concat_str([target_ip, pl.lit(f":{APP_PORT}")]))
    target_status = pl.when(no_target | no_answer).then(pl.lit("-")).otherwise(status.cast(pl.String))
    rpt = pl.when(no_target).then(-1).otherwise(pl.col("rpt_ms"))
    tpt = pl.when(no_target | no_answer).then(-1).otherwise(pl.col("tpt_ms"))
    rsp = pl.when(no_target | no_answer).then(-1).otherwise(pl.col("rsp_ms"))
    verb = rc.weighted(13, [(0.8, "GET"), (0.12, "POST"), (0.04, "PUT"), (0.02, "DELETE"), (0.02, "HEAD")])
    path = rc.pick(14, PATHS).str.replace("{}", rc.int(15, 1, 1_000_000).cast(pl.String), literal=True)
    scheme_port = pl.when(pl.col("type") == "http").then(pl.lit("http://www.example.com:80")).otherwise(pl.lit("https://www.example.com:443"))
    proto = pl.when(pl.col("type") == "h2").then(pl.lit("HTTP/2.0")).otherwise(pl.lit("HTTP/1.1"))
    tls = pl.col("type") != "http"
    created = pl.col("ts") - pl.duration(milliseconds=pl.max_horizontal(rpt, 0) + pl.max_horizontal(tpt, 0) + pl.max_horizontal(rsp, 0))
    iso = "%Y-%m-%dT%H:%M:%S%.6fZ"
    line = pl.concat_str(
        [
            pl.col("type"),
            pl.col("ts").dt.strftime(iso),
            pl.lit(f"app/{LB_NAME}/{LB_ID}"),
            pl.concat_str([client, pl.lit(":"), rc.int(16, 1024, 65536).cast(pl.String)]),
            target,
            _ms(rpt),
            _ms(tpt),
            _ms(rsp),
            status.cast(pl.String),
            target_status,
            rc.int(17, 60, 4000).cast(pl.String),
            rc.int(18, 100, 200_000).cast(pl.String),
            _q(pl.concat_str([verb, pl.lit(" "), scheme_port, path, pl.lit(" "), proto])),
            _q(rc.pick(19, AGENTS)),
            pl.when(tls).then(pl.lit("ECDHE-RSA-AES128-GCM-SHA256")).otherwise(pl.lit("-")),
            pl.when(tls).then(pl.lit("TLSv1.2")).otherwise(pl.lit("-")),
            pl.lit(TG_ARN),
            _q(pl.concat_str([pl.lit("Root=1-"), rc.digits(20, 8), pl.lit("-"), rc.digits(21, 24)])),
            _q(pl.lit("www.example.com")),
            _q(pl.when(tls).then(pl.lit(CERT_ARN)).otherwise(pl.lit("-"))),
            pl.lit("1"),
            created.dt.strftime(iso),
            _q(pl.lit("forward")),
            _q(pl.lit("-")),
            _q(pl.lit("-")),
            _q(target),
            _q(target_status),
            _q(pl.lit("-")),
            _q(pl.lit("-")),
            pl.concat_str([pl.lit("TID_"), rc.digits(22, 32)]),
            _q(pl.lit("-")),
            _q(pl.lit("-")),
            _q(pl.lit("-")),
        ],
        separator=" ",
    ).alias("line")
    file = ((pl.col("ts") - t0).dt.total_seconds() // FILE_SECONDS).cast(pl.Int64).alias("file")
    return df.select("node", file, "ts", line).sort("node", "file", "ts").drop("ts")


def file_end(file_index: int) -> str:
    """The end time an ALB/flow object name carries for a 5-minute window, ``YYYYMMDDTHHmmZ``."""
    return (START + timedelta(seconds=(file_index + 1) * FILE_SECONDS)).strftime("%Y%m%dT%H%MZ")

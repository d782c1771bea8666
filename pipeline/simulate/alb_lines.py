"""ALB access-log lines from the simulator's request frame, formatted as AWS writes them.

Conventions followed (load-balancer-access-logs.html, "Access log entries"):
- ``time`` is when the response was sent, ``request_creation_time`` when the request
  arrived; both ISO 8601 with microseconds and ``Z``;
- processing times with millisecond precision, ``-1`` when the ALB could not dispatch
  the request or got no response (502/504), target ``-`` and target status ``-``
  when no target answered;
- IPv6 clients are written ``addr:port`` without brackets;
- double quotes inside the user agent are escaped as ``\\x22``;
- the fields through ``request_transform_status`` in the documented order
  (pipeline.schema.ALB_LOG_ORDER), ``trace_id`` ``Root=1-<epoch hex>-<24 hex>``,
  ``conn_trace_id`` ``TID_<32 hex>``.

Reference: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from .environment import Env
from .sampling import hex_strings
from .text_build import text

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (compatible; ExampleBot/2.1; +\\x22https://bot.example.com/about\\x22)",
    "shop-ios/5.2 (build \\x22release\\x22; iOS 17)",
)
PATHS = ("/", "/products/", "/api/cart", "/api/orders/", "/static/app.js", "/static/main.css", "/login", "/search?q=", "/health-ui", "/api/v2/items/")
TLS = (("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"), ("TLS_AES_128_GCM_SHA256", "TLSv1.3"))


def _seconds3(name: str) -> pl.Expr:
    """A duration in seconds with three decimals, ``-1`` as AWS writes it."""
    ms = (pl.col(name) * 1000).round(0).cast(pl.Int64)
    fmt = pl.concat_str([(ms // 1000).cast(pl.String), pl.lit("."), (ms % 1000).cast(pl.String).str.zfill(3)])
    return pl.when(pl.col(name) < 0).then(pl.lit("-1")).otherwise(fmt)


def _iso(name: str) -> pl.Expr:
    us = (pl.col(name) * 1_000_000).round(0).cast(pl.Int64)
    return pl.from_epoch(us, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def _epoch_hex(t: np.ndarray) -> pl.Series:
    """Epoch seconds as 8 hex digits (the time part of an X-Amzn-Trace-Id)."""
    raw = t.astype(np.int64).astype(">u4").tobytes()
    arr = pa.Array.from_buffers(pa.binary(4), len(t), [None, pa.py_buffer(raw)])
    return pl.Series(pl.from_arrow(arr)).cast(pl.Binary).bin.encode("hex")


def format_lines(env: Env, req: pl.DataFrame, rng: np.random.Generator) -> pl.Series:
    """One access-log line per row of ``req`` (see traffic.Traffic.client_requests)."""
    n = req.height
    tls = rng.integers(0, len(TLS), n)
    path = pl.Series(PATHS).gather(pl.Series(rng.integers(0, len(PATHS), n)))
    suffix = pl.Series(rng.integers(1, 5000, n)).cast(pl.String)
    post = rng.random(n) < 0.12
    d = req.with_columns(
        pl.Series("ua", USER_AGENTS).gather(pl.Series(np.minimum(rng.zipf(1.6, n) - 1, len(USER_AGENTS) - 1))),
        pl.Series("cipher", [c for c, _ in TLS]).gather(pl.Series(tls)),
        pl.Series("proto", [p for _, p in TLS]).gather(pl.Series(tls)),
        pl.Series("method", np.where(post, "POST", "GET")),
        pl.when(pl.lit(path).str.ends_with("/") & (pl.lit(path) != "/") | pl.lit(path).str.ends_with("="))
        .then(pl.concat_str([pl.lit(path), pl.lit(suffix)])).otherwise(pl.lit(path)).alias("path"),
        _epoch_hex(req["creation"].to_numpy()).alias("epoch_hex"),
        hex_strings(rng, n, 24).alias("trace_rand"),
        hex_strings(rng, n, 32).alias("tid"),
        pl.Series("priority", np.where(rng.random(n) < 0.3, 1, 0)),
    )
    target: list[str | pl.Expr] = [pl.col("target_ip"), ":", pl.col("target_port").cast(pl.String)]
    target_status = pl.when(pl.col("target_status_code") == "-").then(pl.lit("-")).otherwise(pl.col("target_status_code"))
    line = text(
        [
            pl.col("type"), " ", _iso("time"), f" {env.load_balancer} ",
            pl.col("client_ip"), ":", pl.col("client_port").cast(pl.String), " ", *target, " ",
            _seconds3("request_processing_time"), " ", _seconds3("target_processing_time"), " ",
            _seconds3("response_processing_time"), " ", pl.col("elb_status_code").cast(pl.String), " ",
            pl.col("target_status_code"), " ", pl.col("received_bytes").cast(pl.String), " ",
            pl.col("sent_bytes").cast(pl.String), ' "', pl.col("method"), f" https://{env.domain}:{env.listener_port}",
            pl.col("path"), pl.when(pl.col("http2")).then(pl.lit(" HTTP/2.0")).otherwise(pl.lit(" HTTP/1.1")), '" "',
            pl.col("ua"), '" ', pl.col("cipher"), " ", pl.col("proto"), f" {env.target_group} \"Root=1-",
            pl.col("epoch_hex"), "-", pl.col("trace_rand"), f'" "{env.domain}" "{env.cert_arn}" ',
            pl.col("priority").cast(pl.String), " ", _iso("creation"), ' "forward" "-" "-" "', *target, '" "',
            target_status, '" "-" "-" TID_', pl.col("tid"), ' "-" "-" "-"',
        ]
    )  # fmt: skip
    return d.select(line.alias("line")).to_series()

"""How fast ``parse_bytes`` is against a polars one-liner on the same bytes.

    .venv/bin/python -m bench.parse_speed [--flow-lines N] [--alb-lines N] [--runs R] [--cases a,b]

Generates clean and dirty VPC flow and ALB access-log objects in memory, then times
``parse_bytes`` and a typed polars ``read_csv`` one-liner (what a user would write,
and what silently misreads the dirty lines) alternately, ``R`` runs each, and prints
the median wall time, the median CPU time (all threads: ``resource.getrusage``),
lines per second by each, and the ratio parse_bytes / one-liner (1.0 = as fast).
The machine is shared, so compare CPU time and ratios more than wall time.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
from collections.abc import Callable

import polars as pl

from pipeline.formats import parse_bytes
from pipeline.schema import FLOW_BY_AWS, FLOW_DEFAULT_HEADER

_UNIQUE = 20_000  # distinct lines generated; objects repeat them to the size asked


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _repeat(lines: list[str], n: int) -> list[str]:
    return (lines * (n // len(lines) + 1))[:n]


def flow_lines(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _i in range(min(n, _UNIQUE)):
        start = 1_700_000_000 + rnd.randrange(86_400)
        if rnd.random() < 0.03:
            out.append(f"2 123456789010 eni-{rnd.randrange(16**8):08x} - - - - - - - {start} {start + 60} - NODATA")
            continue
        out.append(
            f"2 123456789010 eni-{rnd.randrange(16**8):08x} 10.0.{rnd.randrange(256)}.{rnd.randrange(256)} "
            f"172.31.{rnd.randrange(256)}.{rnd.randrange(256)} {rnd.randrange(65536)} {rnd.choice((443, 80, 22, 5432))} "
            f"{rnd.choice((6, 17))} {rnd.randrange(1, 500)} {rnd.randrange(40, 900_000)} {start} {start + rnd.randrange(1, 60)} "
            f"{rnd.choice(('ACCEPT', 'ACCEPT', 'REJECT'))} OK"
        )
    return _repeat(out, n)


def flow_object(n: int, dirty: str = "") -> bytes:
    lines = flow_lines(n)
    if dirty == "double-space":
        lines[n // 2] = lines[n // 2].replace(" ", "  ", 1)
    elif dirty == "bad-int":  # 1,000 non-integer ports
        for i in range(0, n, max(1, n // 1000)):
            parts = lines[i].split(" ")
            parts[5] = "4x3"
            lines[i] = " ".join(parts)
    return (" ".join(FLOW_DEFAULT_HEADER) + "\n" + "\n".join(lines) + "\n").encode()


_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    r"Mozilla/5.0 (compatible; \x22quoted\x22 bot/1.0; +http://example.com/bot.html)",
]
_SHORT_AGENTS = ["curl/8.5.0", "python-requests/2.32.3", "okhttp/4.12.0", "-"]


def alb_lines(n: int, width: int = 33, seed: int = 2) -> list[str]:
    rnd = random.Random(seed)
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    out = []
    for _ in range(min(n, _UNIQUE)):
        s = rnd.randrange(86_400)
        t = f"2026-11-25T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{rnd.randrange(10**6):06d}Z"
        status = rnd.choice((200, 200, 200, 304, 404, 502))
        target = "-" if status == 502 else f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}:80"
        agents = _AGENTS if width > 25 else _SHORT_AGENTS
        fields = [
            rnd.choice(("https", "http", "h2")), t, "app/my-loadbalancer/50dc6c495c0c9188",
            f"192.168.{rnd.randrange(256)}.{rnd.randrange(256)}:{rnd.randrange(1024, 65536)}", target,
            "0.000", f"{rnd.random():.3f}" if status != 502 else "-1", "0.000", str(status),
            str(status) if status != 502 else "-", str(rnd.randrange(100, 2000)), str(rnd.randrange(100, 90_000)),
            f'"GET https://www.example.com:443/api/v1/items/{rnd.randrange(10**6)}?page={rnd.randrange(9)} HTTP/1.1"',
            f'"{rnd.choice(agents)}"', "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", tg,
            f'"Root=1-58337262-{rnd.randrange(16**24):024x}"', '"www.example.com"', f'"{cert}"',
            str(rnd.randrange(1, 50)), t, '"forward"', '"-"', '"-"', f'"{target}"', f'"{status}"', '"-"', '"-"',
            f"TID_{rnd.randrange(16**32):032x}", '"-"', '"-"', '"-"',
        ]  # fmt: skip
        out.append(" ".join(fields[:width]))
    return _repeat(out, n)


def alb_object(n: int, width: int = 33, dirty: str = "") -> bytes:
    lines = alb_lines(n, width)
    if dirty == "raw-quote":  # 1 % of lines with a raw quote in the user agent
        for i in range(0, n, 100):
            lines[i] = lines[i].replace("(KHTML, like Gecko)", '(KHTML, "like" Gecko)', 1).replace("curl/", 'curl/"x" ', 1)
    return ("\n".join(lines) + "\n").encode()


_FLOW_INTS = {n: pl.Int64 for n in FLOW_DEFAULT_HEADER if FLOW_BY_AWS[n].kind == "int"}
# ALB positions after splitting on spaces (client:port etc. stay strings): floats 5-7, ints 8-11 and 20.
_ALB_TYPES = {f"column_{i}": pl.Float64 for i in (5, 6, 7)} | {f"column_{i}": pl.Int64 for i in (8, 9, 10, 11, 20)}


def polars_flow(data: bytes) -> int:
    return pl.read_csv(data, separator=" ", quote_char=None, null_values="-", schema_overrides=_FLOW_INTS).height


def polars_alb(data: bytes) -> int:
    return pl.read_csv(
        data, separator=" ", has_header=False, quote_char='"', null_values="-", schema_overrides=_ALB_TYPES,
        truncate_ragged_lines=True,
    ).height  # fmt: skip


def ours(table: str) -> Callable[[bytes], int]:
    def run(data: bytes) -> int:
        parsed = parse_bytes(data, table, source_uri="s3://bench/object")  # type: ignore[arg-type]
        return parsed.data.num_rows + len(parsed.rejects)

    return run


def _time(fn: Callable[[bytes], int], data: bytes) -> tuple[float, float]:
    gc.collect()
    w0, c0 = time.perf_counter(), _cpu()
    fn(data)
    return time.perf_counter() - w0, _cpu() - c0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow-lines", type=int, default=1_000_000)
    ap.add_argument("--alb-lines", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cases", default="flow-clean,flow-dirty,flow-badint,alb33,alb22,alb-dirty")
    args = ap.parse_args(argv)
    fl, al = args.flow_lines, args.alb_lines
    cases = {
        "flow-clean": (lambda: flow_object(fl), "vpc_flow", polars_flow),
        "flow-dirty": (lambda: flow_object(fl, "double-space"), "vpc_flow", polars_flow),
        "flow-badint": (lambda: flow_object(fl, "bad-int"), "vpc_flow", None),
        "alb33": (lambda: alb_object(al, 33), "alb_access", polars_alb),
        "alb22": (lambda: alb_object(al, 22), "alb_access", polars_alb),
        "alb-dirty": (lambda: alb_object(al, 33, "raw-quote"), "alb_access", polars_alb),
    }
    print(f"{'case':<12} {'lines':>9} {'MB':>6} | {'ours wall':>9} {'ours cpu':>8} {'lines/cpu-s':>11} {'lines/wall-s':>12}"
          f" | {'pl wall':>7} {'pl cpu':>6} | {'ratio wall':>10} {'ratio cpu':>9}")  # fmt: skip
    for name in args.cases.split(","):
        make, table, baseline = cases[name]
        data = make()
        n = data.count(b"\n") - (1 if table == "vpc_flow" else 0)
        mine, theirs = ours(table), baseline
        ow, oc, pw, pc = [], [], [], []
        for _ in range(args.runs):  # alternate A/B
            w, c = _time(mine, data)
            ow.append(w), oc.append(c)
            if theirs is not None:
                try:
                    w, c = _time(theirs, data)
                    pw.append(w), pc.append(c)
                except Exception:  # noqa: BLE001 - the one-liner fails on some dirty input
                    theirs = None
        mw, mc = statistics.median(ow), statistics.median(oc)
        if pw:
            bw, bc = statistics.median(pw), statistics.median(pc)
            base = f"{bw:7.2f} {bc:6.2f} | {bw / mw:10.2f} {bc / mc:9.2f}"
        else:
            base = f"{'fails':>7} {'':>6} | {'':>10} {'':>9}"
        print(f"{name:<12} {n:>9} {len(data) / 1e6:6.0f} | {mw:9.2f} {mc:8.2f} {n / mc:11,.0f} {n / mw:12,.0f} | {base}", flush=True)


if __name__ == "__main__":
    main()

"""Seeded random values the traffic generators draw, vectorised (no Python loop per value).

Addresses that look like the internet's (no private, loopback or multicast ranges),
addresses inside AWS service ranges, hex identifiers, Poisson arrivals with a diurnal swing,
periodic sources with random phase, ephemeral ports (Linux's default range).
"""

from __future__ import annotations

import ipaddress

import numpy as np
import polars as pl
import pyarrow as pa

from .flow_records import ipv4

_FIRST_OCTETS = np.array([23, 24, 31, 37, 45, 50, 62, 66, 68, 71, 73, 77, 81, 84, 86, 88, 90, 93, 98, 99, 104,
                          107, 108, 109, 124, 135, 136, 141, 151, 152, 154, 156, 161, 162, 167, 174, 176, 178,
                          185, 188, 193, 194, 195, 201, 203, 211, 217, 220])  # fmt: skip
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_strings(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    """``n`` random lowercase hex strings of ``width`` digits, without a Python loop."""
    if width % 2 == 0 and n:  # random bytes, hex-encoded by polars (fast path)
        raw = pa.Array.from_buffers(pa.binary(width // 2), n, [None, pa.py_buffer(rng.bytes(n * width // 2))])
        return pl.Series(pl.from_arrow(raw)).cast(pl.Binary).bin.encode("hex")
    if n == 0:
        return pl.Series([], dtype=pl.String)
    arr = np.ascontiguousarray(_HEX[rng.integers(0, 16, (n, width))])
    return pl.Series(arr.view(f"S{width}").ravel().astype(f"U{width}"))


def internet_v4(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random public-looking IPv4 addresses as uint32 (no private, loopback or multicast)."""
    first = rng.choice(_FIRST_OCTETS, n).astype(np.uint64)
    rest = rng.integers(0, 1 << 24, n, dtype=np.uint64)
    return (first << np.uint64(24)) | rest


def in_ranges(rng: np.random.Generator, ranges: tuple[str, ...], n: int) -> pl.Series:
    nets = [ipaddress.ip_network(r) for r in ranges]
    which = rng.integers(0, len(nets), n)
    base = np.array([int(x.network_address) for x in nets], dtype=np.int64)[which]
    size = np.array([x.num_addresses for x in nets], dtype=np.int64)[which]
    return ipv4(base + (rng.random(n) * size).astype(np.int64))


def poisson_times(rng: np.random.Generator, rate: float, t0: float, t1: float, *, diurnal: bool = False) -> np.ndarray:
    n = int(rng.poisson(max(rate, 0.0) * (t1 - t0)))
    t = np.sort(rng.uniform(t0, t1, n))
    if diurnal:  # busier in the (UTC) afternoon, never idle
        hour = (t % 86400) / 3600
        keep = rng.random(n) < 0.6 + 0.4 * np.sin(2 * np.pi * (hour - 8) / 24)
        t = t[keep]
    return t


def periodic(rng: np.random.Generator, every: float, t0: float, t1: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Times of ``count`` sources each acting every ``every`` seconds (random phase); and source index."""
    ticks = np.arange(t0, t1, every)
    phase = rng.uniform(0, every, count)
    t = (ticks[None, :] + phase[:, None]).ravel()
    src = np.repeat(np.arange(count), len(ticks))
    keep = t < t1
    order = np.argsort(t[keep], kind="stable")
    return t[keep][order], src[keep][order]


def eph(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(32768, 61000, n)

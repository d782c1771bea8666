"""Benchmark input in AWS's S3 delivery layout, generated once per (generator, size, seed) and cached.

``ensure_dataset`` returns a :class:`Dataset` whose ``root`` is a local folder laid out
like a log bucket (``AWSLogs/<account>/vpcflowlogs/...``, ``.../elasticloadbalancing/...``),
plus the counts the harness needs to turn seconds into lines/s and MB/s. The cache
lives under ``bench/data/`` (git-ignored); a dataset is written to a temporary folder
and renamed into place, so an interrupted generation is never mistaken for a cached one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from bench.synthetic_alb import alb_lines, file_end
from bench.synthetic_env import ACCOUNT, FILE_SECONDS, FLOW_LOG_ID, LB_ID, LB_NAME, REGION, START, Env, build_env
from bench.synthetic_flow import field_order, flow_records, render_lines

log = logging.getLogger(__name__)

GEN_VERSION = 2
BASE_FLOW_RECORDS = 3_000_000
BASE_ALB_LINES = 1_000_000
BASE_DURATION_S = 6 * 3600  # 1x covers six hours; duration grows with size so the lake grows in time
GZIP_LEVEL = 6  # zlib's default, as `gzip` writes: realistic compressed sizes (isal's levels compress ~45% worse)
MANIFEST = "manifest.json"
SIMULATOR_CALIBRATION = 2  # bump when bench/simulator_data.py changes how it picks the scale
SEGMENT_SIZE = 0.5  # generate at most this many size units at once (bounds generator memory)
SEGMENT_FLOW, SEGMENT_ALB = 1_500_000, 500_000  # ... i.e. at most this many records of each kind at once
#: AWS's default (version 2) flow-log format, in its documented order.
DEFAULT_V2_ORDER = ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
                    "packets", "bytes", "start", "end", "action", "log-status"]  # fmt: skip


@dataclass(frozen=True)
class Bucket:
    """What one size unit of a synthetic bucket holds."""

    flow_records: int
    alb_lines: int
    flow_format: str  # "custom-v5" (every v2-v5 field, order shuffled per seed) | "default-v2"
    flow_object_lines: int = 0  # > 0: every 5-minute file cut into objects of this many records


#: ``mixed`` is the issue's benchmark bucket; the others isolate one parser each.
BUCKETS = {
    "mixed": Bucket(BASE_FLOW_RECORDS, BASE_ALB_LINES, "custom-v5"),
    "flow-only": Bucket(10_000_000, 0, "default-v2"),
    "alb-only": Bucket(0, 3_000_000, "custom-v5"),
    # quiet accounts: thousands of objects of a few hundred records (fixed costs per object)
    "small-objects": Bucket(1_000_000, 0, "custom-v5", flow_object_lines=400),
}


@dataclass
class Dataset:
    root: Path
    generator: str
    size: float
    seed: int
    flow_lines: int  # records, header lines not counted
    alb_lines: int
    flow_objects: int
    alb_objects: int
    flow_gz_bytes: int
    alb_gz_bytes: int
    flow_raw_bytes: int
    alb_raw_bytes: int
    generate_seconds: float

    @property
    def lines(self) -> int:
        return self.flow_lines + self.alb_lines

    @property
    def gz_bytes(self) -> int:
        return self.flow_gz_bytes + self.alb_gz_bytes

    @property
    def raw_bytes(self) -> int:
        return self.flow_raw_bytes + self.alb_raw_bytes

    def flow_files(self) -> list[Path]:
        return sorted(self.root.glob("AWSLogs/*/vpcflowlogs/*/*/*/*/*.log.gz"))

    def alb_files(self) -> list[Path]:
        return sorted(self.root.glob("AWSLogs/*/elasticloadbalancing/*/*/*/*/*.log.gz"))

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["root"] = str(self.root)
        return d


def dataset_key(generator: str, size: float, seed: int, bucket: str = "mixed") -> str:
    version = f"{GEN_VERSION}s{SIMULATOR_CALIBRATION}" if generator == "simulator" else str(GEN_VERSION)
    name = generator if bucket == "mixed" else f"{generator}-{bucket}"
    return f"{name}-size{size:g}-seed{seed}-v{version}"


def ensure_dataset(data_dir: Path, *, size: float, seed: int, generator: str = "synthetic", bucket: str = "mixed") -> Dataset:
    """The cached dataset for (generator, size, seed, bucket), generating it first if needed."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if bucket not in BUCKETS or (bucket != "mixed" and generator != "synthetic"):
        raise ValueError(f"bucket {bucket!r}: one of {', '.join(BUCKETS)}; only 'mixed' with --data simulator")
    final = data_dir / dataset_key(generator, size, seed, bucket)
    manifest = final / MANIFEST
    if manifest.is_file():
        d = json.loads(manifest.read_text())
        d["root"] = final
        return Dataset(**d)
    tmp = data_dir / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t = time.perf_counter()
    if generator == "synthetic":
        counts = _generate_synthetic(tmp, size=size, seed=seed, bucket=BUCKETS[bucket])
    elif generator == "simulator":
        from bench.simulator_data import generate_with_simulator

        counts = generate_with_simulator(tmp, size=size, seed=seed)
    else:
        raise ValueError(f"unknown generator {generator!r} (synthetic | simulator)")
    ds = Dataset(root=final, generator=generator, size=size, seed=seed, generate_seconds=round(time.perf_counter() - t, 2), **counts)
    (tmp / MANIFEST).write_text(json.dumps(ds.to_json(), indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    log.info("generated %s in %.1f s", final.name, ds.generate_seconds)
    return ds


def _lines_bytes(lines: pl.Series) -> bytes:
    buf = io.BytesIO()
    pl.DataFrame({"line": lines}).write_csv(buf, include_header=False, quote_style="never", line_terminator="\n")
    return buf.getvalue()


def _short_hash(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8]


def _write_gz(path: Path, raw: bytes) -> tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)  # zlib releases the GIL: threads overlap
    path.write_bytes(gz)
    return len(raw), len(gz)


def _day_dir(root: Path, service: str, file_index: int) -> Path:
    end = START.timestamp() + (file_index + 1) * FILE_SECONDS
    day = time.strftime("%Y/%m/%d", time.gmtime(end))
    return root / "AWSLogs" / ACCOUNT / service / REGION / day


def _generate_synthetic(root: Path, *, size: float, seed: int, bucket: Bucket = BUCKETS["mixed"]) -> dict[str, int]:
    """FALLBACK generator (no simulator needed): flow logs in a custom v5 order + newest-shape ALB logs.

    Generated in time segments of SEGMENT_SIZE so memory stays bounded at any size; the
    data of size 2 starts with the data of size 1 (same segments), so sizes are comparable.
    """
    env = build_env()
    order = field_order(seed) if bucket.flow_format == "custom-v5" else DEFAULT_V2_ORDER
    version = None if bucket.flow_format == "custom-v5" else 2
    header = (" ".join(order) + "\n").encode()
    totals = dict.fromkeys(
        ("flow_lines", "alb_lines", "flow_objects", "alb_objects", "flow_raw_bytes", "alb_raw_bytes", "flow_gz_bytes", "alb_gz_bytes"), 0
    )
    # the mixed bucket: half a size unit per segment, as before; bigger buckets cut it into
    # parts that still end on an object boundary (else two segments would write one object)
    per_unit = math.ceil(max(1.0, bucket.flow_records / SEGMENT_FLOW / 2, bucket.alb_lines / SEGMENT_ALB / 2))
    while (BASE_DURATION_S * SEGMENT_SIZE / per_unit) % FILE_SECONDS:
        per_unit += 1
    seg_size = SEGMENT_SIZE / per_unit
    n_segments = max(1, math.ceil(size / seg_size - 1e-9))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for k in range(n_segments):
            part = min(seg_size, size - k * seg_size) if n_segments > 1 else size
            duration_s = max(600, round(BASE_DURATION_S * part / FILE_SECONDS) * FILE_SECONDS)
            offset_s = k * round(BASE_DURATION_S * seg_size)
            seg_seed = seed * 1009 + k
            n_flow = max(1, round(bucket.flow_records * part)) if bucket.flow_records else 0
            n_alb = max(1, round(bucket.alb_lines * part)) if bucket.alb_lines else 0
            if n_flow:
                _flow_segment(
                    root, totals, pool, env, order, header, version, n_flow, duration_s, seg_seed, offset_s, seed,
                    bucket.flow_object_lines,
                )  # fmt: skip
            if n_alb:
                _alb_segment(root, totals, pool, env, n_alb, duration_s, seg_seed, offset_s, seed)
    (root / "AWSLogs" / ACCOUNT / "ELBAccessLogTestFile").write_text("Enable AccessLog for ELB: bench-web at 2026-03-01T23:55:00\n")
    return totals


def _flow_segment(
    root: Path, totals: dict[str, int], pool: ThreadPoolExecutor, env: Env, order: list[str], header: bytes,
    version: int | None, n_flow: int, duration_s: int, seg_seed: int, offset_s: int, seed: int, object_lines: int = 0,
) -> None:  # fmt: skip
    flows = flow_records(n_flow, duration_s=duration_s, seed=seg_seed, env=env, offset_s=offset_s)
    if version is not None:
        flows = flows.with_columns(pl.lit(version, pl.Int64).alias("version"))
    flows = flows.select("file", render_lines(flows, order))
    jobs = []
    for (file_index,), lines in flows.partition_by("file", as_dict=True, maintain_order=True).items():
        step = object_lines or len(lines)
        for part, at in enumerate(range(0, len(lines), step)):
            tag = _short_hash(seed, "flow", file_index) if not object_lines else _short_hash(seed, "flow", file_index, part)
            name = f"{ACCOUNT}_vpcflowlogs_{REGION}_{FLOW_LOG_ID}_{file_end(int(file_index))}_{tag}.log.gz"
            jobs.append((_day_dir(root, "vpcflowlogs", int(file_index)) / name, header + _lines_bytes(lines["line"].slice(at, step))))
    del flows
    _add(totals, "flow", n_flow, pool.map(lambda job: _write_gz(*job), jobs))


def _alb_segment(
    root: Path, totals: dict[str, int], pool: ThreadPoolExecutor, env: Env, n_alb: int, duration_s: int,
    seg_seed: int, offset_s: int, seed: int,
) -> None:  # fmt: skip
    albs = alb_lines(n_alb, duration_s=duration_s, seed=seg_seed, env=env, offset_s=offset_s)
    jobs = []
    for (node, file_index), lines in albs.partition_by("node", "file", as_dict=True, maintain_order=True).items():
        node_ip = env.alb_nodes[int(node)].ip
        name = (
            f"{ACCOUNT}_elasticloadbalancing_{REGION}_app.{LB_NAME}.{LB_ID}_{file_end(int(file_index))}_{node_ip}_"
            f"{_short_hash(seed, 'alb', node, file_index)}.log.gz"
        )
        jobs.append((_day_dir(root, "elasticloadbalancing", int(file_index)) / name, _lines_bytes(lines["line"])))
    del albs
    _add(totals, "alb", n_alb, pool.map(lambda job: _write_gz(*job), jobs))


def _add(totals: dict[str, int], kind: str, lines: int, sizes: Iterable[tuple[int, int]]) -> None:
    for raw, gz in sizes:
        totals[f"{kind}_objects"] += 1
        totals[f"{kind}_raw_bytes"] += raw
        totals[f"{kind}_gz_bytes"] += gz
    totals[f"{kind}_lines"] += lines

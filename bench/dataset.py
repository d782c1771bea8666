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
from bench.synthetic_env import ACCOUNT, FILE_SECONDS, FLOW_LOG_ID, LB_ID, LB_NAME, REGION, START, build_env
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


def dataset_key(generator: str, size: float, seed: int) -> str:
    version = f"{GEN_VERSION}s{SIMULATOR_CALIBRATION}" if generator == "simulator" else str(GEN_VERSION)
    return f"{generator}-size{size:g}-seed{seed}-v{version}"


def ensure_dataset(data_dir: Path, *, size: float, seed: int, generator: str = "synthetic") -> Dataset:
    """The cached dataset for (generator, size, seed), generating it first if needed."""
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    final = data_dir / dataset_key(generator, size, seed)
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
        counts = _generate_synthetic(tmp, size=size, seed=seed)
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


def _generate_synthetic(root: Path, *, size: float, seed: int) -> dict[str, int]:
    """FALLBACK generator (no simulator needed): flow logs in a custom v5 order + newest-shape ALB logs.

    Generated in time segments of SEGMENT_SIZE so memory stays bounded at any size; the
    data of size 2 starts with the data of size 1 (same segments), so sizes are comparable.
    """
    env = build_env()
    order = field_order(seed)
    header = (" ".join(order) + "\n").encode()
    totals = dict.fromkeys(
        ("flow_lines", "alb_lines", "flow_objects", "alb_objects", "flow_raw_bytes", "alb_raw_bytes", "flow_gz_bytes", "alb_gz_bytes"), 0
    )
    n_segments = max(1, math.ceil(size / SEGMENT_SIZE - 1e-9))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for k in range(n_segments):
            part = min(SEGMENT_SIZE, size - k * SEGMENT_SIZE) if n_segments > 1 else size
            duration_s = max(600, round(BASE_DURATION_S * part / FILE_SECONDS) * FILE_SECONDS)
            offset_s = k * round(BASE_DURATION_S * SEGMENT_SIZE)
            seg_seed = seed * 1009 + k
            n_flow, n_alb = max(1, round(BASE_FLOW_RECORDS * part)), max(1, round(BASE_ALB_LINES * part))
            flows = flow_records(n_flow, duration_s=duration_s, seed=seg_seed, env=env, offset_s=offset_s)
            flows = flows.select("file", render_lines(flows, order))
            jobs = []
            for (file_index,), lines in flows.partition_by("file", as_dict=True, maintain_order=True).items():
                name = f"{ACCOUNT}_vpcflowlogs_{REGION}_{FLOW_LOG_ID}_{file_end(int(file_index))}_{_short_hash(seed, 'flow', file_index)}.log.gz"
                jobs.append((_day_dir(root, "vpcflowlogs", int(file_index)) / name, header + _lines_bytes(lines["line"])))
            del flows
            _add(totals, "flow", n_flow, pool.map(lambda job: _write_gz(*job), jobs))
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
    (root / "AWSLogs" / ACCOUNT / "ELBAccessLogTestFile").write_text("Enable AccessLog for ELB: bench-web at 2026-03-01T23:55:00\n")
    return totals


def _add(totals: dict[str, int], kind: str, lines: int, sizes: Iterable[tuple[int, int]]) -> None:
    for raw, gz in sizes:
        totals[f"{kind}_objects"] += 1
        totals[f"{kind}_raw_bytes"] += raw
        totals[f"{kind}_gz_bytes"] += gz
    totals[f"{kind}_lines"] += lines

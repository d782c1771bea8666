"""What the harness runs: each contender as a command line, plus the work it covers.

A contender is one process measured on its own (see measure.py). ``prepare`` runs
untimed before every repetition (e.g. removing the previous run's output), so every
repetition does the full job: an ingest into an existing lake would skip every object.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.dataset import Dataset

REPO = Path(__file__).resolve().parents[1]
FLOWSLEUTH = [sys.executable, "-m", "pipeline.cli"]
BASELINES = [sys.executable, "-m", "bench.baselines"]


@dataclass
class Contender:
    id: str
    group: str  # ingest | detect | report
    scale: int  # dataset multiple (1, 2, 4)
    kind: str  # flowsleuth | baseline | ceiling | peer
    cmd: list[str]
    lines: int  # lines (or rows) of work, for lines/s
    gz_bytes: int = 0  # compressed input, for MB/s (0: not meaningful)
    raw_bytes: int = 0
    prepare: Callable[[], None] | None = None
    sampled: bool = False  # a peer parsing a sample: rate from the child's own timing, wall projected
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _fresh(*paths: Path) -> Callable[[], None]:
    def prepare() -> None:
        for p in paths:
            shutil.rmtree(p, ignore_errors=True)

    return prepare


def ingest_contenders(ds: Dataset, work: Path, *, sample_flow: int, sample_alb: int, scale: int = 1) -> list[Contender]:
    """flowsleuth ingest and everything it is compared with, on the same objects."""
    root = str(ds.root)
    lake, out = work / f"lake-x{scale}", work / f"baseline-out-x{scale}"
    listing = work / f"objects-x{scale}.txt"
    work.mkdir(parents=True, exist_ok=True)
    listing.write_bytes(b"\0".join(str(p).encode() for p in ds.flow_files() + ds.alb_files()))
    common = {"lines": ds.lines, "gz_bytes": ds.gz_bytes, "raw_bytes": ds.raw_bytes}
    return [
        Contender("flowsleuth-ingest", "ingest", scale, "flowsleuth", [*FLOWSLEUTH, "ingest", "--source", root, "--lake", str(lake), "--json"],
                  prepare=_fresh(lake), note="local folder source, fresh lake each run", **common),
        Contender("polars-oneliner", "ingest", scale, "baseline", [*BASELINES, "polars", "--data", root, "--out", str(out / "polars")],
                  prepare=_fresh(out / "polars"), note="scan_csv typed -> sink_parquet", **common),
        Contender("polars-lake-columns", "ingest", scale, "baseline", [*BASELINES, "polars-lake", "--data", root, "--out", str(out / "polars-lake")],
                  prepare=_fresh(out / "polars-lake"), note="the one-liner plus the lake's parsed columns and date/hour files (not a target)", **common),
        Contender("duckdb-copy", "ingest", scale, "baseline", [*BASELINES, "duckdb", "--data", root, "--out", str(out / "duckdb")],
                  prepare=_fresh(out / "duckdb"), note="read_csv typed -> COPY TO parquet", **common),
        Contender("gzip-cli", "ingest", scale, "ceiling", ["sh", "-c", 'xargs -0 -a "$1" gzip -dc > /dev/null', "sh", str(listing)],
                  note="gzip -dc > /dev/null (one core)", **common),
        Contender("isal-igzip", "ingest", scale, "ceiling", [*BASELINES, "isal", "--data", root],
                  note="isal.igzip read loop, one thread", **common),
        Contender("isal-igzip-2t", "ingest", scale, "ceiling", [*BASELINES, "isal2", "--data", root],
                  note="isal.igzip read loop, two threads", **common),
        *([] if not ds.flow_lines else [Contender("peer-flowlogs-reader", "ingest", scale, "peer", [*BASELINES, "peer-flow", "--data", root, "--sample", str(sample_flow)],
                  lines=ds.flow_lines, gz_bytes=ds.flow_gz_bytes, raw_bytes=ds.flow_raw_bytes, sampled=True,
                  note=f"flow only, {sample_flow:,}-line sample, projected")]),
        *([] if not ds.alb_lines else [Contender("peer-aws-log-parser", "ingest", scale, "peer", [*BASELINES, "peer-alb", "--data", root, "--sample", str(sample_alb)],
                  lines=ds.alb_lines, gz_bytes=ds.alb_gz_bytes, raw_bytes=ds.alb_raw_bytes, sampled=True,
                  note=f"ALB only, {sample_alb:,}-line sample, projected")]),
    ]  # fmt: skip


def ingest_only(ds: Dataset, work: Path, scale: int) -> Contender:
    lake = work / f"lake-x{scale}"
    return Contender("flowsleuth-ingest", "ingest", scale, "flowsleuth",
                     [*FLOWSLEUTH, "ingest", "--source", str(ds.root), "--lake", str(lake), "--json"],
                     lines=ds.lines, gz_bytes=ds.gz_bytes, raw_bytes=ds.raw_bytes, prepare=_fresh(lake),
                     note="builds the lake for detect at this scale")  # fmt: skip


def detect_contenders(ds: Dataset, lake: Path, work: Path, scale: int) -> list[Contender]:
    out = work / f"detect-out-x{scale}"
    return [
        Contender("flowsleuth-detect", "detect", scale, "flowsleuth", [*FLOWSLEUTH, "detect", "--lake", str(lake), "--out", str(out)],
                  lines=ds.lines, prepare=_fresh(out), note="every detector over the whole lake"),
        Contender("naive-selfjoin", "detect", scale, "baseline", [*BASELINES, "selfjoin", "--lake", str(lake)],
                  lines=ds.flow_lines, note="one-way-flow ANTI self-join, count(*)"),
    ]  # fmt: skip


def report_contender(ds: Dataset, lake: Path, findings: Path, work: Path) -> Contender:
    out = work / "report-out"
    return Contender("flowsleuth-report", "report", 1, "flowsleuth",
                     [*FLOWSLEUTH, "report", "--lake", str(lake), "--findings", str(findings), "--out", str(out)],
                     lines=0, prepare=_fresh(out), note="report.html from the 1x lake's findings")  # fmt: skip

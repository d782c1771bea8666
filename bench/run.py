#!/usr/bin/env python
"""flowsleuth benchmark harness: ingest, detect and report against baselines.

    python bench/run.py [--size 1|2|4|10] [--quick] [--repeat N] [--json OUT]

Generates (and caches under bench/data/) benchmark objects in AWS's S3 layout, then
runs every contender as its own process, alternating them ``--repeat`` times, and
reports medians of wall time, CPU time and peak RSS, rates and ratios, and PASS/MISS
per target. Contenders that are not built yet are reported as "not available".
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rich.console import Console
from rich.table import Table

from bench.contenders import detect_contenders, ingest_contenders, ingest_only, report_contender
from bench.dataset import BUCKETS, Dataset, ensure_dataset
from bench.measure import run_measured
from bench.outcomes import Outcome
from bench.targets import Target, evaluate, to_json

log = logging.getLogger("bench")
console = Console(width=None if sys.stdout.isatty() else 160)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=float, default=1.0, help="data multiple: 1 = 3M flow records + 1M ALB lines (default 1)")
    p.add_argument("--repeat", type=int, default=3, help="alternating repetitions per contender (default 3)")
    p.add_argument("--quick", action="store_true", help="detect at 1x only, smaller peer samples")
    p.add_argument("--json", type=Path, help="result file (default bench/results/<UTC time>.json)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument("--data", choices=("synthetic", "simulator"), default="synthetic",
                   help="who generates the objects: bench's own generator (default: exactly 3M custom-v5 flow records "
                        "+ 1M ALB lines per size unit) or the simulator's clean scenario at a calibrated --scale")  # fmt: skip
    p.add_argument("--bucket", choices=tuple(BUCKETS), default="mixed",
                   help="synthetic bucket per size unit: mixed = 3M custom-v5 flow + 1M ALB lines (default); "
                        "flow-only = 10M default-v2 flow records; alb-only = 3M ALB lines; "
                        "small-objects = 1M custom-v5 flow records in objects of 400")  # fmt: skip
    p.add_argument("--data-dir", type=Path, default=REPO / "bench" / "data", help="dataset cache (default bench/data)")
    p.add_argument("--work-dir", type=Path, help="lakes and outputs (default <data-dir>/work)")
    p.add_argument("--sample", type=int, help="lines the pure-Python peers parse (default 100000; --quick 20000)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed (default 1800)")
    p.add_argument("--only", nargs="+", choices=("ingest", "detect", "report"), help="run only these groups")
    a = p.parse_args(argv)
    if a.size <= 0 or a.repeat < 1:
        p.error("--size must be > 0 and --repeat >= 1")
    return a


def _warm_cache(ds: Dataset) -> None:
    """Read every object once, untimed, so the first contender does not pay for a cold page cache."""
    for f in ds.flow_files() + ds.alb_files():
        with open(f, "rb") as fh:
            while fh.read(1 << 22):
                pass


def alternate(outcomes: list[Outcome], repeat: int, timeout_s: float) -> None:
    """Run every contender once per round, round after round (A B C A B C ...)."""
    for round_no in range(repeat):
        for o in outcomes:
            if not o.active:
                continue
            c = o.contender
            if c.prepare:
                c.prepare()
            load_before = os.getloadavg()[0]
            r = run_measured(c.cmd, cwd=REPO, timeout_s=timeout_s)
            o.record(r)
            if r.ok:
                o.runs[-1]["load1_before"] = load_before  # 1-minute load average: how noisy the machine was
            shown = f"{r.wall_s:7.2f} s  {r.peak_rss_mib:7.0f} MiB" if r.ok else f"{o.status}: {o.reason}"
            console.log(f"[{round_no + 1}/{repeat}] {c.id:<22} x{c.scale}  {shown}")


def lake_rows(lake: Path) -> dict[str, int]:
    """Rows per lake table, from Parquet footers (cheap), to check a run did the whole job."""
    import pyarrow.parquet as pq

    rows = {}
    for table in ("vpc_flow", "alb_access", "alb_connection", "_rejects"):
        rows[table] = sum(pq.ParquetFile(f).metadata.num_rows for f in (lake / table).glob("**/*.parquet"))
    return rows


def _lake_for(scale: int, ingest: Outcome | None, ds: Dataset, work: Path, notes: dict[str, Any]) -> Path:
    lake = work / f"lake-x{scale}"
    if ingest is not None and ingest.status == "ok":
        rows = lake_rows(lake)
        notes[str(scale)] = {"path": str(lake), "built_by": "flowsleuth ingest", "rows": rows}
        landed = rows["vpc_flow"] + rows["alb_access"] + rows["_rejects"]
        if landed != ds.lines:
            console.print(f"[yellow]warning[/]: lake x{scale} holds {landed:,} rows + rejects for {ds.lines:,} input lines")
        return lake
    from bench.fallback_lake import build_flow_lake

    shutil.rmtree(lake, ignore_errors=True)
    build_flow_lake(ds.root, lake)
    notes[str(scale)] = {"path": str(lake), "built_by": "bench/fallback_lake.py (flowsleuth ingest not available; vpc_flow only)"}
    return lake


def _peers_combined(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    peers = [r for r in rows if r["kind"] == "peer" and r["scale"] == 1 and r["status"] == "ok" and r["wall_s"]]
    listed = [r for r in rows if r["kind"] == "peer" and r["scale"] == 1]
    if not peers or len(peers) != len(listed):  # one-format buckets have one peer
        return None
    ing = next((r for r in rows if r["id"] == "flowsleuth-ingest" and r["scale"] == 1 and r["status"] == "ok"), None)
    wall = sum(r["wall_s"] for r in peers)
    lines = sum(r["lines"] for r in peers)
    return {
        "id": "peers-combined", "group": "ingest", "scale": 1, "kind": "peer", "status": "ok", "reason": "",
        "note": "flowlogs-reader (flow) + aws-log-parser (ALB), projected", "projected": True, "repeats": 0,
        "wall_s": wall, "cpu_s": None, "peak_rss_mib": None, "lines": lines, "lines_per_s": lines / wall,
        "gz_mb_per_s": sum(r["gz_mb_per_s"] * r["wall_s"] for r in peers) / wall,
        "raw_mb_per_s": sum(r["raw_mb_per_s"] * r["wall_s"] for r in peers) / wall,
        "vs_flowsleuth": wall / ing["wall_s"] if ing and ing["wall_s"] else None, "runs": [],
    }  # fmt: skip


def _rows(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    ref: dict[tuple[str, int], float | None] = {}
    for o in outcomes:
        if o.contender.kind == "flowsleuth" and o.status == "ok" and o.contender.group != "report":
            ref.setdefault((o.contender.group, o.contender.scale), o.wall_s)
    rows = [o.to_json(ref.get((o.contender.group, o.contender.scale))) for o in outcomes]
    combined = _peers_combined(rows)
    if combined:
        last_peer = max(i for i, r in enumerate(rows) if r["kind"] == "peer")
        rows.insert(last_peer + 1, combined)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(rows: list[dict[str, Any]], targets: list[Target]) -> None:
    t = Table(title="flowsleuth benchmark (medians)", title_justify="left")
    for col in ("group", "contender", "data", "status", "wall s", "CPU s", "peak RSS MiB", "lines/s", "MB/s gz", "MB/s raw", "vs flowsleuth"):
        t.add_column(col, justify="left" if col in ("group", "contender", "status") else "right")
    for r in rows:
        wall = _fmt(r["wall_s"], ".2f") + ("*" if r.get("projected") else "")
        t.add_row(
            r["group"], r["id"], f"{r['scale']}x", r["status"] if r["status"] == "ok" else f"[yellow]{r['status']}[/]",
            wall, _fmt(r["cpu_s"], ".2f"), _fmt(r["peak_rss_mib"], ".0f"), _fmt(r["lines_per_s"], ",.0f"),
            _fmt(r["gz_mb_per_s"], ".1f"), _fmt(r["raw_mb_per_s"], ".1f"),
            _fmt(r["vs_flowsleuth"], ".2f") + ("x" if r["vs_flowsleuth"] is not None else ""),
        )  # fmt: skip
    console.print(t)
    console.print("* projected from a sample.  vs flowsleuth = this wall / flowsleuth's wall on the same data (>1: flowsleuth faster).")
    for r in rows:
        if r["status"] not in ("ok",):
            console.print(f"  {r['id']} x{r['scale']}: {r['status']}: {r['reason']}")
    tt = Table(title="targets", title_justify="left")
    for col in ("target", "value", "threshold", "result", "detail"):
        tt.add_column(col)
    colour = {"PASS": "green", "MISS": "red", "N/A": "yellow"}
    for g in targets:
        tt.add_row(g.name, _fmt(g.value, ".3g"), g.threshold, f"[{colour[g.status]}]{g.status}[/]", g.detail)
    console.print(tt)


def _host() -> dict[str, Any]:
    import duckdb
    import polars
    import pyarrow

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "loadavg": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = datetime.now(UTC)
    groups = set(args.only or ("ingest", "detect", "report"))
    work = args.work_dir or args.data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    scales = [1] if args.quick else [1, 2, 4]
    generator = args.data
    sample = args.sample or (20_000 if args.quick else 100_000)
    host = _host()

    datasets: dict[int, Dataset] = {}
    for s in scales if "detect" in groups else [1]:
        with console.status(f"benchmark data {args.size * s:g}x ({generator})"):
            datasets[s] = ensure_dataset(args.data_dir, size=args.size * s, seed=args.seed, generator=generator, bucket=args.bucket)
        ds = datasets[s]
        console.log(f"data x{s}: {ds.flow_lines:,} flow + {ds.alb_lines:,} ALB lines, {ds.flow_objects + ds.alb_objects} objects, "
                    f"{ds.gz_bytes / 1e6:.0f} MB gz / {ds.raw_bytes / 1e6:.0f} MB raw ({ds.generator}, made in {ds.generate_seconds:.1f} s)")  # fmt: skip
    _warm_cache(datasets[1])

    outcomes: list[Outcome] = []
    ingest_by_scale: dict[int, Outcome] = {}
    if "ingest" in groups:
        ing = [Outcome(c) for c in ingest_contenders(datasets[1], work, sample_flow=sample, sample_alb=sample // 2)]
        alternate(ing, args.repeat, args.timeout)
        outcomes += ing
        ingest_by_scale[1] = ing[0]
    lakes: dict[str, Any] = {}
    if groups & {"detect", "report"}:
        for s in scales if "detect" in groups else [1]:
            if s not in ingest_by_scale:
                o = Outcome(ingest_only(datasets[s], work, s))
                alternate([o], 1, args.timeout)
                outcomes.append(o)
                ingest_by_scale[s] = o
            _lake_for(s, ingest_by_scale[s], datasets[s], work, lakes)
    if "detect" in groups:
        det = [Outcome(c) for s in scales for c in detect_contenders(datasets[s], Path(lakes[str(s)]["path"]), work, s)]
        alternate(det, args.repeat, args.timeout)
        outcomes += det
    if "report" in groups:
        findings = work / "detect-out-x1" / "findings.json"
        if not findings.is_file():
            findings = work / "empty-findings.json"
            findings.write_text("[]\n")
        rep = [Outcome(report_contender(datasets[1], Path(lakes["1"]["path"]), findings, work))]
        alternate(rep, args.repeat, args.timeout)
        outcomes += rep

    rows = _rows(outcomes)
    peers = next((r["wall_s"] for r in rows if r["id"] == "peers-combined"), None)
    targets = evaluate(rows, peers_projected_wall=peers, bucket=args.bucket)
    result = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "host": {**host, "loadavg_end": os.getloadavg()},
        "generator": generator,
        "datasets": {str(s): d.to_json() for s, d in datasets.items()},
        "lakes": lakes,
        "contenders": rows,
        "targets": to_json(targets),
    }
    out = args.json or REPO / "bench" / "results" / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print_tables(rows, targets)
    console.print(f"results: {out}")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    console.log(f"done in {time.perf_counter() - t0:.0f} s")
    sys.exit(code)

"""`flowsleuth demo`: ingest the bundled sample bucket, detect, and write the report, in one command."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..samples import find_demo_data

HELP = "try flowsleuth on the bundled sample data (data-samples/demo): ingest, detect, report"
EXAMPLE = "flowsleuth demo --out .flowsleuth-demo   then open .flowsleuth-demo/report.html"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path(".flowsleuth-demo"), help="output directory (default: .flowsleuth-demo/)")
    parser.add_argument("--data", type=Path, help="sample dataset folder (default: data-samples/demo of this checkout)")


def run(args: argparse.Namespace) -> int:
    from ..db import open_lake
    from ..topology.model import Topology

    data = find_demo_data(args.data)
    out: Path = args.out.resolve()  # absolute: printed paths work from anywhere
    lake = out / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    summary = None
    try:
        from ..ingest import ingest
    except ImportError as e:
        skipped.append(f"ingest ({e})")
    else:
        summary = ingest([str(data)], lake)
        print(f"ingested {data} into {lake}")
    topo_file = data / "topology.json"
    topology = Topology.load(topo_file) if topo_file.exists() else None
    con = open_lake(lake)
    findings, notes, detectors = [], [], []
    try:
        from ..detect import load_detectors, run_detectors, write_findings
    except ImportError as e:
        skipped.append(f"detect ({e})")
    else:
        result = run_detectors(con, topology=topology)
        findings, notes, detectors = result.findings, list(result.notes), load_detectors()
        topology = topology or result.topology
        print(f"findings: {write_findings(findings, out)} ({len(findings)} findings)")
    from ..report import write_report

    notes += [f"skipped: {s}" for s in skipped]
    path = write_report(con, findings, out, title="flowsleuth demo", ingest_summary=summary, detect_notes=notes,
                        topology=topology, detectors=detectors)  # fmt: skip
    print(f"report: {path}")
    for s in skipped:
        print(f"skipped: {s}")
    return 0

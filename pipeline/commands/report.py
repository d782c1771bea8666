"""`flowsleuth report`: the incident report (HTML, markdown or CSV) from a lake and its findings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .lake_args import add_lake_arguments, location

HELP = "write the incident report (self-contained HTML, markdown for chat, or CSV)"
EXAMPLE = "flowsleuth report --lake lake/ --out out/   (reads out/findings.json from 'flowsleuth detect')"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lake_arguments(parser, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output directory (report.html, report.md, findings.csv)")
    parser.add_argument(
        "--findings", type=Path, metavar="FILE", help="findings.json (default: OUT/findings.json; run the detectors when absent)"
    )
    parser.add_argument("--format", choices=("html", "md", "csv"), default="html", help="html (default), md (also printed), csv")
    parser.add_argument("--topology", type=Path, metavar="FILE", help="topology.json, to name AZs in charts")
    parser.add_argument("--title", help="report title")


def run(args: argparse.Namespace) -> int:
    from ..db import open_lake
    from ..detect import load_detectors, read_findings, read_incidents, run_detectors
    from ..incidents import correlate
    from ..report import render_markdown, write_csv, write_report
    from ..topology.model import Topology

    topology = Topology.load(args.topology) if args.topology else None
    findings_file = args.findings or args.out / "findings.json"
    notes: list[str] = []
    if args.findings and not args.findings.exists():
        raise UsageError(f"findings file {str(args.findings)!r} not found; run 'flowsleuth detect' first")
    con = open_lake(location(args))
    if findings_file.exists():
        try:
            findings = read_findings(findings_file)
            incidents = read_incidents(findings_file)
        except (ValueError, TypeError, KeyError) as e:
            raise UsageError(f"{str(findings_file)!r} is not a findings.json written by flowsleuth: {e}") from None
    else:
        result = run_detectors(con, topology=topology)
        findings, notes = result.findings, list(result.notes)
        incidents = correlate(findings)
        topology = topology or result.topology
    args.out.mkdir(parents=True, exist_ok=True)
    if args.format == "md":
        text = render_markdown(findings, title=args.title, detect_notes=notes, incidents=incidents)
        (args.out / "report.md").write_text(text, encoding="utf-8")
        sys.stdout.write(text)
        return 0
    if args.format == "csv":
        path = write_csv(findings, args.out / "findings.csv", incidents=incidents)
        print(f"findings: {path}; incidents: {path.parent / 'incidents.csv'}")
        return 0
    path = write_report(
        con, findings, args.out, title=args.title, detect_notes=notes, topology=topology, detectors=load_detectors(),
        incidents=incidents,
    )  # fmt: skip
    print(f"report: {path} ({len(incidents)} incidents from {len(findings)} findings)")
    return 0

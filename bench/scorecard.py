"""Detector scorecard over fresh simulator datasets: how well do the detectors generalise?

    python bench/scorecard.py [--seeds N] [--first-seed S] [--hours H] [--incident-hours H]
                              [--scale X] [--variants default,v2,alt] [--no-mixed] [--out JSON]
    python bench/scorecard.py --render JSON [JSON...]     (tables of earlier runs, merged)

For every seed and every variant, the simulator (``pipeline.simulate.generate``) writes one
dataset per incident scenario, ``mixed``, a ``clean`` one of ``--incident-hours`` and a long
``clean`` one of ``--hours``; each is ingested into a temporary lake, every detector runs
(with the dataset's ``topology.json`` and, as variant ``<name>+notopo``, without it), and
findings are compared with ``labels.json``.

The seed already draws region, account id, CIDRs, AZ names and ids, app and API port,
health-check settings, probe address, targets per AZ and the app VPC's flow-log field order
(AWS example order, alphabetical or shuffled). Variants add what the seed does not vary:

- ``default``: the environment exactly as the seed draws it;
- ``v2``: the app VPC's flow log in AWS's *default* format (version 2, 14 fields) as well as
  the API VPC's: no tcp-flags, subnet-id, az-id, pkt-*, traffic-path;
- ``alt``: ports and addresses outside the simulator's draw lists (app port 5000/8000/8888/
  7001, API port 8443/5000/3000, probe address not among the usual resolvers, 3 targets per AZ);
- ``long``: hours of background noise at full volume: every dataset lasts at least
  ``--long-hours`` (default 6) at ``--long-scale`` (default 1.0), in a region the simulator never
  draws (ap-northeast-3, AZ names and ids renamed to match);
- ``trimmed``: the default environment, but only the logs from 10 minutes before the first
  incident on are ingested (``ingest(since=...)``): an analyst who pulls just the incident's
  hour has little history for baselines;
- ``v3``: the app VPC's flow log in a custom format of version 2 and 3 fields only (no az-id,
  flow-direction, traffic-path, pkt-*-aws-service);
- ``parquet``: both flow logs delivered in AWS's Parquet format (``.log.parquet``);
- ``hive``: Hive-compatible S3 prefixes with per-hour partitions;
- ``multi``: a central bucket: two more accounts' default VPCs (overlapping 172.31.0.0/16, no
  gateway endpoints, public instances), the app VPC on 172.31.0.0/16 too, tgw_route_missing
  relayed by the NAT gateway, ALB listener on 8443;
- ``cidr``: the app VPC on a range outside RFC 1918 (100.72.0.0/16 or 11.x.0.0/16).

A finding *matches* a label when it has the labelled detector, its window overlaps the
labelled window, and its entity shares at least one key with the label and agrees on every
shared key. Per detector: TP (labelled visible incidents matched), missed (not matched),
FP (findings matching no label) split into incident datasets and clean datasets. Findings
of a detector on a dataset where that detector "cannot run" are impossible; a skipped
detector whose incident is missed is reported as ``skipped`` in the per-scenario table.

Prints Markdown tables; ``--out`` writes every dataset's findings and matches as JSON.
Keep the volume modest: the machine is shared (runs are serial, DuckDB uses 2 threads).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.db import open_lake  # noqa: E402
from pipeline.detect import load_detectors, run_detectors  # noqa: E402
from pipeline.findings import severity_rank  # noqa: E402
from pipeline.ingest import ingest  # noqa: E402
from pipeline.schema import FLOW_BY_AWS  # noqa: E402
from pipeline.simulate import INCIDENTS, build_env, generate  # noqa: E402
from pipeline.simulate.environment import CUSTOM_FIELDS, DEFAULT_VPC_CIDR, FlowLog  # noqa: E402
from pipeline.simulate.label_match import matches, parse_ts  # noqa: E402
from pipeline.topology.model import Topology  # noqa: E402

log = logging.getLogger("scorecard")

VARIANTS = ("default", "v2", "alt", "long", "trimmed", "v3", "parquet", "hive", "multi", "cidr")
#: A custom format with only version 2 and 3 fields (no az-id, flow-direction, traffic-path, pkt-*-aws-service).
V3_FIELDS = tuple(f for f in CUSTOM_FIELDS if FLOW_BY_AWS[f].version <= 3)
TRIM_LEAD = timedelta(minutes=10)
V2_FIELDS = tuple(f for f in FLOW_BY_AWS if FLOW_BY_AWS[f].version == 2)
LONG_HOURS = 6.0
LONG_SCALE = 1.0
ALT_APP_PORTS = (5000, 8000, 8888, 7001)
ALT_API_PORTS = (8443, 5000, 3000)
ALT_PROBES = ("34.117.59.81", "151.101.1.69", "198.51.100.7")


def variant_overrides(variant: str, seed: int) -> dict[str, Any]:
    """``generate`` env overrides for one variant (the seed's own draws stay as they are)."""
    if variant == "default":
        return {}
    if variant == "v2":
        env = build_env(seed)
        return {"flow_logs": [FlowLog(fl.flow_log_id, fl.vpc_id, V2_FIELDS) for fl in env.flow_logs]}
    if variant == "trimmed":
        return {}
    if variant == "v3":
        env = build_env(seed)
        return {"flow_logs": [FlowLog(env.flow_logs[0].flow_log_id, env.flow_logs[0].vpc_id, V3_FIELDS), env.flow_logs[1]]}
    if variant in ("parquet", "hive"):
        env = build_env(seed)
        shape = {"file_format": "parquet"} if variant == "parquet" else {"hive": True, "hourly": True}
        return {"flow_logs": [replace(fl, **shape) for fl in env.flow_logs]}
    if variant == "multi":
        # a central bucket: two more accounts' default VPCs (overlapping 172.31.0.0/16, no
        # endpoints, public instances), the app VPC a default VPC too, a NAT-relayed
        # tgw_route_missing and a listener on 8443
        return {"other_accounts": 2, "vpc_cidr": DEFAULT_VPC_CIDR, "api_via_nat": True, "listener_port": 8443}
    if variant == "cidr":
        # VPC ranges outside RFC 1918: shared address space (RFC 6598) or public space used privately
        return {"vpc_cidr": "100.72.0.0/16" if seed % 2 == 0 else f"11.{seed % 250}.0.0/16"}
    if variant == "long":
        return {
            "region": "ap-northeast-3", "region_code": "apne3",
            "azs": ["ap-northeast-3a", "ap-northeast-3b", "ap-northeast-3c"],
            "az_ids": [f"apne3-az{n}" for n in ((seed % 3) + 1, ((seed + 1) % 3) + 1, ((seed + 2) % 3) + 1)],
        }  # fmt: skip
    if variant == "alt":
        return {
            "app_port": ALT_APP_PORTS[seed % len(ALT_APP_PORTS)],
            "api_port": ALT_API_PORTS[seed % len(ALT_API_PORTS)],
            "probe_ip": ALT_PROBES[seed % len(ALT_PROBES)],
            "targets_per_az": 3,
        }
    raise ValueError(f"unknown variant {variant!r}")


# --- matching (the same rule as tests/test_e2e_scenarios.py) -------------------------------
# --- one dataset ---------------------------------------------------------------------------
@dataclass
class Outcome:
    dataset: str  # scenario name (clean-long for the long clean)
    scenario: str
    seed: int
    variant: str
    env: dict[str, Any]
    incidents: list[dict[str, Any]] = field(default_factory=list)  # label + matched (bool) + matched_by
    findings: list[dict[str, Any]] = field(default_factory=list)  # finding + matches (incident indexes)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0
    rejects: int = 0
    seconds: float = 0.0


def env_summary(seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    env = build_env(seed, **overrides)
    fl = env.flow_logs[0]
    order = "aws-example" if fl.fields[:3] == ("version", "srcaddr", "dstaddr") else (
        "alphabetical" if list(fl.fields) == sorted(fl.fields) else ("v2-default" if fl.fields == V2_FIELDS else "shuffled"))
    return {
        "region": env.region, "account": env.account, "vpc_cidr": env.vpc_cidr, "api_cidr": env.api_cidr,
        "az_ids": env.az_ids, "app_port": env.app_port, "api_port": env.api_port, "probe_ip": env.probe_ip,
        "targets": len(env.targets), "flow_order": order, "flow_version": fl.version,
        "hc": f"{env.hc_interval}s x {env.hc_unhealthy_threshold}",
    }  # fmt: skip


def evaluate(
    scenario: str, dataset: str, seed: int, variant: str, hours: float, scale: float, work: Path,
    topology_modes: tuple[str, ...] = ("with",),
) -> list[Outcome]:
    """One generated dataset, detected once per topology mode ("with" the file, "without": inferred only)."""
    overrides = variant_overrides(variant, seed)
    if variant == "long":
        hours, scale = max(hours, LONG_HOURS), LONG_SCALE
    env = env_summary(seed, overrides)
    t0 = time.perf_counter()
    root = work / f"{dataset}-{seed}-{variant}"
    lake = root / "lake"
    data = root / "data"
    results = []
    try:
        generate(scenario, data, seed=seed, duration=timedelta(hours=hours), scale=scale, **overrides)
        labels = json.loads((data / "labels.json").read_text())
        if variant == "trimmed" and labels["incidents"]:
            trim(data, min(parse_ts(i["window_start"]) for i in labels["incidents"]) - TRIM_LEAD)
        s = ingest([str(data)], lake, workers=2)
        for mode in topology_modes:
            con = open_lake(lake, threads=2, memory_limit="3GB")
            try:
                topo = Topology.load(data / "topology.json") if mode == "with" else None
                results.append((mode, run_detectors(con, topology=topo)))
            finally:
                con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outs = []
    for mode, res in results:
        name = variant if mode == "with" else f"{variant}+notopo"
        out = Outcome(dataset, scenario, seed, name, env, rows=s.rows, rejects=s.rejects)
        out.errors = ([] if s.ok else [f"ingest failures: {s.failures[:3]}"]) + list(res.errors)
        out.skipped, out.notes = list(res.skipped), list(res.notes)
        incidents = labels["incidents"]
        out.incidents = [{**inc, "matched_by": []} for inc in incidents]
        for f in res.findings:
            hit = [i for i, inc in enumerate(incidents) if inc.get("visible_in_logs") and matches(f, inc)]
            for i in hit:
                out.incidents[i]["matched_by"].append(f.id)
            ev = {k: v for k, v in f.evidence.items() if k != "samples"}
            out.findings.append({
                "id": f.id, "detector": f.detector, "severity": f.severity, "window_start": f.window_start,
                "window_end": f.window_end, "entity": f.entity, "summary": f.summary,
                "evidence": json.loads(json.dumps(ev, default=str)), "matches": hit,
            })  # fmt: skip
        out.seconds = round(time.perf_counter() - t0, 1)
        outs.append(out)
    return outs


def trim(data: Path, since: datetime) -> int:
    """Delete the log objects delivered before ``since`` (by the time in their names), as if never pulled."""
    cut = since.strftime("%Y%m%dT%H%M")
    gone = 0
    for p in (data / "AWSLogs").rglob("*.log.gz"):
        stamp = re.search(r"_(\d{8}T\d{4})Z_", p.name)
        if stamp and stamp.group(1) < cut:
            p.unlink()
            gone += 1
    return gone


# --- scoring -------------------------------------------------------------------------------
def score(outcomes: list[Outcome], detectors: list[str]) -> dict[str, Any]:
    per_det: dict[str, dict[str, int]] = {d: defaultdict(int) for d in detectors}  # type: ignore[misc]
    per_scen: dict[tuple[str, str], dict[str, Any]] = {}
    for o in outcomes:
        clean = o.scenario == "clean"
        for inc in o.incidents:
            det = inc.get("detector")
            if not inc.get("visible_in_logs") or not det:
                continue
            per_det[det]["tp" if inc["matched_by"] else "missed"] += 1
            if not inc["matched_by"] and det in o.skipped:
                per_det[det]["missed_skipped"] += 1
        for f in o.findings:
            if f["matches"]:
                continue
            per_det[f["detector"]]["fp_clean" if clean else "fp_incident"] += 1
            if severity_rank(f["severity"]) >= 1:
                per_det[f["detector"]]["fp_clean_med" if clean else "fp_incident_med"] += 1
        key = (o.dataset, o.variant)
        cell = per_scen.setdefault(key, {"runs": 0, "found": 0, "labelled": 0, "fired": defaultdict(int), "skipped": defaultdict(int)})
        cell["runs"] += 1
        vis = [i for i in o.incidents if i.get("visible_in_logs") and i.get("detector")]
        cell["labelled"] += len(vis)
        cell["found"] += sum(1 for i in vis if i["matched_by"])
        for det in {f["detector"] for f in o.findings}:
            cell["fired"][det] += 1
        for det in o.skipped:
            cell["skipped"][det] += 1
    return {"detectors": {d: dict(v) for d, v in per_det.items()}, "scenarios": per_scen}


def markdown(scores: dict[str, Any], outcomes: list[Outcome]) -> str:
    lines = ["### Per detector (all seeds and variants)", "",
             "| detector | TP | missed | (missed while 'cannot run') | FP in incident datasets (med+) | FP in clean datasets (med+) |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for det, c in sorted(scores["detectors"].items()):
        lines.append(
            f"| `{det}` | {c.get('tp', 0)} | {c.get('missed', 0)} | {c.get('missed_skipped', 0)} | "
            f"{c.get('fp_incident', 0)} ({c.get('fp_incident_med', 0)}) | {c.get('fp_clean', 0)} ({c.get('fp_clean_med', 0)}) |"
        )
    variants = sorted({o.variant for o in outcomes}, key=lambda v: (v.replace("+notopo", ""), v))
    grid: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # found, labelled, unmatched
    for o in outcomes:
        for inc in o.incidents:
            if inc.get("visible_in_logs") and inc.get("detector"):
                cell = grid[inc["detector"], o.variant]
                cell[1] += 1
                cell[0] += bool(inc["matched_by"])
        for f in o.findings:
            if not f["matches"]:
                grid[f["detector"], o.variant][2] += 1
    lines += ["", "### Found / labelled per detector and variant (unmatched findings in brackets when any)", "",
              "| detector | " + " | ".join(variants) + " |", "|---|" + "---:|" * len(variants)]  # fmt: skip
    for det in sorted(scores["detectors"]):
        cells = []
        for v in variants:
            found, lab, fp = grid[det, v]
            cells.append((f"{found}/{lab}" if lab else "–") + (f" ({fp})" if fp else ""))
        lines.append(f"| `{det}` | " + " | ".join(cells) + " |")
    lines += ["", "### Per scenario and variant", "",
              "| dataset | variant | runs | labelled incidents found | detectors that fired (runs) | skipped 'cannot run' (runs) |",
              "|---|---|---:|---:|---|---|"]  # fmt: skip
    for (ds, var), cell in sorted(scores["scenarios"].items()):
        fired = ", ".join(f"{d} ({n})" for d, n in sorted(cell["fired"].items())) or "—"
        skipped = ", ".join(f"{d} ({n})" for d, n in sorted(cell["skipped"].items())) or "—"
        found = f"{cell['found']}/{cell['labelled']}" if cell["labelled"] else "n/a"
        lines.append(f"| {ds} | {var} | {cell['runs']} | {found} | {fired} | {skipped} |")
    misses = []
    for o in outcomes:
        for inc in o.incidents:
            if inc.get("visible_in_logs") and inc.get("detector") and not inc["matched_by"]:
                same = [f for f in o.findings if f["detector"] == inc["detector"]]
                why = "skipped (cannot run)" if inc["detector"] in o.skipped else (
                    f"{len(same)} finding(s) of that detector, none matching" if same else "no finding")
                misses.append(f"| {o.dataset} | {o.seed} | {o.variant} | `{inc['detector']}` | {why} |")
    if misses:
        lines += ["", "### Missed incidents", "", "| dataset | seed | variant | detector | why |", "|---|---:|---|---|---|", *misses]
    fps = []
    for o in outcomes:
        for f in o.findings:
            if not f["matches"]:
                fps.append(f"| {o.dataset} | {o.seed} | {o.variant} | `{f['detector']}` | {f['severity']} | "
                           f"{f['window_start'][11:16]}–{f['window_end'][11:16]} | {_short(f['entity'])} |")  # fmt: skip
    if fps:
        lines += ["", "### Unmatched findings (false positives)", "",
                  "| dataset | seed | variant | detector | severity | window | entity |", "|---|---:|---|---|---|---|---|", *fps]  # fmt: skip
    return "\n".join(lines)


def _short(entity: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in entity.items())


def main(argv: list[str] | None = None) -> int:
    global LONG_HOURS, LONG_SCALE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    ap.add_argument("--first-seed", type=int, default=100, help="first seed (default 100: away from data-samples' seeds)")
    ap.add_argument("--hours", type=float, default=12.0, help="duration of the long clean dataset (default 12)")
    ap.add_argument("--incident-hours", type=float, default=2.0, help="duration of incident and short clean datasets (default 2)")
    ap.add_argument("--scale", type=float, default=0.3, help="simulator traffic scale (default 0.3)")
    ap.add_argument("--long-hours", type=float, default=LONG_HOURS, help="least duration in the long variant (default 6)")
    ap.add_argument("--long-scale", type=float, default=LONG_SCALE, help="scale in the long variant (default 1.0)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    ap.add_argument("--scenarios", default="", help="comma-separated subset of scenarios (default: all + clean + clean-long)")
    ap.add_argument("--no-mixed", action="store_true", help="skip the mixed scenario")
    ap.add_argument("--topology", choices=("with", "without", "both"), default="both",
                    help="detect with the dataset's topology.json, without it (inferred from the logs only), or both (default)")
    ap.add_argument("--out", type=Path, help="write the full outcomes and scores as JSON")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    ap.add_argument("--render", type=Path, nargs="+", metavar="JSON",
                    help="no runs: print the tables for earlier --out files (several are merged)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    if args.render:
        outcomes = [Outcome(**o) for p in args.render for o in json.loads(p.read_text())["outcomes"]]
        print(markdown(score(outcomes, [d.id for d in load_detectors()]), outcomes))  # noqa: T201
        return 0

    LONG_HOURS, LONG_SCALE = args.long_hours, args.long_scale
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}")
    plan: list[tuple[str, str, float]] = [(s, s, args.incident_hours) for s in INCIDENTS]
    if not args.no_mixed:
        plan.append(("mixed", "mixed", max(args.incident_hours, 2.0)))
    plan += [("clean", "clean", args.incident_hours), ("clean", "clean-long", args.hours)]
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        plan = [p for p in plan if p[1] in wanted]
    modes = ("with", "without") if args.topology == "both" else (args.topology,)
    detectors = [d.id for d in load_detectors()]
    work = args.work or Path(tempfile.mkdtemp(prefix="scorecard-"))
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for variant in variants:
            for scenario, dataset, hours in plan:
                for o in evaluate(scenario, dataset, seed, variant, hours, args.scale, work, modes):
                    outcomes.append(o)
                    found = sum(1 for i in o.incidents if i["matched_by"])
                    vis = sum(1 for i in o.incidents if i.get("visible_in_logs") and i.get("detector"))
                    fp = sum(1 for f in o.findings if not f["matches"])
                    log.info("seed %d %-14s %-22s %s found %d/%d, unmatched findings %d, %d rows, %.0fs",
                             seed, o.variant, dataset, o.env["region"], found, vis, fp, o.rows, o.seconds)  # fmt: skip
                if args.out:  # write as we go: a long run that is stopped still leaves its results
                    _dump(args.out, outcomes, detectors, args, time.perf_counter() - started)
    scores = score(outcomes, detectors)
    print(markdown(scores, outcomes))  # noqa: T201 - a bench entry point
    if args.out:
        _dump(args.out, outcomes, detectors, args, time.perf_counter() - started)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _dump(path: Path, outcomes: list[Outcome], detectors: list[str], args: argparse.Namespace, seconds: float) -> None:
    scores = score(outcomes, detectors)
    doc = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "seconds": round(seconds, 1),
        "detectors": scores["detectors"],
        "scenarios": [{"dataset": k[0], "variant": k[1], **{kk: (dict(vv) if isinstance(vv, dict) else vv) for kk, vv in v.items()}}
                      for k, v in sorted(scores["scenarios"].items())],  # fmt: skip
        "outcomes": [vars(o) for o in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())

"""Profile detection: build a benchmark lake, time every detector against the naive self-join.

    .venv/bin/python bench/detect_profile.py build --scale 12 --work /tmp/dp/x1      # ~3.9M flow rows
    .venv/bin/python bench/detect_profile.py time --lake /tmp/dp/x1/lake --repeat 5
    .venv/bin/python bench/detect_profile.py time --lake LAKE --before-root /tmp/old-tree   # A/B vs a copy
    .venv/bin/python bench/detect_profile.py findings --lake LAKE --out base.json   # canonical findings
    .venv/bin/python bench/detect_profile.py findings --samples --work /tmp/dp/samples --out samples.json
    .venv/bin/python bench/detect_profile.py compare base.json new.json [--loose port_scan:interface_id,...]

``time`` runs the naive one-way-flow anti self-join and the whole detection in rotating
order (each in a fresh child process, so peak RSS is per run) and prints medians of wall
and CPU seconds: detect / self-join is the target (<= 2.0x), peak RSS < 4 GiB. On a machine
shared with others wall times swing several-fold; CPU seconds (all threads) are steadier.
Per-detector times and the runner's stages (topology inference, requires check,
detectors) come from ``DetectResult.timings`` / ``DetectResult.stages``.

``findings`` writes every finding (id, detector, entity, window, severity, evidence, ...)
sorted by id, so a change to the SQL or runner can be checked to keep them identical;
``--param`` lowers thresholds to get many more findings to compare. Some evidence is not
deterministic even run to run on the same code (``mode()`` ties: port_scan's interface,
reject_burst's busiest interface/subnet/port; port_scan's unordered ``list(DISTINCT)``):
``compare --loose DETECTOR:FIELD,...`` leaves those fields out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAIVE = (
    "SELECT count(*) FROM vpc_flow a ANTI JOIN vpc_flow b ON a.srcaddr=b.dstaddr AND a.dstaddr=b.srcaddr "
    "AND a.srcport=b.dstport AND a.dstport=b.srcport AND a.protocol=b.protocol"
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- children (one measurement each, JSON on stdout) -------------------------------------------


def child_naive(lake: str, threads: int) -> dict:
    from pipeline.db import open_lake

    con = open_lake(lake, threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    n = con.execute(NAIVE).fetchone()[0]
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rows": n, "rss_mib": _peak_rss_mib()}


def child_detect(lake: str, threads: int, queries: str | None, infer: bool) -> dict:
    from pipeline.db import open_lake
    from pipeline.detect import run_detectors

    con = open_lake(lake, threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_detectors(con, queries_dir=Path(queries) if queries else None, infer_topology=infer)
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "cpu": time.process_time() - c0,
        "timings": res.timings,
        "stages": getattr(res, "stages", {}),
        "findings": len(res.findings),
        "errors": res.errors,
        "rss_mib": _peak_rss_mib(),
    }


def _run_child(args: list[str], root: str | None = None) -> dict:
    script = str(Path(root) / "bench" / "detect_profile.py") if root else __file__
    out = subprocess.run([sys.executable, script, "_child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- commands ----------------------------------------------------------------------------------


def cmd_build(a: argparse.Namespace) -> None:
    work = Path(a.work)
    sim, lake = work / "sim", work / "lake"
    fs = str(Path(sys.executable).with_name("flowsleuth"))
    if not sim.exists():
        cmd = [fs, "simulate", "--scenario", a.scenario, "--scale", str(a.scale), "--seed", str(a.seed), "--out", str(sim)]
        if a.duration:
            cmd += ["--duration", a.duration]
        subprocess.run(cmd, check=True)
    subprocess.run([fs, "ingest", "--source", str(sim), "--lake", str(lake)], check=True)
    from pipeline.db import open_lake

    con = open_lake(lake)
    for t in ("vpc_flow", "alb_access"):
        print(t, con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])


def cmd_time(a: argparse.Namespace) -> None:
    base = ["--lake", a.lake, "--threads", str(a.threads)]
    dargs = base + (["--queries", a.queries] if a.queries else []) + ([] if a.infer else ["--no-infer"])
    kinds: list[tuple[str, list[str], str | None]] = [("naive", base, None), ("detect", dargs, None)]
    if a.before_root:
        # the same measurement on an earlier copy of the tree (pipeline/, bench/, queries/), interleaved
        bargs = base + ["--queries", a.before_queries or str(Path(a.before_root) / "queries")] + ([] if a.infer else ["--no-infer"])
        kinds.append(("before", bargs, a.before_root))
    runs: dict[str, list[dict]] = {k: [] for k, _, _ in kinds}
    for i in range(a.repeat):
        # rotate the order so drift in machine load hits every side alike
        for kind, args, root in kinds[i % len(kinds):] + kinds[: i % len(kinds)]:
            r = _run_child([kind if kind == "naive" else "detect", *args], root)
            runs[kind].append(r)
            print(f"  {kind:6s} {r['wall']:7.2f} s  cpu {r['cpu']:6.2f} s  rss {r['rss_mib']:6.0f} MiB", file=sys.stderr)
    summary: dict = {"lake": a.lake}
    naive = runs["naive"]
    nw = statistics.median(r["wall"] for r in naive)
    nc = statistics.median(r["cpu"] for r in naive)
    summary["naive"] = {"wall_s": round(nw, 2), "cpu_s": round(nc, 2), "rss_mib": round(max(r["rss_mib"] for r in naive))}
    for kind in [k for k, _, _ in kinds if k != "naive"]:
        det = runs[kind]
        dw = statistics.median(r["wall"] for r in det)
        dc = statistics.median(r["cpu"] for r in det)
        summary[kind] = {
            "wall_s": round(dw, 2),
            "ratio": round(dw / nw, 2),
            # CPU seconds (all threads): steadier than wall time on a machine shared with others
            "cpu_s": round(dc, 2),
            "cpu_ratio": round(dc / nc, 2),
            "rss_mib": round(max(r["rss_mib"] for r in det)),
            "per_detector_s": {k: round(statistics.median(r["timings"].get(k, 0) for r in det), 2) for k in det[0]["timings"]},
            "stages_s": {k: round(statistics.median(r["stages"].get(k, 0) for r in det), 2) for k in det[0]["stages"]},
            "findings": det[0]["findings"],
            "errors": det[0]["errors"],
        }
    summary["runs"] = {k: [round(r["wall"], 2) for r in v] for k, v in runs.items()}
    print(json.dumps(summary, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(summary, indent=1))


def _canonical(findings) -> list[dict]:
    from pipeline.detect import json_safe

    return sorted((json_safe(f.to_dict()) for f in findings), key=lambda d: (d["detector"], d["id"]))


def _sample_lakes(work: Path) -> dict[str, Path]:
    from pipeline.ingest import ingest

    datasets = [ROOT / "data-samples" / "demo", ROOT / "data-samples" / "clean"]
    datasets += sorted(p for p in (ROOT / "data-samples" / "scenarios").iterdir() if p.is_dir())
    lakes = {}
    for ds in datasets:
        lake = work / ds.name
        if not lake.exists():
            ingest([ds], lake)
        lakes[ds.name] = lake
    return lakes


def cmd_findings(a: argparse.Namespace) -> None:
    from pipeline.db import open_lake
    from pipeline.detect import parse_param_args, run_detectors
    from pipeline.topology.model import Topology

    lakes = _sample_lakes(Path(a.work)) if a.samples else {"lake": Path(a.lake)}
    out: dict[str, list[dict]] = {}
    for name, lake in lakes.items():
        for with_topo in ([False, True] if a.samples else [False]):
            con = open_lake(lake, threads=a.threads)
            topo = None
            if with_topo:
                tf = ROOT / "data-samples" / ("scenarios/" + name if (ROOT / "data-samples/scenarios" / name).exists() else name)
                topo = Topology.load(tf / "topology.json") if (tf / "topology.json").exists() else None
                if topo is None:
                    continue
            res = run_detectors(con, queries_dir=Path(a.queries) if a.queries else None, topology=topo,
                                params=parse_param_args(a.param) if a.param else None)
            key = name + ("+topology" if with_topo else "")
            out[key] = _canonical(res.findings)
            print(f"{key}: {len(res.findings)} findings, errors {res.errors}", file=sys.stderr)
            con.close()
    Path(a.out).write_text(json.dumps(out, indent=1, sort_keys=True, default=str))


def _normalise(findings: list[dict], loose: dict[str, set[str]]) -> dict[str, dict]:
    """Findings by id; for ``loose`` detectors, by (window, entity) without the named fields.

    Used where the baseline itself is not deterministic (e.g. ``mode()`` ties between two
    interfaces in port_scan): those fields are dropped from entity, evidence and the key.
    """
    out = {}
    for f in findings:
        drop = loose.get(f["detector"])
        if not drop:
            out[f["id"]] = f
            continue
        g = {k: v for k, v in f.items() if k not in ("id", "summary", "title") and k not in drop}
        g["entity"] = {k: v for k, v in f["entity"].items() if k not in drop}
        g["evidence"] = {k: v for k, v in f.get("evidence", {}).items() if k not in drop and k != "runbook"}
        out[json.dumps([f["detector"], f["window_start"], g["entity"]], sort_keys=True)] = g
    return out


def cmd_compare(a: argparse.Namespace) -> int:
    old, new = json.loads(Path(a.old).read_text()), json.loads(Path(a.new).read_text())
    loose: dict[str, set[str]] = {}
    for item in a.loose:
        det, _, fields = item.partition(":")
        loose[det] = set(fields.split(","))
    bad = 0
    for key in sorted(set(old) | set(new)):
        o = _normalise(old.get(key, []), loose)
        n = _normalise(new.get(key, []), loose)
        if set(o) != set(n):
            bad += 1
            print(f"{key}: only before {sorted(set(o) - set(n))[:5]}, only after {sorted(set(n) - set(o))[:5]}")
        for fid in sorted(set(o) & set(n)):
            if o[fid] != n[fid]:
                bad += 1
                diff = {k: (o[fid].get(k), n[fid].get(k)) for k in set(o[fid]) | set(n[fid]) if o[fid].get(k) != n[fid].get(k)}
                print(f"{key}: {fid} ({o[fid]['detector']}) differs: {json.dumps(diff, default=str)[:600]}")
    total = sum(len(v) for v in old.values())
    print(f"{'IDENTICAL' if not bad else 'DIFFERENT'}: {total} findings before, {sum(len(v) for v in new.values())} after, {bad} differences")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        p = argparse.ArgumentParser()
        p.add_argument("kind")
        p.add_argument("--lake", required=True)
        p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
        p.add_argument("--queries")
        p.add_argument("--no-infer", dest="infer", action="store_false")
        c = p.parse_args(argv[1:])
        r = child_naive(c.lake, c.threads) if c.kind == "naive" else child_detect(c.lake, c.threads, c.queries, c.infer)
        print(json.dumps(r))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="simulate + ingest a benchmark lake into WORK/lake")
    b.add_argument("--work", required=True)
    b.add_argument("--scenario", default="mixed")
    b.add_argument("--scale", type=float, default=12.0, help="12 gives ~3M flow rows over the mixed scenario's 8 h")
    b.add_argument("--duration")
    b.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("time", help="A/B: naive self-join vs all detectors, medians")
    t.add_argument("--lake", required=True)
    t.add_argument("--repeat", type=int, default=3)
    t.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    t.add_argument("--queries")
    t.add_argument("--no-infer", dest="infer", action="store_false")
    t.add_argument("--before-root", help="also time an earlier copy of the tree (holding pipeline/, bench/, queries/)")
    t.add_argument("--before-queries", help="queries/ for --before-root (default: its own)")
    t.add_argument("--out")
    f = sub.add_parser("findings", help="write canonical findings (JSON) for a lake or for every data sample")
    f.add_argument("--lake")
    f.add_argument("--samples", action="store_true", help="every dataset under data-samples/ (demo, clean, scenarios/*)")
    f.add_argument("--work", default="/tmp/flowsleuth-detect-samples", help="where sample lakes are ingested (cached)")
    f.add_argument("--queries")
    f.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    f.add_argument("--param", action="append", default=[], metavar="ID.NAME=VALUE", help="override a detector parameter")
    f.add_argument("--out", required=True)
    c = sub.add_parser("compare", help="exit 1 unless two findings files are identical")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--loose", action="append", default=[], metavar="DETECTOR:FIELD,...",
                   help="compare this detector's findings without these (nondeterministic) fields, e.g. port_scan:interface_id,samples")
    a = p.parse_args(argv)
    if a.cmd == "build":
        cmd_build(a)
    elif a.cmd == "time":
        cmd_time(a)
    elif a.cmd == "findings":
        cmd_findings(a)
    elif a.cmd == "compare":
        return cmd_compare(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark data from the simulator's ``--scale`` mode (``pipeline.simulate.generate``).

The simulator writes the ``clean`` scenario (realistic background traffic, both flow-log
formats, ALB nodes, NAT, endpoints) in AWS's layout. Its ``scale`` multiplies traffic
rates, so the harness calibrates it: two short probes give flow records as a linear
function of scale (periodic traffic does not scale), then the scale that yields
``BASE_FLOW_RECORDS * size`` over the dataset's duration is used. The probes cover the
dataset's own first hours (up to 6 h), so the client traffic's daily cycle is in them. Long datasets are
generated in SEGMENT_HOURS segments (consecutive start times, same seed) and merged,
because the simulator holds a whole run in memory (~5.5 GB for 6 h at 3M flow records).
The ALB share is whatever the simulator produces (about one ALB line per eight flow
records), not the fallback generator's 1:3.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from isal import igzip

log = logging.getLogger(__name__)

SCENARIO = "clean"
SEGMENT_HOURS = 3.0
BASE_HOURS = 6.0  # size 1 covers six hours, as the fallback generator does
PROBE_MAX = timedelta(hours=6)
PROBE_SCALES = (1.0, 4.0)  # ~a quarter of the generation cost at 1x


def simulator_available() -> bool:
    try:
        from pipeline.simulate import generate  # noqa: F401
    except ImportError:
        return False
    return True


def _count(root: Path, service: str) -> tuple[int, int, int, int]:
    """(lines, objects, gz bytes, raw bytes) of one service's ``.log.gz`` objects under ``root``."""
    lines = objects = gz = raw = 0
    for f in sorted(root.glob(f"AWSLogs/*/{service}/**/*.log.gz")):
        data = igzip.decompress(f.read_bytes())
        lines += data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
        objects += 1
        gz += f.stat().st_size
        raw += len(data)
    return lines, objects, gz, raw


def _flow_records(root: Path) -> int:
    lines, objects, _, _ = _count(root, "vpcflowlogs")
    return lines - objects  # one header line per object


def _calibrate(seed: int, hours: float) -> tuple[float, float]:
    """Flow records per hour as ``a + b * scale``, from two low-scale probes over the first hours."""
    from pipeline.simulate import generate

    probe = min(PROBE_MAX, timedelta(hours=hours))
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in PROBE_SCALES:
            out = Path(tmp) / f"probe-{s:g}"
            generate(SCENARIO, out, seed=seed, duration=probe, scale=s)
            points.append((s, _flow_records(out) / (probe.total_seconds() / 3600)))
    (s1, n1), (s2, n2) = points
    b = (n2 - n1) / (s2 - s1)
    return n1 - b * s1, b


def _merge(src: Path, dest: Path) -> None:
    for f in src.rglob("*"):
        if f.is_file():
            target = dest / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            f.replace(target)


def generate_with_simulator(root: Path, *, size: float, seed: int) -> dict[str, int]:
    from bench.dataset import BASE_FLOW_RECORDS
    from pipeline.simulate import DEFAULT_START, generate

    hours = max(BASE_HOURS * size, 10 / 60)
    a, b = _calibrate(seed, hours)
    per_hour = BASE_FLOW_RECORDS * size / hours
    scale = max(0.05, (per_hour - a) / b) if b > 0 else 1.0
    log.info("simulator: %.2f h at scale %.2f (%.0f + %.0f * scale flow records/h)", hours, scale, a, b)
    done = 0.0
    k = 0
    while done < hours - 1e-9:
        seg = min(SEGMENT_HOURS, hours - done)
        seg_dir = root / f".segment-{k}"
        generate(SCENARIO, seg_dir, seed=seed, start=DEFAULT_START + timedelta(hours=done), duration=timedelta(hours=seg), scale=scale)
        for name in ("labels.json", "topology.json"):
            if k == 0 and (seg_dir / name).is_file():
                (seg_dir / name).replace(root / name)
        _merge(seg_dir / "AWSLogs", root / "AWSLogs")
        shutil.rmtree(seg_dir)
        done += seg
        k += 1
    if any(root.glob("AWSLogs/*/vpcflowlogs/**/*.parquet")):
        log.warning("simulator wrote Parquet flow objects: baselines read only .log.gz, so counts differ")
    flow = _count(root, "vpcflowlogs")
    alb = _count(root, "elasticloadbalancing")
    return {
        "flow_lines": flow[0] - flow[1],
        "alb_lines": alb[0],
        "flow_objects": flow[1],
        "alb_objects": alb[1],
        "flow_gz_bytes": flow[2],
        "alb_gz_bytes": alb[2],
        "flow_raw_bytes": flow[3],
        "alb_raw_bytes": alb[3],
    }

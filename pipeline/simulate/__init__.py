"""Labelled datasets of a broken (or healthy) 3-tier web app, in AWS's S3 delivery layout.

    generate(scenario, out, *, seed=0, start=None, duration=None, scale=1.0, compact=False, **env_overrides) -> Path

writes ``out/AWSLogs/...`` (VPC flow logs and ALB access logs exactly as AWS delivers
them), ``out/labels.json`` (ground truth) and ``out/topology.json`` (``Topology.dump``).
Same arguments, same bytes. See docs/simulator.md.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import polars as pl

from ..errors import UsageError
from .delivery import with_alb_ends, with_flow_slots, write_alb_logs, write_alb_test_file, write_flow_logs
from .environment import Env, build_env
from .scenarios import ALL, INCIDENTS, SCENARIOS, labels, plan, scenario_rng
from .topology_snapshot import build_topology
from .traffic import Traffic

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2025, 6, 10, 6, 0, tzinfo=UTC)
DEFAULT_DURATION: dict[str, timedelta] = {"clean": timedelta(hours=6), "mixed": timedelta(hours=8)}
INCIDENT_DURATION = timedelta(hours=3)
MIN_DURATION = timedelta(minutes=10)
MIN_MIXED_DURATION = timedelta(hours=2)  # room for its overlapping windows and clean time around them
_OWN_OUTPUT = ("AWSLogs", "labels.json", "topology.json")
#: Records generated per chunk at most (about 1 GB of memory per million); tests lower it.
CHUNK_RECORDS = 2_000_000
#: Flow records per hour at scale 1 (client traffic, scanning, calls) and per instance (periodic).
_RECORDS_PER_HOUR, _RECORDS_PER_INSTANCE_HOUR = 70_000, 5_000


def chunk_seconds(scale: float, instances: int) -> int:
    """Length of one generation chunk: whole 5-minute slots holding about CHUNK_RECORDS records."""
    per_s = (_RECORDS_PER_HOUR * scale + _RECORDS_PER_INSTANCE_HOUR * instances) / 3600
    return max(300, int(CHUNK_RECORDS / per_s) // 300 * 300)


def _concat(left: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    return new if left is None or left.height == 0 else pl.concat([left, new], how="vertical_relaxed")

__all__ = ["ALL", "DEFAULT_START", "INCIDENTS", "SCENARIOS", "Env", "build_env", "generate"]


def _prepare(out: Path) -> None:
    """Reuse ``out`` only if it is empty or an earlier simulator output (never delete anything else)."""
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {str(out)!r} is a file; give a directory")
        entries = {p.name for p in out.iterdir()}
        if entries and not (out / "labels.json").is_file():
            raise UsageError(f"--out {str(out)!r} is not empty and holds no earlier simulator output; choose an empty directory")
        for name in _OWN_OUTPUT:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate(
    scenario: str,
    out: Path,
    *,
    seed: int = 0,
    start: datetime | None = None,
    duration: timedelta | None = None,
    scale: float = 1.0,
    compact: bool = False,
    **env_overrides: object,
) -> Path:
    """Write one labelled dataset (or, for ``all``, one per scenario in sub-folders) and return ``out``.

    ``compact`` compresses harder (slower; for committed samples). ``env_overrides`` go to
    ``build_env`` (e.g. ``targets_per_az=1``, ``app_port=8443``, ``region="eu-west-1"``).
    """
    out = Path(out)
    if scenario == ALL:
        for name in SCENARIOS:
            d = max(duration, MIN_MIXED_DURATION) if duration and name == "mixed" else duration
            generate(name, out / name, seed=seed, start=start, duration=d, scale=scale, compact=compact, **env_overrides)
        return out
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; choose one of: {', '.join((*SCENARIOS, ALL))}")
    if not scale > 0:
        raise UsageError(f"scale must be > 0, got {scale}")
    start = start or DEFAULT_START
    if start.tzinfo is None:
        raise UsageError("start must carry a time zone (e.g. 2025-06-10T06:00:00Z)")
    duration = duration or DEFAULT_DURATION.get(scenario, INCIDENT_DURATION)
    if duration < MIN_DURATION:
        raise UsageError(f"duration must be at least {MIN_DURATION}, got {duration}")
    if scenario == "mixed" and duration < MIN_MIXED_DURATION:
        raise UsageError(f"the mixed scenario needs a duration of at least {MIN_MIXED_DURATION}, got {duration}")
    t0 = int(start.timestamp()) // 60 * 60
    t1 = t0 + int(duration.total_seconds()) // 60 * 60
    clock = time.perf_counter()
    env = build_env(seed, **cast(dict[str, Any], env_overrides))
    rng = scenario_rng(seed, scenario)
    faults = plan(scenario, env, rng, t0, t1)
    traffic = Traffic(env, rng, t0, t1, scale, faults)
    _prepare(out)
    n_flow = n_alb = 0
    flows_left, requests_left = None, None
    step = chunk_seconds(scale, len(env.targets))
    for c0 in range(t0, t1, step):  # bounded memory: objects complete by a chunk's end are written then
        c1 = min(c0 + step, t1)
        until = None if c1 == t1 else c1
        traffic.window(c0, c1)
        requests = with_alb_ends(traffic.client_requests())
        traffic.health_checks()
        traffic.scanning()
        traffic.nat_egress()
        traffic.aws_services()
        traffic.api_calls()
        traffic.endpoint_idle()
        if env.other_vpcs:
            traffic.other_vpcs()
        if faults.get("port_scan"):
            traffic.lateral_scan()
        flows = traffic.take_flows()
        if faults.get("capture_gap"):
            flows = traffic.capture_gap(flows)
        flows = with_flow_slots(flows, rng)
        written, flows_left = write_flow_logs(env, _concat(flows_left, flows), out, until=until, compact=compact)
        n_flow += written
        written, requests_left = write_alb_logs(env, _concat(requests_left, requests), out, rng, until=until, compact=compact)
        n_alb += written
    write_alb_test_file(env, out, t0 - 3 * 86400)
    truth = labels(scenario, env, faults, seed, t0, t1, traffic.stats)
    (out / "labels.json").write_text(json.dumps(truth, indent=2) + "\n")
    snapshot_at = min((f.start for f in faults), default=t0) + 60
    build_topology(env, faults, snapshot_at).dump(out / "topology.json")
    log.info(
        "simulate %s seed=%d: %d flow records, %d ALB lines in %.1f s -> %s",
        scenario, seed, n_flow, n_alb, time.perf_counter() - clock, out,
    )  # fmt: skip
    return out

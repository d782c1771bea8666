"""Timestamped configuration snapshots in a directory, and loading them as one map.

Interfaces churn (autoscaling, ALB node replacement), so an address in last week's
flow logs may belong to an interface that no longer exists. Keeping every snapshot
and merging them (newest wins per interface id, older addresses kept) lets old
records still resolve.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from ..errors import UsageError
from .merge import merge
from .model import Topology

log = logging.getLogger(__name__)

SNAPSHOT_GLOB = "topology-*.json"
_STAMP_RE = re.compile(r"[^0-9TZ]")


def write_atomic(topology: Topology, path: str | Path) -> Path:
    """Write ``topology`` as JSON so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".topology-", suffix=".json", dir=path.parent)
    os.close(fd)
    try:
        topology.dump(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_snapshot(topology: Topology, directory: str | Path) -> Path:
    """Keep a copy as ``DIR/topology-<taken_at>.json`` (UTC, e.g. 20261126T021500Z)."""
    taken = topology.taken_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = _STAMP_RE.sub("", taken)
    return write_atomic(topology, Path(directory) / f"topology-{stamp}.json")


def snapshot_paths(directory: str | Path) -> list[Path]:
    """Snapshot files in ``directory``, oldest first (names sort by time)."""
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"snapshot directory {str(d)!r} does not exist; create it with 'flowsleuth topology --snapshots DIR'")
    return sorted(d.glob(SNAPSHOT_GLOB))


def load_snapshots(directory: str | Path) -> Topology:
    """All snapshots in ``directory`` merged into one topology (empty if there are none)."""
    paths = snapshot_paths(directory)
    log.info("merging %d topology snapshots from %s", len(paths), directory)
    return merge(*(Topology.load(p) for p in paths))

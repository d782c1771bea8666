"""The topology the detectors join on (``topo_interfaces``, ``topo_subnets``, ``topo_routes``).

The map comes from a topology file (authoritative) merged over what can be inferred from
the logs themselves, so detectors can ask "which subnet/AZ is this address in" whether or
not the user supplied a file. The views themselves are built by ``pipeline.topology``.
"""

from __future__ import annotations

import logging

import duckdb

from ..topology.infer import infer_from_lake
from ..topology.merge import merge
from ..topology.model import Topology
from ..topology.views import register_topology_views as register_views

log = logging.getLogger(__name__)

__all__ = ["register_views", "resolve_topology"]


def resolve_topology(
    con: duckdb.DuckDBPyConnection, given: Topology | None, *, infer: bool = True
) -> tuple[Topology | None, list[str]]:
    """The file's topology merged over the one inferred from the lake (file wins).

    Returns (topology, notes). Inference is a best-effort enrichment: when it fails, the
    file's topology (or none) is used and a note says why.
    """
    notes: list[str] = []
    if not infer:
        return given, notes
    try:
        inferred = infer_from_lake(con)
    except Exception as e:  # noqa: BLE001 - enrichment must not stop detection
        log.warning("topology inference failed: %s", e)
        notes.append(f"topology could not be inferred from the logs ({type(e).__name__}: {e})")
        return given, notes
    return (inferred if given is None else merge(inferred, given)), notes

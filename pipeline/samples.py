"""The bundled sample data, and a ready lake for notebooks.

Notebooks and the demo share this so neither copies the "find the samples, ingest them
into a scratch lake, load the topology" steps.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .errors import FlowsleuthError
from .topology.model import Topology


def find_demo_data(explicit: Path | None = None) -> Path:
    """``data-samples/demo`` of the source checkout (or the current directory's)."""
    candidates = [explicit] if explicit else [
        Path(__file__).resolve().parents[1] / "data-samples" / "demo",
        Path.cwd() / "data-samples" / "demo",
        *(p / "data-samples" / "demo" for p in Path.cwd().parents),
    ]  # fmt: skip
    candidates = list(dict.fromkeys(candidates))
    for c in candidates:
        if c is not None and (c / "AWSLogs").is_dir():
            return c
    raise FlowsleuthError(
        f"sample data not found (looked for an AWSLogs/ folder in {', '.join(str(c) for c in candidates[:3])}); "
        "run from a flowsleuth checkout, or give a dataset folder (e.g. from 'flowsleuth simulate --scenario mixed --out DIR')"
    )


@dataclass
class AnalysisLake:
    lake: Path
    con: duckdb.DuckDBPyConnection
    topology: Topology | None


def analysis_lake() -> AnalysisLake:
    """``$FLOWSLEUTH_LAKE`` (and ``$FLOWSLEUTH_TOPOLOGY``) if set, else the demo sample
    ingested into a temporary lake with its topology.json."""
    from .db import open_lake

    lake_env = os.environ.get("FLOWSLEUTH_LAKE")
    topo_env = os.environ.get("FLOWSLEUTH_TOPOLOGY")
    if lake_env:
        lake = Path(lake_env)
        topo_file = Path(topo_env) if topo_env else None
    else:
        from .ingest import ingest

        demo = find_demo_data()
        lake = Path(tempfile.mkdtemp(prefix="flowsleuth-nb-")) / "lake"
        ingest([str(demo)], lake)
        topo_file = Path(topo_env) if topo_env else demo / "topology.json"
    topology = Topology.load(topo_file) if topo_file is not None and topo_file.exists() else None
    return AnalysisLake(lake=lake, con=open_lake(lake), topology=topology)

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 Triage: what broke, where, since when
#
# Opens a lake with the package API, runs every detector, and walks the findings
# most-likely-root-cause first: each with the report's chart and its evidence.
#
# Set `FLOWSLEUTH_LAKE` to your lake (from `flowsleuth ingest`); without it the
# notebook ingests the bundled `data-samples/demo` into a temporary lake.

# %%
import os
import tempfile
from pathlib import Path

import polars as pl

from pipeline.db import open_lake
from pipeline.detect import run_detectors
from pipeline.report import figures, rank_findings
from pipeline.topology import Topology

REPO = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data-samples").is_dir())
DEMO = REPO / "data-samples" / "demo"
LAKE = os.environ.get("FLOWSLEUTH_LAKE")
if not LAKE:
    from pipeline.ingest import ingest

    LAKE = str(Path(tempfile.mkdtemp(prefix="flowsleuth-nb-")) / "lake")
    ingest([str(DEMO)], Path(LAKE))
TOPOLOGY_FILE = Path(os.environ.get("FLOWSLEUTH_TOPOLOGY", DEMO / "topology.json"))
topology = Topology.load(TOPOLOGY_FILE) if TOPOLOGY_FILE.exists() else None
con = open_lake(LAKE)

# %% [markdown]
# ## Run the detectors over the whole lake

# %%
result = run_detectors(con, topology=topology)
findings = rank_findings(result.findings)
print(f"{len(findings)} findings over {result.since} .. {result.until}")
for note in result.notes:
    print("note:", note)
pl.DataFrame(
    [
        {"severity": f.severity, "detector": f.detector, "since": f.window_start, "until": f.window_end,
         "entity": ", ".join(f"{k}={v}" for k, v in f.entity.items()), "summary": f.summary}
        for f in findings
    ]
)  # fmt: skip

# %% [markdown]
# ## Each finding: its chart, hint and evidence (top 5)

# %%
for f in findings[:5]:
    print(f"[{f.severity}] {f.title}\n  {f.summary}\n  next: {f.hint}")
    fig = figures.finding_figure(con, f, topology=result.topology or topology)
    if fig is not None:
        fig.show()
    samples = (f.evidence or {}).get("samples") or []
    if samples:
        print(pl.DataFrame(samples).head(5))

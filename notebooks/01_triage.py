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
import polars as pl

from pipeline.detect import run_detectors
from pipeline.report import figures, rank_findings
from pipeline.samples import analysis_lake

lake = analysis_lake()
con, topology = lake.con, lake.topology

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

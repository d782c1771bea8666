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
# # 02 ALB deep dive: status codes, latency, per-AZ and per-target views
#
# `FLOWSLEUTH_LAKE` names the lake; without it the bundled demo data is ingested
# into a temporary lake.

# %%
from pipeline.report import figures
from pipeline.report.lake_queries import lake_span, register_locations
from pipeline.samples import analysis_lake

lake = analysis_lake()
con, topology = lake.con, lake.topology
register_locations(con, topology)
span = lake_span(con)
span

# %% [markdown]
# ## Status codes: ELB-generated vs from targets

# %%
con.sql("""
    SELECT elb_status_code, target_status_code, count(*) AS requests
    FROM alb_access GROUP BY ALL ORDER BY requests DESC LIMIT 20
""").pl()

# %% [markdown]
# ## Status classes per AZ (or ALB node) over time, and target latency

# %%
for build in (figures.alb_status_by_location, figures.latency_percentiles):
    fig = build(con, span) if span else None
    if fig is not None:
        fig.show()

# %% [markdown]
# ## Per target: requests, errors and tail latency

# %%
con.sql("""
    SELECT target_ip, target_port, count(*) AS requests,
           count(*) FILTER (WHERE elb_status_code >= 500) AS elb_5xx,
           count(*) FILTER (WHERE target_status_code >= 500) AS target_5xx,
           count(*) FILTER (WHERE target_status_code IS NULL OR target_status_code NOT BETWEEN 100 AND 599) AS odd_status,
           round(quantile_cont(target_processing_time, 0.99) FILTER (WHERE target_processing_time >= 0), 3) AS p99_s
    FROM alb_access GROUP BY ALL ORDER BY elb_5xx DESC, requests DESC LIMIT 25
""").pl()

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
# # 03 Flow explorer: top talkers, REJECTs, paths through the NAT and the endpoints
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

# %% [markdown]
# ## Top talkers (bytes, accepted flows)

# %%
con.sql("""
    SELECT srcaddr, dstaddr, dstport, protocol, sum(bytes) AS bytes, count(*) AS records
    FROM vpc_flow WHERE action = 'ACCEPT' GROUP BY ALL ORDER BY bytes DESC LIMIT 15
""").pl()

# %% [markdown]
# ## REJECTs: per location over time, and the most rejected destinations

# %%
fig = figures.traffic_by_location(con, span) if span else None
if fig is not None:
    fig.show()
con.sql("""
    SELECT dstaddr, dstport, count(*) AS rejects, count(DISTINCT srcaddr) AS sources
    FROM vpc_flow WHERE action = 'REJECT' GROUP BY ALL ORDER BY rejects DESC LIMIT 15
""").pl()

# %% [markdown]
# ## Paths through the NAT gateway and the VPC endpoints (from the topology)

# %%
gateways = [i for i in (topology.interfaces if topology else []) if i.kind in ("nat", "endpoint")]
for gw in gateways:
    print(f"{gw.kind} {gw.interface_id} {gw.private_ip}")
fig = figures.paths_sankey(con, span, [gw.private_ip for gw in gateways], topology) if span and gateways else None
if fig is not None:
    fig.show()
con.sql("""
    SELECT traffic_path, pkt_dst_aws_service, flow_direction, count(*) AS records, sum(bytes) AS bytes
    FROM vpc_flow WHERE traffic_path IS NOT NULL OR pkt_dst_aws_service IS NOT NULL
    GROUP BY ALL ORDER BY records DESC LIMIT 20
""").pl()

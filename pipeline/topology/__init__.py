"""Which subnet, AZ and kind of interface every address belongs to.

Sources, merged (``merge``): the logs (``infer_from_lake``), the EC2 API
(``read_from_aws``), files (``Topology.load``) and snapshot directories
(``load_snapshots``). Uses: ``Resolver`` / ``enrich_finding`` (name what an address
is), ``config_hints`` (root-cause hints from routes, NACLs, endpoints),
``register_topology_views`` (``topo_interfaces``/``topo_subnets`` for detector SQL),
``write_topology_to_lake`` (``<lake>/_topology/`` for analysts).
"""

from .aws import read_from_aws
from .hints import config_hints
from .infer import infer_from_lake
from .lookup import Resolver, enrich_finding
from .merge import merge
from .model import Endpoint, Interface, LoadBalancer, Nacl, NaclEntry, Route, RouteTable, Subnet, Topology
from .snapshots import load_snapshots, save_snapshot
from .views import register_lake_topology_views, register_topology_views, write_topology_to_lake

__all__ = [
    "Endpoint", "Interface", "LoadBalancer", "Nacl", "NaclEntry", "Resolver", "Route", "RouteTable", "Subnet",
    "Topology", "config_hints", "enrich_finding", "infer_from_lake", "load_snapshots", "merge", "read_from_aws",
    "register_lake_topology_views", "register_topology_views", "save_snapshot", "write_topology_to_lake",
]  # fmt: skip

"""Which subnet, AZ and kind of interface every address belongs to."""

from .model import Endpoint, Interface, LoadBalancer, Nacl, NaclEntry, Route, RouteTable, Subnet, Topology

__all__ = ["Endpoint", "Interface", "LoadBalancer", "Nacl", "NaclEntry", "Route", "RouteTable", "Subnet", "Topology"]

"""The small, fixed network the synthetic benchmark data describes.

FALLBACK DATA ONLY: used when the simulator (``pipeline.simulate``) is not available
or ``--data synthetic`` is asked for. One VPC, three AZs, an internet-facing ALB with a
node per public subnet, twelve app instances in private subnets, a NAT gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

ACCOUNT = "012345678901"  # leading zero on purpose: account ids are strings
REGION = "us-east-1"
VPC_ID = "vpc-0b3e5c7d9f1a2b4c6"
FLOW_LOG_ID = "fl-0a1b2c3d4e5f60718"
LB_NAME, LB_ID = "bench-web", "50dc6c495c0c9188"
APP_PORT = 8080
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # fixed: data is deterministic per seed
FILE_SECONDS = 300  # both services deliver one object per 5 minutes (per ALB node)
AZ_IDS = ("use1-az1", "use1-az2", "use1-az4")


@dataclass(frozen=True)
class Interface:
    interface_id: str
    ip: str
    subnet_id: str
    az_id: str
    instance_id: str | None
    kind: str  # alb | instance | nat


@dataclass(frozen=True)
class Env:
    alb_nodes: tuple[Interface, ...]
    instances: tuple[Interface, ...]
    nat: Interface
    nat_public_ip: str = "54.80.11.7"
    interfaces: tuple[Interface, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "interfaces", self.alb_nodes + self.instances + (self.nat,))

    def interface_frame(self) -> pl.DataFrame:
        """One row per interface, keyed by ``iface`` (its index), for joining onto records."""
        return pl.DataFrame(
            {
                "iface": list(range(len(self.interfaces))),
                "interface_id": [i.interface_id for i in self.interfaces],
                "subnet_id": [i.subnet_id for i in self.interfaces],
                "az_id": [i.az_id for i in self.interfaces],
                "instance_id": [i.instance_id for i in self.interfaces],
            },
            schema_overrides={"iface": pl.Int64},
        )


def build_env() -> Env:
    public = [f"subnet-0pub{k}a1b2c3d4e5f6" for k in range(3)]
    private = [f"subnet-0app{k}a1b2c3d4e5f6" for k in range(3)]
    nodes = tuple(
        Interface(f"eni-0alb{k}0000000000a1", f"10.20.{k}.{40 + k}", public[k], AZ_IDS[k], None, "alb") for k in range(3)
    )
    instances = tuple(
        Interface(
            f"eni-0app{k:02d}00000000b2",
            f"10.20.{10 + k % 3}.{20 + k}",
            private[k % 3],
            AZ_IDS[k % 3],
            f"i-0app{k:02d}0000000c3",
            "instance",
        )
        for k in range(12)
    )
    nat = Interface("eni-0nat00000000000d4", "10.20.0.200", public[0], AZ_IDS[0], None, "nat")
    return Env(alb_nodes=nodes, instances=instances, nat=nat)

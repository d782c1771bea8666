"""The simulated 3-tier web app: every id, address and setting, drawn from the seed.

Nothing downstream may rely on one region, account, CIDR, port or AZ naming, so each
seed draws its own: region, account id (sometimes with a leading zero), VPC and API
VPC CIDRs, AZ names and the account's AZ-name -> AZ-id mapping, app port, health-check
settings, the external address instances probe, and the flow-log field order.

Layout (one VPC per tier, as in AWS's reference architectures):
- public subnets (one per AZ): internet-facing ALB node ENIs; a NAT gateway in one of them;
- app subnets (one per AZ): app instances (ALB targets) and interface-endpoint ENIs;
  each app subnet has its own route table (0.0.0.0/0 -> NAT, S3 and DynamoDB prefix
  lists -> gateway endpoints, the API VPC CIDR -> Transit Gateway);
- API VPC: a Network Firewall endpoint subnet in front of the API host's subnet.

References:
- https://docs.aws.amazon.com/vpc/latest/userguide/vpc-example-private-subnets-nat.html
- https://docs.aws.amazon.com/ram/latest/userguide/working-with-az-ids.html
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

from ..schema import FLOW_BY_AWS

REGIONS: tuple[tuple[str, str], ...] = (
    ("us-east-1", "use1"),
    ("us-west-2", "usw2"),
    ("eu-west-1", "euw1"),
    ("eu-central-1", "euc1"),
    ("ap-southeast-2", "apse2"),
    ("sa-east-1", "sae1"),
)
#: Public ranges that stand in for the regional S3 / DynamoDB prefix lists.
S3_RANGES = ("52.216.0.0/15", "3.5.0.0/19", "52.92.16.0/20")
DYNAMODB_RANGES = ("52.94.0.0/22", "52.119.224.0/20", "3.218.180.0/22")
PROBE_TARGETS = ("1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222", "1.0.0.1", "8.8.4.4")
APP_PORTS = (8080, 80, 8443, 3000, 9000)
API_PORTS = (80, 8080)
DOMAINS = ("shop.example.com", "www.example.org", "app.example.net", "api.example.com")

#: Flow-log fields the custom (v5) format carries, before the seed orders them.
CUSTOM_FIELDS: tuple[str, ...] = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status", "vpc-id",
    "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr", "region",
    "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service",
    "pkt-dst-aws-service", "flow-direction", "traffic-path",
)  # fmt: skip
#: The order of AWS's own version-5 example record (flow-logs-records-examples.html).
AWS_V5_EXAMPLE_ORDER: tuple[str, ...] = (
    "version", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start", "end", "type",
    "packets", "bytes", "account-id", "vpc-id", "subnet-id", "instance-id", "interface-id",
    "region", "az-id", "sublocation-type", "sublocation-id", "action", "tcp-flags",
    "pkt-srcaddr", "pkt-dstaddr", "pkt-src-aws-service", "pkt-dst-aws-service",
    "traffic-path", "flow-direction", "log-status",
)  # fmt: skip


@dataclass(frozen=True)
class SubnetInfo:
    subnet_id: str
    cidr: str
    az: int  # index into Env.azs
    role: str
    vpc_id: str
    account: str | None = None  # None: Env.account (another account's VPC names its own)


@dataclass(frozen=True)
class Host:
    """One network interface and what owns it."""

    eni: str
    ip: str
    subnet: SubnetInfo
    kind: str  # alb | nat | instance | endpoint | tgw | firewall
    instance_id: str | None = None
    ipv6: str | None = None
    public_ip: str | None = None
    description: str = ""


@dataclass(frozen=True)
class FlowLog:
    flow_log_id: str
    vpc_id: str
    fields: tuple[str, ...]  # AWS field names in delivery order
    account: str | None = None  # None: Env.account
    file_format: str = "text"  # "text" (gzip) or "parquet" (AWS's Parquet log-file format)
    hive: bool = False  # Hive-compatible S3 prefixes (aws-account-id=.../year=YYYY/...)
    hourly: bool = False  # per-hour partitions (an HH/ or hour=HH/ folder level)

    @property
    def version(self) -> int:
        """AWS: a custom format's version is the highest version among its fields."""
        return max(FLOW_BY_AWS[f].version for f in self.fields)


@dataclass(frozen=True)
class OtherVpc:
    """A benign VPC of another account whose flow logs land in the same bucket.

    It looks like a default VPC (172.31.0.0/16, /20 subnets, often overlapping the app VPC's
    addresses), has no gateway endpoints (S3 through the internet gateway, traffic-path 8)
    and internet-facing instances with public IPs serving ``listener_port``.
    """

    account: str
    vpc_id: str
    cidr: str
    subnets: tuple[SubnetInfo, ...]
    instances: tuple[Host, ...]
    flow_log: FlowLog
    listener_port: int


@dataclass
class Env:
    seed: int
    region: str
    region_code: str
    account: str
    azs: list[str]
    az_ids: list[str]
    vpc_id: str
    vpc_cidr: str
    ipv6_prefix: str
    api_vpc_id: str
    api_cidr: str
    public_subnets: list[SubnetInfo]
    app_subnets: list[SubnetInfo]
    api_subnet: SubnetInfo
    fw_subnet: SubnetInfo
    tgw_subnets: list[SubnetInfo]
    alb_nodes: list[Host]
    targets: list[Host]
    nat: Host
    endpoint_enis: list[Host]
    tgw_enis: list[Host]
    firewall: Host
    api_host: Host
    alb_name: str
    alb_id: str
    target_group: str
    cert_arn: str
    domain: str
    app_port: int
    api_port: int
    listener_port: int
    hc_interval: int
    hc_unhealthy_threshold: int
    probe_ip: str
    s3_ranges: tuple[str, ...]
    dynamodb_ranges: tuple[str, ...]
    flow_logs: list[FlowLog]
    ids: dict[str, str] = field(default_factory=dict)  # igw, nat, vpce-s3, pl-s3, rtb-..., acl-...
    other_vpcs: list[OtherVpc] = field(default_factory=list)  # other accounts' VPCs in the same bucket
    #: tgw_route_missing: the API CIDR falls back to 0.0.0.0/0 -> NAT gateway (records at the NAT ENI)
    api_via_nat: bool = False

    @property
    def load_balancer(self) -> str:
        """The ``app/<name>/<id>`` form ALB logs carry in their ``elb`` field."""
        return f"app/{self.alb_name}/{self.alb_id}"

    @property
    def hosts(self) -> list[Host]:
        return [*self.alb_nodes, self.nat, *self.targets, *self.endpoint_enis, *self.tgw_enis, self.firewall, self.api_host]

    @property
    def all_hosts(self) -> list[Host]:
        """Every interface whose records are logged: the app's and the other accounts' VPCs'."""
        return [*self.hosts, *(h for v in self.other_vpcs for h in v.instances)]

    @property
    def unhealthy_after(self) -> int:
        """Seconds of failing health checks before the ALB takes a target out."""
        return self.hc_interval * self.hc_unhealthy_threshold


def _hex(rng: np.random.Generator, n: int) -> str:
    return "".join("0123456789abcdef"[int(i)] for i in rng.integers(0, 16, n))


def _rid(rng: np.random.Generator, prefix: str, n: int = 17) -> str:
    return f"{prefix}-{_hex(rng, n)}"


def _host_ip(rng: np.random.Generator, cidr: str, used: set[str]) -> str:
    net = ipaddress.ip_network(cidr)
    while True:  # AWS reserves the first four addresses and the last one of a subnet
        ip = str(net.network_address + int(rng.integers(4, net.num_addresses - 1)))
        if ip not in used:
            used.add(ip)
            return ip


def _vpc_cidrs(rng: np.random.Generator) -> tuple[str, str]:
    style = int(rng.integers(0, 3))
    a, b = (int(x) for x in rng.choice(np.arange(0, 250), 2, replace=False))
    if style == 0:
        return f"10.{a}.0.0/16", f"10.{b}.0.0/16"
    if style == 1:
        c = 16 + int(rng.integers(0, 16))
        return f"172.{c}.0.0/16", f"10.{b}.0.0/16"
    return f"10.{a}.0.0/16", f"172.{16 + int(rng.integers(0, 16))}.0.0/16"


def _flow_field_order(rng: np.random.Generator) -> tuple[str, ...]:
    style = int(rng.integers(0, 3))
    if style == 0:
        return tuple(sorted(CUSTOM_FIELDS))  # alphabetical orders occur in practice
    if style == 1:
        return AWS_V5_EXAMPLE_ORDER
    return tuple(str(x) for x in rng.permutation(np.array(CUSTOM_FIELDS)))


def build_env(seed: int, *, targets_per_az: int | None = None, vpc_cidr: str | None = None,
              other_accounts: int = 0, **overrides: object) -> Env:  # fmt: skip
    """Draw a whole environment from ``seed``; ``overrides`` replace named attributes afterwards.

    ``targets_per_az`` (1-3) fixes the number of app instances per AZ instead of drawing it.
    ``vpc_cidr`` (a /16, any range: 172.31.0.0/16 as in a default VPC, 100.64.0.0/16,
    non-RFC 1918) replaces the app VPC's drawn CIDR; its subnets follow. ``other_accounts``
    adds that many benign default-VPC accounts to the bucket (``OtherVpc``); both leave
    every other draw of the seed unchanged.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    region, code = REGIONS[int(rng.integers(0, len(REGIONS)))]
    first = "0" if rng.random() < 0.35 else str(int(rng.integers(1, 10)))
    account = first + "".join(str(int(d)) for d in rng.integers(0, 10, 11))
    letters = sorted(str(x) for x in rng.choice(list("abcdef"), 3, replace=False))
    azs = [f"{region}{c}" for c in letters]
    az_ids = [f"{code}-az{int(n)}" for n in rng.choice(np.arange(1, 7), 3, replace=False)]
    drawn_cidr, api_cidr = _vpc_cidrs(rng)
    if vpc_cidr and ipaddress.ip_network(vpc_cidr).overlaps(ipaddress.ip_network(api_cidr)):
        api_cidr = "10.254.0.0/16" if not ipaddress.ip_network(vpc_cidr).overlaps(ipaddress.ip_network("10.254.0.0/16")) else "10.253.0.0/16"
    vpc_cidr = vpc_cidr or drawn_cidr
    vpc_id, api_vpc_id = _rid(rng, "vpc"), _rid(rng, "vpc")
    vnet = ipaddress.ip_network(vpc_cidr)
    anet = ipaddress.ip_network(api_cidr)
    pub_base, app_base = (int(x) for x in rng.choice(np.array([0, 10, 32, 100, 128, 200]), 2, replace=False))
    v6 = f"2600:1f{int(rng.integers(16, 32)):02x}:{_hex(rng, 4)}:{_hex(rng, 2)}"

    def sub(net: ipaddress.IPv4Network | ipaddress.IPv6Network, third: int, az: int, role: str, vpc: str) -> SubnetInfo:
        cidr = str(ipaddress.ip_network(f"{net.network_address + third * 256}/24"))
        return SubnetInfo(_rid(rng, "subnet"), cidr, az, role, vpc)

    public = [sub(vnet, pub_base + i, i, "public", vpc_id) for i in range(3)]
    app = [sub(vnet, app_base + i, i, "private-app", vpc_id) for i in range(3)]
    tgw_subs = [sub(vnet, 250 + i, i, "tgw", vpc_id) for i in range(3)]
    fw_subnet = sub(anet, 0, 0, "firewall", api_vpc_id)
    api_subnet = sub(anet, 10, 0, "private-api", api_vpc_id)
    used: set[str] = set()
    alb_nodes = [
        Host(_rid(rng, "eni"), _host_ip(rng, s.cidr, used), s, "alb",
             ipv6=ipaddress.ip_address(f"{v6}0{i}::{_hex(rng, 4)}").compressed, description="ELB app")
        for i, s in enumerate(public)
    ]  # fmt: skip
    nat_subnet = public[int(rng.integers(0, 3))]
    nat = Host(_rid(rng, "eni"), _host_ip(rng, nat_subnet.cidr, used), nat_subnet, "nat",
               public_ip=f"{int(rng.choice([3, 18, 34, 44, 52, 54]))}.{int(rng.integers(0, 256))}."
               f"{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}", description="NAT gateway")  # fmt: skip
    per_az = int(rng.integers(1, 3))
    if targets_per_az is not None:
        if not 1 <= int(targets_per_az) <= 3:
            from ..errors import UsageError

            raise UsageError(f"targets_per_az must be 1, 2 or 3, got {targets_per_az}")
        per_az = int(targets_per_az)
    targets = [
        Host(_rid(rng, "eni"), _host_ip(rng, s.cidr, used), s, "instance", instance_id=_rid(rng, "i"))
        for s in app for _ in range(per_az)
    ]
    services = ("ssm", "secretsmanager", "ecr.api", "logs", "sts")
    endpoint_enis = [
        Host(_rid(rng, "eni"), _host_ip(rng, s.cidr, used), s, "endpoint", description=f"VPC Endpoint Interface {svc}")
        for svc in rng.choice(np.array(services), 2, replace=False) for s in app
    ]  # fmt: skip
    tgw_enis = [Host(_rid(rng, "eni"), _host_ip(rng, s.cidr, used), s, "tgw", description="Transit Gateway attachment") for s in tgw_subs]
    firewall = Host(_rid(rng, "eni"), _host_ip(rng, fw_subnet.cidr, used), fw_subnet, "firewall", description="Network Firewall endpoint")
    api_host = Host(_rid(rng, "eni"), _host_ip(rng, api_subnet.cidr, used), api_subnet, "instance", instance_id=_rid(rng, "i"))
    alb_name = str(rng.choice(["web-prod", "shop-alb", "frontend", "app-public", "edge-lb"]))
    alb_id = _hex(rng, 16)
    ids = {
        k: _rid(rng, p)
        for k, p in (("igw", "igw"), ("nat", "nat"), ("vpce_s3", "vpce"), ("vpce_ddb", "vpce"),
                     ("tgw", "tgw"), ("tgw_attach_app", "tgw-attach"), ("tgw_attach_api", "tgw-attach"),
                     ("rtb_public", "rtb"), ("rtb_app0", "rtb"), ("rtb_app1", "rtb"), ("rtb_app2", "rtb"),
                     ("rtb_tgw", "rtb"), ("rtb_api", "rtb"), ("rtb_fw", "rtb"), ("acl_public", "acl"),
                     ("acl_app", "acl"), ("acl_api", "acl"), ("firewall", "vpce"), ("eigw", "eigw"))
    }  # fmt: skip
    ids["pl_s3"] = _rid(rng, "pl", 8)
    ids["pl_ddb"] = _rid(rng, "pl", 8)
    tg_name = f"{alb_name}-tg"
    env = Env(
        seed=seed, region=region, region_code=code, account=account, azs=azs, az_ids=az_ids,
        vpc_id=vpc_id, vpc_cidr=vpc_cidr, ipv6_prefix=str(ipaddress.ip_network(f"{v6}00::/56")), api_vpc_id=api_vpc_id,
        api_cidr=api_cidr, public_subnets=public, app_subnets=app, api_subnet=api_subnet,
        fw_subnet=fw_subnet, tgw_subnets=tgw_subs, alb_nodes=alb_nodes, targets=targets, nat=nat,
        endpoint_enis=endpoint_enis, tgw_enis=tgw_enis, firewall=firewall, api_host=api_host,
        alb_name=alb_name, alb_id=alb_id,
        target_group=f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{tg_name}/{_hex(rng, 16)}",
        cert_arn=f"arn:aws:acm:{region}:{account}:certificate/{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}",
        domain=str(rng.choice(DOMAINS)), app_port=int(rng.choice(APP_PORTS)),
        api_port=int(rng.choice(API_PORTS)), listener_port=443,
        hc_interval=int(rng.choice([15, 30])), hc_unhealthy_threshold=int(rng.integers(2, 6)),
        probe_ip=str(rng.choice(PROBE_TARGETS)), s3_ranges=S3_RANGES, dynamodb_ranges=DYNAMODB_RANGES,
        flow_logs=[
            FlowLog(_rid(rng, "fl"), vpc_id, _flow_field_order(rng)),
            FlowLog(_rid(rng, "fl"), api_vpc_id, tuple(f for f in FLOW_BY_AWS if FLOW_BY_AWS[f].version == 2)),
        ],
        ids=ids,
    )  # fmt: skip
    env.other_vpcs = [_other_vpc(seed, k, env) for k in range(int(other_accounts))]
    for key, value in overrides.items():
        if not hasattr(env, key):
            from ..errors import UsageError

            raise UsageError(f"unknown environment override {key!r}; use one of the Env attributes (e.g. region, app_port)")
        setattr(env, key, value)
    return env


#: A default VPC's CIDR and its first /20 subnets (one per AZ), as AWS creates them.
DEFAULT_VPC_CIDR = "172.31.0.0/16"
_DEFAULT_SUBNETS = ("172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20")
OTHER_LISTENER_PORTS = (443, 8443, 80, 4443)


def _other_vpc(seed: int, k: int, env: Env) -> OtherVpc:
    """Another account's default VPC, drawn from its own generator (the app's draws stay as they are)."""
    rng = np.random.default_rng([seed, 0xACC7, k])
    account = "".join(str(int(d)) for d in rng.integers(0, 10, 12))
    vpc_id = _rid(rng, "vpc")
    subnets = tuple(SubnetInfo(_rid(rng, "subnet"), c, i, "default", vpc_id, account) for i, c in enumerate(_DEFAULT_SUBNETS))
    used: set[str] = set()
    app_ips = {h.ip for h in env.hosts}
    instances = []
    for i in range(int(rng.integers(2, 4))):
        s = subnets[i % len(subnets)]
        ip = _host_ip(rng, s.cidr, used)
        # overlapping default VPCs reuse addresses: give one instance an address the app VPC uses too
        clash = sorted(a for a in app_ips if ipaddress.ip_address(a) in ipaddress.ip_network(s.cidr))
        if i == 0 and clash:
            ip = clash[0]
        public_ip = f"{int(rng.choice([3, 13, 35, 52, 54]))}.{int(rng.integers(0, 256))}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"
        instances.append(Host(_rid(rng, "eni"), ip, s, "instance", instance_id=_rid(rng, "i"), public_ip=public_ip))
    fields = tuple(f for f in CUSTOM_FIELDS)  # AWS's custom order, every v5 field
    return OtherVpc(account, vpc_id, DEFAULT_VPC_CIDR, subnets, tuple(instances),
                    FlowLog(_rid(rng, "fl"), vpc_id, fields, account=account),
                    int(rng.choice(np.array(OTHER_LISTENER_PORTS))))  # fmt: skip

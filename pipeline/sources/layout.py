"""Recognise AWS's S3 delivery layouts from an object key, without reading the object.

Keys are attacker-influenced text: everything taken from a key is matched against a
strict pattern here, and only these validated fields (account, region, date, node
IP, load balancer) are used downstream. Nothing builds a local path from a key.

Layouts (after an optional user prefix):

- flow logs, plain:  ``AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/[HH/]<file>``
- flow logs, hive:   ``AWSLogs/aws-account-id=<acct>/aws-service=vpcflowlogs/
  aws-region=<region>/year=YYYY/month=MM/day=DD/[hour=HH/]<file>``
- flow file:  ``<acct>_vpcflowlogs_<region>_<fl-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz``
  (or ``.log.parquet`` / ``.parquet`` for AWS's Parquet delivery)
- ALB:  ``AWSLogs/<acct>/elasticloadbalancing/<region>/YYYY/MM/DD/<file>`` with
  ``<acct>_elasticloadbalancing_<region>_app.<name>.<id>_<end>_<node-ip>_<rand>.log.gz``;
  connection logs prefix the file name with ``conn_log_`` (the documentation says
  ``conn_log.``; both are accepted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ..formats import TableName

ObjectFormat = Literal["gzip-text", "text", "parquet"]

_ACCOUNT = r"\d{12}"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_STAMP = r"\d{8}T\d{4}Z"

_FLOW_FILE = re.compile(
    rf"^(?P<account>{_ACCOUNT})_vpcflowlogs_(?P<region>{_REGION})_(?P<flow_log_id>fl-[0-9A-Za-z]{{1,64}})"
    rf"_(?P<stamp>{_STAMP})_(?P<hash>[0-9A-Za-z]{{1,64}})(?P<ext>\.log\.gz|\.log\.parquet|\.parquet|\.log)$"
)
_ALB_FILE = re.compile(
    rf"^(?P<conn>conn_log[._])?(?P<account>{_ACCOUNT})_elasticloadbalancing_(?P<region>{_REGION})"
    r"_(?P<lb>app\.[0-9A-Za-z-]{1,32}\.[0-9a-f]{1,32})"
    rf"_(?P<stamp>{_STAMP})_(?P<ip>[0-9.]{{7,15}}|[0-9a-fA-F:]{{2,39}})_(?P<rand>[0-9A-Za-z]{{1,32}})(?P<ext>\.log\.gz|\.log)$"
)
_OTHER_ELB_FILE = re.compile(rf"^(?:conn_log[._])?{_ACCOUNT}_elasticloadbalancing_")

TEST_FILE_NAME = "ELBAccessLogTestFile"


@dataclass(frozen=True)
class KeyInfo:
    """What an object's key says about it (all fields validated)."""

    table: TableName
    fmt: ObjectFormat
    account: str
    region: str
    delivery_date: datetime  # folder date (and hour, when the layout has one), UTC
    hourly: bool  # the folder layout has an hour level
    file_time: datetime  # time stamp in the file name, UTC (delivery/interval time)
    node_ip: str | None = None  # ALB node that wrote the file
    load_balancer: str | None = None  # app.<name>.<id>
    flow_log_id: str | None = None


@dataclass(frozen=True)
class Skip:
    """A key that is not a log we ingest, and why (counted, never fetched)."""

    reason: str


@dataclass(frozen=True)
class PrefixLevel:
    """How far a key prefix has descended into an ``AWSLogs/`` tree."""

    account: str | None = None
    service: str | None = None
    region: str | None = None
    hive: bool = False
    rest: tuple[str, ...] = ()  # segments below the region level


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def _normalise_ip(ip: str) -> str | None:
    """Node IPs may be zero-padded in file names (``172.160.001.192``)."""
    if "." in ip:
        parts = ip.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
            return None
        return ".".join(str(int(p)) for p in parts)
    return ip.lower()


def split_awslogs(key: str) -> tuple[str, list[str]] | None:
    """Split ``...AWSLogs/<rest>`` into (user prefix, segments after AWSLogs)."""
    parts = key.split("/")
    for i, part in enumerate(parts):
        if part == "AWSLogs":
            return "/".join(parts[:i]), parts[i + 1 :]
    return None


def prefix_level(segments: list[str]) -> PrefixLevel:
    """Interpret the directory segments after ``AWSLogs/`` (both plain and hive forms)."""
    segs = [s for s in segments]
    if not segs:
        return PrefixLevel()
    hive = segs[0].startswith("aws-account-id=")
    values = []
    for i, seg in enumerate(segs[:3]):
        if hive:
            want = ("aws-account-id=", "aws-service=", "aws-region=")[i]
            if not seg.startswith(want):
                return PrefixLevel(rest=tuple(segs))
            seg = seg[len(want) :]
        values.append(seg)
    account = values[0] if values and re.fullmatch(_ACCOUNT, values[0]) else None
    if account is None:
        return PrefixLevel(hive=hive, rest=tuple(segs))
    service = values[1] if len(values) > 1 else None
    region = values[2] if len(values) > 2 and re.fullmatch(_REGION, values[2]) else None
    return PrefixLevel(account=account, service=service, region=region, hive=hive, rest=tuple(segs[3:]))


def _folder_date(rest: list[str], hive: bool) -> tuple[datetime, bool] | None:
    """Folder date/hour below the region level: ``YYYY/MM/DD[/HH]`` or ``year=/month=/day=[/hour=]``."""
    if hive:
        names = ("year=", "month=", "day=", "hour=")
        vals = []
        for seg, name in zip(rest, names, strict=False):
            if not seg.startswith(name):
                return None
            vals.append(seg[len(name) :])
    else:
        vals = list(rest[:4])
    if len(rest) not in (3, 4) or not all(v.isdigit() for v in vals):
        return None
    try:
        y, m, d = int(vals[0]), int(vals[1]), int(vals[2])
        h = int(vals[3]) if len(vals) == 4 else 0
        return datetime(y, m, d, h, tzinfo=UTC), len(vals) == 4
    except ValueError:
        return None


def classify_key(key: str) -> KeyInfo | Skip:
    """Classify one object key; never raises."""
    if key.endswith("/"):
        return Skip("folder marker")
    split = split_awslogs(key)
    if split is None:
        return Skip("not under an AWSLogs/ prefix")
    _, segs = split
    if len(segs) == 2 and segs[1] == TEST_FILE_NAME:
        return Skip("ELB access-log test file")
    level = prefix_level(segs[:-1])
    name = segs[-1]
    if level.account is None or level.region is None:
        return Skip("not an AWS log delivery path")
    folder = _folder_date(list(level.rest), level.hive)
    if folder is None:
        return Skip("no date folders in the path")
    delivery_date, hourly = folder
    if level.service == "vpcflowlogs":
        m = _FLOW_FILE.match(name)
        if not m:
            return Skip("file name is not a VPC flow log name")
        ext = m["ext"]
        fmt: ObjectFormat = "parquet" if ext.endswith("parquet") else "gzip-text" if ext.endswith(".gz") else "text"
        if m["account"] != level.account or m["region"] != level.region:
            return Skip("file name does not match its account/region folder")
        try:
            file_time = _stamp(m["stamp"])
        except ValueError:
            return Skip("bad time stamp in file name")
        return KeyInfo(
            table="vpc_flow", fmt=fmt, account=level.account, region=level.region,
            delivery_date=delivery_date, hourly=hourly, file_time=file_time,
            flow_log_id=m["flow_log_id"],
        )  # fmt: skip
    if level.service == "elasticloadbalancing" and not level.hive:
        m = _ALB_FILE.match(name)
        if not m:
            if _OTHER_ELB_FILE.match(name):
                return Skip("not an Application Load Balancer log (classic/network load balancer?)")
            return Skip("file name is not an ALB log name")
        if m["account"] != level.account or m["region"] != level.region:
            return Skip("file name does not match its account/region folder")
        ip = _normalise_ip(m["ip"])
        try:
            file_time = _stamp(m["stamp"])
        except ValueError:
            return Skip("bad time stamp in file name")
        if ip is None:
            return Skip("bad node IP in file name")
        return KeyInfo(
            table="alb_connection" if m["conn"] else "alb_access",
            fmt="gzip-text" if m["ext"].endswith(".gz") else "text",
            account=level.account, region=level.region, delivery_date=delivery_date,
            hourly=hourly, file_time=file_time, node_ip=ip, load_balancer=m["lb"],
        )  # fmt: skip
    return Skip(f"service folder {level.service!r} is not one flowsleuth reads")

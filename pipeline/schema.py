"""The lake schema, defined once.

Every field AWS documents, with the name AWS gives it in the log (``aws``), the
column name in the lake (``column``: flow-log names with underscores as in AWS's
own Parquet delivery, ALB names as in Athena's documented table) and its type.
Parsers, the lake writer, the simulator, detectors and the README all read this
module; nothing else spells out a column list.

References:
- https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
- https://docs.aws.amazon.com/vpc/latest/tgw/tgw-flow-logs.html
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-connection-logs.html
- https://docs.aws.amazon.com/athena/latest/ug/application-load-balancer-logs.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["int", "str", "float"]

ARROW_TYPES: dict[Kind, pa.DataType] = {
    "int": pa.int64(),
    "str": pa.string(),
    "float": pa.float64(),
}

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Field:
    aws: str  # name as AWS writes it in headers / documentation
    column: str  # lake column name
    kind: Kind
    version: int = 0  # flow logs: version that introduced the field
    doc: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]


def _flow(aws: str, kind: Kind, version: int, doc: str = "") -> Field:
    return Field(aws=aws, column=aws.replace("-", "_"), kind=kind, version=version, doc=doc)


# --- VPC Flow Logs (versions 2-11) and Transit Gateway flow logs (version 6) ---------
FLOW_FIELDS: tuple[Field, ...] = (
    _flow("version", "int", 2, "flow log version"),
    _flow("account-id", "str", 2, "AWS account id (string: leading zeros, 'unknown')"),
    _flow("interface-id", "str", 2, "network interface id"),
    _flow("srcaddr", "str", 2, "source address (for incoming: remote; for NAT: the interface)"),
    _flow("dstaddr", "str", 2, "destination address"),
    _flow("srcport", "int", 2),
    _flow("dstport", "int", 2),
    _flow("protocol", "int", 2, "IANA protocol number"),
    _flow("packets", "int", 2),
    _flow("bytes", "int", 2),
    _flow("start", "int", 2, "first packet of the interval, epoch seconds"),
    _flow("end", "int", 2, "last packet of the interval, epoch seconds"),
    _flow("action", "str", 2, "ACCEPT or REJECT"),
    _flow("log-status", "str", 2, "OK, NODATA or SKIPDATA"),
    _flow("vpc-id", "str", 3),
    _flow("subnet-id", "str", 3),
    _flow("instance-id", "str", 3),
    _flow("tcp-flags", "int", 3, "bitwise OR of TCP flags in the interval"),
    _flow("type", "str", 3, "IPv4, IPv6 or EFA"),
    _flow("pkt-srcaddr", "str", 3, "packet-level source address"),
    _flow("pkt-dstaddr", "str", 3, "packet-level destination address"),
    _flow("region", "str", 4),
    _flow("az-id", "str", 4),
    _flow("sublocation-type", "str", 4),
    _flow("sublocation-id", "str", 4),
    _flow("pkt-src-aws-service", "str", 5),
    _flow("pkt-dst-aws-service", "str", 5),
    _flow("flow-direction", "str", 5, "ingress or egress"),
    _flow("traffic-path", "int", 5, "egress path: 1 same VPC ... 7 gateway endpoint, 8 TGW/peering"),
    _flow("ecs-cluster-arn", "str", 7),
    _flow("ecs-cluster-name", "str", 7),
    _flow("ecs-container-instance-arn", "str", 7),
    _flow("ecs-container-instance-id", "str", 7),
    _flow("ecs-container-id", "str", 7),
    _flow("ecs-second-container-id", "str", 7),
    _flow("ecs-service-name", "str", 7),
    _flow("ecs-task-definition-arn", "str", 7),
    _flow("ecs-task-arn", "str", 7),
    _flow("ecs-task-id", "str", 7),
    _flow("reject-reason", "str", 8),
    _flow("resource-id", "str", 9),
    _flow("encryption-status", "int", 10),
    _flow("instance-tag", "str", 11),
    _flow("instance-tag-2", "str", 11),
    _flow("interface-tag", "str", 11),
    _flow("interface-tag-2", "str", 11),
    _flow("asg-tag", "str", 11),
    _flow("asg-tag-2", "str", 11),
    _flow("interface-type", "str", 11),
    _flow("next-hop-interface-id", "str", 11),
    _flow("next-hop-subnet-id", "str", 11),
    _flow("next-hop-az-id", "str", 11),
    _flow("next-hop-vpc-id", "str", 11),
    _flow("next-hop-interface-type", "str", 11),
    # Transit Gateway flow logs (version 6)
    _flow("resource-type", "str", 6),
    _flow("tgw-id", "str", 6),
    _flow("tgw-attachment-id", "str", 6),
    _flow("tgw-src-vpc-account-id", "str", 6),
    _flow("tgw-dst-vpc-account-id", "str", 6),
    _flow("tgw-src-vpc-id", "str", 6),
    _flow("tgw-dst-vpc-id", "str", 6),
    _flow("tgw-src-subnet-id", "str", 6),
    _flow("tgw-dst-subnet-id", "str", 6),
    _flow("tgw-src-eni", "str", 6),
    _flow("tgw-dst-eni", "str", 6),
    _flow("tgw-src-az-id", "str", 6),
    _flow("tgw-dst-az-id", "str", 6),
    _flow("tgw-pair-attachment-id", "str", 6),
    _flow("packets-lost-no-route", "int", 6),
    _flow("packets-lost-blackhole", "int", 6),
    _flow("packets-lost-mtu-exceeded", "int", 6),
    _flow("packets-lost-ttl-expired", "int", 6),
)
FLOW_BY_AWS: dict[str, Field] = {f.aws: f for f in FLOW_FIELDS}
FLOW_BY_COLUMN: dict[str, Field] = {f.column: f for f in FLOW_FIELDS}

#: The default format (version 2), in order.
FLOW_DEFAULT_HEADER: tuple[str, ...] = tuple(f.aws for f in FLOW_FIELDS if f.version == 2)

# --- ALB access logs ---------------------------------------------------------------
# ``aws`` is the name used by AWS's documentation / the conformance corpus;
# ``column`` is Athena's. Composite log fields (client:port, target:port, request)
# are split into several columns; ALB_LOG_ORDER gives the positional layout.


def _alb(aws: str, kind: Kind, column: str | None = None, doc: str = "") -> Field:
    return Field(aws=aws, column=column or aws, kind=kind, doc=doc)


ALB_FIELDS: tuple[Field, ...] = (
    _alb("type", "str", doc="http https h2 grpcs ws wss"),
    _alb("time", "str", doc="response time, ISO 8601 as logged"),
    _alb("elb", "str", doc="app/<name>/<id>"),
    _alb("client_ip", "str"),
    _alb("client_port", "int"),
    _alb("target_ip", "str"),
    _alb("target_port", "int"),
    _alb("request_processing_time", "float", doc="seconds; -1 if the request did not reach a target"),
    _alb("target_processing_time", "float", doc="seconds; -1 if no response from target"),
    _alb("response_processing_time", "float", doc="seconds; -1 if no response"),
    _alb("elb_status_code", "int"),
    _alb("target_status_code", "int"),
    _alb("received_bytes", "int"),
    _alb("sent_bytes", "int"),
    _alb("request", "str", doc="request line as logged"),
    _alb("request_verb", "str"),
    _alb("request_url", "str"),
    _alb("request_proto", "str"),
    _alb("user_agent", "str"),
    _alb("ssl_cipher", "str"),
    _alb("ssl_protocol", "str"),
    _alb("target_group_arn", "str"),
    _alb("trace_id", "str"),
    _alb("domain_name", "str"),
    _alb("chosen_cert_arn", "str"),
    _alb("matched_rule_priority", "int"),
    _alb("request_creation_time", "str"),
    _alb("actions_executed", "str"),
    _alb("redirect_url", "str"),
    _alb("error_reason", "str", column="lambda_error_reason"),
    _alb("target_port_list", "str"),
    _alb("target_status_code_list", "str"),
    _alb("classification", "str"),
    _alb("classification_reason", "str"),
    _alb("conn_trace_id", "str"),
    _alb("transformed_host", "str"),
    _alb("transformed_uri", "str"),
    _alb("request_transform_status", "str"),
)
ALB_BY_AWS: dict[str, Field] = {f.aws: f for f in ALB_FIELDS}

#: Space-separated positions in an ALB access log line (after unquoting).
#: ``client:port``, ``target:port`` and ``request`` expand into several fields.
ALB_LOG_ORDER: tuple[str, ...] = (
    "type", "time", "elb", "client:port", "target:port",
    "request_processing_time", "target_processing_time", "response_processing_time",
    "elb_status_code", "target_status_code", "received_bytes", "sent_bytes",
    "request", "user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn",
    "trace_id", "domain_name", "chosen_cert_arn", "matched_rule_priority",
    "request_creation_time", "actions_executed", "redirect_url", "error_reason",
    "target_port_list", "target_status_code_list", "classification",
    "classification_reason", "conn_trace_id", "transformed_host", "transformed_uri",
    "request_transform_status",
)  # fmt: skip
ALB_TYPES = ("http", "https", "h2", "grpcs", "ws", "wss")

# --- ALB connection logs -----------------------------------------------------------
CONNECTION_FIELDS: tuple[Field, ...] = (
    _alb("timestamp", "str"),
    _alb("client_ip", "str"),
    _alb("client_port", "int"),
    _alb("listener_port", "int"),
    _alb("tls_protocol", "str"),
    _alb("tls_cipher", "str"),
    _alb("tls_handshake_latency", "float"),
    _alb("leaf_client_cert_subject", "str"),
    _alb("leaf_client_cert_validity", "str"),
    _alb("leaf_client_cert_serial_number", "str"),
    _alb("tls_verify_status", "str"),
    _alb("conn_trace_id", "str"),
    _alb("tls_keyexchange", "str"),
)

# --- Derived and provenance columns ------------------------------------------------
PROVENANCE: tuple[pa.Field, ...] = (
    pa.field("source_uri", pa.string(), nullable=False),
    pa.field("source_line", pa.int64(), nullable=False),
)

FLOW_DERIVED: tuple[pa.Field, ...] = (
    pa.field("start_time", UTC_TS),  # from start
    pa.field("end_time", UTC_TS),  # from end
    pa.field("extra_fields", pa.string()),  # header fields AWS does not document (yet): JSON {"name": "value"}
)
ALB_DERIVED: tuple[pa.Field, ...] = (
    pa.field("event_time", UTC_TS),  # from time
    pa.field("request_creation_ts", UTC_TS),  # from request_creation_time
    pa.field("extra_fields", pa.string()),  # unknown trailing fields, as logged, space-joined
    pa.field("node_ip", pa.string()),  # ALB node IP from the object name
    pa.field("load_balancer", pa.string()),  # app.<name>.<id> from the object name
)
CONNECTION_DERIVED: tuple[pa.Field, ...] = (
    pa.field("event_time", UTC_TS),  # from timestamp
    pa.field("extra_fields", pa.string()),
    pa.field("node_ip", pa.string()),
    pa.field("load_balancer", pa.string()),
)


def _schema(fields: tuple[Field, ...], derived: tuple[pa.Field, ...]) -> pa.Schema:
    cols = [pa.field(f.column, f.arrow_type) for f in fields]
    return pa.schema(cols + list(derived) + list(PROVENANCE))


#: Lake tables. Partition columns (date, hour) live only in the directory names.
VPC_FLOW_SCHEMA = _schema(FLOW_FIELDS, FLOW_DERIVED)
ALB_ACCESS_SCHEMA = _schema(ALB_FIELDS, ALB_DERIVED)
ALB_CONNECTION_SCHEMA = _schema(CONNECTION_FIELDS, CONNECTION_DERIVED)

TABLES: dict[str, pa.Schema] = {
    "vpc_flow": VPC_FLOW_SCHEMA,
    "alb_access": ALB_ACCESS_SCHEMA,
    "alb_connection": ALB_CONNECTION_SCHEMA,
}
#: Column giving each table's event time (for partitioning and time windows).
EVENT_TIME_COLUMN: dict[str, str] = {
    "vpc_flow": "start_time",
    "alb_access": "event_time",
    "alb_connection": "event_time",
}
PARTITION_COLUMNS: tuple[str, str] = ("date", "hour")

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string()),
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),  # the line, cut to REJECT_RAW_MAX characters
    ]
)
REJECT_RAW_MAX = 2048


def conform_to_schema(data: pa.Table, schema: pa.Schema, given: dict[str, pa.Array] | None = None) -> pa.Table:
    """Exactly ``schema``: ``data``'s columns cast in order, ``given`` ones as passed, the rest all-null.

    One all-null array per type is shared (Arrow arrays are immutable): allocating one per
    missing column (~60 in a flow-log table) cost more than the parse.
    """
    rows = data.num_rows
    nulls: dict[pa.DataType, pa.Array] = {}
    cols: list[pa.Array | pa.ChunkedArray] = []
    for f in schema:
        if given is not None and f.name in given:
            cols.append(given[f.name])
        elif f.name in data.column_names:
            col = data.column(f.name)
            cols.append(col if col.type == f.type else col.cast(f.type))
        else:
            if f.type not in nulls:
                nulls[f.type] = pa.nulls(rows, f.type)
            cols.append(nulls[f.type])
    return pa.Table.from_arrays(cols, schema=schema)


"""ALB connection logs (one line per TLS/TCP connection).

``timestamp client_ip client_port listener_port tls_protocol tls_cipher
tls_handshake_latency "leaf_client_cert_subject" leaf_client_cert_validity
leaf_client_cert_serial_number tls_verify_status conn_trace_id tls_keyexchange``.
Older records end after ``tls_verify_status`` (11 fields, before ``conn_trace_id``
appeared in 2024) or ``conn_trace_id`` (12); unknown trailing fields are kept in
``extra_fields``. Same tokenizer and value rules as access logs.
"""

from __future__ import annotations

import polars as pl

from ..schema import ALB_CONNECTION_SCHEMA, CONNECTION_FIELDS
from .alb_fields import apply_checks, count_extra, with_alb_times
from .casting import dash_to_null, numeric_fields
from .quoted_log import EXTRA, NFIELDS, Layout, tokenize_object
from .result import ParsedObject
from .table_build import to_schema_table

#: Shortest record shape accepted: timestamp .. tls_verify_status.
CONNECTION_MIN_FIELDS = 11

_NAMES = tuple(f.aws for f in CONNECTION_FIELDS)
LAYOUT = Layout(
    positions=_NAMES,
    quoted=frozenset({_NAMES.index("leaf_client_cert_subject")}),
    unquoted=frozenset(i for i, n in enumerate(_NAMES) if n not in ("leaf_client_cert_subject", "tls_keyexchange")),
)
_NUMERIC = [f for f in CONNECTION_FIELDS if f.kind != "str"]


def parse_alb_connection(
    data: bytes, *, source_uri: str, node_ip: str | None = None, load_balancer: str | None = None, uri_column: bool = True
) -> ParsedObject:
    """Parse one decompressed ALB connection-log object; ``uri_column``: see ``parse_bytes``."""
    return parse_alb_connection_detailed(
        data, source_uri=source_uri, node_ip=node_ip, load_balancer=load_balancer, uri_column=uri_column
    )[0]


def parse_alb_connection_detailed(
    data: bytes, *, source_uri: str, node_ip: str | None = None, load_balancer: str | None = None,
    fast: bool = True, uri_column: bool = True,
) -> tuple[ParsedObject, pl.Series]:  # fmt: skip
    tok = tokenize_object(data, LAYOUT, fast=fast)
    pcols = [LAYOUT.column(i) for i in range(LAYOUT.width)]
    frame = with_alb_times(
        tok.frame.with_columns(dash_to_null(pcols)).with_columns(
            [pl.col(c).alias(CONNECTION_FIELDS[i].column) for i, c in enumerate(pcols)]
        ),
        {"timestamp": "event_time"},
    )
    n = pl.col(NFIELDS)
    checks = [
        (
            (pl.col("p0") == "Enable") & (pl.col("p1") == "AccessLog"),
            pl.lit("ELB test-file marker ('Enable AccessLog for ELB: ...'), written when logging is enabled; not a log record"),
        ),
        (
            n < CONNECTION_MIN_FIELDS,
            pl.lit("record has ") + n.cast(pl.String)
            + pl.lit(f" fields; an ALB connection log record has at least {CONNECTION_MIN_FIELDS} (timestamp .. tls_verify_status)"),
        ),
        (
            pl.col("event_time").is_null(),
            pl.lit("timestamp is not an ISO 8601 UTC timestamp: '") + pl.col("timestamp").fill_null("-").str.slice(0, 40) + pl.lit("'"),
        ),
    ]
    good, rejects = apply_checks(tok, frame, numeric_fields(_NUMERIC, frame.columns), checks)
    good = good.with_columns(
        [
            pl.col(EXTRA).alias("extra_fields"),
            pl.lit(node_ip, dtype=pl.String).alias("node_ip"),
            pl.lit(load_balancer, dtype=pl.String).alias("load_balancer"),
        ]
    )
    parsed = ParsedObject(
        table="alb_connection",
        data=to_schema_table(good, ALB_CONNECTION_SCHEMA, source_uri=source_uri, uri_column=uri_column),
        rejects=rejects,
        lines_read=tok.lines_read,
        extra_field_lines=count_extra(good),
    )
    return parsed, good.get_column(NFIELDS)

"""Bytes to typed Arrow tables, plus the lines that could not be read.

Contract (used by ingest, the ``parse`` verb, benchmarks and tests):

    parse_bytes(data, table, *, source_uri, header=None, node_ip=None, load_balancer=None)
        -> ParsedObject

``data`` is one whole *decompressed* object. ``ParsedObject.data`` conforms exactly to
``pipeline.schema.TABLES[table]``. Per object: lines_read == data.num_rows +
len(rejects) + header_lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

TableName = Literal["vpc_flow", "alb_access", "alb_connection"]


@dataclass
class Reject:
    line: int  # 1-based line number in the decompressed object
    reason: str
    raw: str  # the line, cut to schema.REJECT_RAW_MAX characters


@dataclass
class ParsedObject:
    table: TableName
    data: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    lines_read: int = 0
    header_lines: int = 0
    extra_field_lines: int = 0  # ALB lines that carried unknown trailing fields (kept, counted)

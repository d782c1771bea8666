"""What a parser hands back: typed rows plus the lines it could not read.

Kept apart from ``__init__`` so the format modules can import it without a cycle;
``pipeline.formats`` re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from ..schema import REJECT_RAW_MAX

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
    unknown_fields: tuple[str, ...] = ()  # flow-log header fields AWS does not document (kept in extra_fields)


def make_reject(line: int, reason: str, raw: str) -> Reject:
    """A reject with the raw line cut to the size the ledger stores."""
    return Reject(line=line, reason=reason, raw=raw[:REJECT_RAW_MAX])

"""Bytes to typed Arrow tables, plus the lines that could not be read.

Contract (used by ingest, the ``parse`` verb, benchmarks and tests):

    parse_bytes(data, table, *, source_uri, header=None, node_ip=None, load_balancer=None)
        -> ParsedObject

``data`` is one whole *decompressed* object. ``ParsedObject.data`` conforms exactly to
``pipeline.schema.TABLES[table]``. Per object: lines_read == data.num_rows +
len(rejects) + header_lines.

Also: ``parse_flow_parquet`` (flow logs AWS delivered as Parquet) and
``parse_lines_to_records`` (one dict per input line, AWS field names: the ``parse``
verb). What is accepted and rejected, and why: docs/formats.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError
from .alb import parse_alb
from .alb_connection import parse_alb_connection
from .flow_parquet import parse_flow_parquet
from .records import FORMATS, parse_lines_to_records
from .result import ParsedObject, Reject, TableName
from .vpcflow import parse_vpcflow

__all__ = [
    "FORMATS",
    "ParsedObject",
    "Reject",
    "TableName",
    "parse_bytes",
    "parse_flow_parquet",
    "parse_lines_to_records",
]


def parse_bytes(
    data: bytes,
    table: TableName,
    *,
    source_uri: str,
    header: str | Sequence[str] | None = None,
    node_ip: str | None = None,
    load_balancer: str | None = None,
) -> ParsedObject:
    """Parse one decompressed object of ``table`` into typed rows and rejects.

    ``header`` (flow logs only): the field names when the object has no header line.
    ``node_ip`` / ``load_balancer`` (ALB only): taken from the object name by the caller.
    Raises ``FormatError`` (``UnknownHeaderError``) when the whole object is unreadable.
    """
    return _parse(data, table, source_uri, header, node_ip, load_balancer, uri_column=True)


def parse_bytes_for_lake(
    data: bytes, table: TableName, *, source_uri: str, node_ip: str | None = None, load_balancer: str | None = None
) -> ParsedObject:
    """``parse_bytes`` for ingest: ``data`` without its ``source_uri`` column.

    That column is the one URI on every row (~200 bytes a row); the lake writer adds it
    dictionary-encoded, row group by row group, so building it here was wasted work.
    """
    return _parse(data, table, source_uri, None, node_ip, load_balancer, uri_column=False)


def _parse(  # parse_bytes' arguments, positionally
    data: bytes, table: TableName, source_uri: str, header: str | Sequence[str] | None, node_ip: str | None,
    load_balancer: str | None, *, uri_column: bool,
) -> ParsedObject:  # fmt: skip
    if table == "vpc_flow":
        return parse_vpcflow(data, source_uri=source_uri, header=header, uri_column=uri_column)
    if table == "alb_access":
        return parse_alb(data, source_uri=source_uri, node_ip=node_ip, load_balancer=load_balancer, uri_column=uri_column)
    if table == "alb_connection":
        return parse_alb_connection(
            data, source_uri=source_uri, node_ip=node_ip, load_balancer=load_balancer, uri_column=uri_column
        )
    raise UsageError(f"unknown table {table!r}; expected one of vpc_flow, alb_access, alb_connection")

"""The public surface of pipeline.formats: what ingest, the CLI and notebooks import."""

from __future__ import annotations

import inspect

import pipeline.formats as formats


def test_exported_members() -> None:
    assert sorted(formats.__all__) == sorted(
        ["FORMATS", "ParsedObject", "Reject", "TableName", "parse_bytes", "parse_flow_parquet", "parse_lines_to_records"]
    )
    for name in formats.__all__:
        assert getattr(formats, name) is not None


def test_parse_bytes_signature_is_the_contract() -> None:
    params = inspect.signature(formats.parse_bytes).parameters
    assert list(params) == ["data", "table", "source_uri", "header", "node_ip", "load_balancer"]
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("source_uri", "header", "node_ip", "load_balancer"))
    assert formats.FORMATS == {"vpcflow": "vpc_flow", "alb": "alb_access", "alb-connection": "alb_connection"}

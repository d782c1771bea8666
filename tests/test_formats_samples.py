"""The hand-checked files in data-samples/unit/: every value below was read off the file by eye."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import DATA_SAMPLES

from pipeline.formats import parse_bytes, parse_flow_parquet
from pipeline.schema import TABLES

UNIT = DATA_SAMPLES / "unit"


def _parse(name: str, table: str):  # type: ignore[no-untyped-def]
    parsed = parse_bytes((UNIT / name).read_bytes(), table, source_uri=f"file://{name}")  # type: ignore[arg-type]
    assert parsed.data.schema.equals(TABLES[table])
    assert parsed.lines_read == parsed.data.num_rows + len(parsed.rejects) + parsed.header_lines
    return parsed


def test_v2_default() -> None:
    p = _parse("vpcflow-v2-default.log", "vpc_flow")
    assert (p.header_lines, p.data.num_rows, p.rejects) == (1, 5, [])
    rows = p.data.to_pylist()
    assert rows[0]["srcport"] == 20641 and rows[0]["dstport"] == 22 and rows[0]["bytes"] == 4249
    assert rows[0]["start_time"] == datetime(2014, 12, 14, 4, 6, 50, tzinfo=UTC)
    assert [r["log_status"] for r in rows] == ["OK", "OK", "NODATA", "SKIPDATA", "OK"]
    assert rows[2]["srcaddr"] is None and rows[2]["packets"] is None and rows[2]["action"] is None
    assert rows[4]["account_id"] == "012345678901"  # leading zero kept: account-id is a string
    assert rows[4]["srcaddr"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"
    assert [r["source_line"] for r in rows] == [2, 3, 4, 5, 6]


def test_v5_custom_order() -> None:
    rows = _parse("vpcflow-v5-custom.log", "vpc_flow").data.to_pylist()
    assert rows[0]["packets"] == 7 and rows[0]["bytes"] == 471 and rows[0]["account_id"] == "123456789012"
    assert rows[0]["pkt_dst_aws_service"] == "S3" and rows[0]["traffic_path"] == 8
    assert rows[0]["flow_direction"] == "egress" and rows[0]["sublocation_type"] is None
    assert rows[1]["pkt_src_aws_service"] == "S3" and rows[1]["traffic_path"] is None and rows[1]["tcp_flags"] == 19


def test_alphabetical_order() -> None:
    rows = _parse("vpcflow-alphabetical.log", "vpc_flow").data.to_pylist()
    assert rows[0]["version"] == 5 and rows[0]["srcaddr"] == "198.51.100.7" and rows[0]["srcport"] == 443
    assert rows[0]["dstport"] == 50318 and rows[0]["bytes"] == 4895 and rows[0]["packets"] == 15
    assert rows[1]["traffic_path"] == 4 and rows[1]["pkt_dst_aws_service"] == "S3"


def test_transit_gateway() -> None:
    rows = _parse("vpcflow-tgw.log", "vpc_flow").data.to_pylist()
    assert rows[0]["resource_type"] == "TransitGateway" and rows[0]["tgw_id"] == "tgw-0a12bc34de56f7890"
    assert rows[1]["packets_lost_no_route"] == 3 and rows[1]["tcp_flags"] == 2
    assert rows[0]["pkt_src_aws_service"] is None and rows[0]["version"] == 6


def test_parquet_flow() -> None:
    p = parse_flow_parquet((UNIT / "vpcflow-v2.parquet").read_bytes(), source_uri="file://vpcflow-v2.parquet")
    assert p.data.schema.equals(TABLES["vpc_flow"])
    rows = p.data.to_pylist()
    assert [r["source_line"] for r in rows] == [1, 2, 3]
    assert rows[1]["dstport"] == 3389 and rows[1]["action"] == "REJECT" and rows[2]["log_status"] == "NODATA"
    assert rows[0]["end_time"] == datetime(2014, 12, 14, 4, 7, 50, tzinfo=UTC)


def test_alb_launch_shape_2016() -> None:
    """The 2016 AWS documentation examples (http, https, h2, ws), 18 fields through trace_id."""
    p = _parse("alb-2016-18fields.log", "alb_access")
    assert p.rejects == []
    rows = p.data.to_pylist()
    assert [r["type"] for r in rows] == ["http", "https", "h2", "ws"]
    assert rows[0]["trace_id"] == "Root=1-58337262-36d228ad5d99923122bbe354" and rows[0]["ssl_cipher"] is None
    assert rows[1]["ssl_protocol"] == "TLSv1.2" and rows[1]["sent_bytes"] == 57
    assert all(r["domain_name"] is None and r["chosen_cert_arn"] is None and r["matched_rule_priority"] is None for r in rows)
    assert rows[2]["target_ip"] == "10.0.0.66" and rows[2]["request_proto"] == "HTTP/2.0"
    assert rows[3]["user_agent"] is None and rows[3]["elb_status_code"] == 101


def test_alb_sni_shape_2018() -> None:
    p = _parse("alb-2018-20fields.log", "alb_access")
    rows = p.data.to_pylist()
    assert len(rows) == 2 and p.extra_field_lines == 0
    assert rows[0]["elb_status_code"] == 404 and rows[0]["chosen_cert_arn"] is None
    assert rows[0]["matched_rule_priority"] is None and rows[0]["request_creation_time"] is None
    assert rows[1]["target_ip"] is None and rows[1]["request_processing_time"] == -1.0
    assert rows[1]["target_status_code"] is None and rows[1]["user_agent"] == "curl/7.58.0"


def test_alb_newest_shape() -> None:
    p = _parse("alb-newest.log", "alb_access")
    first, second = p.data.to_pylist()
    assert first["client_ip"] == "2001:db8::7" and first["client_port"] == 52344  # brackets dropped
    assert first["user_agent"] == "Mozilla/5.0 \\x22evil\\x22 <script>"  # kept as logged
    assert first["transformed_uri"] == "/search?q=a%20b" and first["request_transform_status"] is None
    assert first["request_url"] == "https://www.example.com:443/search?q=a%20b"
    assert first["event_time"] == datetime(2025, 6, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert second["request_verb"] is None and second["request_url"] == "http://www.example.com:80-"
    assert second["classification_reason"] == "UndefinedContentLengthSemantics"
    assert second["extra_fields"] == '198.51.100.4 "-" "-"' and p.extra_field_lines == 1


def test_connection_log() -> None:
    rows = _parse("alb-connection.log", "alb_connection").data.to_pylist()
    assert rows[0]["tls_handshake_latency"] == 4.036 and rows[0]["tls_keyexchange"] == "X25519"
    assert rows[1]["tls_protocol"] is None and rows[1]["conn_trace_id"] == "TID_16132ed0b4112148"
    assert rows[2]["tls_verify_status"] == "Failed:ClientCertUntrusted" and rows[2]["conn_trace_id"] is None

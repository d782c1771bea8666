"""ALB access and connection logs: shapes, quoting, splits, other formats, malformed input.

Every case runs both the fast path and the forced careful path and requires the
same rows and rejects from each.
"""

from __future__ import annotations

import pytest

from pipeline.formats import ParsedObject, parse_bytes, parse_lines_to_records
from pipeline.formats.alb import parse_alb_detailed
from pipeline.formats.alb_connection import parse_alb_connection_detailed
from pipeline.schema import ALB_ACCESS_SCHEMA, ALB_CONNECTION_SCHEMA

FULL = (
    'https 2025-06-01T10:00:00.123456Z app/web/50dc6c495c0c9188 192.0.2.10:52344 10.0.1.20:8080 0.001 0.045 0.000 '
    '200 200 512 2048 "GET https://www.example.com:443/a HTTP/1.1" "curl/8.0" TLS_AES_128_GCM_SHA256 TLSv1.3 '
    'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2 "Root=1-683c2450-1d84" '
    '"www.example.com" "arn:aws:acm:us-east-1:123456789012:certificate/1234" 1 2025-06-01T10:00:00.077000Z '
    '"forward" "-" "-" "10.0.1.20:8080" "200" "-" "-" TID_1234 "-" "-" "-"'
)
FIELDS = FULL.split(" ")


def parse(data: bytes) -> ParsedObject:
    fast = parse_bytes(data, "alb_access", source_uri="s3://b/k", node_ip="10.0.0.5", load_balancer="app.web.1")
    careful, _ = parse_alb_detailed(data, source_uri="s3://b/k", node_ip="10.0.0.5", load_balancer="app.web.1", fast=False)
    assert fast.data.equals(careful.data)
    assert fast.rejects == careful.rejects
    assert fast.extra_field_lines == careful.extra_field_lines
    assert fast.data.schema.equals(ALB_ACCESS_SCHEMA)
    assert fast.lines_read == fast.data.num_rows + len(fast.rejects) + fast.header_lines
    return fast


def obj(*lines: str, end: str = "\n") -> bytes:
    return (end.join(lines) + end).encode()


def test_full_line_values() -> None:
    row = parse(obj(FULL)).data.to_pylist()[0]
    assert row["client_ip"] == "192.0.2.10" and row["client_port"] == 52344 and row["target_port"] == 8080
    assert row["request_verb"] == "GET" and row["request_url"] == "https://www.example.com:443/a"
    assert row["request_proto"] == "HTTP/1.1" and row["matched_rule_priority"] == 1
    assert row["node_ip"] == "10.0.0.5" and row["load_balancer"] == "app.web.1"
    assert row["request_creation_ts"].isoformat() == "2025-06-01T10:00:00.077000+00:00"
    assert row["transformed_host"] is None and row["extra_fields"] is None


@pytest.mark.parametrize("width", [18, 20, 21, 22, 25, 27, 29, 30, 33])
def test_every_older_shape_is_accepted(width: int) -> None:
    line = " ".join(_fields(width))
    p = parse(obj(line))
    assert p.rejects == [] and p.data.num_rows == 1
    rec = next(iter(parse_lines_to_records([line], "alb")))
    assert ("matched_rule_priority" in rec) == (width >= 21) and ("conn_trace_id" in rec) == (width >= 30)


def _fields(width: int) -> list[str]:
    """The first ``width`` positions of FULL (its request and user agent hold no spaces after joining)."""
    tokens: list[str] = []
    buf = ""
    for part in FIELDS:
        buf = f"{buf} {part}" if buf else part
        if buf.count('"') % 2 == 0:
            tokens.append(buf)
            buf = ""
    return tokens[:width]


def test_too_short_is_rejected_with_reason() -> None:
    p = parse(obj(" ".join(_fields(17)), "http 2023-04-01T12:00:00Z alb"))
    assert [r.reason for r in p.rejects] == [
        "record has 17 fields; an ALB access log record has at least 18 (type .. trace_id)",
        "record has 3 fields; an ALB access log record has at least 18 (type .. trace_id)",
    ]


def test_unknown_trailing_fields_are_kept_and_counted() -> None:
    p = parse(obj(FULL + ' 198.51.100.4 "-" "Target.Timeout x"', FULL))
    assert p.extra_field_lines == 1
    assert p.data.column("extra_fields").to_pylist() == ['198.51.100.4 "-" "Target.Timeout x"', None]


def test_escaped_quote_stays_escaped() -> None:
    line = FULL.replace('"curl/8.0"', '"<b onmouseover=\\x22x\\x22>"')
    assert parse(obj(line)).data.column("user_agent").to_pylist() == ["<b onmouseover=\\x22x\\x22>"]


def test_raw_quote_in_user_agent_does_not_lose_the_line() -> None:
    line = FULL.replace('"curl/8.0"', '"Mozilla "evil" x"')
    p = parse(obj(line, FULL))
    assert p.rejects == []
    row = p.data.to_pylist()[0]
    assert row["user_agent"] == 'Mozilla "evil" x' and row["ssl_cipher"] == "TLS_AES_128_GCM_SHA256"
    assert row["matched_rule_priority"] == 1 and row["extra_fields"] is None


def test_glued_quote_is_split() -> None:
    line = FULL.replace('"arn:aws:acm:us-east-1:123456789012:certificate/1234" 1', '"-"1')
    row = parse(obj(line)).data.to_pylist()[0]
    assert row["chosen_cert_arn"] is None and row["matched_rule_priority"] == 1


def test_unterminated_quote_is_rejected() -> None:
    p = parse(obj('field1 "field2 field3', FULL))
    assert [(r.line, r.reason) for r in p.rejects] == [(1, "unbalanced double quote (a quoted field has no end quote)")]


def test_type_and_time_checks() -> None:
    p = parse(obj(FULL.replace("https ", "invalid ", 1), FULL.replace("2025-06-01T10:00:00.123456Z", "yesterday", 1)))
    assert [r.reason for r in p.rejects] == [
        "type 'invalid' is not one of http https h2 grpcs ws wss",
        "time is not an ISO 8601 UTC timestamp: 'yesterday'",
    ]


def test_bad_numbers_and_ports() -> None:
    lines = [
        FULL.replace(" 512 ", " 5l2 "),
        FULL.replace(" 0.045 ", " inf "),
        FULL.replace("192.0.2.10:52344", "192.0.2.10:http"),
        FULL.replace("192.0.2.10:52344", "192.0.2.10"),
    ]
    assert [r.reason for r in parse(obj(*lines)).rejects] == [
        "received_bytes is not an integer: '5l2'",
        "target_processing_time is not a number: 'inf'",
        "client:port port is not an integer: 'http'",
        "client:port is not address:port: '192.0.2.10'",
    ]


def test_ipv6_without_brackets_splits_at_last_colon() -> None:
    row = parse(obj(FULL.replace("192.0.2.10:52344", "2a02:a33c:4538:1:bcf4:5264:e01c:f215:50718"))).data.to_pylist()[0]
    assert (row["client_ip"], row["client_port"]) == ("2a02:a33c:4538:1:bcf4:5264:e01c:f215", 50718)


@pytest.mark.parametrize(
    ("request_line", "parts"),
    [
        ("GET http://x/a b HTTP/1.1", ("GET", "http://x/a b", "HTTP/1.1")),
        ("- - -", (None, None, None)),
        ("-", (None, None, None)),
        ("- http://x:80- -", (None, "http://x:80-", None)),
        ("GET /only", ("GET", "/only", None)),
        ("", (None, None, None)),
    ],
)
def test_request_split(request_line: str, parts: tuple[str | None, ...]) -> None:
    row = parse(obj(FULL.replace("GET https://www.example.com:443/a HTTP/1.1", request_line))).data.to_pylist()[0]
    assert (row["request_verb"], row["request_url"], row["request_proto"]) == parts


def test_other_formats_are_named() -> None:
    nlb = "tls 2.0 2018-12-20T02:59:40 net/my-nlb/c6e7 g3d4 192.168.131.39:2817 10.0.0.1:80 5 2 98 246 - arn - x tlsv12 - d"
    classic = '2015-05-13T23:39:43.945958Z my-lb 192.168.131.39:2817 10.0.0.1:80 0.1 0.1 0.1 200 200 0 29 "GET http://x:80/ HTTP/1.1" "curl" - -'
    marker = "Enable AccessLog for ELB: app/elb-name/abc123456 at 2025-05-30T16:47:00.781Z"
    reasons = [r.reason for r in parse(obj(nlb, classic, marker)).rejects]
    assert "Network Load Balancer" in reasons[0] and "Classic Load Balancer" in reasons[1] and "test-file marker" in reasons[2]


def test_empty_lines_crlf_bad_utf8_and_no_final_newline() -> None:
    data = FULL.encode() + b"\r\n\r\n" + FULL.replace("curl/8.0", "curl\xff").encode("latin-1") + b"\r\n" + FULL.encode()
    p = parse(data)
    assert [(r.line, r.reason) for r in p.rejects] == [(2, "empty line")]
    assert p.data.column("user_agent").to_pylist() == ["curl/8.0", "curl\ufffd", "curl/8.0"]
    assert p.data.column("source_line").to_pylist() == [1, 3, 4]


def test_empty_object() -> None:
    p = parse(b"")
    assert (p.lines_read, p.data.num_rows) == (0, 0)


def parse_connection(data: bytes) -> ParsedObject:
    fast = parse_bytes(data, "alb_connection", source_uri="s3://b/c")
    careful, _ = parse_alb_connection_detailed(data, source_uri="s3://b/c", fast=False)
    assert fast.data.equals(careful.data) and fast.rejects == careful.rejects
    assert fast.data.schema.equals(ALB_CONNECTION_SCHEMA)
    assert fast.lines_read == fast.data.num_rows + len(fast.rejects)
    return fast


CONN = '2024-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 "CN=a b,O=c" NotBefore=x;NotAfter=y FEF2 Success TID_3180 X25519'


def test_connection_shapes_and_rejects() -> None:
    short = " ".join(CONN.replace('"CN=a b,O=c"', '"CN=ab"').split(" ")[:11])
    p = parse_connection(obj(CONN, short, CONN + " new-field", CONN.replace(" 36280 ", " port ", 1), "2024 x"))
    rows = p.data.to_pylist()
    assert rows[0]["leaf_client_cert_subject"] == "CN=a b,O=c" and rows[0]["tls_handshake_latency"] == 4.036
    assert rows[1]["tls_verify_status"] == "Success" and rows[1]["conn_trace_id"] is None
    assert rows[2]["extra_fields"] == "new-field" and p.extra_field_lines == 1
    assert [(r.line, r.reason) for r in p.rejects] == [
        (4, "client_port is not an integer: 'port'"),
        (5, "record has 2 fields; an ALB connection log record has at least 11 (timestamp .. tls_verify_status)"),
    ]


def test_alb_times_cheap_path_equals_the_full_format_parse() -> None:
    """``with_alb_times`` must give exactly ``alb_time``'s value for any text: the usual shape
    by its cheap parse, everything else (other fractions, no fraction, damaged) by the full one."""
    import random

    import polars as pl

    from pipeline.formats.alb_fields import alb_time, with_alb_times

    rng = random.Random(7)
    fixed = [
        "2018-07-02T22:23:00.186641Z", "2016-12-31T23:59:60.000000Z", "2019-02-29T00:00:00.000000Z",
        "2020-02-29T00:00:00.000000Z", "2018-07-02T24:00:00.000000Z", "2018-13-02T00:00:00.000000Z",
        "2018-07-02T22:23:00Z", "2018-07-02T22:23:00.1Z", "2018-07-02T22:23:00.186641123Z", "+201-07-02T22:23:00.186641Z",
        "0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "2018-07-02T22:23:00.18664Z",
        "2018-07-02 22:23:00.186641Z", "2018-07-02T22:23:00,186641Z", "2018-07-02T22:23:00.+86641Z",
        "2018-07-02T22:23:00.-86641Z", "2018-07-02T22:23:00. 86641Z", "2018-07-02T22:23:00.186641z", "", "-", None,
    ]  # fmt: skip
    alphabet = "0123456789-:T.Z +z,"
    values = list(fixed)
    for _ in range(3000):
        v = f"{rng.randint(1990, 2040):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 60):02d}.{rng.randint(0, 999999):06d}Z"
        if rng.random() < 0.5:  # one character changed, dropped or doubled
            i = rng.randrange(len(v))
            v = rng.choice([v[:i] + rng.choice(alphabet) + v[i + 1 :], v[:i] + v[i + 1 :], v[:i] + v[i] + v[i:]])
        values.append(v)
    frame = pl.DataFrame({"t": values, "u": list(reversed(values))}, schema={"t": pl.String, "u": pl.String})
    got = with_alb_times(frame, {"t": "t_ts", "u": "u_ts"})
    want = frame.select(alb_time("t").alias("t_ts"), alb_time("u").alias("u_ts"))
    assert got.select("t_ts", "u_ts").equals(want)
    assert got.schema["t_ts"] == pl.Datetime("us", "UTC")
    assert 0 < want.get_column("t_ts").null_count() < len(values) // 2  # both kinds are exercised

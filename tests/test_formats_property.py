"""Property tests of the parsers (hypothesis).

- Rendering a generated record as AWS writes it and parsing it back gives the record.
- Any bytes give rows or rejects (or, for flow logs, a FormatError for the object),
  never another exception; lines_read == rows + rejects + header lines; and the fast
  and careful paths agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import FormatError
from pipeline.formats import parse_bytes
from pipeline.formats.alb import parse_alb_detailed
from pipeline.formats.alb_connection import parse_alb_connection_detailed
from pipeline.formats.vpcflow import parse_vpcflow_detailed
from pipeline.schema import ALB_LOG_ORDER, ALB_TYPES, FLOW_BY_AWS, FLOW_FIELDS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TOKEN_CHARS = st.characters(codec="utf-8", exclude_characters=' "\n\r', exclude_categories=("Cs",))
#: A value as a single unquoted token: not "-", not a flow field name (those make a line a repeated header).
token = st.text(_TOKEN_CHARS, min_size=1, max_size=12).filter(lambda s: s != "-" and s not in FLOW_BY_AWS)
#: A quoted value: anything but a quote or line break (AWS escapes quotes as \x22).
quoted_text = st.text(st.characters(codec="utf-8", exclude_characters='"\n\r', exclude_categories=("Cs",)), max_size=20).filter(
    lambda s: s != "-"
)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def flow_objects(draw: st.DrawFn) -> tuple[list[str], list[dict[str, Any]]]:
    fields = draw(st.lists(st.sampled_from(FLOW_FIELDS), min_size=1, max_size=12, unique=True))
    names = [f.aws for f in fields]
    records = draw(
        st.lists(
            st.fixed_dictionaries({f.aws: st.none() | (int64 if f.kind == "int" else token) for f in fields}),
            min_size=1,
            max_size=8,
        )
    )
    return names, records


@SETTINGS
@given(flow_objects())
def test_flow_round_trip(case: tuple[list[str], list[dict[str, Any]]]) -> None:
    names, records = case
    lines = [" ".join(names)] + [" ".join("-" if r[n] is None else str(r[n]) for n in names) for r in records]
    data = ("\n".join(lines) + "\n").encode()
    parsed = parse_bytes(data, "vpc_flow", source_uri="s3://b/k")
    assert parsed.rejects == []
    rows = parsed.data.to_pylist()
    assert [{n: row[FLOW_BY_AWS[n].column] for n in names} for row in rows] == records
    assert [row["source_line"] for row in rows] == list(range(2, len(records) + 2))


ip_port = st.tuples(st.ip_addresses(), st.integers(0, 65535))
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def _iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@st.composite
def alb_lines(draw: st.DrawFn) -> tuple[str, dict[str, Any], int]:
    width = draw(st.integers(20, 33))
    rec: dict[str, Any] = {}
    out: list[str] = []
    for name in ALB_LOG_ORDER[:width]:
        if name == "type":
            rec[name] = draw(st.sampled_from(ALB_TYPES))
            out.append(rec[name])
        elif name in ("time", "request_creation_time"):
            when = draw(times if name == "time" else st.none() | times)
            rec[name] = None if when is None else _iso(when)
            out.append(rec[name] or "-")
        elif name in ("client:port", "target:port"):
            pair = draw(ip_port if name == "client:port" else st.none() | ip_port)
            prefix = name.split(":")[0]
            rec[f"{prefix}_ip"] = None if pair is None else str(pair[0])
            rec[f"{prefix}_port"] = None if pair is None else pair[1]
            out.append("-" if pair is None else f"{pair[0]}:{pair[1]}")
        elif name.endswith("_processing_time"):
            rec[name] = draw(st.sampled_from([-1.0]) | st.integers(0, 10**6).map(lambda ms: ms / 1000))
            out.append("-1" if rec[name] == -1.0 else f"{rec[name]:.3f}")
        elif name in ("elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "matched_rule_priority"):
            rec[name] = draw(st.none() | st.integers(-1, 2**40))
            out.append("-" if rec[name] is None else str(rec[name]))
        elif name == "request":
            verb, url, proto = draw(token), draw(st.text(_TOKEN_CHARS, min_size=1, max_size=10).map(lambda u: "/" + u + " x")), draw(token)
            rec.update(request=f"{verb} {url} {proto}", request_verb=verb, request_url=url, request_proto=proto)
            out.append(f'"{rec["request"]}"')
        elif name in ("ssl_cipher", "ssl_protocol", "target_group_arn", "conn_trace_id"):
            rec[name] = draw(st.none() | token)
            out.append(rec[name] or "-")
        else:
            rec[name] = draw(st.none() | quoted_text)
            out.append('"-"' if rec[name] is None else f'"{rec[name]}"')
    return " ".join(out), rec, width


@SETTINGS
@given(st.lists(alb_lines(), min_size=1, max_size=6))
def test_alb_round_trip(cases: list[tuple[str, dict[str, Any], int]]) -> None:
    data = ("\n".join(line for line, _, _ in cases) + "\n").encode()
    parsed = parse_bytes(data, "alb_access", source_uri="s3://b/k")
    assert parsed.rejects == []
    rows = parsed.data.to_pylist()
    for row, (_, rec, _) in zip(rows, cases, strict=False):
        got = {k: row["lambda_error_reason" if k == "error_reason" else k] for k in rec}
        assert got == rec


#: Inputs built from real-looking lines, cut, glued and sprinkled with bytes.
_SEEDS = [
    b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
    b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK",
    b"2 123456789010 eni-2 - - - - - - - 1700000000 1700000060 - NODATA",
    b'h2 2024-05-28T08:12:36.431832Z app/x/y 10.10.10.10:13624 1.1.1.1:8000 0.000 0.177 0.000 200 200 961 2071 "GET https://x:443/ HTTP/2.0" "ua" TLS_AES_128_GCM_SHA256 TLSv1.3 arn "Root=1" "x" "arn" 10160 2024-05-28T08:12:36.254000Z "forward" "-" "-" "172.16.140.164:8000" "200" "-" "-" TID_1',
    b'2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE 4.036 "CN=a" NotBefore=x FEF2 Success TID_3',
]
line_bytes = st.one_of(
    st.sampled_from(_SEEDS),
    st.binary(max_size=40),
    st.tuples(st.sampled_from(_SEEDS), st.integers(0, 300), st.binary(max_size=4)).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]),
    st.tuples(st.sampled_from(_SEEDS), st.integers(0, 300)).map(lambda t: t[0][: t[1]]),
)
objects = st.tuples(st.lists(line_bytes, max_size=8), st.sampled_from([b"\n", b"\r\n"]), st.booleans()).map(
    lambda t: t[1].join(t[0]) + (t[1] if t[2] and t[0] else b"")
)


@SETTINGS
@given(objects)
def test_any_bytes_flow(data: bytes) -> None:
    try:
        fast = parse_vpcflow_detailed(data, source_uri="s3://b/k").parsed
    except FormatError:
        try:
            parse_vpcflow_detailed(data, source_uri="s3://b/k", fast=False)
        except FormatError:
            return
        raise AssertionError("only the fast path raised") from None
    careful = parse_vpcflow_detailed(data, source_uri="s3://b/k", fast=False).parsed
    assert fast.lines_read == fast.data.num_rows + len(fast.rejects) + fast.header_lines
    assert fast.data.equals(careful.data) and fast.rejects == careful.rejects


@SETTINGS
@given(objects)
def test_any_bytes_alb(data: bytes) -> None:
    fast, _ = parse_alb_detailed(data, source_uri="s3://b/k")
    careful, _ = parse_alb_detailed(data, source_uri="s3://b/k", fast=False)
    assert fast.lines_read == fast.data.num_rows + len(fast.rejects)
    assert fast.data.equals(careful.data) and fast.rejects == careful.rejects
    lines = sorted([r.line for r in fast.rejects] + fast.data.column("source_line").to_pylist())
    assert lines == list(range(1, fast.lines_read + 1))


@SETTINGS
@given(objects)
def test_any_bytes_connection(data: bytes) -> None:
    fast, _ = parse_alb_connection_detailed(data, source_uri="s3://b/k")
    careful, _ = parse_alb_connection_detailed(data, source_uri="s3://b/k", fast=False)
    assert fast.lines_read == fast.data.num_rows + len(fast.rejects)
    assert fast.data.equals(careful.data) and fast.rejects == careful.rejects

"""The compiled ALB pass against the polars path: same rows, or it declines the object.

Objects are one to three lines, built from values at the edge of what the pass
vouches for (numbers with many digits, signs, leading zeros, leap days, impossible
dates, bracketed and unbracketed IPv6, odd request lines, every shape from 17 to 34
fields, quoting off by one field). Where the pass vouches for an object its table
must equal the polars path's value for value; where the polars path rejects a line
the pass must have declined. Both outcomes must occur often, so neither side of the
test is empty.
"""

from __future__ import annotations

import random

import pytest

from pipeline.formats.alb import ALB_MIN_FIELDS, LAYOUT, parse_alb_detailed
from pipeline.formats.alb_native import parse_vouched
from pipeline.formats.lines import count_lines

_FIELDS = (
    'https 2025-06-01T10:00:00.123456Z app/web/50dc6c495c0c9188 192.0.2.10:52344 10.0.1.20:8080 0.001 0.045 0.000 '
    '200 200 512 2048 "GET https://www.example.com:443/a?b=1 HTTP/1.1" "Mozilla/5.0 (X11; Linux) curl/8.0" '
    'TLS_AES_128_GCM_SHA256 TLSv1.3 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2 '
    '"Root=1-683c2450-1d84" "www.example.com" "arn:aws:acm:us-east-1:123456789012:certificate/1234" 1 '
    '2025-06-01T10:00:00.077000Z "forward" "-" "-" "10.0.1.20:8080" "200" "-" "-" TID_1234 "-" "-" "-"'
).split(" ")
# the request and user agent hold spaces: rejoin them as single positions
_POSITIONS = _FIELDS[:12] + [" ".join(_FIELDS[12:15]), " ".join(_FIELDS[15:19])] + _FIELDS[19:]

_TYPES = ["http", "https", "h2", "grpcs", "ws", "wss", "tls", "-", "HTTP"]
_FLOATS = ["0.001", "-1", "0", "12.5", "-0.000", "123456789012345", "1234567890123456", "0.1234567890123",
           "00.10", "1e3", ".5", "5.", "+2", "-", "0.000001", "999999999999.999"]  # fmt: skip
_INTS = ["200", "-1", "007", "0", "-0", "999999999999999999", "9223372036854775807", "+7", "2.0", "-", "x"]
_TIMES = [
    "2025-06-01T10:00:00.123456Z", "2024-02-29T23:59:59.999999Z", "2023-02-29T00:00:00.000000Z",
    "2025-06-31T00:00:00.000000Z", "1899-12-31T23:59:59.000000Z", "2025-06-01T10:00:00Z", "2025-06-01T10:00:60.000000Z",
    "2025-06-01T24:00:00.000000Z", "2025-06-01T10:00:00.1234567Z", "-", "2000-01-01T00:00:00.000000Z",
    "2100-12-31T23:59:59.000001Z", "2025-00-10T00:00:00.000000Z",
]  # fmt: skip
_ADDRS = ["192.0.2.10:52344", "[2001:db8::1]:443", "2001:db8::7:8080", "-", "10.0.0.1", "[]:80", "[:80", "a:b:c",
          "x:", ":80", "-:80", "h:-1", "h:+1", "h:007", "[x]:1", "h:99999999999999999999"]  # fmt: skip
_REQUESTS = ['"GET http://a/ HTTP/1.1"', '"- - -"', '"- - - "', '"GET /x"', '"GET"', '"GET  /a  b HTTP/2.0"', '" GET x"',
             '"GET x "', '"a b c d"', '"-"', '"GET - HTTP/1.1"', '""']  # fmt: skip
_STRINGS = ['"-"', '"x"', '""', '"a b"', '"\\x22q\\x22"', "-", '"é"']


def _line(rnd: random.Random) -> str:
    pos = list(_POSITIONS)
    pos[0] = rnd.choice(_TYPES) if rnd.random() < 0.1 else pos[0]
    for i, values, p in ((1, _TIMES, 0.12), (21, _TIMES, 0.12), (3, _ADDRS, 0.12), (4, _ADDRS, 0.12), (12, _REQUESTS, 0.15)):
        if rnd.random() < p:
            pos[i] = rnd.choice(values)
    for i in (5, 6, 7):
        if rnd.random() < 0.06:
            pos[i] = rnd.choice(_FLOATS)
    for i in (8, 9, 10, 11, 20):
        if rnd.random() < 0.05:
            pos[i] = rnd.choice(_INTS)
    if rnd.random() < 0.08:
        pos[rnd.choice([13, 16, 17, 18, 19, 22, 23, 24, 27, 28, 30, 31, 32])] = rnd.choice(_STRINGS)
    width = rnd.choice([32, 32, 32, 32, 31, 29, 28, 21, 20, 19, 18, 17, 16, 33])  # positions, ALB's shapes and beyond
    return " ".join(pos[:width])


@pytest.mark.parametrize("seed", range(3))
def test_compiled_pass_equals_the_polars_path_or_declines(seed: int) -> None:
    rnd = random.Random(7000 + seed)
    vouched = declined = 0
    for _ in range(300):
        text = "\n".join(_line(rnd) for _ in range(rnd.choice([1, 1, 2, 3])))
        data = (text + ("\n" if rnd.random() < 0.8 else "")).encode()
        ref, ref_n = parse_alb_detailed(data, source_uri="s3://b/k", node_ip="10.0.0.5", load_balancer="app.x.1", compiled=False)
        got = parse_vouched(
            data, LAYOUT.quoted_as_written, count_lines(data), ALB_MIN_FIELDS,
            source_uri="s3://b/k", uri_column=True, node_ip="10.0.0.5", load_balancer="app.x.1",
        )  # fmt: skip
        if got is None:
            declined += 1
            continue
        vouched += 1
        table, nfields = got
        assert not ref.rejects and ref.extra_field_lines == 0, data
        assert table.equals(ref.data), (data, [c for c in table.column_names if not table[c].equals(ref.data[c])])
        assert nfields.tolist() == ref_n.to_list(), data
        whole, _ = parse_alb_detailed(data, source_uri="s3://b/k", node_ip="10.0.0.5", load_balancer="app.x.1")
        assert whole.data.equals(table)  # what the parser returns is the compiled pass's table
    assert vouched > 60 and declined > 60, (vouched, declined)


def test_compiled_pass_vouches_for_objects_as_aws_writes_them_and_sees_each_line() -> None:
    lines = [" ".join(_POSITIONS[:w]) for w in (33, 32, 29, 21, 18)]
    data = ("\n".join(lines * 40)).encode()  # no final newline
    got = parse_vouched(
        data, LAYOUT.quoted_as_written, count_lines(data), ALB_MIN_FIELDS,
        source_uri="s3://b/k", uri_column=False, node_ip=None, load_balancer=None,
    )  # fmt: skip
    assert got is not None
    table, nfields = got
    assert table.num_rows == 200 and "source_uri" not in table.column_names
    assert table.column("source_line").to_pylist() == list(range(1, 201))
    assert nfields.tolist()[:5] == [33, 32, 29, 21, 18]
    assert table.column("request_verb").to_pylist()[:1] == ["GET"]
    assert table.column("client_port").to_pylist()[:1] == [52344]


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(" 0.001 ", "  0.001 ", 1),  # a run of spaces
        lambda t: t + " ",  # a trailing space
        lambda t: t.replace('"forward"', "forward", 1),  # an always-quoted field unquoted
        lambda t: t.replace("TLSv1.3", '"TLSv1.3"', 1),  # a never-quoted field quoted
        lambda t: t + ' "extra"',  # an unknown trailing field
        lambda t: t.replace("curl/8.0", "curl/8.0\t", 1),  # a control byte
        lambda t: t.replace("Linux", "Lïnux", 1),  # non-ASCII
        lambda t: t.replace('"forward" "-"', '"forward""-"', 1),  # a glued quote
        lambda t: "\n" + t,  # an empty line
    ],
)
def test_compiled_pass_declines_what_aws_does_not_write(change) -> None:  # noqa: ANN001
    data = change(" ".join(_POSITIONS)).encode()
    assert parse_vouched(
        data, LAYOUT.quoted_as_written, count_lines(data), ALB_MIN_FIELDS,
        source_uri="s3://b/k", uri_column=True, node_ip=None, load_balancer=None,
    ) is None  # fmt: skip
    fast, _ = parse_alb_detailed(data, source_uri="s3://b/k")
    careful, _ = parse_alb_detailed(data, source_uri="s3://b/k", fast=False)
    assert fast.data.equals(careful.data) and fast.rejects == careful.rejects

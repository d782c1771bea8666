"""Differential fuzz: the fast path and the forced careful path agree on nasty input.

A seeded generator (no hypothesis: the same inputs every run) builds ALB access,
ALB connection and VPC flow objects from well-formed lines and then damages some of
them: stray and glued quotes, raw quotes in the user agent, CR, CRLF, a BOM, tabs,
unicode (and invalid UTF-8), runs of spaces, missing and extra fields, IPv6 and
bracketed addresses, non-numeric values, empty lines. Each object is parsed by both
paths; rows, rejects and counts must be identical.
"""

from __future__ import annotations

import random

import pytest

from pipeline.errors import FormatError
from pipeline.formats.alb import parse_alb_detailed
from pipeline.formats.alb_connection import parse_alb_connection_detailed
from pipeline.formats.vpcflow import parse_vpcflow_detailed
from pipeline.schema import FLOW_DEFAULT_HEADER

_ALB_FULL = (
    'https 2025-06-01T10:00:00.123456Z app/web/50dc6c495c0c9188 192.0.2.10:52344 10.0.1.20:8080 0.001 0.045 0.000 '
    '200 200 512 2048 "GET https://www.example.com:443/a?b=1 HTTP/1.1" "Mozilla/5.0 (X11; Linux) curl/8.0" '
    'TLS_AES_128_GCM_SHA256 TLSv1.3 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2 '
    '"Root=1-683c2450-1d84" "www.example.com" "arn:aws:acm:us-east-1:123456789012:certificate/1234" 1 '
    '2025-06-01T10:00:00.077000Z "forward" "-" "-" "10.0.1.20:8080" "200" "-" "-" TID_1234 "-" "-" "-"'
)
_ALB_FIELDS = _ALB_FULL.split(" ")
_CONN = (
    '2023-10-04T17:05:15.514108Z 203.0.113.1 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036 '
    '"CN=a, O=b" NotBefore=2023-01-01T00:00:00Z;NotAfter=2024-01-01T00:00:00Z FEF2 Success TID_3 X25519'
)
_FLOW = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK"

_ADDRS = ["192.0.2.10:52344", "[2001:db8::1]:443", "2001:db8::7:8080", "-", "10.0.0.1", "::1:0", "[::]:-1", "a:b:c"]
_NUMS = ["0.001", "-1", "1e3", ".5", "5.", "+2", "inf", "nan", "1_0", "0x10", "", "9223372036854775808", "٣", "-", "1.0.0"]
_INTS = ["200", "-", "-1", "+7", "007", "9223372036854775807", "9223372036854775808", "1e3", "2.0", "x", "٣"]
_TIMES = ["2025-06-01T10:00:00Z", "2025-06-01T10:00:00.1Z", "2025-13-01T10:00:00Z", "2025-06-01 10:00:00", "-", "2025-06-01T10:00:00.123456789Z"]
_JUNK = ['"', '""', '"x', 'x"', '"a"b', "\t", "\r", "\ufeff", "é", "\u2028", "\x0b", "  ", " ", "\x00", "日本", "\\x22", "\U0001f600"]


def _mutate(rnd: random.Random, line: str) -> str:
    """One random damage to a line (or none)."""
    kind = rnd.randrange(12)
    if kind == 0:  # insert junk somewhere
        at = rnd.randrange(len(line) + 1)
        return line[:at] + rnd.choice(_JUNK) + line[at:]
    if kind == 1:  # cut
        return line[: rnd.randrange(len(line) + 1)]
    if kind == 2:  # extra trailing fields
        return line + " " + " ".join(rnd.choice(['"-"', "1.2.3.4", '"x y"', "z", '"a"b']) for _ in range(rnd.randrange(1, 4)))
    if kind == 3:  # raw quote inside the user agent / request
        return line.replace("(X11; Linux)", '(X11; "Linux")', 1).replace("?b=1", '?b="1"', 1)
    if kind == 4:  # a run of spaces, leading or trailing space
        return rnd.choice([line.replace(" ", "  ", 1), " " + line, line + " "])
    if kind == 5:  # glued closing quote
        return line.replace('"forward" "-"', '"forward""-"', 1).replace('"-" TID', '"-"TID', 1)
    if kind == 6:  # replace a field
        parts = line.split(" ")
        i = rnd.randrange(len(parts))
        parts[i] = rnd.choice(_ADDRS + _NUMS + _INTS + _TIMES + _JUNK)
        return " ".join(parts)
    if kind == 7:  # drop a field
        parts = line.split(" ")
        del parts[rnd.randrange(len(parts))]
        return " ".join(parts)
    return line


def _alb_line(rnd: random.Random) -> str:
    fields = list(_ALB_FIELDS)
    for i in (3, 4):
        if rnd.random() < 0.3:
            fields[i] = rnd.choice(_ADDRS)
    for i in (5, 6, 7):
        if rnd.random() < 0.08:
            fields[i] = rnd.choice(_NUMS)
    for i in (8, 9, 10, 11, 20):
        if rnd.random() < 0.06:
            fields[i] = rnd.choice(_INTS)
    if rnd.random() < 0.2:
        fields[1] = rnd.choice(_TIMES)
    if rnd.random() < 0.2:
        fields[21] = rnd.choice(_TIMES)
    if rnd.random() < 0.1:
        fields[0] = rnd.choice(["tls", "Enable", "http2", "-", "2025-06-01T10:00:00Z"])
    if rnd.random() < 0.2:
        fields[12] = rnd.choice(['"- - -"', '"GET /x"', '"GET"', '""', '"GET  /a  b HTTP/2.0"', '"x y z w"'])
    width = rnd.choice([33, 33, 33, 33, 30, 29, 22, 21, 20, 19])
    line = " ".join(fields[:width])
    return _mutate(rnd, line) if rnd.random() < 0.35 else line


def _conn_line(rnd: random.Random) -> str:
    parts = _CONN.split(" ")
    if rnd.random() < 0.3:
        parts[rnd.choice([2, 3, 7])] = rnd.choice(_INTS + _NUMS)
    line = " ".join(parts[: rnd.choice([14, 13, 13, 12, 11, 10])])
    return _mutate(rnd, line) if rnd.random() < 0.5 else line


def _flow_line(rnd: random.Random) -> str:
    parts = _FLOW.split(" ")
    if rnd.random() < 0.3:
        parts[rnd.randrange(len(parts))] = rnd.choice(_INTS + ["-", '"', "eni-\t1"])
    line = " ".join(parts)
    return _mutate(rnd, line) if rnd.random() < 0.4 else line


def _object(rnd: random.Random, make, header: str | None = None) -> bytes:  # noqa: ANN001
    n = rnd.choice([1, 2, 5, 20, 60])
    lines = [make(rnd) for _ in range(n)]
    if rnd.random() < 0.25:  # mostly one line repeated: objects the whole-object fast path takes
        lines = [lines[0] if rnd.random() < 0.95 else make(rnd) for _ in lines]
    if header is not None:
        lines.insert(0, header)
    end = rnd.choice(["\n", "\n", "\r\n"])
    text = end.join(lines) + (end if rnd.random() < 0.8 else "")
    data = text.encode("utf-8")
    if rnd.random() < 0.05:
        data = b"\xef\xbb\xbf" + data
    if rnd.random() < 0.05:
        at = rnd.randrange(len(data) + 1)
        data = data[:at] + rnd.choice([b"\xff", b"\xc3", b"\r", b"\r\r\n"]) + data[at:]
    return data


_ROUNDS = 80


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_alb_fast_equals_careful(seed: int) -> None:
    rnd = random.Random(1000 + seed)
    for _ in range(_ROUNDS):
        data = _object(rnd, _alb_line)
        fast, fast_n = parse_alb_detailed(data, source_uri="s3://b/k", node_ip="10.0.0.5", load_balancer="app.x.1")
        careful, careful_n = parse_alb_detailed(data, source_uri="s3://b/k", node_ip="10.0.0.5", load_balancer="app.x.1", fast=False)
        assert fast.data.equals(careful.data), data
        assert fast.rejects == careful.rejects, data
        assert fast_n.to_list() == careful_n.to_list(), data
        assert (fast.lines_read, fast.extra_field_lines) == (careful.lines_read, careful.extra_field_lines), data
        assert fast.lines_read == fast.data.num_rows + len(fast.rejects), data


@pytest.mark.parametrize("seed", range(2))
def test_fuzz_connection_fast_equals_careful(seed: int) -> None:
    rnd = random.Random(2000 + seed)
    for _ in range(_ROUNDS):
        data = _object(rnd, _conn_line)
        fast, fast_n = parse_alb_connection_detailed(data, source_uri="s3://b/k")
        careful, careful_n = parse_alb_connection_detailed(data, source_uri="s3://b/k", fast=False)
        assert fast.data.equals(careful.data), data
        assert fast.rejects == careful.rejects, data
        assert fast_n.to_list() == careful_n.to_list(), data


@pytest.mark.parametrize("seed", range(2))
def test_fuzz_flow_fast_equals_careful(seed: int) -> None:
    rnd = random.Random(3000 + seed)
    header = " ".join(FLOW_DEFAULT_HEADER)
    for _ in range(_ROUNDS):
        data = _object(rnd, _flow_line, header=header if rnd.random() < 0.9 else None)
        try:
            fast = parse_vpcflow_detailed(data, source_uri="s3://b/k").parsed
        except FormatError:
            with pytest.raises(FormatError):
                parse_vpcflow_detailed(data, source_uri="s3://b/k", fast=False)
            continue
        careful = parse_vpcflow_detailed(data, source_uri="s3://b/k", fast=False).parsed
        assert fast.data.equals(careful.data), data
        assert fast.rejects == careful.rejects, data
        assert (fast.lines_read, fast.header_lines) == (careful.lines_read, careful.header_lines), data


@pytest.mark.parametrize("seed", range(3))
def test_fuzz_alb_grouped_parse_equals_one_by_one(seed: int) -> None:
    """Ingest parses small ALB objects together (``parse_alb_many``): each gets exactly what it gets alone."""
    from pipeline.formats.alb import groupable, parse_alb, parse_alb_many

    rnd = random.Random(5000 + seed)
    for _ in range(_ROUNDS // 4):
        objects = [_object(rnd, _alb_line) for _ in range(rnd.randrange(2, 7))]
        group = [(d, f"s3://b/k{i}", rnd.choice([f"10.0.0.{i}", None]), rnd.choice(["app.x.1", None])) for i, d in enumerate(objects) if groupable(d)]
        if len(group) < 2:
            continue
        uri_less = parse_alb_many(group, uri_column=False)
        trimmed = parse_alb_many(group, for_lake=True)  # as ingest calls it
        filled = {c for p in trimmed for c in p.data.column_names}
        for (d, uri, node, lb), got, lean, lake in zip(group, parse_alb_many(group), uri_less, trimmed, strict=True):
            want = parse_alb(d, source_uri=uri, node_ip=node, load_balancer=lb)
            assert got.data.equals(want.data), d
            assert lean.data.equals(want.data.drop_columns(["source_uri"])) and lean.rejects == want.rejects, d
            assert lake.data.column_names == [c for c in want.data.column_names if c in filled] and "source_uri" not in filled
            assert lake.data.equals(want.data.select(lake.data.column_names)) and lake.rejects == want.rejects, d
            assert lake.extra_field_lines == want.extra_field_lines, d
            assert got.rejects == want.rejects, d
            assert (got.lines_read, got.header_lines, got.extra_field_lines) == (want.lines_read, want.header_lines, want.extra_field_lines), d


def _flow_object(rnd: random.Random, headers: list[str]) -> bytes:
    """A flow-log object for grouping: one of ``headers``, sometimes repeated inside (concatenated
    objects), sometimes nothing after it, damaged lines, with or without a final newline."""
    header = rnd.choice(headers)
    lines = [header] + [_flow_line(rnd) for _ in range(rnd.choice([0, 1, 3, 20, 60]))]
    if len(lines) > 2 and rnd.random() < 0.2:
        lines.insert(rnd.randrange(2, len(lines)), header)
    data = ("\n".join(lines) + ("\n" if rnd.random() < 0.8 else "")).encode("utf-8")
    if rnd.random() < 0.1:
        at = rnd.randrange(len(data) + 1)
        data = data[:at] + rnd.choice([b"\xff", b"\xc3", b"\r", b"\t"]) + data[at:]
    return data


@pytest.mark.parametrize("seed", range(3))
def test_fuzz_flow_grouped_parse_equals_one_by_one(seed: int) -> None:
    """Ingest parses small flow objects with the same header together (``parse_vpcflow_many``):
    each gets exactly what it gets alone: rows, line numbers, rejects, header and line counts."""
    from pipeline.formats.vpcflow import flow_group_key, parse_vpcflow, parse_vpcflow_many

    rnd = random.Random(6000 + seed)
    default = " ".join(FLOW_DEFAULT_HEADER)
    reordered = " ".join([*FLOW_DEFAULT_HEADER[3:5], *FLOW_DEFAULT_HEADER[:3], *FLOW_DEFAULT_HEADER[5:]])
    headers = [default, default, default, reordered, default + " ", "version interface-id not-a-field"]
    grouped = 0
    for _ in range(_ROUNDS // 2):
        objects = [(_flow_object(rnd, headers), f"s3://b/k{i}") for i in range(rnd.randrange(2, 8))]
        by_key: dict[bytes, list[tuple[bytes, str]]] = {}
        for d, uri in objects:
            key = flow_group_key(d)
            if key is not None:
                by_key.setdefault(key, []).append((d, uri))
        for group in by_key.values():
            if len(group) < 2:
                continue
            grouped += len(group)
            uri_less = parse_vpcflow_many(group, uri_column=False)
            trimmed = parse_vpcflow_many(group, for_lake=True)  # as ingest calls it
            filled = {c for p in trimmed for c in p.data.column_names}
            for (d, uri), got, lean, lake in zip(group, parse_vpcflow_many(group), uri_less, trimmed, strict=True):
                want = parse_vpcflow(d, source_uri=uri)
                assert got.data.equals(want.data), d
                assert lean.data.equals(want.data.drop_columns(["source_uri"])), d
                # for the lake: the columns some row of the group fills, each object's values
                assert lake.data.column_names == [c for c in want.data.column_names if c in filled] and "source_uri" not in filled
                assert lake.data.equals(want.data.select(lake.data.column_names)), d
                assert all(want.data.column(c).null_count == want.data.num_rows for c in want.data.column_names if c not in filled | {"source_uri"})
                assert got.rejects == want.rejects == lean.rejects == lake.rejects, d
                assert (got.lines_read, got.header_lines, got.unknown_fields) == (want.lines_read, want.header_lines, want.unknown_fields), d
    assert grouped > 40  # the generator must keep producing groups


def test_join_objects_gives_each_objects_lines_as_if_counted_alone() -> None:
    """One join and one newline scan for a group: the same bytes and line offsets as joining and
    counting object by object (empty bodies, missing final newlines, blank lines, a head or none)."""
    from pipeline.formats.grouped import join_objects
    from pipeline.formats.lines import count_lines

    rnd = random.Random(5)
    for _ in range(300):
        bodies = [
            b"".join(rnd.choice([b"a b\n", b"\n", b"xyz", b" \n\n"]) for _ in range(rnd.randrange(0, 5)))
            for _ in range(rnd.randrange(1, 6))
        ]
        head = rnd.choice([b"", b"h1\n", b"h1\nh2\n"])
        joined, offsets = join_objects([memoryview(b) if rnd.random() < 0.5 else b for b in bodies], head)
        assert joined == head + b"".join(b if not b or b.endswith(b"\n") else b + b"\n" for b in bodies)
        want = [0]
        for b in bodies:
            want.append(want[-1] + count_lines(b))
        assert offsets == want, (bodies, head)


def test_flow_group_key_declines_what_is_parsed_as_a_whole() -> None:
    from pipeline.formats.vpcflow import _documented_header, flow_group_key

    _documented_header.cache_clear()
    header = " ".join(FLOW_DEFAULT_HEADER).encode()
    assert flow_group_key(header + b"\n" + _FLOW.encode() + b"\n") == header
    assert flow_group_key(header) == header
    for data in (
        b"",
        _FLOW.encode() + b"\n",  # no header: the caller's header, or an error naming the object
        b"\xef\xbb\xbf" + header + b"\n",  # BOM
        header + b"\r\n" + _FLOW.encode(),  # CRLF
        header + b" some-new-field\n",  # a field AWS does not document: warned about per object
        b"version \xff\n",
        b" ".join([header] * 3) + b"\n",  # fields named twice
        header + b" " + b"x" * 100_000,  # one long first line: declined before the header cache sees it
    ):
        assert flow_group_key(data) is None, data
    assert _documented_header.cache_info().currsize == 5  # the five first lines above, never the long one
    assert flow_group_key(header + b"\n" + _FLOW.encode() + b"\n") == header  # the cached answer is the same


def test_alb_grouped_parse_counts_unknown_trailing_fields_per_object() -> None:
    from pipeline.formats.alb import parse_alb, parse_alb_many

    plain = (_ALB_FULL + "\n").encode() * 3
    extra = (_ALB_FULL + ' "new-field" 7\n').encode() * 2 + (_ALB_FULL + "\n").encode()
    group = [(plain, "s3://b/a", None, None), (extra, "s3://b/b", "10.0.0.1", None), (plain, "s3://b/c", None, "app.x.1")]
    for lake in (False, True):
        got = [p.extra_field_lines for p in parse_alb_many(group, for_lake=lake)]
        assert got == [parse_alb(d, source_uri=u).extra_field_lines for d, u, *_ in group] == [0, 2, 0]


@pytest.mark.parametrize("seed", range(2))
def test_fuzz_parse_for_lake_is_parse_bytes_without_source_uri(seed: int) -> None:
    """Ingest's ``parse_bytes_for_lake`` leaves out ``source_uri`` and changes nothing else."""
    from pipeline.formats import parse_bytes, parse_bytes_for_lake

    rnd = random.Random(7000 + seed)
    makers = {"alb_access": _alb_line, "alb_connection": _conn_line, "vpc_flow": _flow_line}
    for _ in range(_ROUNDS // 4):
        table = rnd.choice(sorted(makers))
        data = _object(rnd, makers[table], " ".join(FLOW_DEFAULT_HEADER) if table == "vpc_flow" else None)
        try:
            want = parse_bytes(data, table, source_uri="s3://b/k", node_ip="10.0.0.1")  # type: ignore[arg-type]
        except FormatError:
            continue
        got = parse_bytes_for_lake(data, table, source_uri="s3://b/k", node_ip="10.0.0.1")  # type: ignore[arg-type]
        assert got.data.equals(want.data.drop_columns(["source_uri"])), data
        assert (got.rejects, got.lines_read, got.header_lines) == (want.rejects, want.lines_read, want.header_lines), data


def _single_damage_object(rnd: random.Random) -> tuple[bytes, bytes]:
    """(clean object, the same object with one line damaged): the clean one must take the CSV-only path."""
    from pipeline.formats.quoted_log import strict_tokens

    tokens = strict_tokens(_ALB_FULL)
    assert tokens is not None
    fields = [f'"{v}"' if quoted else v for v, quoted in tokens]
    clean_lines = [" ".join(fields[: rnd.choice([33, 33, 30, 22, 18])]) for _ in range(rnd.choice([1, 3, 12]))]
    lines = list(clean_lines)
    at = rnd.randrange(len(lines))
    damaged = lines[at]
    while damaged == lines[at]:
        damaged = _mutate(rnd, lines[at]) if rnd.random() < 0.6 else rnd.choice(
            [
                lines[at].replace('"-" "-"', '"-" b"c d"e', 1),  # quotes inside unquoted fields, balanced
                lines[at].replace(" TID_1234", ' T"ID', 1) + " ",  # a quote in a value and a trailing space
                lines[at].replace('"forward"', 'forward', 1).replace(" 1 ", ' 1"" ', 1),  # fewer quoted, an escaped pair
                lines[at].replace('"forward"', '"for""ward"', 1),  # an escaped quote in a quoted field
                lines[at].replace(" 0.001 ", "  ", 1) + " x",  # an empty field and one more at the end
                lines[at] + "  ",
                # one quoted field unquoted, two quotes inside an unquoted one, two trailing spaces:
                # each line's length and the object's quote count come out as for a clean line
                lines[at].replace('"forward"', "forward", 1).replace(" TID_1234", ' T"I"D', 1) + "  ",
            ]
        )  # fmt: skip
    lines[at] = damaged
    return ("\n".join(clean_lines) + "\n").encode(), ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("seed", range(3))
def test_fuzz_alb_one_damaged_line_in_a_clean_object(seed: int) -> None:
    """The CSV-only path (a whole object read by the CSV reader, no grammar regex) sends an
    object with any damaged line elsewhere: fast and careful agree line for line."""
    from pipeline.formats.alb import LAYOUT
    from pipeline.formats.quoted_log import tokenize_object

    rnd = random.Random(7000 + seed)
    for _ in range(_ROUNDS * 2):
        clean, data = _single_damage_object(rnd)
        assert tokenize_object(clean, LAYOUT).raw_lines is None, clean  # took the CSV-only path
        fast, fast_n = parse_alb_detailed(data, source_uri="s3://b/k")
        careful, careful_n = parse_alb_detailed(data, source_uri="s3://b/k", fast=False)
        assert fast.data.equals(careful.data), data
        assert fast.rejects == careful.rejects, data
        assert fast_n.to_list() == careful_n.to_list(), data
        assert fast.extra_field_lines == careful.extra_field_lines, data


@pytest.mark.parametrize(
    ("line", "values"),
    [
        (b'a "b c" d', ["a", "b c", "d"]),
        (b'a "" d', ["a", "", "d"]),
        (b'a "b""c" d', ["a", 'b"c', "d"]),  # an escaped pair: one quote in the value
        (b'a b"c d"e f', ["a", 'b"c', 'd"e', "f"]),  # quotes inside unquoted fields are kept
        (b"a  d", ["a", None, "d"]),  # a run of spaces: an empty (null) field
        (b" a d", [None, "a", "d"]),
        (b'a "b"c d', None),  # glued closing quote: refused
        (b'a "b c', None),  # unclosed: refused
    ],
)
def test_csv_reader_behaviour_the_csv_only_path_relies_on(line: bytes, values: list[str | None] | None) -> None:
    """``quoted_log._clean_object`` proves lines well-formed from what polars' CSV reader returns;
    this pins that reader's behaviour (a polars upgrade that changes it fails here)."""
    import polars as pl

    from pipeline.formats.quoted_log import Layout, _csv_rows

    frame = _csv_rows(line + b"\n", Layout(positions=("a", "b", "c", "d")))
    if values is None:
        assert frame is None
        return
    assert frame is not None
    got = frame.row(0)[: len(values)]
    assert list(got) == values and all(v is None for v in frame.row(0)[len(values) :])
    assert isinstance(frame, pl.DataFrame)

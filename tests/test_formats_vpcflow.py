"""VPC flow-log text parsing: malformed input of every kind, nothing lost, clear reasons.

Every case runs both the fast path and the forced careful path and requires the
same rows and rejects from each.
"""

from __future__ import annotations

import json

import pytest

from pipeline.errors import FormatError, UnknownHeaderError
from pipeline.formats import ParsedObject, parse_bytes
from pipeline.formats.vpcflow import parse_vpcflow_detailed
from pipeline.schema import FLOW_DEFAULT_HEADER, REJECT_RAW_MAX, VPC_FLOW_SCHEMA

HEADER = " ".join(FLOW_DEFAULT_HEADER)
OK1 = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK"
OK2 = "2 123456789010 eni-1 10.0.0.2 10.0.0.1 49152 443 6 8 5120 1700000000 1700000060 ACCEPT OK"
NODATA = "2 123456789010 eni-2 - - - - - - - 1700000000 1700000060 - NODATA"


def parse(data: bytes, header: str | None = None) -> ParsedObject:
    """Parse on both paths; they must agree. Returns the public parse_bytes result."""
    fast = parse_bytes(data, "vpc_flow", source_uri="s3://b/k", header=header)
    careful = parse_vpcflow_detailed(data, source_uri="s3://b/k", header=header, fast=False).parsed
    assert fast.data.equals(careful.data)
    assert fast.rejects == careful.rejects
    assert (fast.lines_read, fast.header_lines) == (careful.lines_read, careful.header_lines)
    assert fast.data.schema.equals(VPC_FLOW_SCHEMA)
    assert fast.lines_read == fast.data.num_rows + len(fast.rejects) + fast.header_lines
    return fast


def obj(*lines: str, end: str = "\n") -> bytes:
    return (end.join(lines) + end).encode()


def test_clean_object_types_and_order() -> None:
    p = parse(obj(HEADER, OK1, NODATA, OK2))
    rows = p.data.to_pylist()
    assert [r["source_line"] for r in rows] == [2, 3, 4]
    assert rows[0]["srcport"] == 443 and rows[0]["account_id"] == "123456789010" and rows[0]["bytes"] == 840
    assert rows[1]["log_status"] == "NODATA" and rows[1]["srcport"] is None and rows[1]["start"] == 1700000000
    assert rows[0]["start_time"].isoformat() == "2023-11-14T22:13:20+00:00"
    assert rows[0]["vpc_id"] is None  # not in this format


def test_wrong_field_count_is_a_reject_with_line_and_reason() -> None:
    short = "2 123456789010 eni-1 - - - - - - - 1700000000 1700000060 -"
    long = NODATA + " one-too-many"
    p = parse(obj(HEADER, OK1, short, long, OK2))
    assert [r.line for r in p.rejects] == [3, 4]
    assert p.rejects[0].reason == "line has 13 fields but the header names 14"
    assert p.rejects[1].reason == "line has 15 fields but the header names 14"
    assert p.rejects[0].raw == short
    assert [r["source_line"] for r in p.data.to_pylist()] == [2, 5]


def test_non_int_in_int_field() -> None:
    bad = OK1.replace(" 443 ", " 4x3 ")
    huge = OK1.replace(" 840 ", " 99999999999999999999 ")
    p = parse(obj(HEADER, bad, huge, OK2))
    assert [(r.line, r.reason) for r in p.rejects] == [
        (2, "srcport is not an integer: '4x3'"),
        (3, "bytes is not an integer: '99999999999999999999'"),
    ]
    assert p.data.num_rows == 1


def test_stray_quote_is_just_a_character() -> None:
    p = parse(obj(HEADER, OK1.replace("eni-1", 'eni-"1'), OK2))
    assert p.rejects == [] and p.data.column("interface_id").to_pylist() == ['eni-"1', "eni-1"]


def test_invalid_utf8_string_field_kept_int_field_rejected() -> None:
    in_string = OK1.encode().replace(b"eni-1", b"eni-\xff1")
    in_int = OK2.encode().replace(b" 443 ", b" 4\xfe3 ")
    p = parse(HEADER.encode() + b"\n" + in_string + b"\n" + in_int + b"\n")
    assert p.data.column("interface_id").to_pylist() == ["eni-\ufffd1"]
    assert [(r.line, r.reason) for r in p.rejects] == [(3, "dstport is not an integer: '4\ufffd3'")]


def test_empty_object_and_header_only() -> None:
    empty = parse(b"")
    assert (empty.lines_read, empty.data.num_rows, empty.rejects) == (0, 0, [])
    only = parse(obj(HEADER))
    assert (only.lines_read, only.header_lines, only.data.num_rows) == (1, 1, 0)
    no_newline = parse(HEADER.encode())
    assert (no_newline.lines_read, no_newline.header_lines) == (1, 1)


#: AWS's custom-format example (flow-log-records.html, "Traffic through a NAT gateway"),
#: its header with one field AWS does not document yet: the fields AWS adds (versions 3
#: to 11 so far) reach buckets before any parser knows them.
DRIFT_HEADER = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport "
    "pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-hash-id"
)
DRIFT_LINES = (
    "5 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 "
    "IPv4 10.40.1.175 10.40.2.236 39812 80 10.20.33.164 10.40.2.236 6 124 2 1563476000 1563476057 ACCEPT 3 OK 9f2c",
    "5 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 - eni-1235b8ca123456789 123456789010 "
    "IPv4 10.40.2.236 10.40.2.31 80 39812 10.40.2.236 10.20.33.164 6 5 1 1563476000 1563476057 ACCEPT 19 OK -",
)


@pytest.mark.parametrize("fast", [True, False])
def test_header_field_aws_does_not_document_is_kept(fast: bool) -> None:
    """Schema drift: the object parses, known columns as usual, the new field in extra_fields."""
    data = obj(DRIFT_HEADER, *DRIFT_LINES, DRIFT_LINES[0] + " surplus")
    p = parse_vpcflow_detailed(data, source_uri="s3://b/k", fast=fast).parsed
    assert p.unknown_fields == ("flow-hash-id",)
    rows = p.data.to_pylist()
    assert [r["pkt_srcaddr"] for r in rows] == ["10.20.33.164", "10.40.2.236"] and rows[0]["tcp_flags"] == 3
    assert rows[0]["instance_id"] == "i-01234567890123456" and rows[1]["instance_id"] is None
    assert [json.loads(r["extra_fields"]) for r in rows] == [{"flow-hash-id": "9f2c"}, {"flow-hash-id": None}]
    # more values than the header names stays a reject, with the reason
    assert [(r.line, r.reason) for r in p.rejects] == [(4, "line has 23 fields but the header names 22")]


def test_header_field_not_name_shaped_is_still_an_object_error() -> None:
    with pytest.raises(UnknownHeaderError, match="'Dst-Colour'"):
        parse_bytes(obj("version account-id Dst-Colour", "2 1 blue"), "vpc_flow", source_uri="s3://b/k", header="version account-id Dst-Colour")


def test_first_line_not_a_header() -> None:
    with pytest.raises(FormatError, match="first line is not a flow-log header"):
        parse_bytes(obj(OK1), "vpc_flow", source_uri="s3://b/k")
    with pytest.raises(FormatError):
        parse_bytes(obj("bogus!"), "vpc_flow", source_uri="s3://b/k")


def test_header_argument_for_headerless_lines_and_header_still_consumed() -> None:
    p = parse(obj(OK1, OK2), header=HEADER)
    assert (p.header_lines, p.data.num_rows) == (0, 2)
    p = parse(obj(HEADER, OK1), header=HEADER)
    assert (p.header_lines, p.data.num_rows) == (1, 1)
    custom = parse(obj("- eni-1 10.0.1.5 10.0.0.220"), header="instance-id interface-id srcaddr dstaddr")
    assert custom.data.to_pylist()[0]["instance_id"] is None


def test_crlf_and_missing_final_newline() -> None:
    p = parse(obj(HEADER, OK1, OK2, end="\r\n"))
    assert p.rejects == [] and p.data.column("log_status").to_pylist() == ["OK", "OK"]
    q = parse((HEADER + "\n" + OK1 + "\n" + OK2).encode())
    assert q.data.num_rows == 2 and q.data.column("source_line").to_pylist() == [2, 3]


def test_runs_of_spaces_are_one_separator() -> None:
    p = parse(obj(HEADER, OK1.replace(" eni-1 ", "  eni-1 "), " " + OK2 + " "))
    assert p.rejects == [] and p.data.column("interface_id").to_pylist() == ["eni-1", "eni-1"]


def test_empty_line_and_repeated_header() -> None:
    p = parse(obj(HEADER, OK1, "", HEADER, OK2))
    assert [(r.line, r.reason) for r in p.rejects] == [(3, "empty line")]
    assert p.header_lines == 2 and p.data.num_rows == 2


def test_all_string_format_does_not_turn_a_repeated_header_into_a_row() -> None:
    hdr = "instance-id interface-id srcaddr dstaddr"
    p = parse(obj(hdr, "i-1 eni-1 10.0.0.1 10.0.0.2", hdr, "i-2 eni-2 10.0.0.3 10.0.0.4"))
    assert p.data.column("instance_id").to_pylist() == ["i-1", "i-2"] and p.header_lines == 2


def test_reject_raw_is_cut() -> None:
    p = parse(obj(HEADER, "x" * (REJECT_RAW_MAX + 100)))
    assert len(p.rejects[0].raw) == REJECT_RAW_MAX


def test_nine_digit_epoch_and_out_of_range_epoch() -> None:
    p = parse(obj(HEADER, OK1.replace("1700000000", "164000066"), OK1.replace("1700000060", "99999999999999")))
    rows = p.data.to_pylist()
    assert rows[0]["start_time"].year == 1975 and rows[1]["end"] == 99999999999999 and rows[1]["end_time"] is None

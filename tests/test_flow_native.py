"""The compiled flow-log pass against the polars path: same rows, or it declines the object.

Objects use random documented headers (any order, any subset) and values at the edge of
what the pass vouches for: signs, leading zeros, 18 and 19 digits, epoch seconds outside
year 1970 .. 9999, ``-`` everywhere, quotes (data in flow logs), plus lines the pass
must decline (a repeated header, a run of spaces, a tab, a wider or narrower line,
non-ASCII, an empty line). Where the pass vouches for an object its table must equal the
polars path's; both outcomes must occur often.
"""

from __future__ import annotations

import random

import pytest

from pipeline.formats.flow_native import parse_vouched
from pipeline.formats.lines import count_lines, first_line
from pipeline.formats.vpcflow import parse_vpcflow_detailed
from pipeline.schema import FLOW_BY_AWS

_NAMES = list(FLOW_BY_AWS)
_INTS = ["0", "6", "443", "-1", "007", "-0", "999999999999999999", "9223372036854775807", "+5", "1.5", "x", "-",
         "1700000000", "253402300799", "253402300800", "-62135596800"]  # fmt: skip
_TEXTS = ["eni-0a1b", "10.0.0.1", "2001:db8::1", "ACCEPT", "REJECT", "OK", "NODATA", "-", '"q"', "a-b_c", "123456789012"]
_BAD = ["\t", "é", "  ", ""]


def _value(rnd: random.Random, kind: str) -> str:
    return rnd.choice(_INTS) if kind == "int" and rnd.random() < 0.25 else (
        str(rnd.randrange(0, 1 << 40)) if kind == "int" else rnd.choice(_TEXTS)
    )  # fmt: skip


def _object(rnd: random.Random) -> bytes:
    names = rnd.sample(_NAMES, rnd.randrange(1, 20)) if rnd.random() < 0.7 else _NAMES[:14]
    header = " ".join(names)
    lines = [header]
    for _ in range(rnd.choice([1, 2, 5])):
        values = [_value(rnd, FLOW_BY_AWS[n].kind) for n in names]
        line = " ".join(values)
        damage = rnd.random()
        if damage < 0.04:
            line = header
        elif damage < 0.08:
            line = line + " " + rnd.choice(["1", "x"])
        elif damage < 0.12 and len(values) > 1:
            line = " ".join(values[:-1])
        elif damage < 0.16:
            at = rnd.randrange(len(line) + 1)
            line = line[:at] + rnd.choice(_BAD) + line[at:]
        lines.append(line)
    return ("\n".join(lines) + ("\n" if rnd.random() < 0.8 else "")).encode()


@pytest.mark.parametrize("seed", range(3))
def test_compiled_flow_pass_equals_the_polars_path_or_declines(seed: int) -> None:
    rnd = random.Random(9100 + seed)
    vouched = declined = 0
    for _ in range(300):
        data = _object(rnd)
        ref = parse_vpcflow_detailed(data, source_uri="s3://b/f", compiled=False)
        header, rest = first_line(data)
        got = parse_vouched(data, header.split(" "), rest, 2, count_lines(data) - 1, source_uri="s3://b/f", uri_column=True)
        if got is None:
            declined += 1
            continue
        vouched += 1
        assert not ref.parsed.rejects and ref.parsed.header_lines == 1, data
        assert got.equals(ref.parsed.data), (data, [c for c in got.column_names if not got[c].equals(ref.parsed.data[c])])
        whole = parse_vpcflow_detailed(data, source_uri="s3://b/f").parsed
        assert whole.data.equals(got) and whole.lines_read == ref.parsed.lines_read
    assert vouched > 60 and declined > 60, (vouched, declined)


def test_compiled_flow_pass_reads_lines_without_a_header_from_the_given_fields() -> None:
    names = ["version", "srcaddr", "dstport", "start", "action"]
    data = b"2 10.0.0.1 443 1700000000 ACCEPT\n2 - - 253402300800 -"
    got = parse_vouched(data, names, 0, 1, 2, source_uri="s3://b/f", uri_column=False)
    assert got is not None
    ref = parse_vpcflow_detailed(data, source_uri="s3://b/f", header=" ".join(names), uri_column=False, compiled=False)
    assert got.equals(ref.parsed.data)
    assert got.column("start_time").null_count == 1  # past year 9999: no time, the seconds kept
    assert got.column("source_line").to_pylist() == [1, 2]

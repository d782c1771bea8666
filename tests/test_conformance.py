"""Every record of the shared AWS log conformance corpus, through the public parse path.

One case per record (id: ``<dir>/<file>:<line>-<record_type>``). Values are compared
with the records ``parse_lines_to_records`` yields (AWS field names); the row/reject
outcome and the line accounting are checked on ``parse_bytes`` too.

Corpus conventions applied here (see the corpus README):
- ``input_wrapper: json_message``: the record is the JSON object's ``message``; the
  wrapper comes from CloudWatch/Firehose exports, not S3 delivery, so it is unwrapped here.
- A VPC line with no ``format_header`` is parsed with the default (version 2) format.
- An expected key whose field the line does not carry must come back absent or null.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pytest
from conftest import CONFORMANCE

from pipeline.formats import parse_bytes, parse_lines_to_records
from pipeline.schema import FLOW_DEFAULT_HEADER

_OTHER_FORMAT_WORDS = {
    "nlb_access_log": "Network Load Balancer",
    "classic_elb_access_log": "Classic Load Balancer",
    "elb_test_file_marker": "test-file marker",
}


def _require_corpus() -> None:
    """Skip on a developer's machine without ../shared; in CI (``CI`` set) a missing corpus is a failure."""
    if CONFORMANCE.is_dir():
        return
    msg = f"conformance corpus not found at {CONFORMANCE}"
    if os.environ.get("CI"):
        pytest.fail(f"{msg}: CI must run beside ../shared", pytrace=False)
    pytest.skip(msg)


def _load() -> list[Any]:
    if not CONFORMANCE.is_dir():
        return [pytest.param(None, id="no-corpus")]
    cases = []
    for path in sorted(CONFORMANCE.glob("*/*.jsonl")):
        for no, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            rec = json.loads(text)
            cid = f"{path.parent.name}/{path.stem}:{no}-{rec['record_type']}"
            cases.append(pytest.param((path.parent.name, rec), id=cid))
    return cases


CASES = _load()


def test_corpus_is_complete() -> None:
    _require_corpus()
    assert len(CASES) == 242


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(want, got, rel_tol=0, abs_tol=1e-9)
    return type(want) is type(got) and want == got if want is not None else got is None


@pytest.mark.parametrize("case", CASES)
def test_record(case: tuple[str, dict[str, Any]] | None) -> None:
    _require_corpus()
    assert case is not None
    folder, rec = case
    rtype = rec["record_type"]
    line: str = rec["line"]
    if rec.get("input_wrapper") == "json_message":
        line = json.loads(line)["message"]
    if folder == "vpcflow":
        fmt, table = "vpcflow", "vpc_flow"
        header = rec.get("format_header") or " ".join(FLOW_DEFAULT_HEADER)
    elif rtype == "alb_connection_log":
        fmt, table, header = "alb-connection", "alb_connection", None
    else:
        fmt, table, header = "alb", "alb_access", None

    if rtype == "header_line":
        parsed = parse_bytes((line + "\n").encode(), "vpc_flow", source_uri="conformance")
        assert (parsed.header_lines, parsed.data.num_rows, parsed.rejects) == (1, 0, [])
        assert list(parse_lines_to_records([line], fmt)) == []
        return

    parsed = parse_bytes((line + "\n").encode(), table, source_uri="conformance", header=header)  # type: ignore[arg-type]
    assert parsed.lines_read == parsed.data.num_rows + len(parsed.rejects) + parsed.header_lines == 1
    records = list(parse_lines_to_records([line], fmt, header=header))
    assert len(records) == 1
    got = records[0]

    if rec.get("expected_error") or rec["expected"] is None:
        assert "error" in got, f"line should be rejected, parsed as {got}"
        assert got["line"] == 1 and got["error"]
        assert len(parsed.rejects) == 1 and parsed.rejects[0].reason == got["error"]
        if rtype in _OTHER_FORMAT_WORDS:
            assert _OTHER_FORMAT_WORDS[rtype] in got["error"]
        return

    assert "error" not in got, f"line rejected: {got.get('error')}"
    assert parsed.data.num_rows == 1
    diffs = {k: (want, got.get(k, "<absent>")) for k, want in rec["expected"].items() if not _same(want, got.get(k))}
    assert not diffs, f"field: (expected, got) {diffs}"
    # Every value the lake row holds must be the one the record shows.
    row = parsed.data.to_pylist()[0]
    assert row["source_line"] == 1 and row["source_uri"] == "conformance"


def _per_line(rows_and_rejects: Any) -> list[Any]:
    parsed = rows_and_rejects
    out: dict[int, Any] = {r.line: ("reject", r.reason) for r in parsed.rejects}
    for row in parsed.data.to_pylist():
        out[row.pop("source_line")] = ("row", row)
    return [out[i] for i in sorted(out)]


def test_whole_files_parse_like_single_lines() -> None:
    """Each corpus file as one object (fast path with mixed lines) == each line on its own."""
    _require_corpus()
    groups: dict[tuple[str, str | None], list[str]] = {}
    for path in sorted(CONFORMANCE.glob("*/*.jsonl")):
        for text in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(text)
            if rec["record_type"] in ("header_line", "alb_connection_log") or rec.get("input_wrapper"):
                continue
            header = (rec.get("format_header") or " ".join(FLOW_DEFAULT_HEADER)) if path.parent.name == "vpcflow" else None
            groups.setdefault((path.parent.name, header), []).append(rec["line"])
    assert len(groups) > 5
    for (folder, header), lines in groups.items():
        table = "vpc_flow" if folder == "vpcflow" else "alb_access"
        whole = parse_bytes(("\n".join(lines) + "\n").encode(), table, source_uri="conformance", header=header)  # type: ignore[arg-type]
        single = [
            _per_line(parse_bytes((ln + "\n").encode(), table, source_uri="conformance", header=header))[0]  # type: ignore[arg-type]
            for ln in lines
        ]
        assert _per_line(whole) == single, (folder, header)

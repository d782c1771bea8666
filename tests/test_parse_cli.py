"""`flowsleuth parse`: one JSON object per input line, from files, gzip and stdin."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA_SAMPLES, REPO

from pipeline.cli import main

UNIT = DATA_SAMPLES / "unit"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict], str]:
    code = main(["parse", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_flow_file_header_consumed(capsys: pytest.CaptureFixture[str]) -> None:
    code, records, _ = run_cli(capsys, "--format", "vpcflow", str(UNIT / "vpcflow-v2-default.log"))
    assert code == 0 and len(records) == 5
    assert records[0]["account-id"] == "123456789010" and records[0]["srcport"] == 20641
    assert records[2] == {
        "version": 2, "account-id": "123456789010", "interface-id": "eni-1235b8ca123456789", "srcaddr": None,
        "dstaddr": None, "srcport": None, "dstport": None, "protocol": None, "packets": None, "bytes": None,
        "start": 1431280876, "end": 1431280934, "action": None, "log-status": "NODATA",
    }  # fmt: skip


def test_alb_gzip_file_keys_and_extra(capsys: pytest.CaptureFixture[str]) -> None:
    code, records, _ = run_cli(capsys, "--format", "alb", str(UNIT / "alb-newest.log.gz"))
    assert code == 0 and len(records) == 2
    assert records[0]["client_ip"] == "2001:db8::7" and records[0]["error_reason"] is None
    assert records[0]["user_agent"] == "Mozilla/5.0 \\x22evil\\x22 <script>"
    assert records[1]["extra_fields"] == '198.51.100.4 "-" "-"' and "request_transform_status" in records[1]


def test_old_alb_shape_only_present_fields(capsys: pytest.CaptureFixture[str]) -> None:
    _, records, _ = run_cli(capsys, "--format", "alb", str(UNIT / "alb-2018-20fields.log"))
    assert list(records[0])[-1] == "chosen_cert_arn" and "matched_rule_priority" not in records[0]


def test_rejected_lines_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "mixed.log"
    lines = (UNIT / "vpcflow-v2-default.log").read_text().splitlines()
    src.write_text("\n".join([lines[0], lines[1], "2 123 eni-1 short", lines[2], ""]) + "\n")
    _, records, _ = run_cli(capsys, "--format", "vpcflow", str(src))
    assert [("error" in r) for r in records] == [False, True, False, True]
    assert records[1] == {"error": "line has 4 fields but the header names 14", "line": 3}
    assert records[3] == {"error": "empty line", "line": 5}


def test_header_option_for_headerless_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "nohdr.log"
    src.write_text("- eni-1235b8ca123456789 10.0.1.5 10.0.0.220\n")
    code, records, _ = run_cli(capsys, "--format", "vpcflow", "--header", "instance-id interface-id srcaddr dstaddr", str(src))
    assert code == 0 and records == [{"instance-id": None, "interface-id": "eni-1235b8ca123456789", "srcaddr": "10.0.1.5", "dstaddr": "10.0.0.220"}]


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "nohdr.log"
    src.write_text("2 123 eni-1\n")
    code, records, err = run_cli(capsys, "--format", "vpcflow", str(src))
    assert code == 1 and records == [] and "first line is not a flow-log header" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "--format", "vpcflow", "--header", "version bogus-field", str(src))
    assert code == 1 and "'bogus-field'" in err
    code, _, err = run_cli(capsys, "--format", "alb", str(tmp_path / "missing.log"))
    assert code == 1 and "no such file" in err
    code, _, err = run_cli(capsys, "--format", "alb", "--header", "version", str(src))
    assert code == 2


def test_stdin_through_the_installed_command() -> None:
    data = gzip.compress((UNIT / "alb-connection.log").read_bytes())
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "flowsleuth"), "parse", "--format", "alb-connection", "-"],
        input=data, capture_output=True, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["client_port"] for r in records] == [36280, 58206, 36281]


def test_batches_keep_line_numbers_and_header(tmp_path: Path) -> None:
    from pipeline.formats import parse_lines_to_records

    lines = (UNIT / "vpcflow-v2-default.log").read_text().splitlines()
    stream = [lines[0]] + [lines[1], "bad"] * 5
    records = list(parse_lines_to_records(stream, "vpcflow", batch_lines=3))
    assert len(records) == 10
    assert [r["line"] for r in records if "error" in r] == [3, 5, 7, 9, 11]
    assert all(r["srcport"] == 20641 for r in records if "error" not in r)

"""`flowsleuth report` from the command line: html, md, csv; bad input is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.lake import make_lake
from fixtures.payloads import PAYLOADS, payload_findings, payload_rows

from pipeline.cli import main


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lake(tmp_path_factory.mktemp("cli") / "lake", **payload_rows())


def _findings_file(tmp: Path) -> Path:
    path = tmp / "in" / "findings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([f.to_dict() for f in payload_findings()]))
    return path


def test_report_html_md_csv(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    findings = _findings_file(tmp_path)
    out = tmp_path / "out"
    assert main(["report", "--lake", str(lake), "--out", str(out), "--findings", str(findings)]) == 0
    assert f"report: {out / 'report.html'} (" in (printed := capsys.readouterr().out) and "incidents from 4 findings)" in printed
    page = (out / "report.html").read_text()
    assert page.count('class="card" id="finding-') == 4

    assert main(["report", "--lake", str(lake), "--out", str(out), "--findings", str(findings), "--format", "md"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "report.md").read_text() and "## Incidents, root cause first" in printed
    assert PAYLOADS[0] not in printed

    assert main(["report", "--lake", str(lake), "--out", str(out), "--findings", str(findings), "--format", "csv"]) == 0
    assert len((out / "findings.csv").read_text().strip().splitlines()) == 5
    assert (out / "incidents.csv").read_text().startswith("id,state,severity,title,root_cause")


def test_report_without_findings_runs_detectors(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--lake", str(lake), "--out", str(tmp_path / "out")]) == 0
    assert "report: " in capsys.readouterr().out
    assert "<h2>Overview</h2>" in (tmp_path / "out" / "report.html").read_text()


def test_report_errors_are_one_line(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--lake", str(lake), "--out", str(tmp_path), "--findings", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('[{"detector": "x"}]')
    assert main(["report", "--lake", str(lake), "--out", str(tmp_path), "--findings", str(bad)]) == 2
    assert "not a findings.json" in capsys.readouterr().err
    assert main(["report", "--lake", str(tmp_path / "no-lake"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err

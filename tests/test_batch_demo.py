"""`flowsleuth demo`: one command from a checkout, from any working directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.browser import visit

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the demo finds data-samples/ from the package, not the cwd
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    base = tmp_path / ".flowsleuth-demo"
    assert f"report: {base / 'report.html'}" in out and f"findings: {base / 'findings.json'}" in out
    findings = json.loads((base / "findings.json").read_text())["findings"]
    labels = json.loads((REPO / "data-samples" / "demo" / "labels.json").read_text())
    expected = {i["detector"] for i in labels["incidents"] if i.get("visible_in_logs", True) and i.get("detector")}
    assert expected & {f["detector"] for f in findings}  # the demo shows at least one labelled incident
    page = (base / "report.html").read_text()
    assert page.count('class="card" id="finding-') == len(findings)
    incidents = json.loads((base / "findings.json").read_text())["incidents"]
    assert page.count('<details class="incident" id="incident-') == len(incidents) <= len(findings)
    seen = visit(base / "report.html")  # the real report, in the browser
    assert seen.errors == [] and seen.requests == [] and seen.dialogs == []
    assert seen.figures == page.count('class="fig"') >= len(findings)


def test_demo_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "sample data not found" in err and err.count("\n") == 1

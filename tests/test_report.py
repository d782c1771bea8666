"""The report writers on a tiny lake whose log fields carry HTML/JS payloads.

``payload_lake`` and ``payload_findings`` are reused by the browser tests.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest
from fixtures.lake import make_lake
from fixtures.payloads import PAYLOADS, payload_findings, payload_rows, payload_topology

from pipeline.db import open_lake
from pipeline.report import render_markdown, write_csv, write_report
from pipeline.report.escaping import csv_cell, md, plot_text, script_json

    # fmt: on


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lake(tmp_path_factory.mktemp("lake") / "lake", **payload_rows())


def test_escaping_helpers() -> None:
    assert plot_text("<b>&") == "&lt;b&gt;&amp;"
    assert plot_text(3) == 3
    s = script_json({"a": "</script><!-- \u2028 & >"})
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s
    assert json.loads(s) == {"a": "</script><!-- \u2028 & >"}
    assert md("*x* <a>") == r"\*x\* \<a\>"
    assert md("10.0.0.1:443 at 2026-01-10T10:00:00Z") == "10.0.0.1:443 at 2026-01-10T10:00:00Z"  # readable
    assert "://" not in md("see https://evil.example") and "www." not in md("www.evil.example")
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(bad) == "'" + bad
    assert csv_cell("ok=1") == "ok=1"


def test_html_report_escapes_every_payload(lake: Path, tmp_path: Path) -> None:
    from pipeline.detect import load_detectors

    con = open_lake(lake)
    findings = payload_findings()
    path = write_report(con, findings, tmp_path, title=PAYLOADS[0], ingest_summary={"objects": 3, "rows": 99, "note": PAYLOADS[1]},
                        detect_notes=[PAYLOADS[2]], topology=payload_topology(), detectors=load_detectors())  # fmt: skip
    page = path.read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # plotly.js inline exactly once, no network URLs loaded
    assert page.count("<script>") == 2 and 'src="http' not in page and "cdn.plot.ly/plotly" not in page
    body = page[page.index("<body>") :]
    # the only <script> elements in the body are figure JSON blocks and the loader
    for payload in PAYLOADS:
        assert payload not in body.replace(html.escape(payload, quote=True), ""), payload
    assert body.count("<script") == body.count("</script>")
    assert len(re.findall(r'<script type="application/json" data-figure=', body)) == page.count('class="fig"')
    for f in findings:
        assert f'id="finding-{f.id}"' in page
    assert "x.log.gz line 7" in page and "value='s3://bucket/AWSLogs/x.log.gz'" in page  # name + line, full URI to copy
    # figures hold escaped labels only
    for block in re.findall(r'data-figure="[^"]+">(.*?)</script>', body):
        spec = json.loads(block)
        text = json.dumps(spec)
        assert "<script>" not in text and "<img" not in text and "<a href" not in text


def test_html_report_on_empty_lake(tmp_path: Path) -> None:
    con = open_lake(make_lake(tmp_path / "lake"))
    page = write_report(con, [], tmp_path / "out").read_text()
    assert "The lake is empty" in page and "No findings" in page


def test_markdown_escapes_and_ranks() -> None:
    text = render_markdown(payload_findings(), title="t", detect_notes=["note *x*"])
    assert re.search(r"(?<!\\)[<>\[\]]", text.replace("\\[", "").replace("\\]", "")) is None  # every < > [ ] escaped
    causes = text.split("## Incidents, root cause first")[1].split("## All findings")[0]
    assert causes.index("REJECT burst") < causes.index("5XX spike")  # critical before high
    assert r"note \*x\*" in text


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    f = payload_findings()[0]
    f.title, f.summary, f.hint = '=HYPERLINK("http://x")', "+cmd", "@SUM(1)"
    path = write_csv([f], tmp_path / "findings.csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0]["title"].startswith("'=") and rows[0]["summary"] == "'+cmd" and rows[0]["hint"] == "'@SUM(1)"
    assert rows[0]["id"] == f.id

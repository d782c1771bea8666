"""The report writers on a tiny lake whose log fields carry HTML/JS payloads.

``payload_lake`` and ``payload_findings`` are reused by the browser tests.
"""

from __future__ import annotations

import csv
import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lake_fixtures import make_lake

from pipeline.db import open_lake
from pipeline.findings import Finding, iso_utc
from pipeline.report import render_markdown, write_csv, write_report
from pipeline.report.escaping import csv_cell, md, plot_text, script_json
from pipeline.topology import Interface, Subnet, Topology

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    "&lt;b&gt;",
)
T0 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


def _alb_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def payload_rows() -> dict[str, list[dict[str, Any]]]:
    """Two hours of flow and ALB rows; payloads in host names, URLs, user agents, AZ and node fields."""
    flows, albs = [], []
    for minute in range(0, 120, 2):
        t = T0 + timedelta(minutes=minute)
        for j, az in enumerate(("use1-az1", "use1-az2", PAYLOADS[minute // 10 % len(PAYLOADS)] if minute % 10 == 0 else "use1-az4")):
            burst = 40 if 60 <= minute < 80 and j == 1 else 1
            for k in range(burst):
                flows.append(
                    {
                        "version": 5, "account_id": "123456789012", "interface_id": f"eni-{j}",
                        "srcaddr": "10.0.1.5", "dstaddr": PAYLOADS[k % len(PAYLOADS)] if burst > 1 else "10.0.2.9",
                        "srcport": 40000 + k, "dstport": 443, "protocol": 6, "packets": 3, "bytes": 180,
                        "start": int(t.timestamp()), "end": int(t.timestamp()) + 60,
                        "action": "REJECT" if burst > 1 else "ACCEPT", "log_status": "OK",
                        "subnet_id": f"subnet-{j}", "az_id": az,
                    }
                )  # fmt: skip
        flows.append({"interface_id": "eni-idle", "start": int(t.timestamp()), "end": int(t.timestamp()) + 60,
                      "log_status": "NODATA" if minute % 6 else "SKIPDATA", "version": 5})  # fmt: skip
        for j, node in enumerate(("10.0.0.10", "10.0.0.20", PAYLOADS[minute // 2 % len(PAYLOADS)])):
            code = 502 if 60 <= minute < 80 and j == 1 else 200
            albs.append(
                {
                    "type": "https", "time": _alb_time(t), "elb": "app/web/abc", "client_ip": "198.51.100.7",
                    "client_port": 5555, "target_ip": "10.0.2.9", "target_port": 8080,
                    "request_processing_time": 0.001, "target_processing_time": 0.02 + j / 100,
                    "response_processing_time": 0.0, "elb_status_code": code, "target_status_code": code,
                    "received_bytes": 100, "sent_bytes": 2000,
                    "request": f"GET https://{PAYLOADS[j]}:443/{PAYLOADS[3]} HTTP/1.1", "request_verb": "GET",
                    "request_url": f"https://shop.example.com/{PAYLOADS[minute // 2 % len(PAYLOADS)]}",
                    "request_proto": "HTTP/1.1", "user_agent": PAYLOADS[(minute // 2 + 1) % len(PAYLOADS)],
                    "domain_name": PAYLOADS[(minute // 2 + 2) % len(PAYLOADS)],
                    "node_ip": node, "load_balancer": "app.web.abc",
                }
            )  # fmt: skip
    return {"vpc_flow": flows, "alb_access": albs}


def payload_topology() -> Topology:
    return Topology(
        subnets=[Subnet(subnet_id="subnet-0", cidr="10.0.1.0/24", az_id="use1-az1")],
        interfaces=[Interface(interface_id="eni-1", private_ip="10.0.0.20", kind="alb", az_id="use1-az2")],
    )


def payload_findings() -> list[Finding]:
    """One finding per chart kind, with payloads in every free-text field."""
    w0, w1 = iso_utc(T0 + timedelta(hours=1)), iso_utc(T0 + timedelta(minutes=80))
    sample = {"source_uri": "s3://bucket/AWSLogs/x.log.gz", "source_line": 7, "user_agent": PAYLOADS[0], "url": PAYLOADS[3]}
    common = {"evidence": {"count": 400, "ratio": 12.5, "note": PAYLOADS[2], "samples": [sample]}, "hint": f"check {PAYLOADS[1]}"}
    # fmt: off
    return [
        Finding(detector="az_5xx_spike", severity="high", window_start=w0, window_end=w1,
                entity={"load_balancer": "app.web.abc", "az_id": PAYLOADS[4]}, title=f"5XX spike in {PAYLOADS[0]}",
                summary=f"502s from {PAYLOADS[3]}", **common),
        Finding(detector="reject_burst", severity="critical", window_start=w0, window_end=w1,
                entity={"dstaddr": PAYLOADS[1], "dstport": "443"}, title=f"REJECT burst {PAYLOADS[2]}",
                summary=PAYLOADS[4], **common),
        Finding(detector="asymmetric_flow", severity="medium", window_start=w0, window_end=w1,
                entity={"srcaddr": "10.0.1.5", "dstaddr": "10.0.2.9"}, title="asymmetric path",
                summary=PAYLOADS[0], **common),
        Finding(detector="unexpected_status", severity="low", window_start=w0, window_end=w1,
                entity={"target_ip": "10.0.2.9", "domain_name": PAYLOADS[0]}, title=PAYLOADS[3],
                summary="odd status", state="ongoing", **common),
    ]
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
    assert "s3://bucket/AWSLogs/x.log.gz line 7" in page
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

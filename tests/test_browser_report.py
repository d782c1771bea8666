"""The HTML report in a real browser (Debian's chromium through Playwright).

Every http(s) request is routed and aborted and counted; the page must draw every
figure with no JS error, no request out and no dialog, with the payloads planted in
log fields and findings shown as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures.browser import ARGS, CHROMIUM, visit
from fixtures.lake import make_lake
from fixtures.payloads import PAYLOADS, payload_findings, payload_rows, payload_topology

from pipeline.db import open_lake
from pipeline.incidents import correlate
from pipeline.report import write_report

pytestmark = pytest.mark.slow  # headless Chromium (CI runs it)


@pytest.fixture(scope="module")
def payload_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    from pipeline.detect import load_detectors
    from pipeline.report.html_page import render_html

    tmp = tmp_path_factory.mktemp("browser")
    con = open_lake(make_lake(tmp / "lake", **payload_rows()))
    kwargs: dict[str, Any] = dict(
        title=PAYLOADS[0], ingest_summary={"objects": 2, "note": PAYLOADS[1]}, detect_notes=[PAYLOADS[2]],
        topology=payload_topology(), detectors=load_detectors(),
    )  # fmt: skip
    _page, n = render_html(con, payload_findings(), **kwargs)
    return write_report(con, payload_findings(), tmp / "out", **kwargs), n


def test_chromium_is_installed() -> None:
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium (./dev test does)"


def test_report_draws_offline_without_errors(payload_report: tuple[Path, int]) -> None:
    path, n_figures = payload_report
    seen = visit(path)
    assert seen.errors == []
    assert seen.requests == []
    assert seen.dialogs == []
    assert seen.figures_at_load == 0  # every chart sits in a closed section until it is opened
    assert n_figures >= 7  # 4 overview + one per finding
    assert seen.figures == n_figures
    assert seen.live_markup == 0
    for payload in PAYLOADS:
        assert payload in seen.text, payload
    # plotly shows escaped labels as the literal characters (legend, ticks, Sankey nodes)
    # (unescaped, plotly would turn the <a> into a link and decode &lt;b&gt; into <b>)
    for payload in PAYLOADS:
        assert payload in seen.svg_text, payload


def test_a_report_with_a_live_payload_would_be_caught(tmp_path: Path) -> None:
    """The harness itself fails on an unescaped payload (so the tests above can fail)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><main><img src=x onerror=alert(1)></main><script>fetch('https://example.com/x')</script></body></html>")
    seen = visit(bad)
    assert seen.dialogs == ["1"] and seen.live_markup == 1
    assert seen.requests  # the fetch was seen and aborted


def test_a_report_with_500_findings_stays_usable(tmp_path: Path, record_property: Any) -> None:
    """Sections start closed and draw their chart when opened; time to interactive is reported, not asserted."""
    from datetime import datetime, timedelta

    from pipeline.findings import Finding, iso_utc

    con = open_lake(make_lake(tmp_path / "lake", **payload_rows()))
    base = payload_findings()
    def shifted(ts: str, i: int) -> str:  # two hours apart: nothing merges, 500 incidents
        return iso_utc(datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(hours=2 * i))

    many = [
        Finding(detector=f.detector, severity=f.severity, window_start=shifted(f.window_start, i),
                window_end=shifted(f.window_end, i), entity=f.entity, title=f"{f.title} #{i}", summary=f.summary,
                evidence=f.evidence, hint=f.hint)
        for i in range(125) for f in base
    ]  # fmt: skip
    assert len(many) == 500
    path = write_report(con, many, tmp_path / "out", topology=payload_topology())
    seen = visit(path, open_all=False)
    assert seen.errors == [] and seen.requests == [] and seen.dialogs == []
    assert seen.figures_at_load == 0 and seen.ready_ms is not None
    record_property("time_to_interactive_ms", round(seen.ready_ms))
    print(f"500 findings: {path.stat().st_size} bytes, interactive after {seen.ready_ms:.0f} ms")
    assert "#124" in seen.text  # every incident has its line at the top; its section starts collapsed
    assert len(correlate(many)) == 500

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:  # opening one incident draws its charts, and only those
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.route("http://**/*", lambda r: r.abort())
            page.route("https://**/*", lambda r: r.abort())
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.locator("details.incident > summary").first.click()
            page.wait_for_timeout(500)
            drawn = page.locator(".js-plotly-plot").count()
            inside = page.locator("details.incident").first.locator(".fig").count()
            assert drawn == inside >= 1
        finally:
            browser.close()

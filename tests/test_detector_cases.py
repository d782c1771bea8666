"""The small cases beside each detector: ``queries/<id>.tests.yaml``, rows in and findings out.

Each case builds a tiny lake from its rows, runs its detector (defaults, plus the case's
``params``) and compares the findings' windows and entity fields with ``expect``: an empty
list means the detector must stay silent. Every detector with a cases file has at least one
firing and one silent case; detectors still without one are listed in ``PENDING``.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.lake import make_lake

from pipeline.db import open_lake
from pipeline.detect import default_queries_dir, run_detectors

QUERIES = default_queries_dir()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CASE_FILES = sorted(QUERIES.glob("*.tests.yaml"))
#: detectors whose cases file is still to be written (the list may only shrink)
PENDING: set[str] = set()


def _rows(specs: list[dict[str, Any]], table: str = "vpc_flow") -> list[dict[str, Any]]:
    """Expand ``minute``, ``repeat``, ``{i}`` and ``step`` (``minute`` may step too) into flow or ALB rows."""
    out = []
    for spec in specs:
        spec = dict(spec)
        n, step = spec.pop("repeat", 1), spec.pop("step", {})
        minute = spec.pop("minute", None)
        for i in range(n):
            row = {k: v.format(i=i) if isinstance(v, str) else v for k, v in spec.items()}
            for col, k in step.items():
                if col != "minute":
                    row[col] = row[col] + k * i
            at = None if minute is None else T0 + timedelta(minutes=minute + step.get("minute", 0) * i)
            if table == "alb_access":
                if at is not None:
                    row.setdefault("time", at.isoformat())
                out.append(row)
                continue
            if at is not None:
                start = int(at.timestamp())
                row.setdefault("start", start)
                row.setdefault("end", start + 59)
            row.setdefault("packets", 1)
            row.setdefault("bytes", 60)
            out.append(row)
    return out


def _cases() -> list[Any]:
    out = []
    for path in CASE_FILES:
        det = path.name.removesuffix(".tests.yaml")
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            out.append(pytest.param(det, case, id=f"{det}: {case['name']}"))
    return out


def _check_case(tmp_path: Path, detector: str, case: dict[str, Any], queries_dir: Path | None = None) -> None:
    lake = make_lake(
        tmp_path / "lake",
        vpc_flow=_rows(case.get("vpc_flow", [])),
        alb_access=_rows(case.get("alb_access", []), "alb_access"),
    )
    con = open_lake(lake)
    try:
        res = run_detectors(
            con, detectors=[detector], params={detector: case.get("params") or {}}, infer_topology=False,
            queries_dir=queries_dir,
        )
    finally:
        con.close()
    assert not res.errors, res.errors
    got = [
        {
            "window_start": f.window_start,
            "window_end": f.window_end,
            "entity": {k: f.entity.get(k) for k in want["entity"]},
        }
        for f, want in zip(res.findings, case["expect"], strict=False)
    ]
    assert len(res.findings) == len(case["expect"]), [(f.window_start, f.entity) for f in res.findings]
    assert got == [
        {**w, "entity": {k: (None if v is None else str(v)) for k, v in w["entity"].items()}} for w in case["expect"]
    ]


@pytest.mark.parametrize(("detector", "case"), _cases())
def test_case(tmp_path: Path, detector: str, case: dict[str, Any]) -> None:
    _check_case(tmp_path, detector, case)


def test_readme_worked_example_detector_passes_its_cases(tmp_path: Path) -> None:
    """queries/README.md's example detector and its cases, as written there, beside the shipped ones."""
    text = (QUERIES / "README.md").read_text(encoding="utf-8").split("## Worked example", 1)[1]
    blocks = re.findall(r"```(sql|yaml)\n(.*?)```", text, re.S)
    sql = [b for kind, b in blocks if kind == "sql" and "\nid: " in b]
    cases = [b for kind, b in blocks if kind == "yaml" and b.startswith("cases:")]
    assert len(sql) == 1 and len(cases) == 1, "the worked example needs one detector and one cases block"
    detector = re.search(r"^id: (\w+)$", sql[0], re.M).group(1)  # type: ignore[union-attr]
    qdir = tmp_path / "queries"
    shutil.copytree(QUERIES, qdir)
    (qdir / f"{detector}.sql").write_text(sql[0], encoding="utf-8")
    parsed = yaml.safe_load(cases[0])["cases"]
    assert any(c["expect"] for c in parsed) and any(c["expect"] == [] for c in parsed)
    for i, case in enumerate(parsed):
        _check_case(tmp_path / str(i), detector, case, qdir)


def test_every_detector_has_a_firing_and_a_silent_case() -> None:
    ids = {p.stem for p in QUERIES.glob("*.sql")}
    offenders = []
    for det in sorted(ids - PENDING):
        path = QUERIES / f"{det}.tests.yaml"
        if not path.exists():
            offenders.append(f"{det}: no {path.name}")
            continue
        expects = [c.get("expect") for c in yaml.safe_load(path.read_text())["cases"]]
        if not any(expects):
            offenders.append(f"{path.name}: no case where the detector fires")
        if not any(e == [] for e in expects):
            offenders.append(f"{path.name}: no case where it stays silent")
    for det in sorted(PENDING):
        if (QUERIES / f"{det}.tests.yaml").exists():
            offenders.append(f"{det} has cases now: take it off PENDING")
    assert not offenders, "\n".join(offenders)

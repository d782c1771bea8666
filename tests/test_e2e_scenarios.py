"""End to end: every committed dataset, ingested and run through every detector, against its labels.

For each folder under ``data-samples/scenarios/`` and ``data-samples/demo/``:
- ingest it into a temporary lake with ``pipeline.ingest.ingest`` (once per dataset per module);
- run all detectors with ``pipeline.detect.run_detectors``, once with the dataset's
  ``topology.json`` and once without (topology inferred from the logs only);
- every incident labelled ``visible_in_logs: true`` must be found by its labelled detector
  with a finding whose window overlaps the labelled window and whose entity agrees with the
  label's entity on every key both carry (dstaddr, subnet_id, az_id, ...).

``data-samples/clean/`` must produce no finding of severity medium or above.

These tests pin the detectors to the committed samples only; ``bench/scorecard.py`` measures
how they generalise over fresh seeds (see docs/evaluation.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.db import open_lake
from pipeline.detect import run_detectors
from pipeline.findings import Finding, severity_rank
from pipeline.ingest import ingest
from pipeline.simulate.label_match import entity_conflicts, matches, overlaps, shared_keys
from pipeline.topology.model import Topology

DATA = Path(__file__).resolve().parents[1] / "data-samples"
SCENARIOS = sorted(p.parent.relative_to(DATA).as_posix() for p in (DATA / "scenarios").glob("*/labels.json"))
DATASETS = [*SCENARIOS, "demo"]
TOPOLOGY_MODES = ("with-topology", "no-topology")


def describe(f: Finding) -> str:
    return f"{f.detector} [{f.severity}] {f.window_start}..{f.window_end} {f.entity}"


@dataclass
class Lake:
    name: str
    root: Path
    lake: Path
    labels: dict[str, Any]
    topology: Topology
    summary: Any


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Lake]:
    """Ingest each dataset at most once per module (lazily, so -k selections stay cheap)."""
    class _Lazy(dict):
        def __missing__(self, name: str) -> Lake:
            root = DATA / name
            lake = tmp_path_factory.mktemp(name.replace("/", "-")) / "lake"
            summary = ingest([str(root)], lake, workers=2)
            assert summary.ok, f"ingest of {name} failed: {summary.failures[:5]}"
            assert summary.rows > 0, f"ingest of {name} produced no rows"
            entry = Lake(
                name=name, root=root, lake=lake,
                labels=json.loads((root / "labels.json").read_text()),
                topology=Topology.load(root / "topology.json"), summary=summary,
            )  # fmt: skip
            self[name] = entry
            return entry

    return _Lazy()


@pytest.fixture(scope="module")
def detected(lakes: dict[str, Lake]) -> Any:
    """(dataset, topology mode) -> DetectResult, computed once."""
    cache: dict[tuple[str, str], Any] = {}

    def get(name: str, mode: str) -> Any:
        if (name, mode) not in cache:
            entry = lakes[name]
            con = open_lake(entry.lake, threads=2, memory_limit="2GB")
            try:
                topo = entry.topology if mode == "with-topology" else None
                cache[name, mode] = run_detectors(con, topology=topo)
            finally:
                con.close()
        return cache[name, mode]

    return get


def _cases() -> list[Any]:
    cases = []
    for name in DATASETS:
        labels = json.loads((DATA / name / "labels.json").read_text())
        for i, inc in enumerate(labels["incidents"]):
            if not inc.get("visible_in_logs"):
                continue
            short = name.removeprefix("scenarios/")
            label = f"{short}-{inc['scenario']}-{inc['detector']}" if name == "demo" else f"{short}-{inc['detector']}"
            if inc.get("role") == "secondary":
                label += "-secondary"
            for mode in TOPOLOGY_MODES:
                cases.append(pytest.param(name, i, mode, id=f"{label}[{i}]-{mode}" if name == "demo" else f"{label}-{mode}"))
    return cases


CASES = _cases()


def test_every_dataset_is_covered() -> None:
    """The parametrisation really found the committed datasets (an empty glob must not pass)."""
    assert SCENARIOS, f"no scenario datasets under {DATA / 'scenarios'}"
    assert (DATA / "demo" / "labels.json").is_file()
    assert (DATA / "clean" / "labels.json").is_file()
    assert len(CASES) >= 2 * len(SCENARIOS) - 2, f"too few visible incidents: {[c.id for c in CASES]}"


@pytest.mark.parametrize(("dataset", "index", "mode"), CASES)
def test_labelled_incident_is_found(dataset: str, index: int, mode: str, lakes: dict[str, Lake], detected: Any) -> None:
    entry = lakes[dataset]
    incident = entry.labels["incidents"][index]
    result = detected(dataset, mode)
    det = incident["detector"]
    if any(f.detector == det and matches(f, incident) for f in result.findings):
        return
    own = [f for f in result.findings if f.detector == det]
    lines = [
        f"{dataset} ({mode}): no {det} finding matches the labelled incident",
        f"  expected: {det} overlapping {incident['window_start']}..{incident['window_end']} "
        f"with entity agreeing on {incident['entity']}",
    ]
    if det in result.skipped:
        lines.append(f"  {det} did not run: {[n for n in result.notes if det in n]}")
    if any(det in e for e in result.errors):
        lines.append(f"  {det} failed: {[e for e in result.errors if det in e]}")
    if own:
        lines.append(f"  {det} findings ({len(own)}):")
        for f in own[:10]:
            why = []
            if not overlaps(f, incident):
                why.append("window does not overlap")
            if not shared_keys(f, incident):
                why.append("no entity key in common with the label")
            if conflicts := entity_conflicts(f, incident):
                why.append(f"entity differs (label, found): {conflicts}")
            lines.append(f"    {describe(f)}  <- {'; '.join(why)}")
    else:
        lines.append(f"  {det} produced no findings at all")
    others = [f for f in result.findings if f.detector != det]
    if others:
        lines.append(f"  other findings ({len(others)}):")
        lines += [f"    {describe(f)}" for f in others[:10]]
    if result.notes:
        lines.append(f"  notes: {result.notes}")
    pytest.fail("\n".join(lines))


@pytest.mark.parametrize("mode", TOPOLOGY_MODES)
def test_clean_dataset_stays_quiet(mode: str, lakes: dict[str, Lake], detected: Any) -> None:
    result = detected("clean", mode)
    assert not result.errors, f"detectors failed on clean: {result.errors}"
    loud = [f for f in result.findings if severity_rank(f.severity) >= severity_rank("medium")]
    low = [f for f in result.findings if f.severity == "low"]
    if loud:
        lines = [f"clean ({mode}): expected no finding of severity medium or above, found {len(loud)}:"]
        lines += [f"  {describe(f)}\n    {f.summary}" for f in loud[:20]]
        if low:
            lines.append(f"and {len(low)} low:")
            lines += [f"  {describe(f)}" for f in low[:20]]
        pytest.fail("\n".join(lines))


@pytest.mark.parametrize("mode", TOPOLOGY_MODES)
def test_every_detector_runs_on_the_demo(mode: str, detected: Any) -> None:
    """No detector errors out, and none is skipped as 'cannot run', on the v5 demo data."""
    result = detected("demo", mode)
    assert not result.errors, f"detector errors on demo ({mode}): {result.errors}"
    assert result.ran, f"no detector ran on demo ({mode}); notes: {result.notes}"


def test_matching_rules_can_fail() -> None:
    """The matcher rejects wrong detector, disjoint window and conflicting entity."""
    inc = {"detector": "reject_burst", "window_start": "2025-06-10T06:00:00Z", "window_end": "2025-06-10T07:00:00Z",
           "entity": {"dstaddr": "8.8.8.8", "dstport": "443"}}  # fmt: skip

    def f(det: str = "reject_burst", ws: str = "2025-06-10T06:30:00Z", we: str = "2025-06-10T06:35:00Z", **ent: str) -> Finding:
        return Finding(detector=det, severity="high", window_start=ws, window_end=we, entity=ent or {"dstaddr": "8.8.8.8"},
                       title="t", summary="s")  # fmt: skip

    assert matches(f(), inc)
    assert not matches(f(det="port_scan"), inc)
    assert not matches(f(ws="2025-06-10T07:00:00Z", we="2025-06-10T07:05:00Z"), inc)
    assert not matches(f(dstaddr="1.1.1.1"), inc)
    assert not matches(f(interface_id="eni-1"), inc)  # nothing in common: cannot tell it is the same thing


def _primary_labels(labels: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in labels["incidents"] if i.get("visible_in_logs") and i.get("role", "primary") == "primary"]


@pytest.mark.parametrize("mode", TOPOLOGY_MODES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_one_incident_per_labelled_incident(dataset: str, mode: str, lakes: dict[str, Lake], detected: Any) -> None:
    """Findings correlate into exactly one incident per labelled incident, rooted at the labelled cause.

    Secondary labels (a symptom of the same fault, e.g. the ALB 504s of a NACL missing its
    return rule) must be members of their primary's incident, not incidents of their own.
    """
    from pipeline.incidents import correlate

    entry = lakes[dataset]
    result = detected(dataset, mode)
    incidents = correlate(result.findings)
    by_id = {f.id: f for f in result.findings}
    primaries = _primary_labels(entry.labels)
    lines = [f"{dataset} ({mode}): {len(incidents)} incidents for {len(primaries)} labelled incidents"]
    lines += [f"  {i.id} root {describe(by_id[i.root_cause])} members {len(i.members)}" for i in incidents]
    assert len(incidents) == len(primaries), "\n".join(lines)
    for label in primaries:
        rooted = [i for i in incidents if matches(by_id[i.root_cause], label)]
        assert len(rooted) == 1, "\n".join([*lines, f"  no single incident rooted at {label['detector']} {label['entity']}"])
        for sec in entry.labels["incidents"]:
            if sec.get("role") == "secondary" and sec.get("scenario") == label["scenario"] and sec.get("visible_in_logs"):
                assert any(matches(by_id[m], sec) for m in rooted[0].members), "\n".join([*lines, f"  secondary {sec} not in it"])

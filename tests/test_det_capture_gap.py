"""capture_gap: SKIPDATA runs and busy interfaces going silent; not idle NODATA or the odd SKIPDATA."""

from __future__ import annotations

import random
from pathlib import Path

from fixtures.flow_world import Recorder, background, detect_on, iso_minute, make_env, minute

DET = "capture_gap"


def test_fires_on_silence_of_a_busy_interface(tmp_path: Path) -> None:
    env = make_env(61)
    flows, alb = background(env, hours=2.5)
    victim = env.targets[2]
    quiet = [r for r in flows if not (r["interface_id"] == victim.eni and minute(90) <= r["start"] < minute(120))]
    result = detect_on(tmp_path / "lake", quiet, alb, DET)
    assert [(f.entity, f.evidence["kind"]) for f in result.findings] == [
        ({"interface_id": victim.eni, "subnet_id": victim.subnet_id, "az_id": victim.az_id}, "silence")
    ]
    assert result.findings[0].window_start == iso_minute(90) and result.findings[0].window_end == iso_minute(120)


def test_fires_on_skipdata_run(tmp_path: Path) -> None:
    env = make_env(62)
    flows, alb = background(env, hours=2.5)
    rec = Recorder(env, random.Random(1), False)
    for m in range(130, 134):
        rec.status(env.alb_nodes[2], minute(m), "SKIPDATA")
    result = detect_on(tmp_path / "lake", flows + rec.rows, alb, DET)
    assert [(f.entity["interface_id"], f.evidence["kind"], f.evidence["skipdata_records"]) for f in result.findings] == [
        (env.alb_nodes[2].eni, "skipdata", 4)
    ]
    assert result.findings[0].window_start == iso_minute(130)


def test_gap_overlap_is_attached_to_other_findings(tmp_path: Path) -> None:
    """The runner marks a finding on the same interface during a gap as possibly an artefact."""
    from fixtures.flow_world import deny_rows

    env = make_env(63)
    flows, alb = background(env, hours=2.5)
    inst = env.targets[1]
    rec = Recorder(env, random.Random(2), False)
    for m in range(100, 104):
        rec.status(inst, minute(m), "SKIPDATA")
    rows = deny_rows(env, "198.51.100.99", 100, 110, hosts=[inst], per_min=3)
    result = detect_on(tmp_path / "lake", flows + rec.rows + rows, alb, None)
    burst = [f for f in result.findings if f.detector == "reject_burst"]
    assert len(burst) == 1 and burst[0].evidence["capture_gap_overlap"][0]["entity"]["interface_id"] == inst.eni
    assert "capture gap" in burst[0].summary


def test_silent_when_all_interfaces_stop_and_on_idle_nodata(tmp_path: Path) -> None:
    """Delivery stopping for everyone is not one interface's gap; idle NODATA all day is normal."""
    env = make_env(64)
    flows, alb = background(env, hours=2.5)
    gap = [r for r in flows if not (minute(90) <= r["start"] < minute(120))]
    assert detect_on(tmp_path / "lake", gap, alb, DET).findings == []

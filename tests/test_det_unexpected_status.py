"""unexpected_status: targets answering a non-standard status code at volume."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.alb_world import T0, Env, background, make_env, run_detector

DET = "unexpected_status"
INCIDENT = (T0 + timedelta(minutes=60), T0 + timedelta(minutes=85))


def targets_answer(code: int, *, az: int | None = None, then_503_after: int | None = None) -> Any:
    """During the incident the targets (of one AZ, or all) answer ``code``; optionally the
    ALB later marks them all unhealthy and answers 503 itself."""

    def override(env: Env, t: datetime, node: int, target: tuple[str, str, str, int]) -> Any:
        if not INCIDENT[0] <= t < INCIDENT[1]:
            return None
        if then_503_after is not None and t >= INCIDENT[0] + timedelta(minutes=then_503_after):
            return 503, None, None
        if az is None or target[3] == az:
            return code, code, target
        return None

    return override


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.parametrize(("seed", "code"), [(2, 299), (4, 599), (6, 209)])
def test_fires_on_every_target_answering_a_non_standard_code(tmp_path: Path, seed: int, code: int) -> None:
    env = make_env(seed)
    tr = background(env, 120, status_override=targets_answer(code, then_503_after=15), alb_flows=False)
    findings, _ = run_detector(tr.lake(tmp_path), DET)
    targets = {f"{ip}:{env.app_port}" for ip, *_ in env.targets}
    assert {f.entity["target"] for f in findings} == targets
    for f in findings:
        assert f.entity["target_status_code"] == str(code)
        assert f.entity["load_balancer"] == env.elb
        assert INCIDENT[0] <= _t(f.window_start) < INCIDENT[1]
        assert _t(f.window_end) <= INCIDENT[1] + timedelta(minutes=5)
        assert f.evidence["elb_generated_503"] > 0
        assert f.evidence["samples"] and all("source_uri" in s for s in f.evidence["samples"])


def test_fires_only_for_the_affected_targets(tmp_path: Path) -> None:
    env = make_env(8)
    tr = background(env, 120, status_override=targets_answer(299, az=2), alb_flows=False)
    findings, _ = run_detector(tr.lake(tmp_path), DET)
    expected = {f"{ip}:{env.app_port}" for ip, _, _, a in env.targets if a == 2}
    assert {f.entity["target"] for f in findings} == expected
    assert len(findings) == len(expected), "consecutive windows must merge into one finding"


def test_silent_on_noisy_healthy_baseline(tmp_path: Path) -> None:
    """Ordinary 4xx, sporadic 5xx, redirects, 201/204: all standard."""
    env = make_env(10)
    findings, _ = run_detector(background(env, 120, alb_flows=False).lake(tmp_path), DET)
    assert findings == []


def test_silent_on_standard_error_codes_at_volume(tmp_path: Path) -> None:
    """A 500 storm is az_5xx_spike's business, not a non-standard code."""
    env = make_env(12)
    tr = background(env, 120, status_override=targets_answer(500), alb_flows=False)
    findings, _ = run_detector(tr.lake(tmp_path), DET)
    assert findings == []


def test_silent_on_rare_non_standard_code(tmp_path: Path) -> None:
    env = make_env(14)

    def rare(env: Env, t: datetime, node: int, target: Any) -> Any:
        return (299, 299, target) if env.rng.random() < 0.01 else None

    findings, _ = run_detector(background(env, 120, status_override=rare, alb_flows=False).lake(tmp_path), DET)
    assert findings == []


def test_param_standard_codes_accepts_a_private_code(tmp_path: Path) -> None:
    env = make_env(16)
    tr = background(env, 120, status_override=targets_answer(299), alb_flows=False)
    lake = tr.lake(tmp_path)
    assert run_detector(lake, DET)[0], "must fire with the default set"
    findings, _ = run_detector(lake, DET, params={"standard_codes": [200, 299, 404, 500, 502, 503, 504]})
    assert findings == []


@pytest.mark.slow
def test_scenario_health_check_299(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The simulator's labelled incident, ingested, is found with the labelled entity."""
    from fixtures.alb_world import check_scenario

    check_scenario("health_check_299", DET, tmp_path_factory)

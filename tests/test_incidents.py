"""Correlation of findings into incidents: the rules file, grouping, linking, stable ids.

The committed datasets (one incident per labelled incident) are checked end to end in
tests/test_e2e_scenarios.py; these tests pin each rule on hand-made findings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.detect import load_detectors
from pipeline.errors import DetectorError
from pipeline.findings import Finding
from pipeline.incidents import correlate, default_rules_path, incident_of, load_rules

REPO = Path(__file__).resolve().parents[1]
DETECTOR_IDS = sorted(d.id for d in load_detectors())


def finding(detector: str, start: str, end: str, severity: str = "high", **entity: str) -> Finding:
    return Finding(
        detector=detector, severity=severity, window_start=f"2025-06-10T{start}:00Z", window_end=f"2025-06-10T{end}:00Z",
        entity=entity, title=f"{detector} title", summary=f"{detector} summary", hint=f"{detector} hint",
    )  # fmt: skip


LB = "app/web/1"
TG = "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web/2"


def test_every_detector_has_a_rule_and_every_rule_a_detector() -> None:
    rules = load_rules()
    assert sorted(rules.detectors) == DETECTOR_IDS
    entity = {d.id: set(d.entity) for d in load_detectors()}
    unknown = {det: sorted(set(r.same) - entity[det]) for det, r in rules.detectors.items() if set(r.same) - entity[det]}
    assert not unknown, f"'same' keys that are not entity columns: {unknown}"
    place_keys = {k for keys in rules.places.values() for k in keys}
    every_entity_key = set().union(*entity.values())
    assert place_keys <= every_entity_key, sorted(place_keys - every_entity_key)


def test_no_python_names_a_detector() -> None:
    """The correlation rules live in data: the correlation module must not name any detector id."""
    text = (REPO / "pipeline" / "incidents.py").read_text()
    named = [d for d in DETECTOR_IDS if re.search(rf"\b{d}\b", text)]
    assert not named, f"pipeline/incidents.py names detectors {named}; put the rule in queries/incidents.yaml"


def test_bad_rules_file_names_every_problem(tmp_path: Path) -> None:
    raw = yaml.safe_load(default_rules_path().read_text())
    raw["detectors"]["reject_burst"]["role"] = "culprit"
    raw["match_on"].append("planet")
    raw["merge_gap_minutes"] = -1
    path = tmp_path / "incidents.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DetectorError) as e:
        load_rules(path)
    assert "reject_burst: role" in str(e.value) and "'planet'" in str(e.value) and "merge_gap_minutes" in str(e.value)


def test_targets_of_one_target_group_are_one_incident() -> None:
    """A rolling deploy answering 299 on ten targets: one incident with ten members."""
    fs = [
        finding("unexpected_status", f"06:{30 + i}", f"06:{40 + i}", target=f"10.0.1.{i}:80", target_status_code="299",
                load_balancer=LB, target_group_arn=TG)
        for i in range(10)
    ]  # fmt: skip
    (inc,) = correlate(fs)
    assert len(inc.members) == 10 and inc.root_detector == "unexpected_status"
    assert inc.window_start == "2025-06-10T06:30:00Z" and inc.window_end == "2025-06-10T06:49:00Z"
    assert inc.targets == sorted({f"10.0.1.{i}" for i in range(10)} | {f"10.0.1.{i}:80" for i in range(10)})


def test_same_entity_far_apart_or_different_is_two_incidents() -> None:
    fs = [
        finding("unanswered_flow", "09:45", "09:50", dstaddr="172.25.10.190", dstport="80"),
        finding("unanswered_flow", "10:35", "10:45", dstaddr="172.25.10.190", dstport="80"),  # 45 min later
        finding("unanswered_flow", "09:45", "09:50", dstaddr="172.25.10.191", dstport="80"),  # another server
    ]
    assert len(correlate(fs)) == 3


def test_adjacent_windows_merge() -> None:
    fs = [
        finding("reject_burst", "06:00", "06:10", dstaddr="8.8.8.8", dstport="443"),
        finding("reject_burst", "06:15", "06:20", dstaddr="8.8.8.8", dstport="443", subnet_id="subnet-a"),
    ]
    (inc,) = correlate(fs)
    assert len(inc.members) == 2 and inc.subnets == ["subnet-a"]


def test_symptom_joins_its_cause() -> None:
    """A NACL missing its return rule: the 504 spike in that AZ is a symptom of the REJECTs."""
    cause = finding("return_traffic_reject", "06:30", "06:55", subnet_id="subnet-a", az_id="apse2-az2", srcport="9000",
                    srcaddr="10.0.1.5")  # fmt: skip
    symptom = finding("az_5xx_spike", "06:31", "06:36", az_id="apse2-az2", load_balancer=LB, elb_status_code="504")
    other_az = finding("az_5xx_spike", "06:31", "06:36", az_id="apse2-az3", load_balancer=LB, elb_status_code="504")
    incidents = correlate([symptom, other_az, cause])
    assert len(incidents) == 2
    linked = incident_of(incidents)[cause.id]
    assert linked.root_cause == cause.id and linked.members == [cause.id, symptom.id] and linked.symptoms == [symptom.id]
    assert linked.azs == ["apse2-az2"] and linked.load_balancers == [LB]
    assert incident_of(incidents)[other_az.id].root_cause == other_az.id  # nothing explains it: its own root


def test_unanswered_connections_join_the_reject_burst_to_that_address() -> None:
    cause = finding("reject_burst", "06:00", "06:30", dstaddr="8.8.8.8", dstport="443")
    symptom = finding("unanswered_flow", "06:05", "06:10", dstaddr="8.8.8.8", dstport="443")
    late = finding("unanswered_flow", "08:05", "08:10", dstaddr="8.8.8.8", dstport="443")  # outside the window
    incidents = correlate([cause, symptom, late])
    assert [len(i.members) for i in incidents] == [2, 1]


def test_causes_never_merge_with_each_other() -> None:
    """Two faults in one AZ at the same time stay two incidents."""
    a = finding("asymmetric_flow", "07:25", "08:15", srcaddr="10.0.0.9", srcport="443", az_id="euw1-az1", subnet_id="subnet-a")
    b = finding("endpoint_bypass", "08:05", "08:45", severity="medium", subnet_id="subnet-b", az_id="euw1-az1",
                pkt_dst_aws_service="DYNAMODB")  # fmt: skip
    assert len(correlate([a, b])) == 2


def test_symptom_takes_the_best_matching_cause() -> None:
    weak = finding("endpoint_bypass", "06:00", "07:00", az_id="euw1-az1", subnet_id="subnet-x", pkt_dst_aws_service="S3")
    strong = finding("return_traffic_reject", "06:20", "06:40", az_id="euw1-az1", subnet_id="subnet-t", srcport="80")
    symptom = finding("az_5xx_spike", "06:25", "06:30", az_id="euw1-az1", subnet_id="subnet-t", load_balancer=LB)
    assert incident_of(correlate([weak, strong, symptom]))[symptom.id].root_cause == strong.id


def test_ids_are_stable_and_every_finding_is_in_exactly_one_incident() -> None:
    fs = [
        finding("capture_gap", "06:00", "06:20", severity="low", interface_id="eni-1"),
        finding("port_scan", "06:00", "06:05", srcaddr="198.51.100.7"),
        finding("az_5xx_spike", "06:02", "06:07", az_id="euw1-az1", load_balancer=LB),
        finding("brand_new_detector", "06:02", "06:07", thing="x"),
    ]
    first, second = correlate(fs), correlate(list(reversed(fs)))
    assert [i.to_dict() for i in first] == [i.to_dict() for i in second]
    members = [m for i in first for m in i.members]
    assert sorted(members) == sorted(f.id for f in fs)
    assert len(first) == 4  # standalone detectors and an unknown one never link
    assert all(i.id.startswith("inc-") for i in first)

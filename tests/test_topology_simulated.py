"""The topology against the simulator's ground truth: inference from the ingested logs
agrees with its topology.json, and every labelled configuration fault gets a hint that
names it (and the same environment without the fault gets none).

Uses the committed data-samples when present, else generates the same scenarios small
in a temp dir; either way the real simulate -> ingest -> infer path runs.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA_SAMPLES

from pipeline.db import open_lake
from pipeline.findings import Finding
from pipeline.ingest import ingest
from pipeline.simulate import generate
from pipeline.topology import Topology, config_hints, enrich_finding, infer_from_lake, merge
from pipeline.topology.lookup import Resolver

#: scenario -> text the primary incident's hint must contain
EXPECTED_HINT = {
    "asymmetric_route": "→ nat-",
    "nacl_ephemeral": "no rule allows the ephemeral range",
    "endpoint_route_missing": "but not with rtb-",
    "nacl_deny_destination": "by rule 90 (deny",
    "tgw_route_missing": "transit gateway's route table has no route covering",
}


def dataset(tmp: Path, scenario: str) -> Path:
    """The committed sample for ``scenario`` if there is one, else a small generated one."""
    committed = {"clean": DATA_SAMPLES / "clean", "mixed": DATA_SAMPLES / "demo"}.get(scenario, DATA_SAMPLES / "scenarios" / scenario)
    if (committed / "topology.json").is_file() and (committed / "AWSLogs").is_dir():
        return committed
    return generate(scenario, tmp / scenario, seed=7, duration=timedelta(minutes=20), scale=0.1)


def _finding(incident: dict[str, Any]) -> Finding:
    return Finding(
        detector=incident["detector"], severity="high", window_start=incident["window_start"],
        window_end=incident["window_end"], entity=incident["entity"], title="t", summary="s",
    )  # fmt: skip


def _primary(ds: Path) -> dict[str, Any]:
    return json.loads((ds / "labels.json").read_text())["incidents"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("scenario", ["mixed", "asymmetric_route"])
def test_inference_agrees_with_simulator_topology(tmp_path: Path, scenario: str) -> None:
    ds = dataset(tmp_path, scenario)
    ingest([str(ds)], tmp_path / "lake")
    inferred = infer_from_lake(open_lake(tmp_path / "lake", threads=1, memory_limit="1GB"))
    truth = {i.interface_id: i for i in Topology.load(ds / "topology.json").interfaces}
    checked = 0
    for i in inferred.interfaces:
        t = truth[i.interface_id]  # inference never invents interfaces
        if t.private_ip:
            assert i.private_ip == t.private_ip, i
        if i.subnet_id:
            assert (i.subnet_id, i.az_id) == (t.subnet_id, t.az_id), i
        if i.subnet_id and t.kind in ("alb", "nat", "instance"):
            assert i.kind == t.kind, (i, t.kind)
            checked += 1
    assert {"alb", "nat", "instance"} <= {i.kind for i in inferred.interfaces if i.subnet_id} and checked >= 5


@pytest.fixture(scope="module")
def clean_topology(tmp_path_factory: pytest.TempPathFactory) -> Topology:
    return Topology.load(dataset(tmp_path_factory.mktemp("clean"), "clean") / "topology.json")


@pytest.mark.parametrize("scenario", sorted(EXPECTED_HINT))
def test_labelled_fault_gets_a_configuration_hint(tmp_path: Path, scenario: str, clean_topology: Topology) -> None:
    ds = dataset(tmp_path, scenario)
    f = _finding(_primary(ds))
    hints = config_hints(f, Topology.load(ds / "topology.json"))
    assert any(EXPECTED_HINT[scenario] in h for h in hints), hints
    assert all(h.startswith("the logs show ") and "; the configuration snapshot (simulator" in h for h in hints)
    # The same environment without the fault: the hint must not appear.
    assert not any(EXPECTED_HINT[scenario] in h for h in config_hints(f, clean_topology))


def test_enrichment_names_az_of_labelled_entity(tmp_path: Path) -> None:
    ds = dataset(tmp_path, "asymmetric_route")
    primary = _primary(ds)
    f = enrich_finding(_finding({**primary, "entity": {"node_ip": primary["entity"]["node_ip"]}}), Resolver(merge(Topology.load(ds / "topology.json"))))
    assert f.entity["az_id"] == primary["entity"]["az_id"] and f.entity["subnet_id"] == primary["entity"]["subnet_id"]
    assert f.evidence["topology"]["node_ip"]["kind"] == "alb"

"""The benchmark harness runs end to end in a tiny mode and reports every contender.

No timing assertions: only that every contender ran (or, for flowsleuth verbs, is
reported as not available), with positive numbers, and that the data it measures is
in AWS's layout and deterministic.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.contenders import Contender
from bench.dataset import ensure_dataset
from bench.measure import run_measured
from bench.outcomes import Outcome

pytestmark = pytest.mark.slow  # builds a dataset and runs every contender: a minute (CI runs it)

REPO = Path(__file__).resolve().parents[1]
BASELINE_IDS = {
    "polars-oneliner", "polars-lake-columns", "duckdb-copy", "gzip-cli", "isal-igzip", "isal-igzip-2t",
    "peer-flowlogs-reader", "peer-aws-log-parser", "naive-selfjoin",
}  # fmt: skip
FLOWSLEUTH_IDS = {"flowsleuth-ingest", "flowsleuth-detect", "flowsleuth-report"}
TARGETS = 7


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "result.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--size", "0.01", "--repeat", "1", "--quick",
         "--data", "synthetic", "--sample", "2000", "--data-dir", str(tmp / "data"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_baseline_ran_with_positive_numbers(smoke: dict) -> None:
    rows = {r["id"]: r for r in smoke["contenders"]}
    missing = BASELINE_IDS - rows.keys()
    assert not missing, f"contenders missing from the JSON: {sorted(missing)}"
    for cid in sorted(BASELINE_IDS):
        r = rows[cid]
        assert r["status"] == "ok", f"{cid}: {r['status']}: {r['reason']}"
        for key in ("wall_s", "peak_rss_mib", "lines_per_s"):
            assert r[key] is not None and r[key] > 0, f"{cid}: {key} = {r[key]}"
        assert r["cpu_s"] is None if r["projected"] else r["cpu_s"] >= 0  # a sample's CPU is not reported
        assert r["repeats"] == 1


def test_flowsleuth_verbs_ran_or_are_marked_not_available(smoke: dict) -> None:
    rows = {r["id"]: r for r in smoke["contenders"]}
    assert FLOWSLEUTH_IDS <= rows.keys()
    for cid in sorted(FLOWSLEUTH_IDS):
        r = rows[cid]
        assert r["status"] in ("ok", "not available"), f"{cid}: {r['status']}: {r['reason']}"
        if r["status"] == "ok":
            assert r["wall_s"] > 0 and r["peak_rss_mib"] > 0


def test_peers_are_projected_from_their_sample(smoke: dict) -> None:
    rows = {r["id"]: r for r in smoke["contenders"]}
    for cid in ("peer-flowlogs-reader", "peer-aws-log-parser"):
        r = rows[cid]
        assert r["projected"] and r["child"]["lines"] > 0 and r["child"]["sample_seconds"] > 0
    combined = rows["peers-combined"]
    assert combined["wall_s"] == pytest.approx(rows["peer-flowlogs-reader"]["wall_s"] + rows["peer-aws-log-parser"]["wall_s"])


def test_baselines_saw_every_line(smoke: dict) -> None:
    ds = smoke["datasets"]["1"]
    rows = {r["id"]: r for r in smoke["contenders"]}
    total = ds["flow_lines"] + ds["alb_lines"]
    assert rows["polars-oneliner"]["child"]["lines"] == total
    assert rows["polars-lake-columns"]["child"]["lines"] == total
    assert rows["duckdb-copy"]["child"]["lines"] == total
    assert rows["isal-igzip"]["child"]["raw_bytes"] == ds["flow_raw_bytes"] + ds["alb_raw_bytes"]
    assert rows["naive-selfjoin"]["child"]["lines"] > 0  # rows in the lake's vpc_flow
    assert 0 < rows["naive-selfjoin"]["child"]["one_way"] < rows["naive-selfjoin"]["child"]["lines"]


def test_targets_are_all_judged(smoke: dict) -> None:
    targets = smoke["targets"]
    assert len(targets) == TARGETS
    assert {t["status"] for t in targets} <= {"PASS", "MISS", "N/A"}
    growth = next(t for t in targets if "growth" in t["name"])
    assert growth["status"] == "N/A"  # --quick measures detect at 1x only


def test_dataset_is_deterministic_and_in_aws_layout(tmp_path: Path) -> None:
    a = ensure_dataset(tmp_path / "a", size=0.002, seed=7)
    b = ensure_dataset(tmp_path / "b", size=0.002, seed=7)
    c = ensure_dataset(tmp_path / "c", size=0.002, seed=8)
    fa, fb = a.flow_files() + a.alb_files(), b.flow_files() + b.alb_files()
    assert [p.name for p in fa] == [p.name for p in fb]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb, strict=False))
    assert a.flow_files()[0].read_bytes() != c.flow_files()[0].read_bytes()
    flow_re = re.compile(r"^\d{12}_vpcflowlogs_[a-z0-9-]+_fl-[0-9a-f]+_\d{8}T\d{4}Z_[0-9a-f]{8}\.log\.gz$")
    alb_re = re.compile(
        r"^\d{12}_elasticloadbalancing_[a-z0-9-]+_app\.[\w-]+\.[0-9a-f]+_\d{8}T\d{4}Z_\d+\.\d+\.\d+\.\d+_[0-9a-f]{8}\.log\.gz$"
    )
    assert a.flow_files() and all(flow_re.match(p.name) for p in a.flow_files())
    assert a.alb_files() and all(alb_re.match(p.name) for p in a.alb_files())
    assert a.flow_lines == 6000 and a.alb_lines == 2000


def test_small_objects_bucket_cuts_every_file_into_objects_of_its_size(tmp_path: Path) -> None:
    from bench.dataset import BUCKETS

    ds = ensure_dataset(tmp_path, size=0.002, seed=7, bucket="small-objects")
    per_object = BUCKETS["small-objects"].flow_object_lines
    counts = [gzip.decompress(p.read_bytes()).count(b"\n") - 1 for p in ds.flow_files()]  # header line
    assert sum(counts) == ds.flow_lines == 2000 and max(counts) == per_object and len(counts) == ds.flow_objects
    assert len({p.name for p in ds.flow_files()}) == len(counts) and not ds.alb_files()


def test_peak_rss_is_the_childs_own() -> None:
    """The harness has polars loaded; a child that allocates little must not report the harness's RSS."""
    import polars  # noqa: F401  (makes this process large, as the harness is)

    small = run_measured(["true"])
    big = run_measured([sys.executable, "-c", "x = bytearray(300 * 2**20); x[::4096] = b'x' * len(x[::4096])"])
    assert small.ok and big.ok
    assert small.peak_rss_mib < 50
    assert big.peak_rss_mib > 300


def test_unbuilt_verb_is_not_available_and_not_rerun() -> None:
    c = Contender("x", "ingest", 1, "flowsleuth", [sys.executable, "-c", "import sys; sys.stderr.write(\"'x' is not built yet\\n\"); sys.exit(1)"], lines=1)
    o = Outcome(c)
    o.record(run_measured(c.cmd))
    assert o.status == "not available" and not o.active and o.wall_s is None


def test_simulator_data_is_calibrated_to_the_requested_size(tmp_path: Path) -> None:
    ds = ensure_dataset(tmp_path, size=0.01, seed=3, generator="simulator")
    assert ds.flow_files() and ds.alb_files()
    assert (ds.root / "labels.json").is_file() and (ds.root / "topology.json").is_file()
    assert 0.6 * 30_000 <= ds.flow_lines <= 1.4 * 30_000, ds.flow_lines
    assert ds.alb_lines > 0 and ds.flow_gz_bytes > 0 and ds.flow_raw_bytes > ds.flow_gz_bytes

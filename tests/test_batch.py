"""The batch job's pieces: finding state across runs, exit codes, config precedence, lock."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.batch import (
    RunConfig,
    apply_state,
    build_config,
    detection_span,
    exit_code,
    load_config_file,
    load_state,
    parse_duration,
    run_lock,
    save_state,
)
from pipeline.cli import main
from pipeline.errors import FlowsleuthError, UsageError
from pipeline.findings import Finding
from pipeline.ingest import IngestSummary

T0 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


def _finding(minute: int, severity: str = "high", dst: str = "10.0.0.1") -> Finding:
    start = T0 + timedelta(minutes=minute)
    return Finding(
        detector="reject_burst", severity=severity,  # type: ignore[arg-type]
        window_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        window_end=(start + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        entity={"dstaddr": dst}, title="t", summary="s",
    )  # fmt: skip


def test_state_new_ongoing_resolved_across_runs(tmp_path: Path) -> None:
    a, b = _finding(0), _finding(30, dst="10.0.0.2")
    span1 = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    emitted, open_ = apply_state(load_state(tmp_path), [a, b], span1)
    assert [(f.id, f.state) for f in emitted] == [(a.id, "new"), (b.id, "new")]
    save_state(tmp_path, open_, span=span1)

    # run 2: a seen again, b not seen but its window is outside this run's span -> stays open, not emitted
    span2 = (T0 - timedelta(minutes=10), T0 + timedelta(minutes=20))
    emitted, open_ = apply_state(load_state(tmp_path), [_finding(0)], span2)
    assert [(f.id, f.state) for f in emitted] == [(a.id, "ongoing")]
    assert set(open_) == {a.id, b.id}
    save_state(tmp_path, open_, span=span2)

    # run 3: nothing found over a span covering both windows -> both resolved, once
    span3 = (T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    emitted, open_ = apply_state(load_state(tmp_path), [], span3)
    assert sorted((f.id, f.state) for f in emitted) == sorted([(a.id, "resolved"), (b.id, "resolved")])
    assert open_ == {}
    save_state(tmp_path, open_, span=span3)
    emitted, _ = apply_state(load_state(tmp_path), [], span3)
    assert emitted == []

    # a finding that was resolved and comes back is new again
    emitted, _ = apply_state(load_state(tmp_path), [_finding(0)], span3)
    assert emitted[0].state == "new"


def test_state_file_is_json_with_open_findings(tmp_path: Path) -> None:
    f = _finding(0)
    save_state(tmp_path, {f.id: f}, span=(T0, T0 + timedelta(hours=1)))
    data = json.loads((tmp_path / "state.json").read_text())
    assert data["open"][0]["id"] == f.id and data["last_span"] == ["2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"]
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(FlowsleuthError, match="state file"):
        load_state(tmp_path)


def test_exit_codes() -> None:
    high, low = _finding(0, "high"), _finding(5, "low")
    assert exit_code([high, low], failed=False, fail_on=None) == 0
    assert exit_code([high, low], failed=False, fail_on="high") == 3
    assert exit_code([high, low], failed=False, fail_on="critical") == 0
    assert exit_code([low], failed=False, fail_on="low") == 3
    assert exit_code([high], failed=True, fail_on="high") == 1
    high.state = "resolved"
    assert exit_code([high], failed=False, fail_on="high") == 0


def test_detection_span_widens_ingested_span_by_lookback() -> None:
    cfg = build_config({}, {"sources": ["x"], "lake": "l", "out": "o", "lookback": "30m"})
    summary = IngestSummary(min_event_time=T0, max_event_time=T0 + timedelta(hours=1))
    assert detection_span(cfg, summary) == (T0 - timedelta(minutes=30), T0 + timedelta(hours=1, seconds=1))
    assert detection_span(cfg, IngestSummary()) is None
    cfg.since = T0 - timedelta(days=1)
    assert detection_span(cfg, summary)[0] == T0 - timedelta(days=1)  # type: ignore[index]


def test_parse_duration() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5d") == timedelta(hours=36)
    with pytest.raises(UsageError, match="duration"):
        parse_duration("2 hours")


def _write_config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "flowsleuth.toml"
    p.write_text(text)
    return p


def test_config_precedence_flags_override_file(tmp_path: Path) -> None:
    cfg_file = _write_config(
        tmp_path,
        'sources = ["logs/"]\nlake = "lake"\nout = "out"\nlookback = "6h"\nfail_on = "critical"\n'
        'detectors = ["reject_burst"]\n[params.reject_burst]\nmin_rejects = 20\nwindow_minutes = 5\n',
    )
    file_values = load_config_file(cfg_file)
    assert file_values["lake"] == str(tmp_path / "lake")  # relative to the config file
    cfg = build_config(file_values, {"lookback": "1h", "fail_on": None, "params": {"reject_burst": {"min_rejects": "50"}}, "detectors": []})
    assert isinstance(cfg, RunConfig)
    assert cfg.lookback == timedelta(hours=1)  # flag wins
    assert cfg.fail_on == "critical"  # not given on the command line: file value
    assert cfg.detectors == ["reject_burst"]  # empty flag list: file value
    assert cfg.params == {"reject_burst": {"min_rejects": "50", "window_minutes": 5}}  # merged per name
    assert cfg.sources == [str(tmp_path / "logs")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('lake = "l"\nout = "o"\nsources = ["s"]\nlokback = "2h"\n', "unknown keys lokback"),
        ('lake = "l"\nsources = "s"\nout = 3\n', "out must be a path"),
        ("lake = [\n", "not valid TOML"),
        ('lake = "l"\nout = "o"\nsources = ["s"]\nfail_on = "urgent"\n', "fail_on 'urgent'"),
        ('lake = "l"\nout = "o"\nsources = ["s"]\nlookback = "soon"\n', "not a duration"),
        ('lake = "l"\nout = "o"\nsources = ["s"]\nsince = "2026-01-02"\nuntil = "2026-01-01"\n', "must be before"),
        ('lake = "l"\nsources = ["s"]\n', "missing out"),
    ],
)
def test_bad_config_is_one_line_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    cfg = _write_config(tmp_path, text)
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_missing_config_file_and_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["run", "--source", "s", "--lake", "l", "--out", "o", "--param", "nonsense"]) == 2
    assert "DETECTOR.NAME=VALUE" in capsys.readouterr().err


def test_lock_stops_overlapping_runs(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        with pytest.raises(FlowsleuthError, match="another flowsleuth run"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released
        pass


def test_run_command_maps_flags(tmp_path: Path) -> None:
    from pipeline.commands.run import add_arguments, overrides_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--source", "a", "--source", "b", "--lake", "l", "--out", "o", "--param", "x.y=1", "--fail-on", "high"])
    o = overrides_from_args(args)
    assert o["sources"] == ["a", "b"] and o["params"] == {"x": {"y": "1"}} and o["fail_on"] == "high"


def test_ingest_notes_say_how_many_and_where() -> None:
    from pipeline.batch import ingest_notes
    from pipeline.ingest import IngestSummary

    summary = IngestSummary(rejects=7, objects_with_rejects=2, rejects_by_object={"s3://b/a.log.gz": 2, "s3://b/c.log.gz": 5},
                            objects_with_drift=1, schema_drift={"s3://b/c.log.gz": ["flow-hash-id"]})  # fmt: skip
    drift, rejects = ingest_notes(summary)
    assert "1 flow-log object(s)" in drift and "s3://b/c.log.gz: flow-hash-id" in drift
    assert rejects.startswith("7 line(s) rejected in 2 object(s)") and rejects.index("c.log.gz: 5") < rejects.index("a.log.gz: 2")
    assert ingest_notes(IngestSummary()) == []

"""Repo-level promises: the README's two commands, its generated schema table, the public API."""

from __future__ import annotations

import re

from conftest import REPO

from pipeline import schema_doc


def test_readme_schema_table_is_current() -> None:
    text = (REPO / "README.md").read_text()
    assert schema_doc.splice(text) == text, "run: python -m pipeline.schema_doc --write README.md"


def test_quick_start_has_exactly_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash)?\n(.*?)```", section, re.S)
    assert block, "Quick start needs a code block"
    commands = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert commands == ["./dev demo", "./dev test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "./dev test" in ci


def test_cli_help_lists_every_verb() -> None:
    from pipeline.cli import VERBS, build_parser

    help_text = build_parser().format_help()
    for verb in VERBS:
        assert verb in help_text


def test_public_api_is_exported() -> None:
    import pipeline

    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None, name
    assert set(pipeline.__all__) == {
        "DetectResult", "Finding", "FlowsleuthError", "Incident", "IngestSummary", "Topology", "UsageError", "__version__",
        "connect", "correlate", "generate", "ingest", "load_detectors", "open_lake", "parse_bytes", "run_detectors",
        "write_findings", "write_report",
    }  # fmt: skip


def test_analysis_lake_uses_the_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fixtures.lake import make_lake

    from pipeline.samples import analysis_lake, find_demo_data

    lake = make_lake(tmp_path / "lake", vpc_flow=[{"srcaddr": "10.0.0.1", "start": 1700000000, "end": 1700000060}])
    monkeypatch.setenv("FLOWSLEUTH_LAKE", str(lake))
    monkeypatch.delenv("FLOWSLEUTH_TOPOLOGY", raising=False)
    got = analysis_lake()
    assert got.lake == lake and got.topology is None
    assert got.con.sql("SELECT srcaddr FROM vpc_flow").fetchall() == [("10.0.0.1",)]
    assert (find_demo_data() / "AWSLogs").is_dir()


def test_test_modules_do_not_import_each_other() -> None:
    """Shared test helpers live in tests/fixtures/; a test module importing another one couples their fates."""
    offenders = []
    for path in sorted((REPO / "tests").glob("**/*.py")):
        for no, line in enumerate(path.read_text().splitlines(), start=1):
            if re.match(r"\s*(from|import)\s+(tests\.)?test_\w+", line):
                offenders.append(f"{path.relative_to(REPO)}:{no}: {line.strip()}")
    assert not offenders, "import from tests/fixtures instead:\n" + "\n".join(offenders)

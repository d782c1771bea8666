"""The notebooks (jupytext py:percent sources) execute end to end against data-samples/demo."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # executes every notebook in a kernel (CI runs it)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
DEMO = REPO / "data-samples" / "demo"


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.ingest import ingest

    lake = tmp_path_factory.mktemp("nb") / "lake"
    ingest([str(DEMO)], lake)
    return lake


def execute(source: Path, tmp: Path) -> nbformat.NotebookNode:
    """Convert with jupytext into ``tmp`` and run every cell; any error fails."""
    nb = jupytext.read(source)
    jupytext.write(nb, tmp / (source.stem + ".ipynb"))
    client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}})
    client.execute()
    return nb


def test_three_notebooks_and_no_ipynb_committed() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_triage.py", "02_alb_deep_dive.py", "03_flow_explorer.py"]
    assert not list((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("source", [NOTEBOOKS[0], NOTEBOOKS[2]], ids=lambda p: p.stem)
def test_notebook_runs_on_demo_lake(source: Path, demo_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLEUTH_LAKE", str(demo_lake))
    nb = execute(source, tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert outputs  # it showed something


def test_notebook_ingests_demo_by_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without FLOWSLEUTH_LAKE a notebook ingests data-samples/demo through the package API."""
    monkeypatch.delenv("FLOWSLEUTH_LAKE", raising=False)
    nb = execute(NOTEBOOKS[1], tmp_path)
    text = json.dumps([o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])])
    assert "elb_status_code" in text  # the status-code table came from the ingested demo lake

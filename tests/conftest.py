"""Shared test paths. Helpers that several test modules use live in tests/fixtures/."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"
DATA_SAMPLES = REPO / "data-samples"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    """One local[2] SparkSession for every Spark test of the run (a JVM start costs seconds)."""
    from pipeline.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()

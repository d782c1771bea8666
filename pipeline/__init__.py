"""flowsleuth: AWS VPC Flow Logs and ALB access logs → incident findings.

The analyst's API, re-exported here and loaded on first use (so ``import pipeline``
stays cheap for the CLI):

    open_lake(lake) -> duckdb connection with views vpc_flow, alb_access, alb_connection
    ingest(sources, lake, *, since, until, ...) -> IngestSummary
    run_detectors(con, *, since, until, detectors, params, topology) -> DetectResult
    correlate(findings) -> list[Incident]             (findings grouped into incidents)
    write_report(con, findings, out_dir, ...) -> Path
    generate(scenario, out, *, seed, ...) -> Path      (the incident simulator)
    parse_bytes(data, table, *, source_uri, ...) -> ParsedObject
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "open_lake": "pipeline.db",
    "connect": "pipeline.db",
    "ingest": "pipeline.ingest",
    "IngestSummary": "pipeline.ingest",
    "run_detectors": "pipeline.detect",
    "load_detectors": "pipeline.detect",
    "DetectResult": "pipeline.detect",
    "write_findings": "pipeline.detect",
    "correlate": "pipeline.incidents",
    "Incident": "pipeline.incidents",
    "write_report": "pipeline.report",
    "generate": "pipeline.simulate",
    "parse_bytes": "pipeline.formats",
    "Finding": "pipeline.findings",
    "Topology": "pipeline.topology",
    "FlowsleuthError": "pipeline.errors",
    "UsageError": "pipeline.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

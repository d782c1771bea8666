"""Detection: load the SQL detectors in ``queries/``, run them over the lake, build findings.

    load_detectors(queries_dir=None) -> list[Detector]
    run_detectors(con, *, since, until, detectors, params, topology) -> DetectResult
    prepare_run(con, prep, detectors, bound, *, since, until)   what run_detectors does first
    write_findings(findings, out_dir, *, incidents) -> Path   <out>/findings.json (findings + incidents)
    read_findings(path) / read_incidents(path)
    write_lake_findings(findings, lake) -> Path | None   <lake>/_findings/run-*.jsonl
"""

from .catalog import Detector, check_detector_file, default_queries_dir, load_detectors, split_header, sql_parameters
from .finding_builder import build_findings, fill, json_safe
from .output import read_findings, read_incidents, read_lake_findings, write_findings, write_lake_findings
from .params import Param, parse_param_args, parse_value, resolve_params
from .prep import Prep, load_prep
from .runner import DetectResult, lake_time_span, prepare_run, run_detectors, run_one
from .topology_views import register_views as register_topology_views

__all__ = [
    "DetectResult",
    "Detector",
    "Param",
    "build_findings",
    "check_detector_file",
    "default_queries_dir",
    "fill",
    "json_safe",
    "lake_time_span",
    "load_detectors",
    "parse_param_args",
    "parse_value",
    "Prep",
    "load_prep",
    "prepare_run",
    "read_findings",
    "read_incidents",
    "read_lake_findings",
    "register_topology_views",
    "resolve_params",
    "run_detectors",
    "run_one",
    "sql_parameters",
    "split_header",
    "write_findings",
    "write_lake_findings",
]

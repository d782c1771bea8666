"""Write findings: ``<out>/findings.json`` and a copy in the lake (``<lake>/_findings/``).

``findings.json`` is ``{"version": 2, "findings": [...], "incidents": [...]}``: every
finding, and the incidents they correlate into (``pipeline.incidents``). Version 1 was
the bare findings array; it is still read.

The lake copy is JSON Lines, one file per run. Finding ids are stable, so a re-run that
finds the same thing replaces the earlier record instead of adding a duplicate: before a
run's file is written, its ids are removed from older files.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import LakeError
from ..findings import Finding
from ..incidents import Incident, correlate
from ..lake.storage import LakeLocation, is_remote, lake_location

log = logging.getLogger(__name__)

FINDINGS_DIR = "_findings"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp makes 0600; outputs are shared like report.html (umask applies)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


FINDINGS_VERSION = 2


def write_findings(findings: Iterable[Finding], out_dir: str | Path, *, incidents: list[Incident] | None = None) -> Path:
    """``<out_dir>/findings.json`` with every finding and its incidents (correlated here when not given)."""
    path = Path(out_dir) / "findings.json"
    findings = list(findings)
    if incidents is None:
        incidents = correlate(findings)
    data = {
        "version": FINDINGS_VERSION,
        "findings": [f.to_dict() for f in findings],
        "incidents": [i.to_dict() for i in incidents],
    }
    _atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    log.info("wrote %d findings in %d incidents to %s", len(findings), len(incidents), path)
    return path


def _load(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):  # version 1: the bare findings array
        return {"version": 1, "findings": data}
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ValueError("expected a JSON object with a findings list")
    return data


def read_findings(path: str | Path) -> list[Finding]:
    """Findings back from a findings.json (either version)."""
    return [Finding.from_dict(d) for d in _load(path)["findings"]]


def read_incidents(path: str | Path) -> list[Incident]:
    """The incidents of a findings.json; correlated from its findings when it has none (version 1)."""
    data = _load(path)
    if "incidents" in data:
        return [Incident.from_dict(d) for d in data["incidents"]]
    return correlate([Finding.from_dict(d) for d in data["findings"]])


def write_lake_findings(
    findings: Iterable[Finding], lake: str | Path | LakeLocation, *, run_at: datetime | None = None
) -> Path | str | None:
    """Append this run's findings to ``<lake>/_findings/`` without duplicating ids.

    Returns the new file (an ``s3://`` URI for an S3 lake), or None when there was nothing to write.
    """
    if is_remote(lake):
        return _write_remote_findings(list(findings), lake_location(lake), run_at)
    lake = lake.local if isinstance(lake, LakeLocation) else Path(lake)
    if not lake.is_dir():
        raise LakeError(f"lake {str(lake)!r} does not exist")
    records = [f.to_dict() for f in findings]
    folder = lake / FINDINGS_DIR
    folder.mkdir(exist_ok=True)
    new_ids = {r["id"] for r in records}
    for old in sorted(folder.glob("run-*.jsonl")):
        lines = [line for line in old.read_text(encoding="utf-8").splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line)["id"] not in new_ids]
        if not kept:
            old.unlink()
        elif len(kept) != len(lines):
            _atomic_write(old, "\n".join(kept) + "\n")
    if not records:
        return None
    path = folder / _run_file_name(run_at)
    _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def _run_file_name(run_at: datetime | None) -> str:
    return f"run-{(run_at or datetime.now(UTC)).astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.jsonl"


def _write_remote_findings(records: list[Finding], loc: LakeLocation, run_at: datetime | None) -> str | None:
    """The same on S3: each file is one PUT (atomic); an id briefly in two files is read once."""
    fs = loc.fs
    new_ids = {f.id for f in records}
    for old in sorted(fs.glob(loc.path(f"{FINDINGS_DIR}/run-*.jsonl"))):
        lines = [line for line in fs.cat_file(old).decode("utf-8").splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line)["id"] not in new_ids]
        if not kept:
            fs.rm_file(old)
        elif len(kept) != len(lines):
            fs.pipe_file(old, ("\n".join(kept) + "\n").encode("utf-8"))
    if not records:
        return None
    rel = f"{FINDINGS_DIR}/{_run_file_name(run_at)}"
    fs.pipe_file(loc.path(rel), "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in records).encode("utf-8"))
    return loc.uri(rel)


def read_lake_findings(lake: str | Path | LakeLocation) -> list[Finding]:
    """Every finding stored in the lake (each id once)."""
    loc = lake_location(lake)
    texts = [loc.fs.cat_file(p).decode("utf-8") for p in sorted(loc.fs.glob(loc.path(f"{FINDINGS_DIR}/run-*.jsonl")))]
    out: dict[str, Finding] = {}
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                f = Finding.from_dict(json.loads(line))
                out[f.id] = f
    return list(out.values())

"""Turn repeated runs of a contender into medians, rates and a status."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.contenders import Contender
from bench.measure import RunResult

MB = 1_000_000


@dataclass
class Outcome:
    contender: Contender
    status: str = "pending"  # ok | not available | failed | pending
    reason: str = ""
    runs: list[dict[str, float]] = field(default_factory=list)
    child: dict[str, Any] = field(default_factory=dict)  # last JSON line a baseline printed
    stderr_tail: str = ""  # kept for failed runs, to say why

    def record(self, r: RunResult) -> None:
        """Keep a successful run, or mark the contender unavailable/failed (it is then not rerun)."""
        if r.ok:
            run: dict[str, float] = {"wall_s": r.wall_s, "cpu_s": r.cpu_s, "peak_rss_mib": r.peak_rss_mib}
            self.child = _last_json(r.stdout)
            if self.contender.sampled:
                run["sample_lines"] = float(self.child.get("lines", 0))
                run["sample_seconds"] = float(self.child.get("sample_seconds", 0.0))
            self.runs.append(run)
            self.status = "ok"
            return
        meaningful = [ln.strip() for ln in r.stderr.splitlines() if ln.strip() and set(ln.strip()) - set("^~ ")]
        tail = (meaningful or [f"exit {r.returncode}"])[-1][:300]
        self.stderr_tail = "\n".join(r.stderr.splitlines()[-20:])
        if "not built yet" in r.stderr or "invalid choice" in r.stderr:
            self.status, self.reason = "not available", tail
        else:
            self.status, self.reason = "failed", ("timed out: " if r.timed_out else "") + tail

    @property
    def active(self) -> bool:
        return self.status in ("ok", "pending")

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if key in r]
        return statistics.median(values) if values else None

    @property
    def lines_per_s(self) -> float | None:
        c = self.contender
        if c.sampled:
            lines, secs = self.median("sample_lines"), self.median("sample_seconds")
            return lines / secs if lines and secs else None
        wall = self.median("wall_s")
        return c.lines / wall if wall and c.lines else None

    @property
    def wall_s(self) -> float | None:
        """Median wall time; for sampled peers, the time projected for the whole dataset."""
        if self.contender.sampled:
            rate = self.lines_per_s
            return self.contender.lines / rate if rate else None
        return self.median("wall_s")

    def mb_per_s(self, compressed: bool) -> float | None:
        size = self.contender.gz_bytes if compressed else self.contender.raw_bytes
        wall = self.wall_s
        return size / MB / wall if size and wall else None

    def to_json(self, flowsleuth_wall: float | None) -> dict[str, Any]:
        c = self.contender
        wall = self.wall_s
        return {
            "id": c.id,
            "group": c.group,
            "scale": c.scale,
            "kind": c.kind,
            "status": self.status,
            "reason": self.reason,
            "note": c.note,
            "projected": c.sampled,
            "repeats": len(self.runs),
            "wall_s": wall,
            "cpu_s": None if c.sampled else self.median("cpu_s"),  # a sample's CPU says nothing about the whole
            "peak_rss_mib": self.median("peak_rss_mib"),
            "lines": c.lines,
            "lines_per_s": self.lines_per_s,
            "gz_mb_per_s": self.mb_per_s(True),
            "raw_mb_per_s": self.mb_per_s(False),
            "vs_flowsleuth": (wall / flowsleuth_wall) if wall and flowsleuth_wall else None,
            "runs": self.runs,
            "child": self.child,
            "stderr_tail": self.stderr_tail,
            "cmd": c.cmd,
            **c.extra,
        }


def _last_json(stdout: str) -> dict[str, Any]:
    """The JSON object a child printed: all of stdout, else its last line that parses."""
    try:
        whole = json.loads(stdout)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}

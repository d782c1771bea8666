"""The performance targets, each judged PASS / MISS / N/A from the measured outcomes.

Ratios are "contender wall / flowsleuth wall on the same data" (>1: flowsleuth faster),
except where a target is stated the other way round (detect vs the self-join).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

GIB = 1024.0  # MiB


@dataclass
class Target:
    name: str
    status: str  # PASS | MISS | N/A
    value: float | None
    threshold: str
    detail: str = ""


def _find(rows: list[dict[str, Any]], cid: str, scale: int = 1) -> dict[str, Any] | None:
    for r in rows:
        if r["id"] == cid and r["scale"] == scale and r["status"] == "ok" and r["wall_s"]:
            return r
    return None


def _cpu_ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, label: str) -> str:
    """The same ratio in CPU seconds: steadier than wall time on a busy machine."""
    if not a or not b or not a.get("cpu_s") or not b.get("cpu_s"):
        return ""
    return f"; {label} = {a['cpu_s'] / b['cpu_s']:.2f}"


def _judge(name: str, value: float | None, ok: bool | None, threshold: str, detail: str = "") -> Target:
    if value is None or ok is None:
        return Target(name, "N/A", value, threshold, detail or "not measured")
    return Target(name, "PASS" if ok else "MISS", round(value, 3), threshold, detail)


#: Issue 11: ingest at least as fast as the polars one-liner on the mixed bucket, within 10%
#: of it on the one-format buckets.
POLARS_RATIO = {"mixed": 1.0, "flow-only": 0.9, "alb-only": 0.9, "small-objects": 0.9}


def evaluate(rows: list[dict[str, Any]], *, peers_projected_wall: float | None, bucket: str = "mixed") -> list[Target]:
    ing = _find(rows, "flowsleuth-ingest")
    pol = _find(rows, "polars-oneliner")
    out: list[Target] = []

    need = POLARS_RATIO.get(bucket, 1.0)
    speed = pol["wall_s"] / ing["wall_s"] if ing and pol else None
    out.append(_judge("ingest speed vs polars one-liner", speed, speed is not None and speed >= need, f">= {need}x",
                      "polars wall / ingest wall" + _cpu_ratio(pol, ing, "polars CPU / ingest CPU")))  # fmt: skip
    peers = peers_projected_wall / ing["wall_s"] if ing and peers_projected_wall else None
    out.append(_judge("ingest speed vs pure-Python peers", peers, peers is not None and peers >= 20, ">= 20x",
                      "projected peers wall (flowlogs-reader + aws-log-parser) / ingest wall"))  # fmt: skip
    rss = ing["peak_rss_mib"] if ing else None
    out.append(_judge("ingest peak RSS", rss, rss is not None and rss < GIB, "< 1024 MiB"))

    ratios, rss_all, walls = [], [], {}
    for scale in (1, 2, 4):
        det, sj = _find(rows, "flowsleuth-detect", scale), _find(rows, "naive-selfjoin", scale)
        if det:
            walls[scale] = det["wall_s"]
            rss_all.append(det["peak_rss_mib"])
        if det and sj:
            ratios.append((det["wall_s"] / sj["wall_s"], scale, _cpu_ratio(det, sj, "detect CPU / self-join CPU")))
    worst = max(ratios) if ratios else None
    out.append(_judge("detect time vs naive self-join", worst[0] if worst else None, worst is not None and worst[0] <= 2.0,
                      "<= 2.0x", f"worst over scales (at {worst[1]}x){worst[2]}" if worst else ""))  # fmt: skip
    peak = max(rss_all) if rss_all else None
    out.append(_judge("detect peak RSS", peak, peak is not None and peak < 4 * GIB, "< 4096 MiB", "max over scales"))
    growth = walls[4] / walls[1] if 1 in walls and 4 in walls else None
    out.append(_judge("detect growth 1x -> 4x", growth, growth is not None and growth <= 4.5, "<= 4.5 (4.0 = linear)",
                      "detect wall at 4x / at 1x" if growth else "needs a run without --quick"))  # fmt: skip
    rep = _find(rows, "flowsleuth-report")
    out.append(_judge("report wall time", rep["wall_s"] if rep else None, rep is not None and rep["wall_s"] < 10, "< 10 s"))
    return out


def to_json(targets: list[Target]) -> list[dict[str, Any]]:
    return [asdict(t) for t in targets]

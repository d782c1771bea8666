"""Render a results JSON from ``bench/run.py`` as Markdown tables (for docs/benchmarks.md).

    python -m bench.to_markdown bench/results/<time>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _f(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, spec) + suffix


def render(result: dict[str, Any]) -> str:
    ds = result["datasets"]["1"]
    host = result["host"]
    out = [
        (
            f"Measured {result['started'][:16]}Z, {host['cpus']} cores, load average {host['loadavg'][0]:.1f} at start / "
            f"{host['loadavg_end'][0]:.1f} at end; `--size {result['args']['size']:g} --repeat {result['args']['repeat']}"
            f"{' --quick' if result['args']['quick'] else ''}`, data `{result['generator']}`: {ds['flow_lines']:,} flow + "
            f"{ds['alb_lines']:,} ALB lines in {ds['flow_objects'] + ds['alb_objects']} objects, "
            f"{ds['flow_gz_bytes'] / 1e6 + ds['alb_gz_bytes'] / 1e6:.0f} MB gz / {(ds['flow_raw_bytes'] + ds['alb_raw_bytes']) / 1e6:.0f} MB raw."
        ),
        "",
        "| group | contender | data | wall s | CPU s | peak RSS MiB | lines/s | MB/s gz | MB/s raw | vs flowsleuth |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["contenders"]:
        if r["status"] != "ok":
            out.append(f"| {r['group']} | {r['id']} | {r['scale']}x | {r['status']}: {r['reason'][:60]} | | | | | | |")
            continue
        out.append(
            f"| {r['group']} | {r['id']} | {r['scale']}x | {_f(r['wall_s'], '.2f')}{'*' if r['projected'] else ''} | "
            f"{_f(r['cpu_s'], '.2f')} | {_f(r['peak_rss_mib'], '.0f')} | {_f(r['lines_per_s'], ',.0f')} | "
            f"{_f(r['gz_mb_per_s'], '.1f')} | {_f(r['raw_mb_per_s'], '.1f')} | {_f(r['vs_flowsleuth'], '.2f', 'x')} |"
        )
    out += ["", "\\* projected from a sample. vs flowsleuth = this wall / flowsleuth's wall on the same data (> 1: flowsleuth faster).", ""]
    out += ["| target | value | threshold | result |", "| --- | ---: | --- | --- |"]
    for t in result["targets"]:
        out.append(f"| {t['name']} | {_f(t['value'], '.3g')} | {t['threshold']} | **{t['status']}** |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m bench.to_markdown RESULT.json\n")
        return 2
    sys.stdout.write(render(json.loads(Path(args[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

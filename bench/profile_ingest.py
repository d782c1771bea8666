#!/usr/bin/env python
"""Where ``flowsleuth ingest`` spends its time: py-spy samples, summarised per function.

    python bench/profile_ingest.py [--size 1] [--seed 0] [--rate 50] [--top 25]

Runs one ingest of the cached benchmark data (the same objects ``bench/run.py``
uses) under ``py-spy record --format raw`` (every thread, idle samples excluded),
keeps the collapsed stacks under bench/results/, and prints the functions with the
most samples, inclusive (anywhere on the stack) and exclusive (leaf). Native time
spent in polars/isal/pyarrow shows up on the Python frame that called into them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.dataset import ensure_dataset


def summarise(raw: Path) -> tuple[Counter[str], Counter[str], int]:
    """(inclusive, exclusive, total) sample counts per ``function (file)`` from py-spy's raw output."""
    inclusive: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        exclusive[frames[-1]] += n
    return inclusive, exclusive, total


def _short(frame: str) -> str:
    """``func (path/to/pkg/mod.py:12)`` -> ``func (pkg/mod.py)``; thread labels kept as they are."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/profile_ingest.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("synthetic", "simulator"), default="synthetic")
    p.add_argument("--data-dir", type=Path, default=REPO / "bench" / "data")
    p.add_argument("--rate", type=int, default=50, help="samples per second (default 50)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--workers", type=int, help="pass --workers to ingest")
    a = p.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    ds = ensure_dataset(a.data_dir, size=a.size, seed=a.seed, generator=a.data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = REPO / "bench" / "results" / f"ingest-profile-{stamp}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pipeline.cli", "ingest", "--source", str(ds.root), "--lake", str(Path(tmp) / "lake")]
        if a.workers:
            cmd += ["--workers", str(a.workers)]
        subprocess.run([py_spy, "record", "--format", "raw", "--rate", str(a.rate), "-o", str(raw), "--", *cmd], cwd=REPO, check=True)
    inclusive, exclusive, total = summarise(raw)
    print(f"{total} samples ({total / a.rate:.1f} thread-seconds) from {raw}")
    for title, counts in (("inclusive", inclusive), ("exclusive (leaf)", exclusive)):
        print(f"\n top {a.top} {title}:")
        for frame, n in counts.most_common(a.top):
            print(f"  {100 * n / max(total, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The committed ``data-samples/`` datasets: one fixed recipe each, so they regenerate byte for byte.

    python -m pipeline.simulate.samples [ROOT]      (default ROOT: data-samples)

- ``demo/``: the ``mixed`` scenario (several incidents, overlapping, with clean time
  around them); the demo and notebooks ingest it;
- ``clean/``: a clean baseline on which every detector must stay silent;
- ``scenarios/<name>/``: one small dataset per incident.

Low volume (scale 0.1, one app instance per AZ) and zlib level 9 keep the whole set
under 8 MB. ``data-samples/unit/`` belongs to the parser tests and is never touched.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from . import INCIDENTS, generate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    folder: str
    scenario: str
    seed: int
    hours: float
    scale: float = 0.1


#: nacl_ephemeral's 504s last only until health checks react: more client traffic, and a
#: seed whose target group takes 150 s (30 s x 5) to mark targets unhealthy.
_SCALE = {"nacl_ephemeral": 0.5}
_SEED = {"nacl_ephemeral": 13}
SAMPLES: tuple[Sample, ...] = (
    Sample("demo", "mixed", seed=1, hours=6),
    Sample("clean", "clean", seed=2, hours=3),
    *(Sample(f"scenarios/{name}", name, seed=_SEED.get(name, 3 + i), hours=1.5, scale=_SCALE.get(name, 0.1))
      for i, name in enumerate(INCIDENTS)),
)


def write_sample(root: Path, sample: Sample) -> Path:
    return generate(
        sample.scenario, root / sample.folder, seed=sample.seed, duration=timedelta(hours=sample.hours),
        scale=sample.scale, compact=True, targets_per_az=1,
    )  # fmt: skip


def write_samples(root: Path) -> list[Path]:
    """(Re)write every sample under ``root``; each folder is replaced, nothing else changes."""
    return [write_sample(root, s) for s in SAMPLES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.simulate.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default="data-samples", type=Path)
    args = parser.parse_args(argv)
    for p in write_samples(args.root):
        print(p)  # noqa: T201 - a developer entry point, like the CLI
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

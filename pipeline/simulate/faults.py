"""Which misconfiguration is active when, and where: the input traffic generators consult.

A ``Fault`` is one injected incident: its scenario name, the window (epoch seconds,
half-open) and the index of the affected ALB node / app subnet where the scenario has
one. Traffic generators ask ``faults.active(name, t)`` for a mask over their
conversation start times and change only those conversations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fault:
    scenario: str
    start: int
    end: int
    index: int = 0  # affected ALB node (asymmetric_route) or app subnet (nacl_ephemeral, endpoint_route_missing)

    def mask(self, t: np.ndarray) -> np.ndarray:
        return (t >= self.start) & (t < self.end)


class Faults:
    """The incidents of one dataset, keyed by scenario name (one of each at most)."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self.by_name: dict[str, Fault] = {f.scenario: f for f in faults or []}

    def get(self, name: str) -> Fault | None:
        return self.by_name.get(name)

    def active(self, name: str, t: np.ndarray) -> np.ndarray:
        f = self.by_name.get(name)
        return f.mask(t) if f else np.zeros(len(t), dtype=bool)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.by_name.values())

"""Seeded, vectorised random columns for the synthetic benchmark data.

The environment has no numpy; polars' ``Expr.hash(seed)`` over a row index gives
uniform 64-bit values per row, deterministic for one polars version, at Rust speed.
Each call site uses its own ``stream`` number so columns are independent.
"""

from __future__ import annotations

import polars as pl

ROW = "_row"


class RandomColumns:
    """Expressions over a frame that has a ``_row`` index column (see :func:`frame`)."""

    def __init__(self, seed: int) -> None:
        self._base = (seed * 1_000_003) % (1 << 62)

    def u64(self, stream: int) -> pl.Expr:
        return pl.col(ROW).hash(seed=self._base + stream)

    def int(self, stream: int, lo: int, hi: int) -> pl.Expr:
        """Uniform integers in ``[lo, hi)``."""
        return (self.u64(stream) % (hi - lo)).cast(pl.Int64) + lo

    def unit(self, stream: int) -> pl.Expr:
        """Uniform floats in ``[0, 1)``."""
        return (self.u64(stream) // (1 << 11)).cast(pl.Float64) / float(1 << 53)

    def pick(self, stream: int, values: list[str]) -> pl.Expr:
        """One of ``values``, uniformly."""
        return self.int(stream, 0, len(values)).replace_strict(dict(enumerate(values)), return_dtype=pl.String)

    def weighted(self, stream: int, choices: list[tuple[float, object]]) -> pl.Expr:
        """One of the values, with the given probabilities (summing to 1; the last takes the rest)."""
        u = self.unit(stream)
        acc = 0.0
        expr: pl.Expr | None = None
        for p, value in choices[:-1]:
            acc += p
            expr = (pl.when(u < acc) if expr is None else expr.when(u < acc)).then(pl.lit(value))
        last = pl.lit(choices[-1][1])
        return last if expr is None else expr.otherwise(last)

    def digits(self, stream: int, width: int) -> pl.Expr:
        """A string of ``width`` decimal digits (for ids whose content does not matter, only length)."""
        parts = []
        for k in range(0, width, 18):
            n = min(18, width - k)
            parts.append((self.u64(stream + k) % (10**n)).cast(pl.String).str.zfill(n))
        return pl.concat_str(parts)


def frame(n: int) -> pl.DataFrame:
    """A frame of ``n`` rows with only the row index, to hang random columns on."""
    return pl.DataFrame({ROW: pl.int_range(n, dtype=pl.UInt64, eager=True)})


def ipv4(value: pl.Expr) -> pl.Expr:
    """Dotted quad from an integer expression (taken modulo 2**32)."""
    v = value % (1 << 32)
    return pl.concat_str([((v // (1 << s)) % 256).cast(pl.String) for s in (24, 16, 8, 0)], separator=".")

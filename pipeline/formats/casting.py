"""String columns to typed columns, and the reason a row cannot be typed.

Every parser path (fast or careful, text or CLI) ends here, so a value is read
the same way whichever path produced its string. ``-`` is AWS's "no value" and
becomes null. Integers: optional sign and digits, within int64. Floats: decimal or
exponent notation (not ``inf``/``nan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..schema import Field

_FLOAT_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_SHOW = 40  # characters of an offending value quoted in a reason

#: Epoch seconds we turn into timestamps (year 1970 .. 9999); others give a null time.
MAX_EPOCH_SECONDS = 253_402_300_799

Check = tuple[pl.Expr, pl.Expr]  # (row is bad, reason)


@dataclass(frozen=True)
class Numeric:
    """A numeric field to type: its string column and how reasons name it."""

    column: str
    kind: str  # "int" | "float"
    label: str


def numeric_fields(fields: Sequence[Field], present: Sequence[str], labels: dict[str, str] | None = None) -> list[Numeric]:
    labels = labels or {}
    return [Numeric(f.column, f.kind, labels.get(f.column, f.aws)) for f in fields if f.kind != "str" and f.column in present]


def _typed(column: str, kind: str) -> pl.Expr:
    col = pl.col(column)
    if kind == "int":
        return col.cast(pl.Int64, strict=False)
    return pl.when(col.str.contains(_FLOAT_RE)).then(col.cast(pl.Float64, strict=False))


def _bad_reason(n: Numeric) -> pl.Expr:
    noun = "an integer" if n.kind == "int" else "a number"
    return pl.lit(f"{n.label} is not {noun}: '") + pl.col(n.column).str.slice(0, _SHOW) + pl.lit("'")


def first_reason(checks: Sequence[Check]) -> pl.Expr:
    """The reason of the first failing check, or null when the row is fine."""
    if not checks:
        return pl.lit(None, dtype=pl.String)
    cond, reason = checks[0]
    expr: Any = pl.when(cond).then(reason)  # Then, then ChainedThen
    for cond, reason in checks[1:]:
        expr = expr.when(cond).then(reason)
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def dash_to_null(columns: Sequence[str]) -> list[pl.Expr]:
    """``-`` becomes null (string columns)."""
    return [pl.when(pl.col(c) != "-").then(pl.col(c)).alias(c) for c in columns]


def type_rows(
    frame: pl.DataFrame,
    numeric: Sequence[Numeric],
    checks: Sequence[Check] = (),
    *,
    strings: Sequence[str] = (),
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """Rows that pass ``checks`` and type cleanly, typed; (source_line, reason) for the rest.

    ``checks`` run first (in order) on the string values; then each numeric column
    must convert. ``strings`` are string columns whose ``-`` becomes null.
    Reasons are only built for bad rows, so clean input pays for one flag column.
    """
    typed = {n.column: f"__typed_{n.column}" for n in numeric}
    frame = frame.with_columns([_typed(n.column, n.kind).alias(typed[n.column]) for n in numeric])
    bad_value = [
        pl.col(n.column).is_not_null() & (pl.col(n.column) != "-") & pl.col(typed[n.column]).is_null() for n in numeric
    ]
    all_checks = list(checks) + [(b, _bad_reason(n)) for b, n in zip(bad_value, numeric, strict=False)]
    rejects: list[tuple[int, str]] = []
    if all_checks:
        flag = frame.select(pl.any_horizontal([c for c, _ in all_checks]).fill_null(False)).to_series()
        if flag.any():
            bad = frame.filter(flag).select(pl.col("source_line"), first_reason(all_checks).alias("__reason"))
            rejects = list(zip(bad.get_column("source_line").to_list(), bad.get_column("__reason").to_list(), strict=False))
            frame = frame.filter(~flag)
    frame = frame.with_columns(
        [pl.col(t).alias(c) for c, t in typed.items()] + dash_to_null([s for s in strings if s in frame.columns])
    ).drop(list(typed.values()))
    return frame, rejects

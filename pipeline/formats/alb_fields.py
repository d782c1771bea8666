"""Pieces shared by the ALB access and connection log parsers."""

from __future__ import annotations

import polars as pl

from .casting import Check, Numeric, type_rows
from .quoted_log import EXTRA, Tokenized
from .result import Reject, make_reject

#: ISO 8601 as ALB writes it (``2018-07-02T22:23:00.186641Z``; fraction optional).
ALB_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
#: The shape of nearly every ALB time: microseconds, exactly as AWS writes them.
_USUAL_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"


def alb_time(column: str) -> pl.Expr:
    """An ALB time string as a UTC timestamp (null when it is not one)."""
    # no cache: ALB times are nearly all distinct, so hashing them costs more than it saves
    return pl.col(column).str.to_datetime(ALB_TIME_FORMAT, strict=False, time_unit="us", time_zone="UTC", cache=False)


def _usual_time(column: str) -> pl.Expr:
    """``alb_time`` for values of ``_USUAL_SHAPE`` (null for any other) at a third of its cost.

    The seconds-precision head goes through polars' fixed-width parser and the six digits
    after the point are the microseconds; ``alb_time``'s ``%.f`` parse is the slow part.
    """
    col = pl.col(column)
    head = col.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us", cache=False)
    micros = col.str.slice(20, 6).cast(pl.Int64, strict=False)
    return pl.when(col.str.contains(_USUAL_SHAPE)).then(head.dt.epoch("us") + micros).cast(pl.Datetime("us", "UTC"))


def with_alb_times(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """Add each ALB time column (source -> new name) as a UTC timestamp, exactly as ``alb_time``.

    The usual shape is parsed the cheap way; only the rows it leaves null that hold a value
    (another fraction length, no fraction, not a time at all) take ``alb_time``.
    """
    frame = frame.with_columns(_usual_time(src).alias(dst) for src, dst in columns.items())
    for src, dst in columns.items():
        left = frame.get_column(dst).is_null() & frame.get_column(src).is_not_null()
        if left.any():
            idx = left.arg_true()
            careful = frame.select(pl.col(src).gather(idx)).select(alb_time(src)).to_series()
            frame = frame.with_columns(frame.get_column(dst).scatter(idx, careful))
    return frame


def _split_last(values: pl.Series, sep: str) -> tuple[pl.Series, pl.Series]:
    """(before, after) the last ``sep``; (value, null) when there is none.

    The common case (at most one ``sep``) takes polars' literal ``split_exact``; the
    rest a list split. End-anchored regexes cost several times more here.
    """
    parts = values.str.split_exact(sep, 1).struct.unnest()
    before, after = parts.get_column("field_0"), parts.get_column("field_1")
    odd = (values.str.count_matches(sep, literal=True) > 1).fill_null(False)
    if odd.any():
        idx = odd.arg_true()
        pieces = pl.DataFrame({"p": values.gather(idx).str.split(sep)}).select(
            pl.col("p").list.slice(0, pl.col("p").list.len() - 1).list.join(sep).alias("b"),
            pl.col("p").list.last().alias("a"),
        )
        before = before.scatter(idx, pieces.get_column("b"))
        after = after.scatter(idx, pieces.get_column("a"))
    return before, after


def split_host_port(frame: pl.DataFrame, column: str, ip: str, port: str) -> pl.DataFrame:
    """``addr:port`` split at the last colon; ``[addr]:port`` loses its brackets."""
    host, port_s = _split_last(frame.get_column(column), ":")
    bracketed = (host.str.starts_with("[") & host.str.ends_with("]")).fill_null(False)
    if bracketed.any():
        host = host.zip_with(~bracketed, host.str.slice(1, host.str.len_chars() - 2))
    return frame.with_columns(host.alias(ip), port_s.alias(port))


def host_port_check(column: str, label: str) -> Check:
    """A value without a colon is not ``address:port``."""
    col = pl.col(column)
    return (col.is_not_null() & ~col.str.contains(":", literal=True), pl.lit(f"{label} is not address:port: '") + col.str.slice(0, 60) + pl.lit("'"))


def split_request(frame: pl.DataFrame, column: str = "request") -> pl.DataFrame:
    """Verb = before the first space, proto = after the last space, url = between.

    With a single space the part after it is the url; ``-`` or empty parts are null.
    """
    req = frame.get_column(column)
    first = req.str.splitn(" ", 2).struct.unnest()
    verb, rest = first.get_column("field_0"), first.get_column("field_1")
    url, proto = _split_last(rest, " ")
    out = []
    for name, values in (("request_verb", verb), ("request_url", url), ("request_proto", proto)):
        out.append(pl.when(values.is_in(["-", ""])).then(None).otherwise(values).alias(name))
    return frame.with_columns(out)


def apply_checks(
    tok: Tokenized, frame: pl.DataFrame, numeric: list[Numeric], checks: list[Check]
) -> tuple[pl.DataFrame, list[Reject]]:
    """Typed rows that pass every check, and all rejects (tokenizer's too) in line order."""
    good, bad = type_rows(frame, numeric, checks)
    rejects = tok.rejects + [make_reject(no, reason, tok.raw(no)) for no, reason in bad]
    rejects.sort(key=lambda r: r.line)
    return good, rejects


def count_extra(frame: pl.DataFrame) -> int:
    return int(frame.get_column(EXTRA).is_not_null().sum())

"""Flow-log objects read in one compiled pass, when every line is exactly the header's fields.

Why: polars' CSV reader, the byte checks before it and the conversion of its columns to
the lake's Arrow types cost more than one pass that splits and types each line while
its bytes are in cache. The pass vouches for an object only when every body line holds
exactly the header's fields, one space apart, in printable ASCII, with integers as plain
decimal digits (``-`` is null). Any other object (a repeated header, a wider or narrower
line, a tab, non-ASCII, fields AWS does not document) gets ``None`` and takes the polars
path in ``vpcflow``, which holds the reference results: a differential test keeps the
two equal value for value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numba import njit

from ..schema import FLOW_BY_AWS, UTC_TS, VPC_FLOW_SCHEMA, conform_to_schema
from .casting import MAX_EPOCH_SECONDS
from .native_columns import (
    NEWLINE,
    PLAIN,
    SPACE,
    byte_classes,
    is_dash,
    number_array,
    read_int,
    skip_run,
    sparse_rows,
    text_array,
)

_CLASS = byte_classes(quote_is_data=True)  # flow logs have no quoting: a quote is a value byte


@njit(cache=True, nogil=True)
def _split(
    buf: np.ndarray, cls: np.ndarray, pos: int, kinds: np.ndarray, nums: np.ndarray, nums_ok: np.ndarray,
    offsets: np.ndarray, text: np.ndarray, text_ok: np.ndarray,
) -> bool:  # fmt: skip
    """Each body line from ``pos`` on, typed while its bytes are in cache: ``kinds[f]`` is the
    number row of an integer position, or ``-2 - row`` of a text one, whose bytes are copied
    to ``text[row]`` with Arrow offsets. False when a line is not vouched for."""
    width = kinds.size
    n_lines = nums_ok.shape[1]
    n = buf.size
    one = np.uint64(1)
    for line in range(n_lines):
        for f in range(width):
            s = pos
            pos = int(skip_run(buf, cls, s, n, PLAIN))
            if pos == s:  # an empty field: a run of spaces, a leading space, an empty line
                return False
            j = kinds[f]
            if j >= 0:
                if is_dash(buf, s, pos):
                    nums_ok[j, line] = False
                else:
                    ok, v = read_int(buf, s, pos)
                    if not ok:
                        return False
                    nums[j, line] = v
                    nums_ok[j, line] = True
            else:
                t = -2 - j
                at = np.uint64(offsets[t, line])
                if is_dash(buf, s, pos):
                    text_ok[t, line] = False
                else:
                    text_ok[t, line] = True
                    for i in range(np.uint64(s), np.uint64(pos)):  # unsigned: no negative-index check per byte
                        text[t, at] = buf[i]
                        at += one
                offsets[t, line + 1] = at
            if f < width - 1:
                if pos >= n or buf[pos] != SPACE:
                    return False
                pos += 1
        if pos < n:
            if buf[pos] != NEWLINE:  # a wider line, a trailing space, a control byte
                return False
            pos += 1
    return pos == n


def parse_vouched(
    data: bytes, names: Sequence[str], body_start: int, first_line: int, n_lines: int, *, source_uri: str, uri_column: bool
) -> pa.Table | None:
    """Rows of the ``n_lines`` lines from byte ``body_start`` (line ``first_line`` on) in the lake
    schema, or None when a line is not vouched for.

    ``names``: the header's fields, all documented.
    """
    fields = [FLOW_BY_AWS[n] for n in names]
    ints = [i for i, f in enumerate(fields) if f.kind == "int"]
    if n_lines <= 0 or not ints or len(data) >= 2**31:  # without integers a repeated header would read as a row
        return None
    texts = [i for i, f in enumerate(fields) if f.kind == "str"]
    kinds = np.empty(len(fields), dtype=np.int64)
    kinds[ints] = np.arange(len(ints))
    kinds[texts] = -2 - np.arange(len(texts))
    nums = np.empty((len(ints), n_lines), dtype=np.int64)
    nums_ok = np.empty((len(ints), n_lines), dtype=np.bool_)
    offsets = np.zeros((len(texts), n_lines + 1), dtype=np.int32)
    text = sparse_rows(len(texts), len(data))  # a column's values are disjoint pieces of the object
    text_ok = np.empty((len(texts), n_lines), dtype=np.bool_)
    if not _split(np.frombuffer(data, dtype=np.uint8), _CLASS, body_start, kinds, nums, nums_ok, offsets, text, text_ok):
        return None
    given: dict[str, pa.Array] = {}
    for t, i in enumerate(texts):
        given[fields[i].column] = text_array(offsets[t], text[t], text_ok[t])
    for j, i in enumerate(ints):
        given[fields[i].column] = number_array(nums[j], nums_ok[j], pa.int64())
        if fields[i].aws in ("start", "end"):  # epoch seconds within year 1970 .. 9999 become a time
            secs = nums[j]
            ok = nums_ok[j] & (secs >= 0) & (secs <= MAX_EPOCH_SECONDS)
            given[f"{fields[i].aws}_time"] = number_array(np.where(ok, secs * 1_000_000, 0), ok, UTC_TS)
    if uri_column:
        given["source_uri"] = pa.repeat(pa.scalar(source_uri, pa.string()), n_lines)
    lines = pa.table({"source_line": np.arange(first_line, first_line + n_lines, dtype=np.int64)})
    schema = VPC_FLOW_SCHEMA if uri_column else VPC_FLOW_SCHEMA.remove(VPC_FLOW_SCHEMA.get_field_index("source_uri"))
    return conform_to_schema(lines, schema, given)  # fields this header does not name, and extra_fields: null


def warm_up() -> None:
    """Compile (or load from the cache) the pass; ``./dev`` runs it once at install."""
    data = b"version srcaddr start\n2 10.0.0.1 1700000000\n"
    if parse_vouched(data, ["version", "srcaddr", "start"], 22, 2, 1, source_uri="", uri_column=False) is None:
        raise RuntimeError("the compiled flow pass declined its own warm-up line")

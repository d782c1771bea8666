"""Compiled pieces shared by the one-pass parsers (``alb_native``, ``flow_native``).

A pass records where each value lies in the object's bytes (bounds per position and
line), types numbers as it goes, and then builds Arrow arrays straight from the bytes:
no Python object per value, no intermediate frame. numba compiles these on first use
and caches the machine code beside this file.
"""

from __future__ import annotations

import mmap
import threading

import numpy as np
import pyarrow as pa
from numba import njit

SPACE, QUOTE, NEWLINE, DASH = 32, 34, 10, 45
#: Byte classes for a split: a value byte, or what ends or spoils a value.
PLAIN, SEP, END, QUO, BAD = 0, 1, 2, 3, 4


def byte_classes(*, quote_is_data: bool) -> np.ndarray:
    """Printable ASCII is a value byte; space and newline separate; anything else spoils the object."""
    cls = np.full(256, BAD, dtype=np.uint8)
    cls[33:127] = PLAIN
    cls[SPACE], cls[NEWLINE] = SEP, END
    if not quote_is_data:
        cls[QUOTE] = QUO
    return cls


@njit(cache=True, nogil=True, inline="always")
def skip_run(buf: np.ndarray, cls: np.ndarray, pos: int, n: int, upto: int) -> np.int64:
    """Where the run of bytes of class ``upto`` or lower starting at ``pos`` ends.

    Unsigned indices: no negative-index check per byte (the hot loop of the split).
    """
    p, end, one = np.uint64(pos), np.uint64(n), np.uint64(1)
    while p < end and cls[buf[p]] <= upto:
        p += one
    return np.int64(p)


@njit(cache=True, nogil=True)
def is_dash(buf: np.ndarray, s: int, e: int) -> bool:
    return e == s + 1 and buf[s] == DASH


@njit(cache=True, nogil=True)
def read_int(buf: np.ndarray, s: int, e: int) -> tuple[bool, int]:
    """``-?[0-9]{1,18}`` (what a cast to int64 reads the same way), else not ok."""
    neg = buf[s] == DASH
    i = s + 1 if neg else s
    if i == e or e - i > 18:
        return False, 0
    v = 0
    while i < e:
        d = buf[i] - 48
        if d < 0 or d > 9:
            return False, 0
        v = v * 10 + d
        i += 1
    return True, -v if neg else v


_scratch = threading.local()
#: Lines up to which a thread keeps its bound arrays for the next object: fresh arrays
#: cost page faults worth a third of a parse.
SCRATCH_LINES = 1 << 15


def bounds(rows: int, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end arrays (row x line, int32) for a pass; reused per thread up to ``SCRATCH_LINES`` lines."""
    if n_lines > SCRATCH_LINES:
        return np.empty((rows, n_lines), dtype=np.int32), np.empty((rows, n_lines), dtype=np.int32)
    flat = getattr(_scratch, "flat", None)
    if flat is None or flat.shape[1] < rows * SCRATCH_LINES:
        flat = _scratch.flat = np.empty((2, rows * SCRATCH_LINES), dtype=np.int32)
    return flat[0, : rows * n_lines].reshape(rows, n_lines), flat[1, : rows * n_lines].reshape(rows, n_lines)


@njit(cache=True, nogil=True)
def _gather(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray, dash_is_null: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrow string buffers of bound rows ``rows``: offsets and validity per row, one byte buffer
    holding them one after another (``base``: where each starts)."""
    k, n = rows.size, starts.shape[1]
    offsets = np.zeros((k, n + 1), dtype=np.int32)
    valid = np.zeros((k, n), dtype=np.bool_)
    base = np.zeros(k + 1, dtype=np.int64)
    for j in range(k):
        st, en, off, va = starts[rows[j]], ends[rows[j]], offsets[j], valid[j]
        size = 0
        for r in range(n):
            s, e = st[r], en[r]
            if s >= 0 and not (dash_is_null[j] and is_dash(buf, s, e)):
                va[r] = True
                size += e - s
            off[r + 1] = size
        base[j + 1] = base[j] + size
    data = np.empty(base[k], dtype=np.uint8)
    at = np.uint64(0)  # unsigned indices: no negative-index wraparound check per byte (4x faster)
    one = np.uint64(1)
    for j in range(k):
        st, en, va = starts[rows[j]], ends[rows[j]], valid[j]
        for r in range(n):
            if va[r]:
                for i in range(np.uint64(st[r]), np.uint64(en[r])):
                    data[at] = buf[i]
                    at += one
    return offsets, data, base, valid


def _validity(valid: np.ndarray) -> tuple[pa.Buffer | None, int]:
    nulls = int(valid.size - np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def string_arrays(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: list[int], dash_is_null: list[bool]) -> list[pa.Array]:
    offsets, data, base, valid = _gather(buf, starts, ends, np.array(rows, dtype=np.int64), np.array(dash_is_null))
    whole = pa.py_buffer(data)
    out = []
    for j in range(len(rows)):
        bitmap, nulls = _validity(valid[j])
        values = whole.slice(int(base[j]), int(base[j + 1] - base[j]))
        out.append(pa.Array.from_buffers(pa.string(), valid.shape[1], [bitmap, pa.py_buffer(offsets[j]), values], null_count=nulls))
    return out


def sparse_rows(rows: int, size: int) -> np.ndarray:
    """``rows`` x ``size`` bytes where only the pages written take memory (4 kB pages).

    For columns whose total is known only after the pass: each row may take the whole
    object. numpy's own large arrays ask for 2 MB pages, which a sparse write fills whole.
    """
    return np.frombuffer(mmap.mmap(-1, max(rows * size, 1)), dtype=np.uint8)[: rows * size].reshape(rows, size)


def text_array(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A string array over ``offsets`` into ``data`` (no copy; ``data`` may run past the last offset)."""
    bitmap, nulls = _validity(valid)
    values = pa.py_buffer(data).slice(0, int(offsets[-1]))
    return pa.Array.from_buffers(pa.string(), valid.size, [bitmap, pa.py_buffer(offsets), values], null_count=nulls)


def number_array(values: np.ndarray, valid: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    bitmap, nulls = _validity(valid)
    return pa.Array.from_buffers(arrow_type, valid.size, [bitmap, pa.py_buffer(values)], null_count=nulls)

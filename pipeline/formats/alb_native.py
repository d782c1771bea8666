"""ALB access-log objects read in one compiled pass, when every line is in the shape AWS writes.

Why: polars' CSV reader, the proof that its split is right and ~40 typing expressions
cost ~4 µs a line, most of an ALB ingest. One pass over the bytes that splits, checks
and types every field costs a fraction of that. It vouches for an object only when
every line is exactly as AWS writes it: ASCII, fields split by single spaces, exactly
the positions AWS quotes quoted, 18 to 33 fields, a known ``type``, both times with
microseconds, plain decimal numbers, ``address:port`` values. Any other object gets
``None`` here and takes the polars path (``alb.parse_alb_detailed``), which holds the
reference results: a differential test keeps the two equal value for value.

Compiled by numba (a PyPI wheel, no compiler needed) on first use and cached beside
this file.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from ..schema import ALB_ACCESS_SCHEMA, ALB_LOG_ORDER, ALB_TYPES, UTC_TS, conform_to_schema
from .native_columns import (
    DASH,
    NEWLINE,
    PLAIN,
    QUOTE,
    SEP,
    SPACE,
    bounds,
    byte_classes,
    is_dash,
    number_array,
    read_int,
    skip_run,
    string_arrays,
)

_COLON = 58
_WIDTH = len(ALB_LOG_ORDER)
_POW10 = np.array([10.0**k for k in range(16)])  # exact doubles


_CLASS = byte_classes(quote_is_data=False)


@njit(cache=True, nogil=True)
def _split(
    buf: np.ndarray, cls: np.ndarray, quoted: np.ndarray, min_fields: int, starts: np.ndarray, ends: np.ndarray,
    roles: np.ndarray, nums: np.ndarray, nums_ok: np.ndarray, float_at: np.ndarray, floats: np.ndarray,
    floats_ok: np.ndarray, pow10: np.ndarray, request_at: int, request_to: int,
) -> tuple[bool, np.ndarray]:  # fmt: skip
    """Each line's value bounds (quotes stripped) into ``starts``/``ends`` (position x line,
    -1 when absent; rows past the positions for derived columns), its numbers typed
    (``_type_line``) and its field count.

    Not ok when any line is not vouched for.
    """
    width = quoted.size
    rows, n_lines = starts.shape
    nfields = np.zeros(n_lines, dtype=np.int32)
    n = buf.size
    pos = 0
    for line in range(n_lines):
        f = 0
        while True:
            if pos >= n or f >= width:
                return False, nfields
            if buf[pos] == QUOTE:
                if not quoted[f]:
                    return False, nfields
                s = pos + 1
                pos = int(skip_run(buf, cls, s, n, SEP))
                if pos >= n or pos == s or buf[pos] != QUOTE:  # unclosed, empty, or a newline, control or non-ASCII byte
                    return False, nfields
                e = pos
                pos += 1
            else:
                if quoted[f]:
                    return False, nfields
                s = pos
                pos = int(skip_run(buf, cls, s, n, PLAIN))
                e = pos
                if e == s:  # an empty field: a leading space, a run of spaces or an empty line
                    return False, nfields
            starts[f, line] = s
            ends[f, line] = e
            f += 1
            if pos >= n:
                break  # the last line, without a final newline
            c = buf[pos]
            pos += 1
            if c == NEWLINE:
                break
            if c != SPACE or pos >= n or buf[pos] == NEWLINE:  # a quote, control byte, trailing space
                return False, nfields
        if f < min_fields:
            return False, nfields
        nfields[line] = f
        for k in range(f, rows):
            starts[k, line] = -1
            ends[k, line] = -1
        if not _type_line(buf, starts, ends, line, roles, nums, nums_ok, float_at, floats, floats_ok, pow10):
            return False, nfields
        _request(buf, starts, ends, line, request_at, request_to)
    return pos == n, nfields


@njit(cache=True, nogil=True)
def _float(buf: np.ndarray, s: int, e: int, pow10: np.ndarray) -> tuple[bool, float]:
    r"""``-?[0-9]+(\.[0-9]+)?`` with at most 15 digits: the digits over a power of ten, one exact rounding."""
    neg = buf[s] == DASH
    i = s + 1 if neg else s
    m = 0
    digits = 0
    frac = -1  # digits after the point; -1 before one is seen
    while i < e:
        c = buf[i]
        if c == 46 and frac < 0 and digits > 0:
            frac = 0
        elif 48 <= c <= 57:
            m = m * 10 + (c - 48)
            digits += 1
            if frac >= 0:
                frac += 1
        else:
            return False, 0.0
        i += 1
    if digits == 0 or digits > 15 or frac == 0:
        return False, 0.0
    v = m / pow10[max(frac, 0)]
    return True, -v if neg else v


@njit(cache=True, nogil=True)
def _digits(buf: np.ndarray, s: int, k: int) -> int:
    v = 0
    for i in range(s, s + k):
        d = buf[i] - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@njit(cache=True, nogil=True)
def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True)
def _time(buf: np.ndarray, s: int, e: int) -> tuple[bool, int]:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the shape ALB writes) as UTC microseconds."""
    if e - s != 27 or buf[s + 4] != DASH or buf[s + 7] != DASH or buf[s + 10] != 84 or buf[s + 13] != _COLON:
        return False, 0
    if buf[s + 16] != _COLON or buf[s + 19] != 46 or buf[s + 26] != 90:
        return False, 0
    y, mo, d = _digits(buf, s, 4), _digits(buf, s + 5, 2), _digits(buf, s + 8, 2)
    h, mi, se, us = _digits(buf, s + 11, 2), _digits(buf, s + 14, 2), _digits(buf, s + 17, 2), _digits(buf, s + 20, 6)
    if y < 1900 or mo < 1 or mo > 12 or d < 1 or h < 0 or h > 23 or mi < 0 or mi > 59 or se < 0 or se > 59 or us < 0:
        return False, 0
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if d > (30 + ((mo + (mo >= 8)) & 1) if mo != 2 else 29 if leap else 28):
        return False, 0
    days = _days_from_civil(y, mo, d)
    return True, ((days * 24 + h) * 60 + mi) * 60_000_000 + se * 1_000_000 + us


@njit(cache=True, nogil=True)
def _host_port(buf: np.ndarray, s: int, e: int) -> tuple[bool, int, int, int]:
    """``address:port`` split at the last colon, ``[address]`` without brackets: (ok, start, end, port)."""
    colon = e - 1
    while colon >= s and buf[colon] != _COLON:
        colon -= 1
    if colon < s or colon + 1 == e:
        return False, 0, 0, 0
    a, b = s, colon
    if b - a >= 2 and buf[a] == 91 and buf[b - 1] == 93:
        a += 1
        b -= 1
    if b == a or is_dash(buf, a, b):
        return False, 0, 0, 0
    ok, port = read_int(buf, colon + 1, e)
    return ok, a, b, port


@njit(cache=True, nogil=True)
def _request(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, line: int, src: int, dst: int) -> None:
    """The request line into verb (before the first space), url and proto (after the last
    space): bound rows ``dst`` .. ``dst + 2``; '-' or empty parts stay null (-1)."""
    s, e = starts[src, line], ends[src, line]
    if s < 0 or is_dash(buf, s, e):
        return
    first = s
    while first < e and buf[first] != SPACE:
        first += 1
    starts[dst, line], ends[dst, line] = s, first
    if first < e:
        last = e - 1
        while buf[last] != SPACE:
            last -= 1
        if last == first:  # one space: the rest is the url
            starts[dst + 1, line], ends[dst + 1, line] = first + 1, e
        else:
            starts[dst + 1, line], ends[dst + 1, line] = first + 1, last
            starts[dst + 2, line], ends[dst + 2, line] = last + 1, e
    for k in range(dst, dst + 3):
        a, b = starts[k, line], ends[k, line]
        if a >= 0 and (a == b or is_dash(buf, a, b)):
            starts[k, line], ends[k, line] = -1, -1


#: What a number column holds: an integer, a time, or the port of ``address:port``.
_INT, _TIME, _HOST_PORT = 0, 1, 2


@njit(cache=True, nogil=True)
def _type_line(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, line: int, roles: np.ndarray, nums: np.ndarray,
    nums_ok: np.ndarray, float_at: np.ndarray, floats: np.ndarray, floats_ok: np.ndarray, pow10: np.ndarray,
) -> bool:  # fmt: skip
    """Type one line's numbers (``roles``: position, kind, derived bound row) while its bytes are in cache."""
    for j in range(roles.shape[0]):
        p, kind = roles[j, 0], roles[j, 1]
        s, e = starts[p, line], ends[p, line]
        nums_ok[j, line] = False
        if s < 0 or is_dash(buf, s, e):
            continue
        if kind == _INT:
            ok, v = read_int(buf, s, e)
        elif kind == _TIME:
            ok, v = _time(buf, s, e)
        else:
            ok, a, b, v = _host_port(buf, s, e)
            starts[roles[j, 2], line], ends[roles[j, 2], line] = a, b
        if not ok:
            return False
        nums[j, line] = v
        nums_ok[j, line] = True
    for j in range(float_at.size):
        s, e = starts[float_at[j], line], ends[float_at[j], line]
        floats_ok[j, line] = False
        if s < 0 or is_dash(buf, s, e):
            continue
        ok, x = _float(buf, s, e, pow10)
        if not ok:
            return False
        floats[j, line] = x
        floats_ok[j, line] = True
    return True


_TYPES = pa.array(ALB_TYPES, pa.string())
_POS = {name: i for i, name in enumerate(ALB_LOG_ORDER)}
_INT_POSITIONS = ("elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "matched_rule_priority")
_FLOAT_POSITIONS = ("request_processing_time", "target_processing_time", "response_processing_time")
_FLOAT_AT = np.array([_POS[name] for name in _FLOAT_POSITIONS], dtype=np.int64)
#: Bound rows after the positions: the columns split out of ``host:port`` and the request line.
_DERIVED_ROWS = {
    name: _WIDTH + k for k, name in enumerate(("client_ip", "target_ip", "request_verb", "request_url", "request_proto"))
}
#: Lake columns typed as int64 (times as microseconds) in the split: (column, position, kind).
_NUMBER_ROLES = (
    *((name, name, _INT) for name in _INT_POSITIONS),
    ("event_time", "time", _TIME), ("request_creation_ts", "request_creation_time", _TIME),
    ("client_port", "client:port", _HOST_PORT), ("target_port", "target:port", _HOST_PORT),
)  # fmt: skip
_NUMBER_COLUMNS = [column for column, _, _ in _NUMBER_ROLES]
_ROLES = np.array(
    [[_POS[pos], kind, _DERIVED_ROWS[column.replace("_port", "_ip")] if kind == _HOST_PORT else -1] for column, pos, kind in _NUMBER_ROLES],
    dtype=np.int64,
)
#: Lake string columns read straight from a position (``'-'`` is null).
_RAW_STRINGS = {
    f.name: _POS["error_reason" if f.name == "lambda_error_reason" else f.name]
    for f in ALB_ACCESS_SCHEMA
    if f.type == pa.string() and ("error_reason" if f.name == "lambda_error_reason" else f.name) in _POS
}


def parse_vouched(
    data: bytes, quoted: frozenset[int], n_lines: int, min_fields: int, *, source_uri: str, uri_column: bool,
    node_ip: str | None, load_balancer: str | None,
) -> tuple[pa.Table, np.ndarray] | None:  # fmt: skip
    """The object's rows in the lake schema and each line's field count, or None when a line is not vouched for."""
    if n_lines == 0 or len(data) >= 2**31:  # Arrow string offsets are 32-bit
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    mask = np.array([i in quoted for i in range(_WIDTH)], dtype=np.bool_)
    starts, ends = bounds(_WIDTH + len(_DERIVED_ROWS), n_lines)
    nums = np.empty((len(_NUMBER_COLUMNS), n_lines), dtype=np.int64)
    nums_ok = np.empty((len(_NUMBER_COLUMNS), n_lines), dtype=np.bool_)
    floats = np.empty((len(_FLOAT_POSITIONS), n_lines), dtype=np.float64)
    floats_ok = np.empty((len(_FLOAT_POSITIONS), n_lines), dtype=np.bool_)
    ok, nfields = _split(
        buf, _CLASS, mask, min_fields, starts, ends, _ROLES, nums, nums_ok, _FLOAT_AT, floats, floats_ok, _POW10,
        _POS["request"], _DERIVED_ROWS["request_verb"],
    )  # fmt: skip
    if not ok or not nums_ok[_NUMBER_COLUMNS.index("event_time")].all():
        return None  # a line without a time is a reject: the polars path says why
    typed: dict[str, pa.Array] = {}
    for j, column in enumerate(_NUMBER_COLUMNS):
        typed[column] = number_array(nums[j], nums_ok[j], UTC_TS if column.endswith(("_time", "_ts")) else pa.int64())
    for j, name in enumerate(_FLOAT_POSITIONS):
        typed[name] = number_array(floats[j], floats_ok[j], pa.float64())
    names = list(_RAW_STRINGS) + list(_DERIVED_ROWS)
    rows = list(_RAW_STRINGS.values()) + list(_DERIVED_ROWS.values())
    typed.update(zip(names, string_arrays(buf, starts, ends, rows, [r < _WIDTH for r in rows]), strict=True))
    kind = typed["type"]
    if kind.null_count or not pc.all(pc.is_in(kind, value_set=_TYPES)).as_py():
        return None
    repeated = {"node_ip": node_ip, "load_balancer": load_balancer} | ({"source_uri": source_uri} if uri_column else {})
    typed.update((name, pa.repeat(pa.scalar(value, pa.string()), n_lines)) for name, value in repeated.items())
    lines = pa.table({"source_line": np.arange(1, n_lines + 1, dtype=np.int64)})
    schema = ALB_ACCESS_SCHEMA if uri_column else ALB_ACCESS_SCHEMA.remove(ALB_ACCESS_SCHEMA.get_field_index("source_uri"))
    return conform_to_schema(lines, schema, typed), nfields  # extra_fields: null (an object with them is not vouched for)


def warm_up() -> None:
    """Compile (or load from the cache) every kernel, on a line of each kind they type.

    ``./dev`` runs it once at install, so the first ingest does not spend seconds compiling.
    """
    line = (
        'https 2025-06-01T10:00:00.123456Z app/a/1 [::1]:5 - 0.001 -1 0 200 - 1 2 "GET / HTTP/1.1" "ua" - - - "Root=1" '
        '"-" "-" 0 2025-06-01T10:00:00.000000Z "forward" "-" "-" "-" "-" "-" "-" TID "-" "-" "-"'
    )
    from .alb import ALB_MIN_FIELDS, LAYOUT  # noqa: PLC0415 - alb imports this module

    got = parse_vouched(line.encode(), LAYOUT.quoted_as_written, 1, ALB_MIN_FIELDS, source_uri="", uri_column=False, node_ip=None, load_balancer=None)
    if got is None or got[0].num_rows != 1:
        raise RuntimeError("the compiled ALB pass declined its own warm-up line")

"""One dict per input line, keyed by AWS's field names: what ``flowsleuth parse`` prints.

Runs the same parsers as ``parse_bytes`` over batches of lines and turns each row
back into AWS's names (``account-id``, ``client_ip``, ``error_reason`` ...), keeping
only the fields the line carried; a rejected line gives ``{"error": reason, "line": n}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..errors import UsageError
from ..schema import ALB_BY_AWS, ALB_LOG_ORDER, CONNECTION_FIELDS, FLOW_BY_AWS
from .alb import parse_alb_detailed
from .alb_connection import parse_alb_connection_detailed
from .flow_header import parse_header
from .result import ParsedObject
from .vpcflow import parse_vpcflow_detailed

#: CLI format name -> lake table.
FORMATS: dict[str, str] = {"vpcflow": "vpc_flow", "alb": "alb_access", "alb-connection": "alb_connection"}

_ALB_KEYS: list[list[tuple[str, str]]] = []  # per position: (aws key, lake column)
for _name in ALB_LOG_ORDER:
    if _name == "client:port":
        _ALB_KEYS.append([("client_ip", "client_ip"), ("client_port", "client_port")])
    elif _name == "target:port":
        _ALB_KEYS.append([("target_ip", "target_ip"), ("target_port", "target_port")])
    elif _name == "request":
        _ALB_KEYS.append([(k, k) for k in ("request", "request_verb", "request_url", "request_proto")])
    else:
        _ALB_KEYS.append([(_name, ALB_BY_AWS[_name].column)])
_CONNECTION_KEYS = [[(f.aws, f.column)] for f in CONNECTION_FIELDS]


def _keyed(rows: list[dict[str, Any]], counts: list[int], keys: list[list[tuple[str, str]]]) -> list[dict[str, Any]]:
    out = []
    for row, n in zip(rows, counts, strict=False):
        rec = {aws: row[col] for pos in keys[: min(n, len(keys))] for aws, col in pos}
        if row.get("extra_fields") is not None:
            rec["extra_fields"] = row["extra_fields"]
        out.append(rec)
    return out


def _merge(parsed: ParsedObject, records: list[dict[str, Any]], offset: int) -> Iterator[dict[str, Any]]:
    """Rows and rejects interleaved in line order, line numbers shifted by ``offset``."""
    lines = parsed.data.column("source_line").to_pylist()
    rejects = sorted(parsed.rejects, key=lambda r: r.line)
    i = j = 0
    while i < len(lines) or j < len(rejects):
        if j >= len(rejects) or (i < len(lines) and lines[i] < rejects[j].line):
            yield records[i]
            i += 1
        else:
            yield {"error": rejects[j].reason, "line": rejects[j].line + offset}
            j += 1


def parse_batch(data: bytes, fmt: str, header: str | Sequence[str] | None, offset: int) -> tuple[list[dict[str, Any]], tuple[str, ...] | None]:
    """Records for one batch of lines; returns the flow header in force after it."""
    table = FORMATS.get(fmt)
    if table is None:
        raise UsageError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if table == "vpc_flow":
        flow = parse_vpcflow_detailed(data, source_uri="<input>", header=header)
        names = flow.names
        rows = flow.parsed.data.select([FLOW_BY_AWS[n].column for n in names]).to_pylist()
        records = [{n: row[FLOW_BY_AWS[n].column] for n in names} for row in rows]
        return list(_merge(flow.parsed, records, offset)), names
    if table == "alb_access":
        parsed, counts = parse_alb_detailed(data, source_uri="<input>")
        keys = _ALB_KEYS
    else:
        parsed, counts = parse_alb_connection_detailed(data, source_uri="<input>")
        keys = _CONNECTION_KEYS
    records = _keyed(parsed.data.to_pylist(), counts.to_list(), keys)
    return list(_merge(parsed, records, offset)), None


def parse_lines_to_records(
    lines: Iterable[str | bytes],
    fmt: str,
    header: str | Sequence[str] | None = None,
    *,
    batch_lines: int = 20_000,
) -> Iterator[dict[str, Any]]:
    """One dict per input line (header lines excepted), in order, sharing ``parse_bytes``' parsers.

    ``fmt``: ``vpcflow``, ``alb`` or ``alb-connection``. ``lines`` may keep or drop
    their newlines. A leading flow-log header line sets the field names.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if header is not None and fmt == "vpcflow":
        header = parse_header(header)
    buf: list[bytes] = []
    offset = 0
    for line in lines:
        raw = line.encode("utf-8", errors="surrogateescape") if isinstance(line, str) else line
        buf.append(raw if raw.endswith(b"\n") else raw + b"\n")
        if len(buf) >= batch_lines:
            out, header = _flush(buf, fmt, header, offset)
            yield from out
            offset += len(buf)
            buf = []
    if buf:
        out, _ = _flush(buf, fmt, header, offset)
        yield from out


def _flush(buf: list[bytes], fmt: str, header: Any, offset: int) -> tuple[list[dict[str, Any]], Any]:
    out, names = parse_batch(b"".join(buf), fmt, header, offset)
    return out, (names if names else header)

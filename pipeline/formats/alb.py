"""ALB access logs: every shape AWS has written, 18 to 33 fields, plus unknown trailing fields.

Field order: ``schema.ALB_LOG_ORDER``. Records written before a field existed end
earlier, and the fields they lack are null: the shortest shape is the one ALB launched
with in 2016, 18 fields through ``trace_id`` (``domain_name`` and ``chosen_cert_arn``
came with SNI in late 2017; docs/formats.md lists each shape). Fields after the 33rd are kept
as logged in ``extra_fields`` and counted, never a reason to drop a line. Values
are kept as logged (``\\x22`` stays ``\\x22``). Lines of other ELB formats (Network
and Classic Load Balancer, the test-file marker) are rejected with a reason naming
the format. Tokenizing: ``quoted_log``.
"""

from __future__ import annotations

import re

import polars as pl
import pyarrow as pa

from ..schema import ALB_ACCESS_SCHEMA, ALB_BY_AWS, ALB_LOG_ORDER, ALB_TYPES
from .alb_fields import apply_checks, count_extra, host_port_check, split_host_port, split_request, with_alb_times
from .alb_native import parse_vouched
from .casting import dash_to_null, numeric_fields
from .grouped import cut_apart, join_objects, per_object_column, valid_per_object, without_null_columns
from .lines import count_lines
from .quoted_log import EXTRA, NFIELDS, Layout, Token, glued_tokens, strict_tokens, tokenize_object
from .result import ParsedObject
from .table_build import to_schema_table

#: Shortest record shape accepted: type .. trace_id (ALB's launch shape, 2016-2017).
ALB_MIN_FIELDS = 18

_QUOTED = frozenset(
    ALB_LOG_ORDER.index(n)
    for n in (
        "request", "user_agent", "trace_id", "domain_name", "chosen_cert_arn", "actions_executed",
        "redirect_url", "error_reason", "classification", "classification_reason",
        "transformed_host", "transformed_uri", "request_transform_status",
    )
)  # fmt: skip
_UNQUOTED = frozenset(range(12)) | frozenset(
    ALB_LOG_ORDER.index(n)
    for n in ("ssl_cipher", "ssl_protocol", "target_group_arn", "matched_rule_priority", "request_creation_time", "conn_trace_id")
)

#: A raw quote in the request or user agent: anchor on the fields AWS writes after the user agent.
_ANCHOR = re.compile(r' *((?:[^ "]+ +){12})"(.*?)" +"(.*?)" +([^ "]+ +[^ "]+ +[^ "]+ +"[^"]*"(?: .*)?)')


def _anchored_split(line: str) -> list[Token] | None:
    m = _ANCHOR.fullmatch(line)
    if m is None:
        return None
    rest = strict_tokens(m.group(4)) or glued_tokens(m.group(4))
    if rest is None:
        return None
    head: list[Token] = [(t, False) for t in m.group(1).split()]
    return head + [(m.group(2), True), (m.group(3), True)] + rest


MARKER_REASON = "ELB test-file marker ('Enable AccessLog for ELB: ...'), written when access logging is enabled; not a log record"
NLB_REASON = "Network Load Balancer access log line (starts with 'tls <version>'), not an ALB access log"
CLASSIC_REASON = "Classic Load Balancer access log line (starts with the time, no type field), not an ALB access log"
_TIME_FIRST = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T"


def foreign_format(line: str) -> str | None:
    """Why a line that did not even tokenize belongs to another ELB log format, if it does."""
    tokens = line.split(" ", 2)
    if tokens[:2] == ["Enable", "AccessLog"]:
        return MARKER_REASON
    if tokens[0] == "tls":
        return NLB_REASON
    if re.match(_TIME_FIRST, tokens[0]):
        return CLASSIC_REASON
    return None


#: Also quoted in every log AWS writes (the careful path accepts them either way).
_WRITTEN_QUOTED = _QUOTED | {ALB_LOG_ORDER.index("target_port_list"), ALB_LOG_ORDER.index("target_status_code_list")}
LAYOUT = Layout(
    positions=ALB_LOG_ORDER, quoted=_QUOTED, unquoted=_UNQUOTED, anchored=_anchored_split, foreign=foreign_format,
    written_quoted=_WRITTEN_QUOTED,
)

#: Position name -> column holding its string before typing.
_POS_COLUMN = {
    name: ("__client" if name == "client:port" else "__target" if name == "target:port" else ALB_BY_AWS[name].column)
    for name in ALB_LOG_ORDER
}
_NUMERIC = [f for f in ALB_BY_AWS.values() if f.kind != "str"]


def _other_format_checks() -> list[tuple[pl.Expr, pl.Expr]]:
    first, second = pl.col("p0"), pl.col("p1")
    return [
        ((first == "Enable") & (second == "AccessLog"), pl.lit(MARKER_REASON)),
        (first == "tls", pl.lit(NLB_REASON)),
        (first.str.contains(_TIME_FIRST), pl.lit(CLASSIC_REASON)),
    ]


def parse_alb(
    data: bytes, *, source_uri: str, node_ip: str | None = None, load_balancer: str | None = None, uri_column: bool = True
) -> ParsedObject:
    """Parse one decompressed ALB access-log object; ``uri_column``: see ``parse_bytes``."""
    return parse_alb_detailed(data, source_uri=source_uri, node_ip=node_ip, load_balancer=load_balancer, uri_column=uri_column)[0]


def parse_alb_detailed(
    data: bytes, *, source_uri: str, node_ip: str | None = None, load_balancer: str | None = None,
    fast: bool = True, uri_column: bool = True, n_lines: int | None = None, compiled: bool = True,
) -> tuple[ParsedObject, pl.Series]:  # fmt: skip
    """The parsed object and, per row, how many of the 33 known fields its line carried.

    ``n_lines``: ``count_lines(data)`` when the caller has counted already. ``compiled``:
    try ``alb_native`` first (with ``fast``); tests turn it off to compare the two.
    """
    if fast and compiled and groupable(data):  # objects exactly as AWS writes them
        n_lines = count_lines(data) if n_lines is None else n_lines
        vouched = parse_vouched(
            data, LAYOUT.quoted_as_written, n_lines, ALB_MIN_FIELDS,
            source_uri=source_uri, uri_column=uri_column, node_ip=node_ip, load_balancer=load_balancer,
        )  # fmt: skip
        if vouched is not None:
            table, nfields = vouched
            return ParsedObject(table="alb_access", data=table, lines_read=n_lines), pl.Series(NFIELDS, nfields)
    tok = tokenize_object(data, LAYOUT, fast=fast, n_lines=n_lines)
    frame = tok.frame
    pcols = [LAYOUT.column(i) for i in range(LAYOUT.width)]
    checks = _other_format_checks()
    frame = frame.with_columns(dash_to_null(pcols)).with_columns(
        [pl.col(c).alias(_POS_COLUMN[ALB_LOG_ORDER[i]]) for i, c in enumerate(pcols)]
    )
    frame = split_host_port(frame, "__client", "client_ip", "client_port")
    frame = split_host_port(frame, "__target", "target_ip", "target_port")
    # both times in one pass (polars runs the two parses side by side); rejected rows drop theirs
    frame = with_alb_times(split_request(frame), {"time": "event_time", "request_creation_time": "request_creation_ts"})
    client_check = host_port_check("__client", "client:port")
    target_check = host_port_check("__target", "target:port")
    n = pl.col(NFIELDS)
    checks += [
        (
            n < ALB_MIN_FIELDS,
            pl.lit("record has ") + n.cast(pl.String) + pl.lit(f" fields; an ALB access log record has at least {ALB_MIN_FIELDS} (type .. trace_id)"),
        ),
        (
            ~pl.col("type").is_in(list(ALB_TYPES)) | pl.col("type").is_null(),
            pl.lit("type '") + pl.col("type").fill_null("-").str.slice(0, 20) + pl.lit("' is not one of " + " ".join(ALB_TYPES)),
        ),
        (
            pl.col("event_time").is_null(),
            pl.lit("time is not an ISO 8601 UTC timestamp: '") + pl.col("time").fill_null("-").str.slice(0, 40) + pl.lit("'"),
        ),
        client_check,
        target_check,
    ]
    labels = {"client_port": "client:port port", "target_port": "target:port port"}
    good, rejects = apply_checks(tok, frame, numeric_fields(_NUMERIC, frame.columns, labels), checks)
    good = good.with_columns(
        [
            pl.col(EXTRA).alias("extra_fields"),
            pl.lit(node_ip, dtype=pl.String).alias("node_ip"),
            pl.lit(load_balancer, dtype=pl.String).alias("load_balancer"),
        ]
    )
    parsed = ParsedObject(
        table="alb_access",
        data=to_schema_table(good, ALB_ACCESS_SCHEMA, source_uri=source_uri, uri_column=uri_column),
        rejects=rejects,
        lines_read=tok.lines_read,
        header_lines=0,
        extra_field_lines=count_extra(good),
    )
    return parsed, good.get_column(NFIELDS)


def groupable(data: bytes) -> bool:
    """Whether a decompressed ALB object may be parsed together with others (``parse_alb_many``).

    Not when the tokenizer would treat it as a whole specially: empty, a BOM first, or a CR
    anywhere (those take the careful path on their own, so a group's other objects keep
    the fast one).
    """
    return bool(data) and not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data


def parse_alb_many(
    objects: list[tuple[bytes, str, str | None, str | None]], *, uri_column: bool = True, for_lake: bool = False
) -> list[ParsedObject]:
    """Several small ALB objects ``(data, source_uri, node_ip, load_balancer)`` in one parse; one result each.

    Every check, split and type of a line depends on that line alone, so parsing the
    objects' lines together and cutting the rows and rejects back apart by line number
    gives each object exactly what ``parse_alb`` gives it, at a fraction of the fixed cost
    per call (polars runs ~100 small operations per parse). Each object must be
    ``groupable``. ``uri_column``: see ``parse_bytes``; ``for_lake``: see
    ``vpcflow.parse_vpcflow_many``.
    """
    if len(objects) == 1:  # nothing to join: no copy of the object
        joined, offsets = objects[0][0], [0, count_lines(objects[0][0])]
    else:
        joined, offsets = join_objects([d for d, *_ in objects])
    counts = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    parsed, _ = parse_alb_detailed(joined, source_uri="", uri_column=False, n_lines=offsets[-1])
    cut = cut_apart(parsed.data, parsed.rejects, offsets[1:], offsets[:-1])
    names = cut.table.column_names
    for name, values in (("node_ip", [o[2] for o in objects]), ("load_balancer", [o[3] for o in objects])):
        at = names.index(name)
        cut.table = cut.table.set_column(at, cut.table.schema.field(at), per_object_column(cut, values))
    extra = valid_per_object(cut, "extra_fields")
    if for_lake:
        uri_column = False
        cut.table = without_null_columns(cut.table)
    out: list[ParsedObject] = []
    for i, (_data, uri, _node_ip, _lb) in enumerate(objects):
        part = cut.part(i)
        if uri_column:
            at = ALB_ACCESS_SCHEMA.get_field_index("source_uri")
            part = part.add_column(at, ALB_ACCESS_SCHEMA.field(at), pa.repeat(pa.scalar(uri, pa.string()), part.num_rows))
        out.append(
            ParsedObject(
                table="alb_access", data=part, rejects=cut.rejects[i], lines_read=counts[i], extra_field_lines=extra[i]
            )
        )
    return out

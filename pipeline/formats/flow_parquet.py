"""Flow logs AWS delivered as Parquet (the "Parquet" log-file format option).

AWS names the columns like the fields, with underscores (``account_id``, ``log_status``)
and stores numbers as int32/int64; that is already our lake naming, so columns map
by name and are cast to the lake types. A column we do not know is an error for the
object, as an unknown text header field is.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import FormatError, UnknownHeaderError
from ..schema import FLOW_BY_COLUMN, VPC_FLOW_SCHEMA
from .casting import MAX_EPOCH_SECONDS
from .result import ParsedObject


def parse_flow_parquet(data: bytes, *, source_uri: str) -> ParsedObject:
    """Read one Parquet flow-log object into the ``vpc_flow`` schema (source_line = row + 1)."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise FormatError(f"{source_uri}: not a readable Parquet file ({e})", source_uri=source_uri) from e
    # Tolerate hyphenated names too (some copies rename columns to the text header's names).
    names = [n.replace("-", "_") for n in table.column_names]
    unknown = [n for n in names if n not in FLOW_BY_COLUMN]
    if unknown:
        raise UnknownHeaderError(
            f"{source_uri}: Parquet flow log has column(s) AWS does not document: "
            + ", ".join(repr(n[:40]) for n in unknown[:5]),
            source_uri=source_uri,
        )
    rows = table.num_rows
    columns: dict[str, pa.Array] = {}
    for name, col in zip(names, table.columns, strict=False):
        target = FLOW_BY_COLUMN[name].arrow_type
        try:
            columns[name] = col.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise FormatError(f"{source_uri}: Parquet column {name!r} is not {target} ({e})", source_uri=source_uri) from e
    for src, dst in (("start", "start_time"), ("end", "end_time")):
        if src in columns:
            secs = columns[src]
            ok = pc.and_(pc.greater_equal(secs, 0), pc.less_equal(secs, MAX_EPOCH_SECONDS))
            micros = pc.multiply(pc.if_else(ok, secs, None), 1_000_000)
            columns[dst] = micros.cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    columns["source_uri"] = pa.array([source_uri] * rows, pa.string())
    columns["source_line"] = pa.array(range(1, rows + 1), pa.int64())
    arrays = [columns[f.name] if f.name in columns else pa.nulls(rows, f.type) for f in VPC_FLOW_SCHEMA]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    out = pa.Table.from_arrays(arrays, schema=VPC_FLOW_SCHEMA)
    return ParsedObject(table="vpc_flow", data=out, lines_read=rows)

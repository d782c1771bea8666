"""Shape a polars frame into exactly the lake schema of a table."""

from __future__ import annotations

import polars as pl
import pyarrow as pa


def to_schema_table(frame: pl.DataFrame, schema: pa.Schema, *, source_uri: str) -> pa.Table:
    """``schema``'s columns in order (absent ones all-null), plus ``source_uri``.

    ``frame`` must hold ``source_line``; its other columns not in ``schema`` are ignored.
    Built column by column in Arrow: broadcasting dozens of null columns through
    polars costs more than the parse itself.
    """
    rows = frame.height
    present = [f.name for f in schema if f.name in frame.columns and f.name != "source_uri"]
    converted = frame.select(present).to_arrow()  # one conversion for the frame, not one per column
    arrays: list[pa.Array | pa.ChunkedArray] = []
    nulls: dict[pa.DataType, pa.Array] = {}  # one all-null array per type, shared (immutable)
    for fld in schema:
        if fld.name == "source_uri":
            arrays.append(pa.repeat(pa.scalar(source_uri, pa.string()), rows) if rows else pa.array([], pa.string()))
        elif fld.name in frame.columns:
            col = converted.column(fld.name)
            arrays.append(col if col.type == fld.type else col.cast(fld.type))
        else:
            if fld.type not in nulls:
                nulls[fld.type] = pa.nulls(rows, fld.type)
            arrays.append(nulls[fld.type])
    return pa.Table.from_arrays(arrays, schema=schema)

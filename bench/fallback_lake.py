"""A vpc_flow lake built without flowsleuth ingest, so the lake baselines can run on their own.

FALLBACK ONLY: used when ``flowsleuth ingest`` is not available (or fails), so the naive
self-join (and detect, if it exists) still has a lake in the documented layout:
``<lake>/vpc_flow/date=YYYY-MM-DD/hour=HH/*.parquet`` with exactly
``pipeline.schema.VPC_FLOW_SCHEMA``. ALB tables are left empty (``register_views`` then
gives empty views). Results measured on it are labelled as such in the JSON.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from bench.baselines import flow_files, flow_groups
from pipeline.schema import FLOW_BY_AWS, VPC_FLOW_SCHEMA

log = logging.getLogger(__name__)

FILES_PER_CHUNK = 24  # bounds memory: one chunk of objects is parsed and written at a time


def _typed(name: str) -> pl.DataType:
    kind = FLOW_BY_AWS[name].kind if name in FLOW_BY_AWS else "str"
    return {"int": pl.Int64(), "float": pl.Float64(), "str": pl.String()}[kind]


def _to_schema(df: pl.DataFrame) -> pa.Table:
    table = df.to_arrow()
    cols = []
    for field in VPC_FLOW_SCHEMA:
        if field.name in table.column_names:
            cols.append(table[field.name].cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=VPC_FLOW_SCHEMA)


def build_flow_lake(data_root: Path, lake: Path) -> int:
    """Parse every flow object under ``data_root`` into ``lake``; returns the row count."""
    rows = 0
    chunk_no = 0
    for header, files in flow_groups(flow_files(data_root)).items():
        schema = {h: _typed(h) for h in header}
        for i in range(0, len(files), FILES_PER_CHUNK):
            chunk = files[i : i + FILES_PER_CHUNK]
            df = (
                pl.scan_csv(chunk, separator=" ", has_header=True, schema=schema, null_values="-", quote_char=None,
                            include_file_paths="source_uri", row_index_name="_row")
                .rename({h: h.replace("-", "_") for h in header})
                .with_columns(
                    (pl.col("_row") - pl.col("_row").min().over("source_uri") + 2).cast(pl.Int64).alias("source_line"),
                    pl.from_epoch("start").dt.replace_time_zone("UTC").alias("start_time"),
                    pl.from_epoch("end").dt.replace_time_zone("UTC").alias("end_time"),
                )
                .with_columns(
                    pl.col("start_time").dt.strftime("%Y-%m-%d").alias("_date"),
                    pl.col("start_time").dt.strftime("%H").alias("_hour"),
                )
                .collect()
            )  # fmt: skip
            for (date, hour), part in df.partition_by("_date", "_hour", as_dict=True).items():
                dest = lake / "vpc_flow" / f"date={date}" / f"hour={hour}"
                dest.mkdir(parents=True, exist_ok=True)
                pq.write_table(_to_schema(part), dest / f"fallback-{chunk_no:05d}.parquet")
            rows += df.height
            chunk_no += 1
    log.info("fallback lake: %d flow rows in %s", rows, lake)
    return rows

"""Write records as S3 objects, with the keys, headers and batching AWS uses.

VPC flow logs (flow-logs-s3.html, "Log file names" / "Processing of flow log records"):
``AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/<account>_vpcflowlogs_<region>_<flow-log-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz``;
one object per flow log per 5 minutes, first line the header naming the fields in the
flow log's format (default v2 or custom), missing values ``-``. Records are delivered
late (each record lands in the object of the 5-minute slot after ``end`` + a random
lag), so objects straddle aggregation intervals.

ALB access logs (load-balancer-access-logs.html, "Access log files"):
``AWSLogs/<account>/elasticloadbalancing/<region>/YYYY/MM/DD/<account>_elasticloadbalancing_<region>_app.<name>.<id>_<end-time>_<node-ip>_<random>.log.gz``,
one object per ALB node per 5 minutes, named with the interval's end time and the
node's IP; plus the ``ELBAccessLogTestFile`` AWS writes when logging is enabled.

Gzip members carry mtime 0, so the same seed gives the same bytes (isal level 1 by
default; zlib level 9 with ``compact``, for committed samples).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import isal.igzip as igzip
import numpy as np
import polars as pl

from ..schema import FLOW_BY_AWS
from .alb_lines import format_lines
from .environment import Env, FlowLog
from .text_build import THREADS, as_text, parallel_select, split_objects, text

FILE_SECONDS = 300
FAST_LEVEL = 1  # isal: fast enough for benchmark volumes
BATCH_ROWS = 500_000
COMPACT_LEVEL = 9  # zlib: about a third smaller, for the committed data-samples


def _stamp(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _digest(*parts: object, n: int = 8) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


def _write(path: Path, data: bytes | memoryview, compact: bool, *, raw: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if raw else gzip.compress(data, COMPACT_LEVEL, mtime=0) if compact else igzip.compress(data, FAST_LEVEL, mtime=0))


def all_flow_logs(env: Env) -> list[FlowLog]:
    """The app's flow logs, then the other accounts' VPCs' (their index is the ``flow_log`` key)."""
    return [*env.flow_logs, *(v.flow_log for v in env.other_vpcs)]


def _interface_table(env: Env) -> pl.DataFrame:
    """Per-ENI fields of every record: account, VPC, subnet, instance, region, AZ id, flow log."""
    hosts = env.all_hosts
    fl_index = {fl.vpc_id: i for i, fl in enumerate(all_flow_logs(env))}
    return pl.DataFrame(
        {
            "interface_id": [h.eni for h in hosts],
            "account_id": [h.subnet.account or env.account for h in hosts],
            "vpc_id": [h.subnet.vpc_id for h in hosts],
            "subnet_id": [h.subnet.subnet_id for h in hosts],
            "instance_id": [h.instance_id for h in hosts],
            "region": [env.region] * len(hosts),
            "az_id": [env.az_ids[h.subnet.az] for h in hosts],
            "sublocation_type": [None] * len(hosts),
            "sublocation_id": [None] * len(hosts),
            "flow_log": [fl_index.get(h.subnet.vpc_id, -1) for h in hosts],
            "_iface": list(range(len(hosts))),  # sort key: cheaper than the interface id string
        },
        schema_overrides={"instance_id": pl.String, "sublocation_type": pl.String, "sublocation_id": pl.String},
    )


def flow_object_key(env: Env, fl: FlowLog, slot: int) -> str:
    """The S3 key AWS gives a flow-log object: plain or Hive-compatible prefixes, daily or hourly."""
    ts = _stamp(slot)
    account = fl.account or env.account
    ext = ".log.parquet" if fl.file_format == "parquet" else ".log.gz"
    name = f"{account}_vpcflowlogs_{env.region}_{fl.flow_log_id}_{ts:%Y%m%dT%H%MZ}_{_digest(fl.flow_log_id, slot)}{ext}"
    if fl.hive:
        folder = f"aws-account-id={account}/aws-service=vpcflowlogs/aws-region={env.region}/year={ts:%Y}/month={ts:%m}/day={ts:%d}"
        return f"AWSLogs/{folder}/{f'hour={ts:%H}/' if fl.hourly else ''}{name}"
    return f"AWSLogs/{account}/vpcflowlogs/{env.region}/{ts:%Y/%m/%d}/{f'{ts:%H}/' if fl.hourly else ''}{name}"


def _parquet_object(batch: pl.DataFrame, fl: FlowLog) -> bytes:
    """One object in AWS's Parquet format: a column per field (underscored), int32/int64, null for '-'."""
    cols = []
    for name in fl.fields:
        spec = FLOW_BY_AWS[name]
        out = name.replace("-", "_")
        if name == "version":
            cols.append(pl.lit(fl.version, pl.Int32).alias(out))
        elif spec.kind == "int":
            cols.append(pl.col(spec.column).cast(pl.Int64 if name in ("packets", "bytes", "start", "end") else pl.Int32).alias(out))
        else:
            cols.append(pl.col(spec.column).cast(pl.String).alias(out))
    buf = io.BytesIO()
    batch.select(cols).write_parquet(buf, compression="gzip", statistics=False)
    return buf.getvalue()


def alb_object_key(env: Env, node_ip: str, end: int) -> str:
    ts = _stamp(end)
    rand = _digest(node_ip, end, env.alb_id)
    name = (
        f"{env.account}_elasticloadbalancing_{env.region}_app.{env.alb_name}.{env.alb_id}_"
        f"{ts:%Y%m%dT%H%MZ}_{node_ip}_{rand}.log.gz"
    )
    return f"AWSLogs/{env.account}/elasticloadbalancing/{env.region}/{ts:%Y/%m/%d}/{name}"


def with_flow_slots(flows: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Add ``_slot``: the end time of the 5-minute object each record is delivered in
    (the slot after its ``end`` plus a random delivery lag of 20-400 s)."""
    lag = rng.uniform(20, 400, flows.height).astype(np.int64)
    return flows.with_columns((((pl.col("end") + pl.Series(lag)) // FILE_SECONDS + 1) * FILE_SECONDS).alias("_slot"))


def with_alb_ends(requests: pl.DataFrame) -> pl.DataFrame:
    """Add ``_end``: the end of the 5-minute interval whose object holds the request."""
    return requests.with_columns(((pl.col("time") // FILE_SECONDS + 1) * FILE_SECONDS).cast(pl.Int64).alias("_end"))


def _due(df: pl.DataFrame, column: str, until: int | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows whose object is complete by ``until`` (all when None), and the rest."""
    if until is None:
        return df, df.clear()
    return df.filter(pl.col(column) <= until), df.filter(pl.col(column) > until)


def write_flow_logs(env: Env, flows: pl.DataFrame, out: Path, *, until: int | None = None,
                    compact: bool = False) -> tuple[int, pl.DataFrame]:  # fmt: skip
    """Write the objects of ``flows`` (with ``_slot``) that end by ``until``; return the
    number of records written and the records left for later objects.

    Records are sorted once by (flow log, object, interface, start), then formatted and
    written in batches of whole objects, so memory stays near the size of the records.
    """
    flows, pending = _due(flows, "_slot", until)
    table = _interface_table(env)
    df = (
        flows.with_row_index("_seq")
        .join(table.select("interface_id", "_iface", "flow_log"), on="interface_id", how="left")
        # within an object, records come grouped by interface, as AWS's capture batches do;
        # _seq makes the order total, so the bytes never depend on thread timing
        .sort(["flow_log", "_slot", "_iface", "start", "_seq"])
    )
    del flows
    runs = (
        df.select("flow_log", "_slot").with_row_index("_row")
        .group_by(["flow_log", "_slot"], maintain_order=True)
        .agg(pl.col("_row").first().alias("lo"), (pl.col("_row").last() + 1).alias("hi"))
    )  # fmt: skip
    batches: list[tuple[int, int, int]] = []  # (flow log, first row, end row)
    for fl_i, _slot, lo, hi in runs.iter_rows():
        if batches and batches[-1][0] == fl_i and batches[-1][2] - batches[-1][1] < BATCH_ROWS:
            batches[-1] = (fl_i, batches[-1][1], hi)
        else:
            batches.append((fl_i, lo, hi))
    attrs = [c for c in table.columns if c not in ("interface_id", "_iface", "flow_log")]
    flow_logs = all_flow_logs(env)
    with ThreadPoolExecutor(THREADS) as pool:  # gzip releases the GIL: compress objects in parallel
        for fl_i, lo, hi in batches:
            if fl_i < 0:
                continue
            fl = flow_logs[fl_i]
            batch = df.slice(lo, hi - lo).with_columns(pl.lit(table[c]).gather(pl.col("_iface")).alias(c) for c in attrs)
            if fl.file_format == "parquet":
                for (slot,), part in batch.group_by(["_slot"], maintain_order=True):
                    _write(out / flow_object_key(env, fl, int(slot)), _parquet_object(part, fl), compact, raw=True)
                continue
            parts: list[str | pl.Expr] = []
            for name in fl.fields:
                parts.append(str(fl.version) if name == "version" else as_text(batch, FLOW_BY_AWS[name].column))
                parts.append(" ")
            lines = parallel_select(batch, text(parts[:-1]).alias("line"))
            header = (" ".join(fl.fields) + "\n").encode()
            jobs = [pool.submit(_write, out / flow_object_key(env, fl, slot), header + body, compact)
                    for (slot,), body in split_objects(batch.select("_slot"), lines)]  # fmt: skip
            for job in jobs:
                job.result()
    return int(df.filter(pl.col("flow_log") >= 0).height), pending


def write_alb_logs(env: Env, requests: pl.DataFrame, out: Path, rng: np.random.Generator, *, until: int | None = None,
                   compact: bool = False) -> tuple[int, pl.DataFrame]:  # fmt: skip
    """One object per ALB node per 5-minute interval that had requests (``requests`` with
    ``_end``), for intervals ending by ``until``; returns lines written and requests left."""
    req, pending = _due(requests, "_end", until)
    req = req.with_row_index("_seq").sort(["node", "_end", "time", "_seq"]).drop("_seq")
    lines = format_lines(env, req, rng)
    with ThreadPoolExecutor(THREADS) as pool:
        jobs = [pool.submit(_write, out / alb_object_key(env, env.alb_nodes[node].ip, end), bytes(body), compact)
                for (node, end), body in split_objects(req.select("node", "_end"), lines)]  # fmt: skip
        for job in jobs:
            job.result()
    return req.height, pending


def write_alb_test_file(env: Env, out: Path, enabled_at: int) -> None:
    """The marker object AWS puts at the prefix root when access logging is enabled."""
    p = out / "AWSLogs" / env.account / "ELBAccessLogTestFile"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"Enable AccessLog for ELB: {env.load_balancer} at {_stamp(enabled_at):%Y-%m-%dT%H:%M:%S}.000Z\n")

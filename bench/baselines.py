"""The baselines flowsleuth is measured against, each runnable as its own process.

    python -m bench.baselines NAME --data DATASET_ROOT --out DIR [--sample N] [--lake LAKE]

Each prints one JSON object on its last stdout line: ``lines`` it handled, and for
sampled peers ``sample_seconds`` (time spent parsing the sample, in process) so the
harness can extrapolate lines/s. These are what a user would write, not tuned code:

- ``polars``: ``scan_csv`` with a typed schema, separator ' ', into ``sink_parquet``
  (ALB: polars' own quote handling, ``quote_char='"'``); flow files grouped by header line.
- ``polars-lake``: the same one-liners, plus what the lake holds beyond the columns as
  logged: event times parsed, ALB ``client:port``/``target:port`` and the request line
  split, files partitioned by date and hour. Not a target: it tells how much of the gap
  to ``polars`` is the output (no checks, no ledger, no line numbers, no rejects).
- ``duckdb``: ``read_csv`` with typed columns -> ``COPY ... TO 'x.parquet'``.
- ``isal`` / ``isal2``: ``isal.igzip`` decompression of every object (1 / 2 threads), no parsing.
- ``peer-flow``: flowlogs-reader's own record path (csv.DictReader + FlowRecord), on a sample.
- ``peer-alb``: aws-log-parser's ``AwsLogParser(LogType.LoadBalancer)``, on a sample.
- ``selfjoin``: the naive one-way-flow ANTI self-join over the lake's ``vpc_flow`` view.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
from isal import igzip

from pipeline.schema import ALB_BY_AWS, ALB_LOG_ORDER, FLOW_BY_AWS

NAIVE_SELF_JOIN = (
    "SELECT count(*) FROM vpc_flow a ANTI JOIN vpc_flow b ON a.srcaddr=b.dstaddr AND a.dstaddr=b.srcaddr "
    "AND a.srcport=b.dstport AND a.dstport=b.srcport AND a.protocol=b.protocol"
)


def flow_files(root: Path) -> list[Path]:
    return sorted(root.glob("AWSLogs/*/vpcflowlogs/**/*.log.gz"))


def alb_files(root: Path) -> list[Path]:
    return sorted(root.glob("AWSLogs/*/elasticloadbalancing/**/*.log.gz"))


def _header(path: Path) -> tuple[str, ...]:
    with igzip.open(path, "rb") as fh:
        return tuple(fh.readline().decode().split())


def flow_groups(files: list[Path]) -> dict[tuple[str, ...], list[Path]]:
    """Flow objects grouped by their header line (a custom format per flow log)."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    for f in files:
        groups.setdefault(_header(f), []).append(f)
    return groups


def _flow_kind(name: str) -> str:
    return FLOW_BY_AWS[name].kind if name in FLOW_BY_AWS else "str"


def _alb_kind(name: str) -> str:
    return ALB_BY_AWS[name].kind if name in ALB_BY_AWS else "str"  # client:port etc. stay strings


_POLARS = {"int": pl.Int64, "float": pl.Float64, "str": pl.String}
_DUCK = {"int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR"}


def _col(name: str) -> str:
    return name.replace("-", "_").replace(":", "_ip_")  # client:port -> client_ip_port (unsplit)


def _flow_scans(root: Path) -> Iterator[tuple[int, tuple[str, ...], pl.LazyFrame]]:
    """One typed scan per header line (columns named as in the header)."""
    for k, (header, files) in enumerate(flow_groups(flow_files(root)).items()):
        schema = {h: _POLARS[_flow_kind(h)] for h in header}
        yield k, header, pl.scan_csv(files, separator=" ", has_header=True, schema=schema, null_values="-", quote_char=None)


def _alb_scan(files: list[Path]) -> pl.LazyFrame:
    schema = {_col(n): _POLARS[_alb_kind(n)] for n in ALB_LOG_ORDER}
    return pl.scan_csv(files, separator=" ", has_header=False, schema=schema, null_values="-", quote_char='"', truncate_ragged_lines=True)


def _rows(pattern: Path) -> int:
    return int(pl.scan_parquet(pattern).select(pl.len()).collect().item())


def run_polars(root: Path, out: Path) -> dict[str, object]:
    rows = 0
    for k, _header, scan in _flow_scans(root):
        scan.sink_parquet(out / f"flow-{k}.parquet")
        rows += _rows(out / f"flow-{k}.parquet")
    files = alb_files(root)
    if files:
        _alb_scan(files).sink_parquet(out / "alb.parquet")
        rows += _rows(out / "alb.parquet")
    return {"lines": rows}


_ALB_TIME = "%Y-%m-%dT%H:%M:%S%.fZ"


def _hour_key(when: pl.Expr) -> dict[str, pl.Expr]:
    return {"date": when.dt.date(), "hour": when.dt.hour()}


def _alb_timestamp(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime(_ALB_TIME, time_unit="us", time_zone="UTC", strict=False)


def run_polars_lake(root: Path, out: Path) -> dict[str, object]:
    """``run_polars`` writing what the lake holds: parsed times, split ``host:port`` and request, date/hour files."""
    rows = 0
    for k, header, scan in _flow_scans(root):
        derived = [pl.from_epoch(c, time_unit="s").dt.replace_time_zone("UTC").alias(f"{c}_time") for c in ("start", "end") if c in header]
        frame = scan.with_columns(derived).rename({h: h.replace("-", "_") for h in header})
        key = _hour_key(pl.col("start_time")) if "start" in header else {"date": pl.lit(None, pl.Date)}
        frame.sink_parquet(pl.PartitionBy(out / f"flow-{k}", key=key), mkdir=True)
        rows += _rows(out / f"flow-{k}" / "**" / "*.parquet")
    files = alb_files(root)
    if files:
        request = pl.col("request").str.splitn(" ", 3)
        derived = [
            *(pl.col(f"{side}_ip_port").str.split_exact(":", 1).struct.rename_fields([f"{side}_ip", f"{side}_port"]).alias(side) for side in ("client", "target")),
            request.struct.field("field_0").alias("request_verb"),
            request.struct.field("field_1").alias("request_url"),
            request.struct.field("field_2").alias("request_proto"),
            _alb_timestamp("time").alias("event_time"),
            _alb_timestamp("request_creation_time").alias("request_creation_ts"),
        ]
        frame = (
            _alb_scan(files)
            .with_columns(derived)
            .unnest("client", "target")
            .with_columns(pl.col("client_port", "target_port").cast(pl.Int64, strict=False))
            .drop("client_ip_port", "target_ip_port")
        )
        frame.sink_parquet(pl.PartitionBy(out / "alb", key=_hour_key(pl.col("event_time"))), mkdir=True)
        rows += _rows(out / "alb" / "**" / "*.parquet")
    return {"lines": rows}


def _sql_list(paths: list[Path]) -> str:
    """A SQL list of our own generated file paths (never log content), quoted."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _sql_columns(names: list[str], kinds: list[str]) -> str:
    return "{" + ", ".join(f"'{_col(n)}': '{_DUCK[k]}'" for n, k in zip(names, kinds, strict=False)) + "}"


def run_duckdb(root: Path, out: Path) -> dict[str, object]:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET threads=2")
    rows = 0
    for k, (header, files) in enumerate(flow_groups(flow_files(root)).items()):
        cols = _sql_columns(list(header), [_flow_kind(h) for h in header])
        dest = str(out / f"flow-{k}.parquet").replace("'", "''")
        con.execute(
            f"COPY (SELECT * FROM read_csv({_sql_list(files)}, delim=' ', header=true, quote='', escape='', "
            f"nullstr='-', auto_detect=false, columns={cols})) TO '{dest}' (FORMAT parquet)"
        )
        rows += con.execute(f"SELECT count(*) FROM read_parquet('{dest}')").fetchone()[0]  # type: ignore[index]
    files = alb_files(root)
    if files:
        cols = _sql_columns(list(ALB_LOG_ORDER), [_alb_kind(n) for n in ALB_LOG_ORDER])
        dest = str(out / "alb.parquet").replace("'", "''")
        con.execute(
            f"COPY (SELECT * FROM read_csv({_sql_list(files)}, delim=' ', header=false, quote='\"', escape='\"', "
            f"nullstr='-', null_padding=true, auto_detect=false, columns={cols})) TO '{dest}' (FORMAT parquet)"
        )
        rows += con.execute(f"SELECT count(*) FROM read_parquet('{dest}')").fetchone()[0]  # type: ignore[index]
    return {"lines": rows}


def _inflate(path: Path) -> int:
    n = 0
    with igzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += len(chunk)
    return n


def run_isal(root: Path, threads: int) -> dict[str, object]:
    files = flow_files(root) + alb_files(root)
    if threads == 1:
        raw = sum(_inflate(f) for f in files)
    else:
        with ThreadPoolExecutor(threads) as pool:
            raw = sum(pool.map(_inflate, files))
    return {"raw_bytes": raw}


def run_peer_flow(root: Path, sample: int) -> dict[str, object]:
    """flowlogs-reader's record path, as S3FlowLogsReader._read_file runs it, on local objects."""
    import csv
    import gzip

    from flowlogs_reader import FlowRecord

    done = skipped = 0
    t0 = time.perf_counter()
    for path in flow_files(root):
        with gzip.open(path, mode="rt") as fh:
            reader = csv.DictReader(fh, delimiter=" ")
            reader.fieldnames = [f.replace("-", "_") for f in reader.fieldnames or []]
            for row in reader:
                try:
                    FlowRecord(row)
                    done += 1
                except Exception:  # noqa: BLE001 - the peer counts and skips bad records the same way
                    skipped += 1
                if done + skipped >= sample:
                    break
        if done + skipped >= sample:
            break
    return {"lines": done + skipped, "failed_lines": skipped, "sample_seconds": time.perf_counter() - t0}


def _alb_sample(root: Path, sample: int) -> Iterator[str]:
    n = 0
    for path in alb_files(root):
        with igzip.open(path, "rb") as fh:
            for raw in fh:
                yield raw.decode("utf-8").rstrip("\n")
                n += 1
                if n >= sample:
                    return


def run_peer_alb(root: Path, sample: int) -> dict[str, object]:
    """aws-log-parser's LoadBalancer parser; a line it cannot parse (it splits IPv6 clients on ':') is counted and skipped."""
    from aws_log_parser import AwsLogParser, LogType

    parser = AwsLogParser(log_type=LogType.LoadBalancer)
    lines = list(_alb_sample(root, sample))
    done = failed = 0
    i = 0
    t0 = time.perf_counter()
    while i < len(lines):
        try:
            for _ in parser.parse(lines[i:]):
                done += 1
                i += 1
        except Exception:  # noqa: BLE001 - a peer failure on one line must not end the sample
            failed += 1
            i += 1
    return {"lines": done + failed, "failed_lines": failed, "sample_seconds": time.perf_counter() - t0}


def run_selfjoin(lake: Path) -> dict[str, object]:
    from pipeline.db import open_lake

    con = open_lake(lake, threads=2)
    rows = con.execute("SELECT count(*) FROM vpc_flow").fetchone()[0]  # type: ignore[index]
    one_way = con.execute(NAIVE_SELF_JOIN).fetchone()[0]  # type: ignore[index]
    return {"lines": rows, "one_way": one_way}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__.split("\n\n")[0])
    p.add_argument("name", choices=["polars", "polars-lake", "duckdb", "isal", "isal2", "peer-flow", "peer-alb", "selfjoin"])
    p.add_argument("--data", type=Path, help="dataset root (the folder holding AWSLogs/)")
    p.add_argument("--out", type=Path, help="output folder for Parquet files")
    p.add_argument("--lake", type=Path, help="lake folder (selfjoin)")
    p.add_argument("--sample", type=int, default=100_000, help="lines the peers parse")
    a = p.parse_args(argv)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
    runners: dict[str, Callable[[], dict[str, object]]] = {
        "polars": lambda: run_polars(a.data, a.out),
        "polars-lake": lambda: run_polars_lake(a.data, a.out),
        "duckdb": lambda: run_duckdb(a.data, a.out),
        "isal": lambda: run_isal(a.data, 1),
        "isal2": lambda: run_isal(a.data, 2),
        "peer-flow": lambda: run_peer_flow(a.data, a.sample),
        "peer-alb": lambda: run_peer_alb(a.data, a.sample),
        "selfjoin": lambda: run_selfjoin(a.lake),
    }
    result = runners[a.name]()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

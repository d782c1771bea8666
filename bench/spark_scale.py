"""Simulated scale run for ``ingest --engine spark``: many accounts, many tiny objects.

Writes a bucket-shaped folder (AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/...) of
``--objects`` gzipped v2 flow-log objects of a few records each across ``--accounts``
accounts, then ingests it through Spark local mode and reports listing, scheduling
(fetch+parse on executors) and commit cost per object. Small in bytes on purpose: the
point is the per-object overhead a log-archive bucket of thousands of ENIs shows.

    flock /tmp/flowsleuth-bench.lock .venv/bin/python bench/spark_scale.py --objects 20000 --accounts 4
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ingest import ingest  # noqa: E402
from pipeline.spark.ingest import spark_ingest  # noqa: E402

HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def make_bucket(root: Path, objects: int, accounts: int, records: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    base = 1_749_540_000
    for i in range(objects):
        acct = f"{100000000000 + i % accounts:012d}"
        minute = i // accounts
        t = base + minute * 60
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))
        day = time.strftime("%Y/%m/%d", time.gmtime(t))
        d = root / "AWSLogs" / acct / "vpcflowlogs" / "eu-west-1" / day
        d.mkdir(parents=True, exist_ok=True)
        eni = f"eni-{i % 997:017x}"
        lines = [HEADER]
        for _ in range(records):
            lines.append(
                f"2 {acct} {eni} 10.0.{rng.randrange(256)}.{rng.randrange(256)} 10.1.0.{rng.randrange(256)} "
                f"{rng.randrange(1024, 65535)} 443 6 {rng.randrange(1, 20)} {rng.randrange(40, 9000)} {t} {t + 30} ACCEPT OK"
            )
        name = f"{acct}_vpcflowlogs_eu-west-1_fl-{i % 7:017x}_{stamp}_{i:08x}.log.gz"
        (d / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=20_000)
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--records", type=int, default=3, help="records per object")
    p.add_argument("--work", type=Path, default=Path("/tmp/flowsleuth-spark-scale"))
    p.add_argument("--master", default="local[2]")
    p.add_argument("--local-too", action="store_true", help="also time the local ingest of the same bucket")
    p.add_argument("--bucket", type=Path, help="ingest this bucket-shaped folder instead (e.g. the benchmark's)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bucket = args.bucket or args.work / f"bucket-{args.objects}-{args.accounts}"
    if not bucket.exists():
        t0 = time.perf_counter()
        make_bucket(bucket, args.objects, args.accounts, args.records)
        print(f"wrote {args.objects} objects in {time.perf_counter() - t0:.1f}s", flush=True)
    out = {}
    lake = args.work / "lake-spark"
    if lake.exists():
        import shutil

        shutil.rmtree(lake)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    s = spark_ingest([str(bucket)], lake, master=args.master, timings=timings)
    wall = time.perf_counter() - t0
    n = max(1, s.objects_done)
    out["spark"] = {
        "wall_s": round(wall, 2), "objects": s.objects_done, "rows": s.rows, "files": s.files_written,
        "timings_s": timings, "ms_per_object": {k: round(1000 * v / n, 3) for k, v in timings.items()},
        "wall_ms_per_object": round(1000 * wall / n, 3), "rows_per_s": round(s.rows / wall),
    }
    t0 = time.perf_counter()
    again = spark_ingest([str(bucket)], lake, master=args.master)
    out["spark_rerun"] = {"wall_s": round(time.perf_counter() - t0, 2), "objects": again.objects_done, "rows": again.rows}
    if args.local_too:
        lake2 = args.work / "lake-local"
        if lake2.exists():
            import shutil

            shutil.rmtree(lake2)
        t0 = time.perf_counter()
        s2 = ingest([str(bucket)], lake2, workers=2)
        local_wall = time.perf_counter() - t0
        out["local"] = {"wall_s": round(local_wall, 2), "objects": s2.objects_done, "rows": s2.rows,
                        "wall_ms_per_object": round(1000 * local_wall / max(1, s2.objects_done), 3),
                        "rows_per_s": round(s2.rows / local_wall)}
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

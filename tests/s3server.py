"""Real S3-compatible servers on 127.0.0.1 for ingest tests, a fault-injecting proxy, and log builders.

- ``SeaweedS3``: ``weed server -s3`` with every port given explicitly (free ports
  below 55000: SeaweedFS puts gRPC at +10000), signature checking on, two identities:
  an admin and a reader allowed to read only ``logs/allowed/...`` (for AccessDenied).
- ``moto_server``: moto's ``ThreadedMotoServer``, a fast second opinion.
- ``FaultProxy``: a threaded HTTP proxy in front of either, that answers 503 SlowDown,
  resets connections or cuts bodies short for chosen keys, a chosen number of times.
- ``flow_log_bytes`` / ``alb_log_bytes`` / ``flow_key`` / ``alb_key``: objects in AWS's
  delivery layout.

Import from tests: ``from s3server import ...`` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WEED = REPO / ".venv" / "bin" / "weed"

ADMIN_KEY, ADMIN_SECRET = "AKIAFLOWSLEUTHADMIN0", "flowsleuth-admin-secret-key-for-tests-only"
READER_KEY, READER_SECRET = "AKIAFLOWSLEUTHREADER", "flowsleuth-reader-secret-key-for-tests-only"


def free_port_block(n: int, *, low: int = 20000, high: int = 44000) -> int:
    """A base port with ``n`` consecutive free ports, and their +10000 gRPC twins free too."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(low, high - n)
        if all(_port_free(p) and _port_free(p + 10000) for p in range(base, base + n)):
            return base
    raise RuntimeError("no free port block found")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@dataclass
class SeaweedS3:
    """A running SeaweedFS S3 gateway; ``endpoint`` is http://127.0.0.1:<port>."""

    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    log_path: Path | None = None

    def start(self, *, timeout: float = 60.0) -> SeaweedS3:
        base = free_port_block(8)
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {"name": "admin", "credentials": [{"accessKey": ADMIN_KEY, "secretKey": ADMIN_SECRET}],
                         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
                        {"name": "reader", "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
                         "actions": ["List", "Read:logs/allowed/*"]},
                    ]
                }
            )
        )  # fmt: skip
        self.log_path = self.workdir / "weed.log"
        args = [
            str(WEED), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={base}", f"-master.port.grpc={base + 1}",
            f"-volume.port={base + 2}", f"-volume.port.grpc={base + 3}",
            "-filer", f"-filer.port={base + 4}", f"-filer.port.grpc={base + 5}",
            "-s3", f"-s3.port={base + 6}", f"-s3.port.grpc={base + 7}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
            "-master.telemetry=false", "-volume.max=20", "-master.volumeSizeLimitMB=64",
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{base + 6}"
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.log_path}")
            try:
                client.create_bucket(Bucket="readiness-probe")
                client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
                break
            except Exception:  # noqa: BLE001 - not ready yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not become ready; see {self.log_path}") from None
                time.sleep(0.3)
        return self

    def client(self, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET, endpoint: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=endpoint or self.endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(retries={"mode": "standard", "max_attempts": 2}, s3={"addressing_style": "path"}),
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # its data dir is a throwaway temp dir: no need to wait long
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def moto_server() -> tuple[Any, str]:
    """A running ``ThreadedMotoServer`` and its endpoint; call ``.stop()`` when done."""
    from moto.server import ThreadedMotoServer

    port = free_port_block(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


# --- fault injection -------------------------------------------------------------


@dataclass
class Fault:
    """Inject ``kind`` into the next ``times`` GETs whose path contains ``match``."""

    match: str
    kind: str  # "503" | "500" | "reset" | "short" | "403"
    times: int = 1
    hits: int = 0


@dataclass
class FaultProxy:
    """Forwards HTTP to ``upstream`` (Host header kept, so SigV4 signatures stay valid)."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0
    gets: int = 0  # object GETs (not listings) that reached the proxy
    server: ThreadingHTTPServer | None = None
    endpoint: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FaultProxy:
        proxy = self
        host, port = self.upstream.removeprefix("http://").split(":")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _fault(self) -> str | None:
                with proxy.lock:
                    proxy.requests += 1
                    if self.command != "GET" or "list-type" in self.path:
                        return None
                    proxy.gets += 1
                    for f in proxy.faults:
                        if f.match in self.path and f.hits < f.times:
                            f.hits += 1
                            return f.kind
                return None

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = self._fault()
                if fault in ("503", "500"):
                    code = "SlowDown" if fault == "503" else "InternalError"
                    payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                if fault == "short":
                    self.send_header("Connection", "close")
                self.end_headers()
                if fault == "short":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        port_ = free_port_block(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", port_), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{port_}"
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


# --- objects in AWS's delivery layout -----------------------------------------------

FLOW_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def flow_lines(n: int, start: datetime, *, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    t0 = int(start.timestamp())
    out = []
    for _i in range(n):
        s = t0 + rng.randrange(0, 240)
        out.append(
            f"2 123456789012 eni-{rng.randrange(16**8):08x} 10.0.{rng.randrange(256)}.{rng.randrange(256)} "
            f"10.1.{rng.randrange(256)}.{rng.randrange(256)} {rng.randrange(1024, 65535)} 443 6 "
            f"{rng.randrange(1, 100)} {rng.randrange(40, 100000)} {s} {s + 60} "
            f"{'ACCEPT' if rng.random() < 0.9 else 'REJECT'} OK"
        )
    return out


def flow_log_bytes(n: int, start: datetime, *, seed: int = 0, compress: bool = True) -> bytes:
    text = (FLOW_HEADER + "\n" + "\n".join(flow_lines(n, start, seed=seed)) + "\n").encode()
    return gzip.compress(text, compresslevel=1, mtime=0) if compress else text


def flow_key(t: datetime, *, i: int = 0, account: str = "123456789012", region: str = "us-east-1",
             prefix: str = "", hourly: bool = False, hive: bool = False, ext: str = ".log.gz") -> str:
    stamp = t.strftime("%Y%m%dT%H%MZ")
    name = f"{account}_vpcflowlogs_{region}_fl-0abc{i:08x}_{stamp}_{i:08x}{ext}"
    if hive:
        folder = (f"AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/"
                  f"year={t:%Y}/month={t:%m}/day={t:%d}/" + (f"hour={t:%H}/" if hourly else ""))
    else:
        folder = f"AWSLogs/{account}/vpcflowlogs/{region}/{t:%Y/%m/%d}/" + (f"{t:%H}/" if hourly else "")
    return prefix + folder + name


def alb_lines(n: int, start: datetime, *, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = start + timedelta(seconds=rng.randrange(0, 300), microseconds=rng.randrange(10**6))
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        status = rng.choice([200, 200, 200, 404, 502])
        out.append(
            f'https {ts} app/web/0123456789abcdef 203.0.113.{rng.randrange(256)}:{rng.randrange(1024, 65535)} '
            f'10.0.1.{rng.randrange(256)}:80 0.001 0.{rng.randrange(999):03d} 0.000 {status} {status} 120 512 '
            f'"GET https://example.com:443/item/{i} HTTP/1.1" "curl/8.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
            f'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef '
            f'"Root=1-{i:08x}-000000000000000000000000" "example.com" "-" 0 {ts} "forward" "-" "-" '
            f'"10.0.1.1:80" "{status}" "-" "-" "-"'
        )
    return out


def alb_log_bytes(n: int, start: datetime, *, seed: int = 0) -> bytes:
    return gzip.compress(("\n".join(alb_lines(n, start, seed=seed)) + "\n").encode(), compresslevel=1, mtime=0)


def alb_key(t: datetime, *, i: int = 0, account: str = "123456789012", region: str = "us-east-1",
            prefix: str = "", node_ip: str = "10.0.0.5", conn: bool = False) -> str:
    stamp = t.strftime("%Y%m%dT%H%MZ")
    name = (f"{'conn_log_' if conn else ''}{account}_elasticloadbalancing_{region}_app.web.0123456789abcdef_"
            f"{stamp}_{node_ip}_{i:08x}.log.gz")
    return f"{prefix}AWSLogs/{account}/elasticloadbalancing/{region}/{t:%Y/%m/%d}/{name}"


def put_local(root: Path, key: str, data: bytes) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

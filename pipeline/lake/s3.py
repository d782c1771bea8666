"""A lake on S3: the same layout and commit protocol, made atomic without rename.

S3 has no rename and no transactions, but a single PUT is atomic and S3 (and SeaweedFS,
moto) honour conditional writes: ``If-None-Match: *`` (create only if absent) and
``If-Match: <etag>`` (replace only the version I read). The protocol:

1. **Lock.** ``<lake>/_ledger/lock`` is created with ``If-None-Match: *``; its body names
   the holder (host, pid, run) and a lease expiry. The holder renews it every
   ``ttl/3`` with ``If-Match``. A second writer gets 412, waits ``wait`` seconds, then
   fails with ``LakeLockedError`` naming the holder. An expired lease, or a holder on this
   host whose pid is dead (``kill -9``), is taken over with ``If-Match`` on the stale
   lock's ETag, so of two writers racing for it exactly one wins.
2. **Data files first.** A batch's Parquet files are uploaded straight to their final
   keys. Their names are deterministic (a hash of table, partition and the objects'
   bucket/key/ETag), so a retried batch writes the same names, and nothing reads a
   file until the ledger lists it.
3. **Commit = one PUT of the ledger.** The ledger is the same SQLite database as a
   local lake's, worked on in a local copy; after each batch the whole database is PUT
   to ``<lake>/_ledger/ledger.sqlite`` with ``If-Match`` on the ETag this run last
   read or wrote (``If-None-Match: *`` for a new lake). That PUT is the commit point.
   It is also the fence: a writer that lost its lock (lease expired while it was
   stalled) cannot overwrite a newer ledger; its PUT gets 412 and the run stops.
4. **Replaced files are deleted after the commit**; readers (``pipeline.db``) read only
   files the ledger object lists.

Crash anywhere: files uploaded but not listed are deleted by ``recover`` at the next
start (under the lock), listed files that vanished send their objects back for
re-ingest, exactly as in a local lake. Objects recorded without rows (failed, skipped,
gone) are published with the next batch or at the end of the run; losing them in a
crash only means they are looked at again.

Cost: one GET of the ledger per run, one PUT of it per batch (it grows about 1 KB per
object), one LIST of the lake at start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import LakeError, LakeLockedError
from ..schema import TABLES
from .ledger import LEDGER_DIR, LEDGER_FILE, FileEntry, Ledger, ObjectEntry
from .storage import LakeLocation
from .writer import _PART_NAME, REJECTS_DIR, LakeWriter, RecoveryReport

log = logging.getLogger(__name__)

LOCK_KEY = f"{LEDGER_DIR}/lock"
LEDGER_KEY = f"{LEDGER_DIR}/{LEDGER_FILE}"
DEFAULT_LEASE = float(os.environ.get("FLOWSLEUTH_S3_LOCK_LEASE", "120"))  # seconds


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _precondition_failed(exc: Exception) -> bool:
    return _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict")


def _not_found(exc: Exception) -> bool:
    return _code(exc) in ("NoSuchKey", "404", "NotFound")


# --- the ledger object -----------------------------------------------------------


def download_ledger(loc: LakeLocation, dest: Path, client: Any | None = None) -> str | None:
    """GET the ledger to ``dest``; its ETag, or None when the lake has no ledger yet."""
    client = client or loc.client()
    try:
        resp = client.get_object(Bucket=loc.bucket, Key=loc.key(LEDGER_KEY))
    except Exception as e:
        if _not_found(e):
            return None
        raise LakeError(f"cannot read the ledger of lake {loc.url!r}: {e}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as fh:
        for chunk in resp["Body"].iter_chunks(1 << 20):
            fh.write(chunk)
    return str(resp["ETag"])


@contextmanager
def ledger_copy(loc: LakeLocation) -> Iterator[Path | None]:
    """A read-only local copy of an S3 lake's ledger (None when there is none), removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="flowsleuth-ledger-"))
    try:
        dest = tmp / LEDGER_DIR / LEDGER_FILE
        yield dest if download_ledger(loc, dest) is not None else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class S3Ledger(Ledger):
    """The SQLite ledger in a local copy, published to S3 with one conditional PUT per commit."""

    def __init__(self, loc: LakeLocation, run_id: str) -> None:
        self.loc = loc
        self.client = loc.client()
        self.workdir = Path(tempfile.mkdtemp(prefix="flowsleuth-ledger-"))
        self.etag = download_ledger(loc, self.workdir / LEDGER_DIR / LEDGER_FILE, self.client)
        super().__init__(self.workdir, run_id)
        self.puts = 0

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def publish(self) -> None:
        """PUT the database (the commit point); 412 means another writer committed: stop."""
        body = (self.workdir / LEDGER_DIR / LEDGER_FILE).read_bytes()
        cond = {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}
        try:
            resp = self.client.put_object(Bucket=self.loc.bucket, Key=self.loc.key(LEDGER_KEY), Body=body, **cond)
        except Exception as e:
            if _precondition_failed(e):
                raise LakeLockedError(
                    f"the ledger of lake {self.loc.url!r} was changed by another writer during this run; "
                    "this run's last batch is not committed (the next run cleans it up)"
                ) from None
            raise LakeError(f"cannot write the ledger of lake {self.loc.url!r}: {e}") from None
        self.etag = str(resp["ETag"])
        self.puts += 1

    # Objects without rows are kept locally until the next commit; everything else publishes.
    def record(self, entries: list[ObjectEntry], failures: dict[str, tuple[str, int, str | None]] | None = None) -> None:
        super().record(entries, failures)
        # not published on its own: losing these in a crash only means looking at the objects again

    def commit_batch(
        self, entries: list[ObjectEntry], added: list[FileEntry], removed: list[str], mappings: list[tuple[str, str, int]]
    ) -> None:
        super().commit_batch(entries, added, removed, mappings)
        self.publish()

    def forget_files(self, paths: list[str]) -> list[str]:
        uris = super().forget_files(paths)
        if paths:
            self.publish()
        return uris

    def finish_run(self, summary: dict[str, Any]) -> None:
        super().finish_run(summary)
        self.publish()


# --- the writer ------------------------------------------------------------------


class S3LakeWriter(LakeWriter):
    """LakeWriter whose files go to S3 through the lake's fsspec filesystem; staging stays local."""

    def __init__(self, loc: LakeLocation, ledger: Ledger) -> None:
        self.loc = loc
        self.fs = loc.fs
        self._staging = Path(tempfile.mkdtemp(prefix="flowsleuth-stage-"))
        super().__init__(self._staging, ledger, fsync=False)

    def recover(self) -> RecoveryReport:
        """Delete uploaded files the ledger does not list; forget listed files that vanished."""
        report = RecoveryReport()
        live = self.ledger.live_files()
        on_lake: set[str] = set()
        orphans: list[str] = []
        for folder in [*TABLES, REJECTS_DIR]:
            for path in self.fs.find(self.loc.path(folder)):
                rel = path[len(self.loc.root) + 1 :]
                if not _PART_NAME.match(rel.rsplit("/", 1)[-1]):
                    continue
                if rel in live:
                    on_lake.add(rel)
                else:
                    orphans.append(rel)
        if orphans:
            log.info("removing %d uncommitted lake files", len(orphans))
            self._remove_files(orphans)
            report.orphans_removed = len(orphans)
        missing = [p for p in live if p not in on_lake]
        if missing:
            log.warning("%d lake files listed in the ledger are missing; their objects will be re-ingested", len(missing))
            report.missing_files = len(missing)
            report.reingest = self.ledger.forget_files(missing)
        return report

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)

    def _publish_files(self, staged: list[tuple[Path, str]]) -> None:
        if staged:
            self.fs.put([str(t) for t, _ in staged], [self.loc.path(rel) for _, rel in staged])

    def _remove_files(self, rels: list[str]) -> None:
        if not rels:
            return
        try:
            self.fs.rm([self.loc.path(r) for r in rels])
        except FileNotFoundError:
            pass

    def _read_file(self, rel: str) -> pa.Table | None:
        try:
            return pq.read_table(self.loc.path(rel), filesystem=self.fs, partitioning=None)
        except FileNotFoundError:
            return None

    def _read_columns(self, rel: str) -> list[str] | None:
        try:
            return pq.read_schema(self.loc.path(rel), filesystem=self.fs).names
        except FileNotFoundError:
            return None


# --- the lock ----------------------------------------------------------------------


class _Lease:
    """The lock object this process holds, renewed in the background."""

    def __init__(self, loc: LakeLocation, client: Any, ttl: float) -> None:
        self.loc, self.client, self.ttl = loc, client, ttl
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def body(self) -> bytes:
        now = time.time()
        return json.dumps({**self.holder, "acquired": datetime.fromtimestamp(now, UTC).isoformat(),
                           "expires": now + self.ttl}).encode()  # fmt: skip

    def try_acquire(self) -> dict[str, Any] | None:
        """Take the lock if free or stale; None on success, else the holder's record."""
        key = self.loc.key(LOCK_KEY)
        try:
            self.etag = str(self.client.put_object(Bucket=self.loc.bucket, Key=key, Body=self.body(), IfNoneMatch="*")["ETag"])
            return None
        except Exception as e:
            if not _precondition_failed(e):
                raise LakeError(f"cannot create the lock of lake {self.loc.url!r}: {e}") from None
        try:
            resp = self.client.get_object(Bucket=self.loc.bucket, Key=key)
            current, etag = json.loads(resp["Body"].read()), str(resp["ETag"])
        except Exception as e:  # released meanwhile, or unreadable: try again
            if _not_found(e):
                return {}
            raise LakeError(f"cannot read the lock of lake {self.loc.url!r}: {e}") from None
        if not self._stale(current):
            return dict(current)
        try:
            self.etag = str(self.client.put_object(Bucket=self.loc.bucket, Key=key, Body=self.body(), IfMatch=etag)["ETag"])
            log.warning("took over a stale lock of lake %s (held by %s pid %s)", self.loc.url, current.get("host"), current.get("pid"))
            return None
        except Exception as e:
            if _precondition_failed(e) or _not_found(e):
                return dict(current)
            raise LakeError(f"cannot take over the lock of lake {self.loc.url!r}: {e}") from None

    @staticmethod
    def _stale(current: Any) -> bool:
        if not isinstance(current, dict):
            return True
        if float(current.get("expires", 0)) < time.time():
            return True
        if current.get("host") == socket.gethostname() and isinstance(current.get("pid"), int):
            try:
                os.kill(current["pid"], 0)
            except ProcessLookupError:
                return True  # its process died on this machine (kill -9, OOM)
            except PermissionError:
                return False
        return False

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew, name="s3-lake-lock", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                resp = self.client.put_object(Bucket=self.loc.bucket, Key=self.loc.key(LOCK_KEY), Body=self.body(), IfMatch=self.etag)
                self.etag = str(resp["ETag"])
            except Exception as e:  # noqa: BLE001 - the ledger's If-Match still fences a lost lock
                if _precondition_failed(e) or _not_found(e):
                    log.error("lost the lock of lake %s to another writer", self.loc.url)
                    self.lost = True
                    return
                log.warning("could not renew the lock of lake %s: %s", self.loc.url, e)

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self.lost or not self.etag:
            return
        try:
            self.client.delete_object(Bucket=self.loc.bucket, Key=self.loc.key(LOCK_KEY), IfMatch=self.etag)
        except Exception as e:  # noqa: BLE001 - a lock left behind expires with its lease
            log.warning("could not release the lock of lake %s: %s", self.loc.url, e)


@contextmanager
def s3_lake_lock(loc: LakeLocation, *, wait: float, ttl: float | None = None) -> Iterator[None]:
    """Hold the S3 lake's writer lock for the ``with`` block (see the module docstring)."""
    lease = _Lease(loc, loc.client(), ttl or DEFAULT_LEASE)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        holder = lease.try_acquire()
        if holder is None:
            break
        if time.monotonic() >= deadline:
            who = f" (host {holder.get('host')}, pid {holder.get('pid')})" if holder else ""
            raise LakeLockedError(
                f"lake {loc.url!r} is being written by another flowsleuth run{who}; wait for it to finish and run again"
            )
        time.sleep(0.25)
    log.debug("locked %s", loc.url)
    lease.start_renewing()
    try:
        yield
    finally:
        lease.release()

"""One writer per lake: an fcntl lock on ``<lake>/_ledger/lock`` (an S3 lake: ``lake.s3``'s lease object).

The kernel drops the lock when the process dies (even on ``kill -9``), so a crashed
run never leaves the lake locked. A second run waits ``wait`` seconds, then raises
``LakeLockedError`` naming the holder's pid.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import LakeLockedError
from .storage import LakeLocation, is_remote, lake_location

log = logging.getLogger(__name__)

DEFAULT_LOCK_WAIT = 5.0  # seconds


def lock_path(lake: Path) -> Path:
    return lake / "_ledger" / "lock"


_held: dict[str, int] = {}  # (lock path, thread) this process holds -> nesting depth
_held_guard = threading.Lock()


@contextmanager
def lake_lock(lake: str | Path | LakeLocation, *, wait: float = DEFAULT_LOCK_WAIT) -> Iterator[None]:
    """Hold the lake's writer lock for the ``with`` block (creates the lake folder if needed).

    Re-entrant within one thread, so a caller (the batch job) can hold it around
    ``ingest`` and its own writes; flock would otherwise block on itself. Another
    thread of the same process still waits, like another process.
    """
    if is_remote(lake):
        with _s3_lock(lake_location(lake), wait):
            yield
        return
    if isinstance(lake, LakeLocation):
        lake = lake.local
    path = lock_path(Path(lake))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = f"{path.resolve()}\0{threading.get_ident()}"
    with _held_guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    raise LakeLockedError(
                        f"lake {str(lake)!r} is being written by another flowsleuth run{holder}; "
                        "wait for it to finish and run again"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        log.debug("locked %s", path)
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def _s3_lock(loc: LakeLocation, wait: float) -> Iterator[None]:
    from .s3 import s3_lake_lock

    key = f"{loc.url}\0{threading.get_ident()}"
    with _held_guard:
        nested = key in _held
        if nested:
            _held[key] += 1
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    cm: Any = s3_lake_lock(loc, wait=wait)
    with cm:
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[key]


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""

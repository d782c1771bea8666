"""One writer per lake: an fcntl lock on ``<lake>/_ledger/lock``.

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

from ..errors import LakeLockedError

log = logging.getLogger(__name__)

DEFAULT_LOCK_WAIT = 5.0  # seconds


def lock_path(lake: Path) -> Path:
    return lake / "_ledger" / "lock"


_held: dict[str, int] = {}  # (lock path, thread) this process holds -> nesting depth
_held_guard = threading.Lock()


@contextmanager
def lake_lock(lake: str | Path, *, wait: float = DEFAULT_LOCK_WAIT) -> Iterator[None]:
    """Hold the lake's writer lock for the ``with`` block (creates the lake folder if needed).

    Re-entrant within one thread, so a caller (the batch job) can hold it around
    ``ingest`` and its own writes; flock would otherwise block on itself. Another
    thread of the same process still waits, like another process.
    """
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


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""

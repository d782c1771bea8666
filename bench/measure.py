"""Run one contender as a child process and measure it on its own.

Each contender runs as a separate process so its peak RSS is its own: the tiny
``launcher.py`` forks it and ``os.wait4`` returns the rusage of exactly that child
(user+sys CPU and ``ru_maxrss``, which on Linux also covers the grandchildren it
waited for, e.g. ``gzip`` under ``sh``). Wall time is taken by the launcher around
fork and wait, so interpreter start-up of the harness is not counted.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("launcher.py")


@dataclass
class RunResult:
    wall_s: float
    cpu_s: float  # user + sys of the child (and its waited-for descendants)
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_measured(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout_s: float = 3600) -> RunResult:
    """Run ``cmd`` to completion and return its wall time, CPU time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        usage_file = Path(tmp) / "usage.json"
        launch = [sys.executable, "-S", str(LAUNCHER), str(usage_file), *cmd]
        t0 = time.perf_counter()
        proc = subprocess.Popen(launch, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # our own launcher's process group only
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, _kill)
        timer.start()
        try:
            returncode = proc.wait()
        finally:
            timer.cancel()
        outer_wall = time.perf_counter() - t0
        usage = json.loads(usage_file.read_text()) if usage_file.is_file() else {}
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    result = RunResult(
        wall_s=float(usage.get("wall_s", outer_wall)),
        cpu_s=float(usage.get("user_s", 0.0)) + float(usage.get("sys_s", 0.0)),
        peak_rss_mib=float(usage.get("maxrss_kib", 0)) / 1024,  # Linux reports KiB
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out.is_set(),
    )
    log.debug("%s -> rc=%s wall=%.2fs", cmd[:3], result.returncode, result.wall_s)
    return result

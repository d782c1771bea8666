"""Start one command from a tiny process and write its own rusage to a file.

    python -S bench/launcher.py RESULT_JSON CMD [ARG ...]

Why: on Linux a child's ``ru_maxrss`` starts from the RSS of the process it was
forked from (the pages it inherited count until ``exec``), so children forked by
the harness (which has polars loaded, ~200 MiB) would all report at least that.
Forking from this ~10 MiB interpreter keeps the floor low. Kept free of imports
beyond the standard library's core so it starts in milliseconds.
"""

import json
import os
import sys
import time


def main() -> int:
    result_path, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: become the command
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w") as fh:
        json.dump(
            {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "maxrss_kib": usage.ru_maxrss, "exit": code}, fh
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())

"""Runs one job's command and writes its exit record.

    python -m studio.jobwrap FOLDER -- COMMAND ARG...

The app may restart while a job runs and then cannot wait() on a process it did not start; this
wrapper, the leader of the job's process group, waits for the child and writes FOLDER/exit.json
so the outcome is never lost. Standard library only: it runs under any environment's python.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _write_exit(folder: str, record: dict) -> None:
    tmp = os.path.join(folder, "exit.json.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(folder, "exit.json"))


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m studio.jobwrap FOLDER -- COMMAND ARG...", file=sys.stderr)
        return 2
    folder, cmd = argv[0], argv[2:]
    received: list[int] = []

    # Cancel signals the whole process group: the child gets the signal itself and decides how to
    # stop (LLaMA-Factory saves its adapter on SIGABRT); the wrapper only notes it and keeps waiting.
    def note(signum, _frame):
        received.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGABRT, signal.SIGHUP):
        signal.signal(sig, note)
    started = time.time()
    try:
        child = subprocess.Popen(cmd)
    except OSError as e:
        _write_exit(folder, {"returncode": 127, "error": f"cannot start {cmd[0]}: {e}",
                             "started": started, "finished": time.time()})
        return 127
    while True:
        try:
            rc = child.wait()
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
    _write_exit(folder, {"returncode": rc, "signals": received,
                         "started": started, "finished": time.time()})
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

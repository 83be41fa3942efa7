"""The operating system's side of the local job backend: is a job's process still ours, and
reaping the ones the studio started (so none lingers as a zombie)."""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path

_reapers: list[subprocess.Popen] = []
_reap_lock = threading.Lock()


def start_time(pid: int) -> str | None:
    """The kernel's start time of pid (field 22 of /proc/pid/stat), to tell a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie has already ended


def alive(pid: int | None, started: str | None) -> bool:
    return bool(pid) and start_time(pid) == started


def keep(proc: subprocess.Popen) -> None:
    """Remember a process this app started, to reap it once it ends."""
    with _reap_lock:
        _reapers.append(proc)


def reap() -> None:
    # Many threads reap (requests, the monitor): one at a time, or two remove the same process.
    with _reap_lock:
        _reapers[:] = [p for p in _reapers if p.poll() is None]

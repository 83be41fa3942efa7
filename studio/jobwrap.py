"""Runs one job's command and writes its exit record.

    python -m studio.jobwrap FOLDER [--cluster] -- COMMAND ARG...

The app may restart while a job runs and then cannot wait() on a process it did not start; this
wrapper, the leader of the job's process group, waits for the child and writes FOLDER/exit.json
so the outcome is never lost. Standard library only: it runs under any environment's python.

--cluster: the job runs on a Ray node (studio/rayjobs.py). Its variables come from FOLDER/env.json
(readable by its owner only), never through Ray's runtime environment, which the cluster shows to
anyone who can read its dashboard. It starts in FOLDER/launch.json's folder, and a command that
names {node_ip} or {free_port} gets this node's address and a port free on it, written to
FOLDER/where.json for the studio to reach it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time


def _write_exit(folder: str, record: dict) -> None:
    tmp = os.path.join(folder, "exit.json.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(folder, "exit.json"))


def _node_ip() -> str:
    """The address of the interface that leads to the cluster's head (the studio is on that network)."""
    head = os.environ.get("RAY_ADDRESS", "").split("://")[-1].rsplit(":", 1)[0] or "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((head if head != "auto" else "127.0.0.1", 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _on_cluster(folder: str, cmd: list[str]) -> list[str]:
    with open(os.path.join(folder, "env.json")) as f:
        os.environ.update(json.load(f))
    with open(os.path.join(folder, "launch.json")) as f:
        os.chdir(json.load(f)["cwd"])
    if not any("{node_ip}" in a or "{free_port}" in a for a in cmd):
        return cmd
    host = _node_ip()
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    where = {"host": host, "port": port, "node": socket.gethostname()}
    with open(os.path.join(folder, "where.json.tmp"), "w") as f:
        json.dump(where, f)
    os.replace(os.path.join(folder, "where.json.tmp"), os.path.join(folder, "where.json"))
    return [a.replace("{node_ip}", host).replace("{free_port}", str(port)) for a in cmd]


def main(argv: list[str]) -> int:
    cluster = len(argv) > 1 and argv[1] == "--cluster"
    if cluster:
        argv = argv[:1] + argv[2:]
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m studio.jobwrap FOLDER [--cluster] -- COMMAND ARG...", file=sys.stderr)
        return 2
    folder, cmd = argv[0], argv[2:]
    if cluster:
        cmd = _on_cluster(folder, cmd)
    received: list[int] = []

    # Cancel signals the whole process group: the child gets the signal itself and decides how to
    # stop (LLaMA-Factory saves its adapter on SIGABRT); the wrapper only notes it and keeps waiting.
    def note(signum, _frame):
        received.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGABRT, signal.SIGHUP):
        signal.signal(sig, note)
    started = time.time()
    try:
        # On a cluster the child has a group of its own, for the cancel file's signal to reach
        # it and what it starts without reaching the shell Ray runs this wrapper under.
        child = subprocess.Popen(cmd, start_new_session=cluster)
    except OSError as e:
        _write_exit(folder, {"returncode": 127, "error": f"cannot start {cmd[0]}: {e}",
                             "started": started, "finished": time.time()})
        return 127
    cancel = os.path.join(folder, "cancel.json")
    while True:
        try:
            rc = child.wait(timeout=0.5 if cluster else None)
            break
        except subprocess.TimeoutExpired:
            # The studio asks a cluster job to stop with the signal a local cancel sends (a
            # trainer saves on SIGABRT); Ray's own stop, SIGTERM to all, is the fallback.
            if os.path.exists(cancel) and not received:
                with open(cancel) as f:
                    received.append(int(json.load(f)["signal"]))
                try:
                    os.killpg(child.pid, received[-1])
                except ProcessLookupError:
                    pass
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
    _write_exit(folder, {"returncode": rc, "signals": received,
                         "started": started, "finished": time.time()})
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

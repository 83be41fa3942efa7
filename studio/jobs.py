"""Job store (SQLite, WAL) and the local process backend.

A job is a row, a folder and a process group: the command runs under studio/jobwrap.py in its own
session, writes its output to FOLDER/log.txt, and leaves FOLDER/exit.json when it ends. The row is
the truth the UI reads, so any number of browser tabs, a page reload or an app restart see the
same state.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

WRAPPER = Path(__file__).with_name("jobwrap.py")
ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled", "lost")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    command TEXT NOT NULL,
    folder TEXT NOT NULL,
    pid INTEGER,
    pgid INTEGER,
    proc_start TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    exit_code INTEGER,
    error TEXT
)"""


@dataclass
class Job:
    id: str
    kind: str
    name: str
    status: str
    spec: dict
    command: list
    folder: Path
    pid: int | None
    pgid: int | None
    proc_start: str | None
    created: float
    started: float | None
    finished: float | None
    exit_code: int | None
    error: str | None

    @property
    def log_path(self) -> Path:
        return self.folder / "log.txt"

    def log_tail(self, max_bytes: int = 8000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - max_bytes))
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of pid (field 22 of /proc/pid/stat), to tell a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie has already ended


def _alive(job: Job) -> bool:
    return bool(job.pid) and _proc_start_time(job.pid) == job.proc_start


class JobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "jobs.sqlite"
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        # A connection per call: Gradio runs handlers on worker threads.
        return sqlite3.connect(self.db_path, timeout=30, isolation_level=None)

    def _row(self, r) -> Job:
        return Job(id=r[0], kind=r[1], name=r[2], status=r[3], spec=json.loads(r[4]),
                   command=json.loads(r[5]), folder=Path(r[6]), pid=r[7], pgid=r[8],
                   proc_start=r[9], created=r[10], started=r[11], finished=r[12],
                   exit_code=r[13], error=r[14])

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            r = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._row(r) if r else None

    def list(self, kind: str | None = None, status: tuple[str, ...] | None = None) -> list[Job]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if status:
            sql += f" AND status IN ({','.join('?' * len(status))})"
            args.extend(status)
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY created DESC", args).fetchall()
        return [self._row(r) for r in rows]

    def _update(self, job_id: str, **cols) -> None:
        names = ", ".join(f"{k} = ?" for k in cols)
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {names} WHERE id = ?", (*cols.values(), job_id))

    def update_spec(self, job_id: str, **changes) -> Job:
        """Merge changes into a job's spec (e.g. the adapters a running server now holds)."""
        job = self.get(job_id)
        self._update(job_id, spec=json.dumps({**job.spec, **changes}))
        return self.get(job_id)

    # --- lifecycle ---------------------------------------------------------------------------
    def new_folder(self, kind: str) -> tuple[str, Path]:
        job_id = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def launch(self, kind: str, name: str, command: list[str], spec: dict | None = None,
               env: dict | None = None, job_id: str | None = None, folder: Path | None = None,
               cwd: Path | None = None) -> Job:
        """Start command (a list, never a shell) as a job in its own process group."""
        if job_id is None:
            job_id, folder = self.new_folder(kind)
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO jobs (id, kind, name, status, spec, command, folder, created)"
                       " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                       (job_id, kind, name, json.dumps(spec or {}), json.dumps(command),
                        str(folder), now))
        full_env = {**os.environ, **(env or {})}
        try:
            with open(folder / "log.txt", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-I", str(WRAPPER), str(folder), "--", *command],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, env=full_env, cwd=str(cwd or folder))
        except OSError as e:
            self._update(job_id, status="failed", finished=time.time(), error=str(e))
            return self.get(job_id)
        self._update(job_id, status="running", pid=proc.pid, pgid=proc.pid, started=now,
                     proc_start=_proc_start_time(proc.pid))
        # Popen objects are dropped on purpose: the exit record is how we learn the outcome,
        # the same way before and after an app restart. Reap in the background to avoid zombies.
        _reapers.append(proc)
        return self.get(job_id)

    def refresh(self, job: Job) -> Job:
        """Bring a running row up to date with its process and exit record."""
        if job.status not in ACTIVE:
            return job
        _reap()
        if _alive(job):
            return job
        exit_file = job.folder / "exit.json"
        if exit_file.exists():
            rec = json.loads(exit_file.read_text())
            rc = rec.get("returncode")
            if job.status == "cancelled" or rec.get("signals"):
                status = "cancelled"
            else:
                status = "succeeded" if rc == 0 else "failed"
            err = rec.get("error") or (None if rc == 0 else f"exit code {rc}")
            self._update(job.id, status=status, exit_code=rc, finished=rec.get("finished"),
                         error=err)
        else:
            self._update(job.id, status="lost", finished=time.time(),
                         error="the process is gone and left no exit record")
        return self.get(job.id)

    def reconcile(self) -> list[Job]:
        """At start-up: re-attach running jobs that are still alive, settle the rest."""
        return [self.refresh(j) for j in self.list(status=ACTIVE)]

    def cancel(self, job_id: str, sig: int = signal.SIGTERM, grace: float = 30.0) -> Job:
        """Signal the process group, wait up to grace seconds, then kill it."""
        job = self.refresh(self.get(job_id))
        if job.status not in ACTIVE:
            return job
        self._update(job_id, status="cancelled")
        try:
            os.killpg(job.pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.time() + grace
        while time.time() < deadline and _alive(job):
            _reap()
            time.sleep(0.2)
        if _alive(job):
            try:
                os.killpg(job.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap()
        job = self.get(job_id)
        if not (job.folder / "exit.json").exists():
            self._update(job_id, finished=time.time(), error="killed after the grace period")
        else:
            rec = json.loads((job.folder / "exit.json").read_text())
            self._update(job_id, finished=rec.get("finished"), exit_code=rec.get("returncode"))
        return self.get(job_id)


_reapers: list[subprocess.Popen] = []


def _reap() -> None:
    for p in list(_reapers):
        if p.poll() is not None:
            _reapers.remove(p)

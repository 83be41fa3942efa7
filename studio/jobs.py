"""Job store (SQLite, WAL) and the local process backend (studio/rayjobs.py: the Ray one).

A job is a row, a folder and a process group: the command runs under studio/jobwrap.py in its own
session, writes its output to FOLDER/log.txt, and leaves FOLDER/exit.json when it ends. The row is
the truth the UI reads, so any number of browser tabs, a page reload or an app restart see the
same state.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from studio import jobqueue, procs, rayjobs
from studio.jobrow import _ADDED, _OWNERS, _SCHEMA, ACTIVE, FINAL, Job, JobError  # noqa: F401 - the store's API

WRAPPER = Path(__file__).with_name("jobwrap.py")


class JobStore:
    def __init__(self, root: Path, gpus: list[int] | None = None, ray: str = ""):
        """gpus: bytes of memory per GPU the queue hands out (jobqueue.inventory); none: jobs
        that need a GPU are refused, the rest start at once. ray: a Ray cluster's dashboard
        address; new jobs run there (studio/rayjobs.py), with its GPUs as the queue's."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "jobs.sqlite"
        self.ray = ray
        self.gpus = list(gpus or [])
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            db.execute(_OWNERS)
            have = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            for col, kind in _ADDED.items():
                if col not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {col} {kind}")

    def _db(self) -> sqlite3.Connection:
        # A connection per call: Gradio runs handlers on worker threads.
        return sqlite3.connect(self.db_path, timeout=30, isolation_level=None)

    @contextmanager
    def _write(self):
        """One write transaction taken up front: read-modify-write without losing a change."""
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    _COLS = ("id, kind, name, status, spec, command, folder, pid, pgid, proc_start, created, "
             "started, finished, exit_code, error, owner, needs, backend")

    def _row(self, r) -> Job:
        return Job(id=r[0], kind=r[1], name=r[2], status=r[3], spec=json.loads(r[4]),
                   command=json.loads(r[5]), folder=Path(r[6]), pid=r[7], pgid=r[8],
                   proc_start=r[9], created=r[10], started=r[11], finished=r[12],
                   exit_code=r[13], error=r[14], owner=r[15], needs=json.loads(r[16] or "{}"), backend=r[17])

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            r = db.execute(f"SELECT {self._COLS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._row(r) if r else None

    def list(self, kind: str | None = None, status: tuple[str, ...] | None = None) -> list[Job]:
        sql, args = f"SELECT {self._COLS} FROM jobs WHERE 1=1", []
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
        with self._write() as db:
            spec = json.loads(db.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])
            db.execute("UPDATE jobs SET spec = ? WHERE id = ?", (json.dumps({**spec, **changes}), job_id))
        return self.get(job_id)

    def fail(self, job_id: str, error: str) -> Job:
        """Mark a job failed for a reason the studio found (a server never healthy)."""
        self._update(job_id, status="failed", error=error, finished=self.get(job_id).finished or time.time())
        return self.get(job_id)

    # --- owners of things that are not jobs --------------------------------------------------
    def set_owner(self, kind: str, name: str, owner: str | None) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO owners (kind, name, owner, created) VALUES (?, ?, ?, ?)",
                       (kind, name, owner, time.time()))

    def owner(self, kind: str, name: str) -> str | None:
        with self._db() as db:
            r = db.execute("SELECT owner FROM owners WHERE kind = ? AND name = ?", (kind, name)).fetchone()
        return r[0] if r else None

    def forget_owner(self, kind: str, name: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM owners WHERE kind = ? AND name = ?", (kind, name))

    # --- lifecycle ---------------------------------------------------------------------------
    def new_folder(self, kind: str) -> tuple[str, Path]:
        job_id = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def launch(self, kind: str, name: str, command: list[str], spec: dict | None = None,
               env: dict | None = None, job_id: str | None = None, folder: Path | None = None,
               cwd: Path | None = None, owner: str | None = None, needs: dict | None = None,
               unique: bool = False) -> Job:
        """Queue command (a list, never a shell) as a job; it starts in its own process group
        as soon as what it needs is free, which for most jobs is at once. unique: refuse it
        while another job of this kind is queued or running (the check and the insert are one
        transaction)."""
        needs = {k: v for k, v in (needs or {}).items() if k != "placed"}
        why = jobqueue.check(needs, self.gpus)
        if why:
            raise JobError(jobqueue.cannot_start(why))
        if job_id is None:
            job_id, folder = self.new_folder(kind)
        # What the start needs, kept beside the row so that a queued job survives an app restart.
        # The environment may hold an API key: only its owner reads that file.
        (folder / "launch.json").write_text(json.dumps({"command": command, "cwd": str(cwd or folder)}))
        env_file = folder / "env.json"
        env_file.touch(mode=0o600)
        env_file.write_text(json.dumps(env or {}))
        with self._write() as db:
            if unique and db.execute("SELECT 1 FROM jobs WHERE kind = ? AND status IN ('queued', 'running')",
                                     (kind,)).fetchone():
                raise JobError(jobqueue.busy(kind))
            db.execute("INSERT INTO jobs (id, kind, name, status, spec, command, folder, created, owner, needs)"
                       " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                       (job_id, kind, name, json.dumps(spec or {}), json.dumps(command),
                        str(folder), time.time(), owner, json.dumps(needs)))
        self.schedule()
        return self.get(job_id)

    @contextmanager
    def _queue_lock(self):
        # A file lock: the monitor thread, request threads and a second app process on the same
        # data root must not start the same queued job twice.
        with open(self.root / "queue.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def holding(self) -> list[Job]:
        """Jobs whose resources are taken: running ones, and cancelled ones still saving their
        work (a trainer keeps its GPU memory until it exits)."""
        return self.list(status=("running",)) + [
            j for j in self.list(status=("cancelled",)) if j.finished is None and procs.alive(j.pid, j.proc_start)]

    def free(self) -> list[int]:
        """Bytes of GPU memory each GPU has for the next job."""
        return jobqueue.free(self.holding(), self.gpus)

    def plan(self) -> list[jobqueue.Decision]:
        return jobqueue.plan(self.list(status=("queued",)), self.holding(), self.gpus)

    def schedule(self) -> list[Job]:
        """Start every queued job whose resources are free now, oldest first."""
        started = []
        with self._queue_lock():
            for d in self.plan():
                if d.placed is not None:
                    started.append(self._start(self.get(d.job.id), d.placed))
                elif d.never:  # it would hold back every GPU job behind it for ever
                    self._update(d.job.id, status="failed", finished=time.time(),
                                 error=f"It cannot start on this machine's GPUs: {d.reason}.")
        return started

    def position(self, job: Job) -> tuple[int, jobqueue.Decision] | None:
        """(place in the queue, from 1; the plan's decision, with why it waits) for a queued
        job; None for any other."""
        if job.status != "queued":
            return None
        for n, d in enumerate(self.plan(), 1):
            if d.job.id == job.id:
                return n, d
        return None

    def contention(self, kind: str) -> dict | None:
        """Without GPUs: the heavy jobs running that a new job of this kind would share cores with."""
        if self.gpus:
            return None
        live = [j for j in map(self.refresh, self.list(status=("running",))) if j.status == "running"]
        return jobqueue.contention(kind, live)

    def _start(self, job: Job, placed: list[int]) -> Job:
        try:
            launch = json.loads((job.folder / "launch.json").read_text())
        except (OSError, ValueError):  # a row an older version left queued, or a folder removed
            self._update(job.id, status="failed", finished=time.time(),
                         error="its launch record is missing; start it again")
            return self.get(job.id)
        if self.ray:
            return self._submit(job, launch)
        env = {**os.environ}
        if placed:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, placed))
        env.update(json.loads((job.folder / "env.json").read_text()))
        now = time.time()
        try:
            with open(job.folder / "log.txt", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-I", str(WRAPPER), str(job.folder), "--", *launch["command"]],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, env=env, cwd=launch["cwd"])
        except OSError as e:
            self._update(job.id, status="failed", finished=now, error=str(e))
            return self.get(job.id)
        self._update(job.id, status="running", pid=proc.pid, pgid=proc.pid, started=now,
                     proc_start=procs.start_time(proc.pid),
                     needs=json.dumps({**(job.needs or {}), "placed": placed}))
        # Popen objects are dropped on purpose: the exit record is how we learn the outcome,
        # the same way before and after an app restart. Reap in the background to avoid zombies.
        procs.keep(proc)
        return self.get(job.id)

    def _submit(self, job: Job, launch: dict) -> Job:
        try:
            rayjobs.submit(self.ray, job, WRAPPER, launch["command"], os.environ)
        except rayjobs.ClusterError as e:
            self._update(job.id, status="failed", finished=time.time(), error=str(e))
            return self.get(job.id)
        self._update(job.id, status="running", started=time.time(), backend=f"ray:{self.ray}",
                     needs=json.dumps({**(job.needs or {}), "placed": []}))
        return self.get(job.id)

    def refresh(self, job: Job) -> Job:
        """Bring a running row up to date with its process and exit record."""
        if job.status != "running":
            return job
        if job.cluster:
            done = rayjobs.settle(job.cluster, job)
            if done:
                self._update(job.id, **done)
                self.schedule()
            return self.get(job.id)
        procs.reap()
        if procs.alive(job.pid, job.proc_start):
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
        if job.pgid:
            # Whatever the command started and left behind (vLLM's engine processes when its
            # front end was killed) goes with it. Linux does not reuse a pid while a group of
            # that id exists, so this reaches only our own group.
            try:
                os.killpg(job.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.schedule()  # what it held is free now
        return self.get(job.id)

    def reconcile(self) -> list[Job]:
        """At start-up and then every few seconds: re-attach running jobs that are still alive,
        settle the ones that ended, and start queued ones whose resources came free."""
        settled = [self.refresh(j) for j in self.list(status=("running",))]
        self.schedule()
        return settled

    def cancel(self, job_id: str, sig: int = signal.SIGTERM, grace: float = 30.0) -> Job:
        """Signal the process group, wait up to grace seconds, then kill it."""
        job = self.refresh(self.get(job_id))
        if job.status == "queued":
            with self._write() as db:  # unless the scheduler started it a moment ago
                db.execute("UPDATE jobs SET status = 'cancelled', finished = ?, error = ? WHERE id = ? "
                           "AND status = 'queued'", (time.time(), "cancelled before it started", job_id))
            job = self.get(job_id)
            if job.status == "cancelled":
                self.schedule()
                return job
        if job.status not in ACTIVE:
            return job
        self._update(job_id, status="cancelled")
        if job.cluster:
            self._update(job_id, **rayjobs.stop(job.cluster, self.get(job_id), sig, grace))
            self.schedule()
            return self.get(job_id)
        try:
            os.killpg(job.pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.time() + grace
        while time.time() < deadline and procs.alive(job.pid, job.proc_start):
            procs.reap()
            time.sleep(0.2)
        if procs.alive(job.pid, job.proc_start):
            try:
                os.killpg(job.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            procs.reap()
        job = self.get(job_id)
        if not (job.folder / "exit.json").exists():
            self._update(job_id, finished=time.time(), error="killed after the grace period")
        else:
            rec = json.loads((job.folder / "exit.json").read_text())
            self._update(job_id, finished=rec.get("finished"), exit_code=rec.get("returncode"))
        self.schedule()
        return self.get(job_id)

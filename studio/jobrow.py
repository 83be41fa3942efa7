"""A job's row: the table the store keeps, and the Job it reads back (studio/jobs.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
# Columns added after the first release; an older database gains them at open.
_ADDED = {"owner": "TEXT", "needs": "TEXT", "backend": "TEXT"}
# Who made each dataset, knowledge base or published model (jobs carry their own owner).
_OWNERS = """
CREATE TABLE IF NOT EXISTS owners (
    kind TEXT NOT NULL, name TEXT NOT NULL, owner TEXT, created REAL NOT NULL,
    PRIMARY KEY (kind, name)
)"""


class JobError(Exception):
    """A job that cannot be queued as asked; the message says why."""


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
    owner: str | None = None
    needs: dict | None = None
    backend: str | None = None  # None: a local process; "ray:ADDRESS": a job on that Ray cluster

    @property
    def cluster(self) -> str | None:
        return self.backend[4:] if (self.backend or "").startswith("ray:") else None

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

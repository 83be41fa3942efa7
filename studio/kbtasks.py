"""Ingestion in the background that survives the app: the files are copied into the data root and
the task recorded there before it starts; an app stopped or killed meanwhile finishes it at its
next start. A file added again replaces its chunks, so going over a batch again loses and doubles
nothing (its pending chunks were dropped at open: kbstore). GraphRAG builds run in the background
too (start_graph), outside any request: the model reads every chunk, minutes on a CPU."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from studio.kbreaders import KnowledgeError
from studio.words import Said

_GRAPH_LOCK = threading.Lock()


class TasksMixin:
    def start_ingest(self, paths: list, base: str | None = None, cleanup: bool = False) -> str:
        """ingest() in a background thread; poll tasks[id] for progress and the report.

        The files are copied into the data root first and the task is recorded there, so an app
        that is stopped or killed meanwhile finishes it at its next start (resume_ingests): a file
        added again replaces its chunks, so going over the batch again loses and doubles nothing.
        cleanup deletes the source files once they are copied in."""
        self.base(base)
        task_id = f"ingest-{time.time_ns():x}"
        inbox = self.root / "incoming" / task_id
        kept = []
        for i, p in enumerate(paths):
            src, dest = Path(p), inbox / str(i) / Path(p).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copyfile)(src, dest)
            kept.append(str(dest))
        if cleanup:
            for p in paths:
                Path(p).unlink(missing_ok=True)
        record = {"id": task_id, "base": base, "paths": kept, "started": time.time()}
        f = self._task_file(task_id)
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False))
        tmp.replace(f)
        self._run_task(record)
        return task_id

    def _task_file(self, task_id: str) -> Path:
        d = self.root / "tasks"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{task_id}.json"

    def _run_task(self, record: dict, resumed: bool = False) -> None:
        task_id, base, paths = record["id"], record["base"], [Path(p) for p in record["paths"]]
        task = self.tasks[task_id] = {"status": "running", "files": 0, "total": len(paths), "chunks": 0,
                                      "reports": [], "base": base, "started": record["started"],
                                      "resumed": resumed}

        def progress(files, total, chunks):
            task.update(files=files, total=total, chunks=chunks)

        def work():
            try:
                task["reports"] = self.ingest(paths, base, progress)
                task["status"] = "succeeded"
            except Exception as e:  # never lose the failure in a thread
                task.update(status="failed", error=f"{type(e).__name__}: {e}")
            # Done, either way: only a stopped process leaves its record to be resumed.
            self._task_file(task_id).unlink(missing_ok=True)
            shutil.rmtree(self.root / "incoming" / task_id, ignore_errors=True)

        threading.Thread(target=work, daemon=True, name=task_id).start()

    def start_graph(self, base: str | None, base_url: str, model: str, api_key: str = "",
                    context: int = 2048) -> str:
        """graphrag.build() in a background thread (the model reads every chunk: minutes), one
        per knowledge base at a time; poll tasks[id]. Not resumed after a restart: it needs the
        deployment it was started on, and the graph it replaces stays whole until it ends."""
        from studio import graphrag

        b = self.base(base)
        with _GRAPH_LOCK:  # two clicks at once start one build
            busy = [t for t in self.tasks.values()
                    if t.get("kind") == "graph" and t["base"] == b.name and t["status"] == "running"]
            if busy:
                raise KnowledgeError(Said(
                    f"A graph of {b.name!r} is being built already ({busy[0]['files']} of "
                    f"{busy[0]['total']} chunks read): wait for it to finish.",
                    f"知识库 {b.name!r} 的图谱正在构建（已读 {busy[0]['files']}/{busy[0]['total']} 个文本块）：请等它完成。"))
            task_id = f"graph-{time.time_ns():x}"
            task = self.tasks[task_id] = {"kind": "graph", "status": "running", "files": 0, "total": 0,
                                          "triples": [], "base": b.name, "started": time.time()}

        def work():
            try:
                task["triples"] = graphrag.build(self, b.name, base_url, model, api_key, context=context,
                                                 progress=lambda done, total: task.update(files=done, total=total))
                task["status"] = "succeeded"
            except Exception as e:  # never lose the failure in a thread
                task.update(status="failed", error=e)

        threading.Thread(target=work, daemon=True, name=task_id).start()
        return task_id

    def _gone(self, base: str | None) -> bool:
        try:
            self.base(base)
            return False
        except KnowledgeError:
            return True

    def resume_ingests(self) -> list[str]:
        """Finish every ingestion a previous run of the app was stopped in; their ids."""
        found = []
        for f in sorted((self.root / "tasks").glob("ingest-*.json")):
            try:
                record = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                f.unlink(missing_ok=True)  # a record cut short as it was written: nothing started
                continue
            if self._gone(record.get("base")):
                f.unlink(missing_ok=True)
                shutil.rmtree(self.root / "incoming" / record["id"], ignore_errors=True)
                continue
            self._run_task(record, resumed=True)
            found.append(record["id"])
        return found


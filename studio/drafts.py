"""Training data from your own documents: a deployed model drafts question-and-answer rows from a
knowledge base's chunks (studio/qa_draft.py, a job), each row keeping the passage it rests on.
The rows land as a draft (datasets/.drafts/), which nobody can train on until someone has opened
it in the dataset editor, read it and saved it as a dataset."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from studio import config, datasets
from studio.jobs import Job, JobStore
from studio.words import Said

DRAFTER = Path(__file__).with_name("qa_draft.py")


class DraftError(ValueError):
    """A problem the user can act on; the message says what and how."""


def start(s: config.Settings, store: JobStore, kb, base: str, base_url: str, model: str, api_key: str = "",
          name: str = "", max_chunks: int = 20, per_chunk: int = 1, answers: str = "quote",
          user: str | None = None) -> Job:
    """kb: the studio's Knowledge; base: the knowledge base to read; base_url/model: the endpoint.
    answers: "quote" (the passage's own sentences, the model writes the questions) or "write"."""
    if answers not in ("quote", "write"):
        raise DraftError(Said("Answers are quoted from the passage or written by the model.",
                              "回答只能摘自段落，或由模型撰写。"))
    if not 1 <= int(max_chunks) <= 500 or not 1 <= int(per_chunk) <= 3:
        raise DraftError(Said("Draft from 1 to 500 chunks, 1 to 3 questions each.",
                              "请从 1 到 500 个文本块生成，每块 1 到 3 个问题。"))
    # a draft waiting for review, or one still being written, keeps its name
    drafting = {j.spec.get("draft") for j in store.list(kind="draft", status=("queued", "running"))}
    waiting = set(datasets.drafts(s)) | drafting
    name = datasets.check_name(name or datasets.free_name(s, f"{base}_qa", also=waiting))
    if name in datasets.list_names(s):
        raise DraftError(Said(f"A dataset named '{name}' exists: pick another name for the draft.",
                              f"已有名为 '{name}' 的数据集：请给草稿换一个名字。"))
    if name in waiting:
        raise DraftError(Said(f"A draft named '{name}' is waiting for review or being written: open it, "
                              "or pick another name.",
                              f"名为 '{name}' 的草稿正在等待审阅或正在生成：请先打开它，或换一个名字。"))
    chunks = []
    for doc, _ in kb.documents(base):
        for c in kb.chunks(doc, base):
            if c["text"].strip():
                chunks.append({"source": f"{doc} #{c['chunk'] + 1}\n{c['text']}", "text": c["text"]})
    if not chunks:
        raise DraftError(Said(f"The knowledge base '{base}' has no chunks yet: add documents to it first.",
                              f"知识库 '{base}' 里还没有文本块：请先添加文档。"))
    # spread over every document rather than the first one's chunks alone
    step = max(1, len(chunks) / int(max_chunks))
    picked = [chunks[int(i * step)] for i in range(min(int(max_chunks), len(chunks)))]
    job_id, folder = store.new_folder("draft")
    req = {"base_url": base_url, "model": model, "chunks": picked, "per_chunk": int(per_chunk), "answers": answers,
           "draft_path": str(datasets.folder(s) / ".drafts" / f"{name}.json")}
    (folder / "request.json").write_text(json.dumps(req, ensure_ascii=False), encoding="utf-8")
    env = {"STUDIO_DRAFT_KEY": api_key} if api_key else {}
    # the app's own python, isolated: the drafter needs nothing but the standard library
    return store.launch("draft", f"draft {name} from {base}", [sys.executable, "-I", str(DRAFTER),
                                                                str(folder / "request.json")],
                        spec={"draft": name, "kb": base, "model": model, "chunks": len(picked)},
                        env=env, job_id=job_id, folder=folder, owner=user)


def progress(job: Job) -> dict:
    try:
        return json.loads((job.folder / "progress.json").read_text())
    except (OSError, ValueError):
        return {"done": 0, "total": job.spec.get("chunks", 0), "rows": 0, "dropped": 0}


def latest(store: JobStore) -> Job | None:
    found = store.list(kind="draft")
    return store.refresh(found[0]) if found else None

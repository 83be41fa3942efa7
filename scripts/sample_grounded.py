"""Rebuild the sample dataset's grounded rows: questions answered from retrieved text, so that a
LoRA trained on the sample learns to read what the knowledge base hands it.

    .venvs/app/bin/python scripts/sample_grounded.py

Each row's instruction is laid out as the Chat tab sends it with retrieval on (retrieved text,
then the question: chat.rag_question), with the one chunk that holds the answer among those the
studio's default knowledge base retrieves from assets/docs, cut to the sentences a small model
is given (chat.evidence; rows of three whole chunks ran to ~950 tokens and a CPU step to ~35 s);
its output is the answer. The questions come from assets/sample_grounded.json and from the plain
rows whose answer the documents hold. None is a question of bench/answer_quality.py.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from studio import chat, config  # noqa: E402
from studio.knowledge import Knowledge  # noqa: E402

SAMPLE = REPO / "assets" / "sample_dataset.json"
GROUNDED = REPO / "assets" / "sample_grounded.json"


def grounded_row(row: dict) -> bool:
    return "\n\nAnswer from the text above: " in row["instruction"] or "\n\n请根据上面的内容回答：" in row["instruction"]


def main() -> None:
    rows = [r for r in json.loads(SAMPLE.read_text(encoding="utf-8")) if not grounded_row(r)]
    with tempfile.TemporaryDirectory() as home:
        kb = Knowledge(config.load(home=home))
        try:
            kb.ingest(sorted((REPO / "assets" / "docs").iterdir()))
            asked = [(x["q"], x["a"]) for x in json.loads(GROUNDED.read_text(encoding="utf-8"))]
            asked += [(r["instruction"], r["output"]) for r in rows if not r["input"]]
            extra, skipped = [], []
            for q, a in asked:
                # The retrieved text as the chat hands it to a small model: the sentences of
                # the top chunks closest to the question (chat.evidence).
                said = chat.evidence(q, [h.text for h in kb.search(q)], chat.SMALL_MODEL_SENTENCES)
                # Only where that text holds the answer: a row that answers past its text would
                # teach the model to ignore what it is given.
                texts = [SimpleNamespace(text=t) for t in said]
                if not any(chat.supported_by(part, texts) for part in chat.sentences(a)):
                    skipped.append(q)
                    continue
                extra.append({"instruction": chat.rag_question(q, said), "input": "", "output": a})
        finally:
            kb.close()
    SAMPLE.write_text(json.dumps(rows + extra, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(rows)} plain rows, {len(extra)} grounded rows; not held by the documents: {len(skipped)}")


if __name__ == "__main__":
    main()

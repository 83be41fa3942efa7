"""The two built-in embedding models side by side, one thread each: chunks embedded per second
(about 200-token chunks of the sample documents, as ingestion sends them) and the median time to
embed one question, with e5's figures as a ratio of MiniLM's:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/embed_speed.py [--chunks 64] [--repeat 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config  # noqa: E402
from studio.knowledge import Knowledge  # noqa: E402

QUESTIONS = ["What does error E3 mean?", "哪首诗写夜里看见月光而想念家乡？"]


def texts(n: int) -> list[str]:
    """n chunks of about 200 tokens from the bundled documents, English and Chinese."""
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted((config.REPO / "assets").rglob("*.txt")))
    step = 500  # characters: ~120 English words, or ~350 Chinese characters
    parts = [words[i:i + step] for i in range(0, len(words), step)]
    return [parts[i % len(parts)] + f" ({i})" for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    chunks = texts(args.chunks)
    rows = {}
    with tempfile.TemporaryDirectory() as home:
        kb = Knowledge(config.load(home=home))
        for model in config.BUILTIN_EMBEDDINGS:
            emb = kb._embedder(model, "ingest")[0]
            emb.get_text_embedding_batch(chunks[:4])  # warm
            t0 = time.perf_counter()
            emb.get_text_embedding_batch(chunks)
            rate = len(chunks) / (time.perf_counter() - t0)
            q = []
            for i in range(args.repeat):
                t0 = time.perf_counter()
                kb.embed_query(model, QUESTIONS[i % 2] + f" {i}")
                q.append(time.perf_counter() - t0)
            rows[model] = (rate, statistics.median(q) * 1000)
            print(f"{model:32} {rate:7.1f} chunks/s   query {rows[model][1]:6.1f} ms (median of {args.repeat})")
        kb.close()
    (a, qa), (b, qb) = rows.values()
    print(f"e5 / MiniLM: ingestion x{b / a:.2f} the rate, a question x{qb / qa:.2f} the time")


if __name__ == "__main__":
    main()

"""Knowledge base at scale, side by side in one process:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/kb_scale.py [--chunks 20000] [--repeat 60]

1. Ingestion: chunks/s through the studio (read, split, embed, BM25-encode, store in Qdrant)
   vs the embedding model alone on the same chunk texts (goal: the studio keeps >= 80%).
2. Query latency with that many chunks in Qdrant's local mode, one torch thread: p50 and p95 of
   hybrid, dense and BM25 search through the studio, and of a bare embed + Qdrant dense query.
The corpus is generated from the bundled public-domain texts and sample documents, numbered so
that no two chunks are alike.
"""
from __future__ import annotations

import argparse
import os
import random
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

QUESTIONS = ["How many days do I have to return a product?", "What does error E3 mean?",
             "Do the police need a warrant?", "退货期限是多少天？", "哪首诗写月光和故乡？",
             "What is the power of the K2 kettle?"]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def short(sentence: str) -> str:
    words = sentence.split()
    return " ".join(words[:16]) if len(words) > 1 else sentence[:18]


def corpus(folder: Path, chunks: int, per_file: int = 200) -> None:
    """Files of `per_file` short paragraphs (one sentence, at most 16 words or 20 characters);
    with 32-token chunks each paragraph becomes one chunk."""
    rng = random.Random(7)
    src = [p for d in ("assets/docs", "assets/eval/en", "assets/eval/zh")
           for p in sorted((config.REPO / d).iterdir())]
    # long enough that two never fit one 32-token chunk, short enough that one always does
    sentences = [s.strip() for p in src for s in p.read_text().replace("。", "。\n").replace(". ", ".\n").splitlines()
                 if len(s.split()) >= 12 or (len(s.split()) == 1 and len(s.strip()) >= 14)]
    folder.mkdir(parents=True)
    for f in range(0, chunks, per_file):
        paras = [f"Record {f + i}: " + short(rng.choice(sentences)) for i in range(min(per_file, chunks - f))]
        (folder / f"part{f // per_file:04d}.txt").write_text("\n\n".join(paras))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=60)
    ap.add_argument("--sample", type=int, default=2000, help="chunks embedded alone for the ratio")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home)
        kb = Knowledge(s)
        # One paragraph per chunk: room for one generated paragraph, not two; no overlap.
        b = kb.create_base("scale", chunk_tokens=32, chunk_overlap=0)
        corpus(Path(home) / "corpus", args.chunks)
        files = sorted((Path(home) / "corpus").iterdir())
        emb = kb._embedder(b.embed_model)[0]
        emb.get_text_embedding_batch(["warm up"] * 8)
        t = time.perf_counter()
        reports = kb.ingest(files, base="scale")
        took = time.perf_counter() - t
        n = sum(r.chunks for r in reports)
        studio_rate = n / took
        texts = [c["text"] for f in files[: max(1, args.sample // 200)] for c in kb.chunks(
            next(r.name for r in reports if r.name == f.name), "scale")]
        t = time.perf_counter()
        emb.get_text_embedding_batch(texts)
        alone_rate = len(texts) / (time.perf_counter() - t)

        client = kb._client

        def bare(q):
            vec = emb.get_query_embedding(q)
            return client.query_points(b.collection, query=vec, using="text-dense", limit=s.top_k).points

        runs = {"studio hybrid": lambda q: kb.search(q, base="scale", mode="hybrid"),
                "studio dense": lambda q: kb.search(q, base="scale", mode="dense"),
                "studio BM25": lambda q: kb.search(q, base="scale", mode="sparse"),
                "bare embed + qdrant dense": bare}
        times = {k: [] for k in runs}
        for i in range(args.repeat + 3):
            q = QUESTIONS[i % len(QUESTIONS)]
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn(q)
                if i >= 3:
                    times[name].append((time.perf_counter() - t0) * 1000)
        points = kb.points("scale")
        kb.close()
    print(f"ingestion: {n} chunks in {took:.0f} s = {studio_rate:.0f} chunks/s through the studio; "
          f"embedding alone {alone_rate:.0f} chunks/s on {len(texts)} of the same chunks; "
          f"studio keeps {studio_rate / alone_rate * 100:.0f}%")
    print(f"queries at {points} chunks, top-{s.top_k}, one torch thread, Qdrant local mode, {args.repeat} each:")
    for name, xs in times.items():
        print(f"  {name:>26}: p50 {statistics.median(xs):6.1f} ms   p95 {pct(xs, 0.95):6.1f} ms")


if __name__ == "__main__":
    main()

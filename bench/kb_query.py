"""Knowledge-base query latency: the studio's search vs the same embedding + Qdrant query bare.

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/kb_query.py [--repeat 50]

Ingests the sample documents into a temporary data root (Qdrant local mode), then times top-k
queries both ways, interleaved, and prints medians, p95 and the overhead ratio.
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

QUESTIONS = ["How many days do I have to return a product?", "What does error E3 mean?",
             "How long is the warranty?", "退货期限是多少天？", "积分什么时候过期？",
             "What is the power of the K2 kettle?"]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home)
        kb = Knowledge(s)
        for f in sorted((config.REPO / "assets" / "docs").iterdir()):
            kb.add_file(f)
        kb.search("warm up")
        embed, client = kb._embed, kb._client

        def bare(q):
            vec = embed.get_query_embedding(q)
            return client.query_points(s.collection, query=vec, limit=s.top_k).points

        studio_ms, bare_ms = [], []
        for i in range(args.repeat):
            q = QUESTIONS[i % len(QUESTIONS)]
            for fn, out in ((kb.search, studio_ms), (bare, bare_ms)):
                t = time.perf_counter()
                fn(q)
                out.append((time.perf_counter() - t) * 1000)
        kb.close()
    print(f"queries: {args.repeat} each, top-{s.top_k}, one torch thread, Qdrant local mode")
    for name, xs in (("studio search", studio_ms), ("embed + qdrant", bare_ms)):
        print(f"{name:>15}: p50 {statistics.median(xs):6.1f} ms   p95 {pct(xs, 0.95):6.1f} ms")
    print(f"ratio studio/bare (p50): {statistics.median(studio_ms) / statistics.median(bare_ms):.2f}")


if __name__ == "__main__":
    main()

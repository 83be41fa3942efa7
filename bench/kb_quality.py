"""Retrieval quality on the bundled labelled sets (public-domain texts, assets/eval), dense vs
BM25 vs hybrid side by side, with the default embedding model (English MiniLM), offline:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/kb_quality.py [--rerank CROSS_ENCODER]

With --rerank (a hub id or local folder) a fourth row shows hybrid search reranked by it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config, kbeval  # noqa: E402
from studio.knowledge import Knowledge  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rerank", default="", help="cross-encoder: hub id or local folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        kb = Knowledge(config.load(home=home))
        print(f"{'set':4} {'search':7} {'recall@1':>9} {'recall@3':>9} {'recall@5':>9} {'MRR':>6}")
        for lang in ("en", "zh"):
            name, text = kbeval.load_sample(kb, lang)
            items = kbeval.parse(text)
            if args.rerank:
                kb.set_reranker(name, args.rerank)
            for mode, r in kbeval.evaluate(kb, items, name).items():
                print(f"{lang:4} {mode:7} {r['recall@1']:9.3f} {r['recall@3']:9.3f} {r['recall@5']:9.3f} "
                      f"{r['mrr']:6.3f}   ({len(items)} questions)")
        kb.close()


if __name__ == "__main__":
    main()

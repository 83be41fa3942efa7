"""Retrieval evaluation: a small labelled set (question -> the document, and optionally a phrase
the right chunk contains) run through dense, BM25 and hybrid search, scored by recall@k and MRR,
so a user can see which search suits their documents."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from studio.kbsearch import MODES, KnowledgeError
from studio.words import Said, join


@dataclass
class Item:
    question: str
    document: str
    contains: str = ""  # optional: the relevant chunk must contain this text


def parse(text: str) -> list[Item]:
    """JSON list / JSONL of {question, document, contains?}, or CSV with those headers."""
    text = (text or "").strip()
    if not text:
        raise KnowledgeError(Said("The evaluation set is empty: give question, document (and optionally contains).",
                                  "评测集是空的：请给出 question、document（以及可选的 contains）。"))
    if text[0] in "[{":
        try:
            rows = json.loads(text) if text[0] == "[" else [json.loads(x) for x in text.splitlines() if x.strip()]
        except json.JSONDecodeError as e:
            raise KnowledgeError(Said(f"The evaluation set is not valid JSON (line {e.lineno}: {e.msg}).",
                                      f"评测集不是有效的 JSON（第 {e.lineno} 行：{e.msg}）。")) from e
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    items = []
    for i, r in enumerate(rows, start=1):
        if not isinstance(r, dict):
            raise KnowledgeError(Said(f"Row {i}: expected an object with question and document.",
                                      f"第 {i} 行：应为包含 question 和 document 的对象。"))
        q, d = str(r.get("question") or "").strip(), str(r.get("document") or "").strip()
        if not q or not d:
            raise KnowledgeError(Said(f"Row {i}: question and document are both needed.",
                                      f"第 {i} 行：question 和 document 都必须填写。"))
        items.append(Item(q, d, str(r.get("contains") or "").strip()))
    return items


def relevant(hit, item: Item) -> bool:
    return hit.file == item.document and (not item.contains or item.contains.lower() in hit.text.lower())


def evaluate(kb, items: list[Item], base: str | None = None, ks=(1, 3, 5),
             modes=MODES) -> dict:
    """{mode: {"recall@k": .., "mrr": .., "ranks": [rank or None per question]}}, plus "rerank"
    when the base has a reranker, and "learned" (with "dense": the share) when dense and BM25
    were both run: the fusion weights that score best on this set. MRR counts a hit within the
    deepest k only."""
    known = {name for name, _ in kb.documents(base)}
    missing = sorted({it.document for it in items} - known)
    if missing:
        raise KnowledgeError(Said(f"Not in this knowledge base: {', '.join(missing)}. Add them first.",
                                  f"这个知识库里没有：{', '.join(missing)}。请先把它们加入知识库。"))
    depth = max(ks)
    runs = [(mode, mode, False) for mode in modes]
    if kb.base(base).rerank_model:  # the base's cross-encoder over hybrid candidates, as chat uses it
        runs.append(("rerank", "hybrid", True))
    out, lists = {}, {}
    for key, mode, rerank in runs:
        ranks = []
        for i, it in enumerate(items):
            # single lists as deep as hybrid search fuses from, for learning the weights below
            single = mode in ("dense", "sparse") and not rerank
            hits = kb.search(it.question, top_k=max(FUSE_DEPTH, depth) if single else depth, base=base,
                             mode=mode, rerank=rerank)
            if single:
                lists[(mode, i)] = hits
            ranks.append(next((r for r, h in enumerate(hits[:depth], start=1) if relevant(h, it)), None))
        out[key] = _scores(ranks, ks)
    if {"dense", "sparse"} <= set(modes):
        out["learned"] = _learned(items, lists, ks)
    return out


FUSE_DEPTH = 20  # as deep as kb.search's hybrid mode fuses from for a top 5


def _scores(ranks: list, ks) -> dict:
    res = {f"recall@{k}": sum(1 for r in ranks if r and r <= k) / len(ranks) for k in ks}
    res["mrr"] = sum(1 / r for r in ranks if r) / len(ranks)
    res["ranks"] = ranks
    return res


def _learned(items: list[Item], lists: dict, ks) -> dict:
    """The dense share that fuses this set's dense and BM25 lists best (kbfusion.learn), and
    the scores hybrid search gets with it."""
    from studio import kbfusion

    runs, texts = [], {}
    for i, it in enumerate(items):
        keys = {}
        for mode in ("dense", "sparse"):
            keys[mode] = [(h.file, h.chunk) for h in lists[(mode, i)]]
            texts.update({(h.file, h.chunk): h for h in lists[(mode, i)]})
        runs.append((keys["dense"], keys["sparse"], lambda k, it=it: relevant(texts[k], it)))
    share, _ = kbfusion.learn(runs, max(ks))
    w = kbfusion.Weights(share, "learned")
    ranks = [next((r for r, k in enumerate(kbfusion.fuse(d, s, w, max(ks)), start=1) if ok(k)), None)
             for d, s, ok in runs]
    return {**_scores(ranks, ks), "dense": share}


# Bundled labelled sets (assets/eval), each pair from other public-domain texts: the Knowledge
# tab offers the first; the fusion's dense share was chosen on it and the dev pair; the held-out
# pair was written after that choice and never tuned on (bench/kb_quality.py runs all three).
SETS = {"en": "", "zh": "", "en-dev": "dev", "zh-dev": "dev", "en-heldout": "heldout", "zh-heldout": "heldout"}


def load_sample(kb, lang: str, embed_model: str | None = None) -> tuple[str, str]:
    """A bundled public-domain set (assets/eval) in a knowledge base of its own, made on first
    use (with embed_model, if given): (base name, labelled set as JSONL)."""
    from studio import config

    if lang not in SETS:
        raise KnowledgeError(Said(f"Sample sets: {', '.join(SETS)}.", f"示例评测集只有 {'、'.join(SETS)}。"))
    folder = config.REPO / "assets" / "eval" / SETS[lang]
    code = lang.split("-")[0]
    name = f"sample-{lang}"
    if name not in {b.name for b in kb.bases()}:
        kb.create_base(name, embed_model=embed_model, chinese=code == "zh")
    have = {n for n, _ in kb.documents(name)}
    missing = [p for p in sorted((folder / code).iterdir()) if p.name not in have]
    if missing:
        errors = [r.error for r in kb.ingest(missing, name) if r.error]
        if errors:
            raise KnowledgeError(join("; ", errors, "；"))
    return name, (folder / f"{code}.jsonl").read_text(encoding="utf-8")

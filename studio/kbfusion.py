"""How much the dense list and the BM25 list each count when hybrid search fuses them.

Reciprocal rank fusion with equal weights lets a dense list that is close to noise drag a good
BM25 list down: the built-in MiniLM reads most Chinese characters as [UNK], and on Chinese
questions equal-weight hybrid search ranked below BM25 alone. So each query gets its own weights:
by how much of the query the base's embedding model reads (the languages its model card declares
against the query's letters), or, once the base has learned them from its own labelled set, the
weights that scored best there. The weights go to Qdrant's weighted reciprocal rank fusion, and
travel with every hit so the page can show them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from studio.words import Said

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Model-card language codes that cover Chinese characters; "multilingual" covers every script.
CJK_LANGS = frozenset({"zh", "chinese", "zh-cn", "zh-tw", "zh-hans", "zh-hant", "cmn", "yue"})
NON_LATIN = CJK_LANGS | {"ja", "ko", "ru", "ar", "he", "el", "th", "hi", "fa", "uk"}
GRID = tuple(i / 10 for i in range(11))  # dense shares tried when a base learns its weights


@dataclass(frozen=True)
class Weights:
    dense: float  # the dense list's share of the fusion, 0..1; BM25 has the rest
    how: str  # "fit": from the model's languages; "learned": from the base's evaluation; "unknown"
    fit: float | None = None  # share of the query's letters the embedding model reads

    @property
    def sparse(self) -> float:
        return 1.0 - self.dense

    def rrf(self) -> list[float]:
        """[dense, BM25] for Qdrant's weighted RRF, the larger one 1: equal shares give plain RRF
        (the weights scale ranks, so their sum would change RRF's constant)."""
        top = max(self.dense, self.sparse)
        return [self.dense / top, self.sparse / top]

    def said(self) -> Said:
        share = f"dense {self.dense:.2f} · BM25 {self.sparse:.2f}"
        zh = f"向量 {self.dense:.2f} · BM25 {self.sparse:.2f}"
        if self.how == "learned":
            return Said(f"Fusion weights: {share}, learned from this base's evaluation set.",
                        f"融合权重：{zh}，由这个知识库的评测集学得。")
        if self.how == "unknown":
            return Said(f"Fusion weights: {share} (the embedding model's card names no language).",
                        f"融合权重：{zh}（向量模型的说明卡没有写明语言）。")
        read = f"{self.fit:.0%}" if self.fit is not None else "?"
        return Said(f"Fusion weights: {share}; the embedding model reads {read} of this query's letters.",
                    f"融合权重：{zh}；向量模型能读懂这个问题中 {read} 的文字。")


def reads(langs: set[str]) -> tuple[bool, bool] | None:
    """(reads Chinese characters, reads Latin letters) for a model's declared languages; None
    when the card declares none."""
    if not langs:
        return None
    if "multilingual" in langs:
        return True, True
    return bool(langs & CJK_LANGS), bool(langs - NON_LATIN)


def fit(query: str, langs: set[str]) -> float | None:
    """The share of the query's letters (Chinese characters, Latin letters) in a script the
    embedding model reads; None when that is unknown or the query has no letters."""
    can = reads(langs)
    cjk, latin = len(_CJK.findall(query)), len(_LATIN.findall(query))
    if can is None or not cjk + latin:
        return None
    return (cjk * can[0] + latin * can[1]) / (cjk + latin)


def for_query(query: str, langs: set[str], learned: float | None = None, share: float = 0.9) -> Weights:
    """The weights one query is fused with: the base's learned ones, else `share` of the fusion
    to the dense list scaled by how much of the query the model reads (none of it: BM25 decides,
    the dense list only orders what BM25 did not find); equal shares when that is unknown."""
    if learned is not None:
        return Weights(float(learned), "learned", fit(query, langs))
    f = fit(query, langs)
    if f is None:
        return Weights(0.5, "unknown")
    return Weights(share * f, "fit", f)


def fuse(dense: list, sparse: list, w: Weights, limit: int) -> list:
    """Keys of two ranked lists fused by Qdrant's weighted RRF (the same function the store's
    hybrid search runs), best first: used to learn weights without searching again."""
    from qdrant_client.http import models as qm
    from qdrant_client.hybrid.fusion import reciprocal_rank_fusion

    ids = {key: i for i, key in enumerate(dict.fromkeys([*dense, *sparse]))}
    back = {i: key for key, i in ids.items()}
    lists = [[qm.ScoredPoint(id=ids[k], version=0, score=0.0) for k in keys] for keys in (dense, sparse)]
    return [back[p.id] for p in reciprocal_rank_fusion(lists, limit=limit, weights=w.rrf())]


def learn(runs: list[tuple[list, list, object]], depth: int, prefer: float = 0.5) -> tuple[float, float]:
    """The dense share (of GRID) whose fusion gives the best MRR over runs of (dense keys, BM25
    keys, relevant(key) -> bool), and that MRR; ties go to the share nearest `prefer`."""
    def mrr(share: float) -> float:
        total = 0.0
        for dense, sparse, ok in runs:
            fused = fuse(dense, sparse, Weights(share, "learned"), depth)
            total += next((1 / r for r, k in enumerate(fused, start=1) if ok(k)), 0.0)
        return total / max(len(runs), 1)

    scored = [(mrr(s), -abs(s - prefer), s) for s in GRID]
    best = max(scored)
    return best[2], best[0]

"""Looking into a knowledge base: documents, chunks, and dense, BM25 and hybrid search with each
hit's rank in every list; plus the checks that tell a user when retrieval will be poor."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio import kbfusion
from studio.kbreaders import KnowledgeError
from studio.words import Said

MODES = ("hybrid", "dense", "sparse")
LOCAL_LIMIT = 20_000  # Qdrant's local mode warns and slows past this many points
# Local mode scores sparse (BM25) vectors one point at a time in Python: hybrid search took
# ~5 ms per 1,000 chunks on one core (107 ms p95 at 19,652, bench/kb_scale.py).
LOCAL_SPARSE_SLOW = 5_000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass
class Hit:
    file: str
    chunk: int
    page: str
    score: float
    text: str
    dense_rank: int | None = None  # where the chunk stood in each list before fusion
    dense_score: float | None = None
    sparse_rank: int | None = None
    sparse_score: float | None = None
    rerank_score: float | None = None  # the cross-encoder's score, when the base has a reranker
    first_rank: int | None = None  # where it stood before reranking
    weights: kbfusion.Weights | None = None  # how hybrid search fused the two lists for this query
    embed_model: str = ""  # the model behind dense_score: similarities sit differently per model

    @property
    def label(self) -> str:
        where = f"p.{self.page}, " if self.page else ""
        return f"{self.file} ({where}chunk {self.chunk})"

    def label_in(self, zh: bool) -> str:
        if not zh:
            return self.label
        where = f"第 {self.page} 页，" if self.page else ""
        return f"{self.file}（{where}第 {self.chunk} 块）"


def rrf(dense, sparse, alpha: float = 0.5, top_k: int = 3):
    """LlamaIndex's hybrid_fusion_fn, as Qdrant's weighted reciprocal rank fusion (the same the
    Qdrant server runs for FusionQuery): ranks, not raw scores, so cosine and BM25 scales never
    mix; alpha is the dense list's share (kbfusion). Each fused node carries its rank and score
    in the dense and the sparse list."""
    from llama_index.core.vector_stores.types import VectorStoreQueryResult
    from qdrant_client.http import models as qm
    from qdrant_client.hybrid.fusion import reciprocal_rank_fusion

    def points(res):
        return [qm.ScoredPoint(id=i, version=0, score=s) for i, s in zip(res.ids or [], res.similarities or [])]

    nodes = {i: n for res in (sparse, dense) for i, n in zip(res.ids or [], res.nodes or [])}
    fused = reciprocal_rank_fusion([points(dense), points(sparse)], limit=top_k,
                                   weights=kbfusion.Weights(alpha, "").rrf())
    for kind, res in (("dense", dense), ("sparse", sparse)):
        for rank, (i, s) in enumerate(zip(res.ids or [], res.similarities or []), start=1):
            nodes[i].metadata[f"_{kind}"] = (rank, float(s))
    return VectorStoreQueryResult(nodes=[nodes[p.id] for p in fused],
                                  similarities=[p.score for p in fused], ids=[str(p.id) for p in fused])


def model_languages(path: str) -> set[str]:
    """Languages a local sentence-transformers model declares in its model card (empty if unknown)."""
    card = Path(path) / "README.md"
    if not card.exists():
        return set()
    head = card.read_text(errors="replace").split("---")
    if len(head) < 3:
        return set()
    import yaml

    try:
        meta = yaml.safe_load(head[1]) or {}
    except yaml.YAMLError:
        return set()
    lang = meta.get("language") or []
    return {str(x).lower() for x in (lang if isinstance(lang, list) else [lang])}


def cjk_share(text: str) -> float:
    letters = len(_LETTER.findall(text))
    return len(_CJK.findall(text)) / letters if letters else 0.0


def language_warning(docs: list, model: str, langs: set[str]) -> str:
    """A sentence when the embedding model does not read the documents' language."""
    can = kbfusion.reads(langs)  # (reads Chinese, reads Latin letters); None: the card names none
    if can is None or all(can):
        return ""
    share = cjk_share(" ".join(d.text for d in docs)[:20000])
    if share > 0.3 and not can[0]:
        return Said(f"{model} was trained on {', '.join(sorted(langs))} text, and this document is mostly "
                    "Chinese: dense search will match it poorly (BM25 still works). Create a knowledge base with "
                    "a model that reads Chinese: builtin:multilingual-e5-small (offline), or e.g. BAAI/bge-small-zh-v1.5.",
                    f"{model} 是用 {', '.join(sorted(langs))} 文本训练的，而这个文档以中文为主：向量检索会匹配得很差"
                    "（BM25 仍然有效）。请用能读中文的向量模型新建一个知识库：builtin:multilingual-e5-small（离线可用），"
                    "或 BAAI/bge-small-zh-v1.5 等。")
    if share < 0.05 and can[0] and not can[1]:
        return Said(f"{model} reads Chinese, and this document is not Chinese: dense search will match it poorly.",
                    f"{model} 读的是中文，而这个文档不是中文：向量检索会匹配得很差。")
    return ""


def _hit(node, score: float) -> Hit:
    m = node.metadata
    d, s = m.get("_dense", (None, None)), m.get("_sparse", (None, None))
    return Hit(file=m.get("file_name", "?"), chunk=int(m.get("chunk", 0)), page=str(m.get("page", "")),
               score=float(score), text=node.get_content(), dense_rank=d[0], dense_score=d[1],
               sparse_rank=s[0], sparse_score=s[1])


PENDING = "pending"  # payload key of chunks whose file is still being ingested


def visible(*must, hide: bool = True):
    """A Qdrant filter: the given conditions and, with hide, only chunks whose file is fully in
    (None when there is nothing to filter)."""
    from qdrant_client import models as qm

    if not must and not hide:
        return None
    return qm.Filter(must=list(must) or None, must_not=[
        qm.FieldCondition(key=PENDING, match=qm.MatchValue(value=True))] if hide else None)


class SearchMixin:
    """Read-side methods of Knowledge (kept apart so neither file grows past a sitting)."""

    def points(self, base: str | None = None) -> int:
        b = self.base(base)
        with self._db():
            self._open()
            if not self._client.collection_exists(b.collection):
                return 0
            flt = visible() if self.s.qdrant_url else None
            return self._client.count(b.collection, count_filter=flt, exact=True).count - len(self._hidden(b))

    def limits_note(self, base: str | None = None) -> str:
        """What bites in Qdrant's local mode, when it starts to."""
        if self.s.qdrant_url:
            return ""
        n = self.points(base)
        if n < LOCAL_SPARSE_SLOW:
            return ""
        return Said(f"{n:,} chunks in Qdrant's local mode, which keeps everything in this process's memory, "
                    f"scores BM25 one chunk at a time (hybrid search takes ~{n * 5 // 1000} ms here) and "
                    f"is meant for up to ~{LOCAL_LIMIT:,} chunks and one process. For more, run a Qdrant server "
                    "(docker run -p 6333:6333 qdrant/qdrant) and set QDRANT_URL; or search dense only.",
                    f"Qdrant 本地模式中已有 {n:,} 个文本块：它把所有内容放在本进程的内存里，逐块计算 BM25"
                    f"（这里一次混合检索约需 {n * 5 // 1000} 毫秒），只适合约 {LOCAL_LIMIT:,} 个文本块和单个进程。"
                    "更多时请运行 Qdrant 服务（docker run -p 6333:6333 qdrant/qdrant）并设置 QDRANT_URL；"
                    "或者只用向量检索。")

    def _scroll(self, collection: str, flt=None, payload=True):
        offset = None
        while True:
            pts, offset = self._client.scroll(collection, limit=512, offset=offset, scroll_filter=flt,
                                              with_payload=payload, with_vectors=False)
            yield from pts
            if offset is None:
                return

    def documents(self, base: str | None = None) -> list[tuple[str, int]]:
        """(file name, chunk count) for every document in a knowledge base."""
        b = self.base(base)
        with self._db():
            self._open()
            if not self._client.collection_exists(b.collection):
                return []
            counts: dict[str, int] = {}
            hidden = self._hidden(b)
            for p in self._scroll(b.collection, visible(hide=bool(self.s.qdrant_url)), payload=["file_name"]):
                if str(p.id) in hidden:
                    continue
                name = (p.payload or {}).get("file_name", "?")
                counts[name] = counts.get(name, 0) + 1
        return sorted(counts.items())

    def chunks(self, name: str, base: str | None = None) -> list[dict]:
        """Every chunk of one document, in order, with its metadata."""
        import json

        from qdrant_client import models as qm

        b = self.base(base)
        tok = self._embedder(b.embed_model)[1]
        with self._db():
            self._open()
            if not self._client.collection_exists(b.collection):
                return []
            flt = visible(qm.FieldCondition(key="file_name", match=qm.MatchValue(value=name)),
                          hide=bool(self.s.qdrant_url))
            out, hidden = [], self._hidden(b)
            for p in self._scroll(b.collection, flt):
                if str(p.id) in hidden:
                    continue
                pl = p.payload or {}
                node = json.loads(pl.get("_node_content", "{}"))
                text = node.get("text", "")
                with self.model_lock((b.embed_model, "query")):
                    n_tok = len(tok.encode(text, add_special_tokens=False))
                out.append({"chunk": int(pl.get("chunk", 0)), "page": str(pl.get("page", "")),
                            "text": text, "tokens": n_tok,
                            "id": str(p.id),
                            "metadata": {k: v for k, v in pl.items() if not k.startswith("_")}})
        return sorted(out, key=lambda c: c["chunk"])

    def search(self, query: str, top_k: int | None = None, base: str | None = None,
               mode: str = "hybrid", rerank: bool = True) -> list[Hit]:
        """Top chunks for a query; with the base's reranker (unless rerank=False) the first search
        fetches rerank_candidates chunks and the cross-encoder picks the top_k among them."""
        from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

        if not query or not query.strip():
            raise KnowledgeError(Said("Type a question to search for.", "请输入要检索的问题。"))
        if mode not in MODES:
            raise KnowledgeError(Said(f"Search mode must be one of {', '.join(MODES)}.",
                                      f"检索方式只能是 {'、'.join(MODES)} 之一。"))
        b, want, q = self.base(base), int(top_k or self.s.top_k), query.strip()
        rr = self._reranker(b.rerank_model) if rerank and b.rerank_model else None
        k = max(want, self.s.rerank_candidates) if rr else want
        # The query is embedded before the store's lock is taken: only the store call holds it.
        vec = None if mode == "sparse" else self.embed_query(b.embed_model, q)
        weights = (kbfusion.for_query(q, self._embedder(b.embed_model)[3], b.fusion_dense,
                                      self.s.fusion_dense_share) if mode == "hybrid" else None)
        store = self._store(b)
        with self._db():
            if not self._client.collection_exists(b.collection):
                return []
            hidden = set(self._hidden(b))
            # Chunks of a file still being ingested are dropped after the query (twice as many
            # fetched): a payload filter costs local mode's brute force half again per search.
            n = 2 * k if hidden else k
            if mode == "dense":
                req = VectorStoreQuery(query_embedding=vec, similarity_top_k=n)
            elif mode == "sparse":
                req = VectorStoreQuery(query_str=q, mode=VectorStoreQueryMode.SPARSE, similarity_top_k=n,
                                       sparse_top_k=n)
            else:  # fuse from deeper lists than asked for, so a chunk good in one list can rise
                deep = max(4 * n, 20)
                req = VectorStoreQuery(query_embedding=vec, query_str=q, mode=VectorStoreQueryMode.HYBRID,
                                       similarity_top_k=deep, sparse_top_k=deep, hybrid_top_k=n,
                                       alpha=weights.dense)
            res = store.query(req, qdrant_filters=visible() if self.s.qdrant_url else None)
        pairs = [(n, s) for n, s in zip(res.nodes or [], res.similarities or []) if n.node_id not in hidden][:k]
        hits = {}
        for rank, (n, s) in enumerate(pairs, start=1):
            h = hits[n.node_id] = _hit(n, s)
            h.first_rank = rank
            h.weights, h.embed_model = weights, b.embed_model
            if mode == "dense":
                h.dense_rank, h.dense_score = rank, h.score
            elif mode == "sparse":
                h.sparse_rank, h.sparse_score = rank, h.score
            # the ranks travel in Hit; left in the node they would reach the cross-encoder's input
            n.metadata = {key: v for key, v in n.metadata.items() if not key.startswith("_")}
        if not rr:
            return list(hits.values())[:want]
        from llama_index.core.schema import NodeWithScore

        with self.model_lock(("rerank", b.rerank_model)):  # one model, shared by every caller
            ranked = rr.postprocess_nodes([NodeWithScore(node=n, score=s) for n, s in pairs], query_str=q)
        out = []
        for nws in ranked[:want]:
            h = hits[nws.node.node_id]
            h.rerank_score = float(nws.score)
            out.append(h)
        return out

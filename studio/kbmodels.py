"""The models a knowledge base uses: the names users give them are checked (a hub name or a folder
inside the data root), and each embedding model and reranker is loaded once and kept."""
from __future__ import annotations

import threading

from studio import kbsearch
from studio.config import BUILTIN_EMBEDDINGS
from studio.kbreaders import KnowledgeError
from studio.words import Said


class ModelsMixin:
    """For Knowledge: needs self.s, self._embedders, self._rerankers and self._locks.

    Each model has a lock of its own, held while it loads (perhaps a download from the hub) and
    while it runs (a tokenizer used by two threads at once fails with "Already borrowed"), so
    loading or using one model never holds up another, nor anything else in the studio. Ingestion
    embeds with its own copy of the model: a search's query embedding does not wait behind a
    batch of 64 chunks."""

    def model_lock(self, key) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.RLock())

    def _model_name(self, name: str | None) -> str:
        """A hub name or a folder inside the data root: never a path elsewhere on the server."""
        from studio.core import netguard

        if not (name or "").strip():
            return ""
        try:
            return netguard.check_model_name(name, self.s.home, self.s.models)
        except netguard.Refused as e:
            raise KnowledgeError(*e.args) from e

    def _embedder(self, name: str, use: str = "query") -> tuple:
        """(LlamaIndex embedding, tokenizer, max tokens, languages) of an embedding model; use
        "ingest" for ingestion's own copy. Run it under model_lock((name, use))."""
        with self.model_lock((name, use)):
            if (name, use) not in self._embedders:
                self._embedders[(name, use)] = self._load_embedder(name)
        return self._embedders[(name, use)]

    def _load_embedder(self, name: str) -> tuple:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        from studio import defaults

        if name == BUILTIN_EMBEDDINGS[1]:
            from studio import kbe5

            try:
                return kbe5.load()
            except (ImportError, OSError, RuntimeError) as e:
                raise KnowledgeError(Said(f"Cannot load the embedding model {name!r}: {e}",
                                          f"无法加载向量模型 {name!r}：{e}")) from e
        if name.startswith("builtin:") and name not in BUILTIN_EMBEDDINGS:
            raise KnowledgeError(Said(f"No built-in embedding model {name!r}: the built-in ones are "
                                      f"{' and '.join(BUILTIN_EMBEDDINGS)}.",
                                      f"没有内置向量模型 {name!r}：内置的是 {'和'.join(BUILTIN_EMBEDDINGS)}。"))
        path = str(defaults.embedding_path()) if name.startswith("builtin:") else name
        try:
            emb = HuggingFaceEmbedding(model_name=path, device="cpu", embed_batch_size=32)
        except Exception as e:  # offline hub id, wrong folder, not a sentence-transformers model
            raise KnowledgeError(Said(f"Cannot load the embedding model {name!r}: {str(e)[:300]}",
                                      f"无法加载向量模型 {name!r}：{str(e)[:300]}")) from e
        model = emb._model
        limit = int(getattr(model, "max_seq_length", None) or 512)
        return emb, model.tokenizer, limit, kbsearch.model_languages(path)

    def embed_query(self, name: str, text: str) -> list[float]:
        emb = self._embedder(name)[0]
        with self.model_lock((name, "query")):
            return emb.get_query_embedding(text)

    def _reranker(self, model: str):
        with self.model_lock(("rerank", model)):
            return self._load_reranker(model)

    def _load_reranker(self, model: str):
        if model not in self._rerankers:
            from llama_index.core.postprocessor import SentenceTransformerRerank

            try:
                # LlamaIndex defaults trust_remote_code to True; the studio never runs a model's code.
                # top_n is the whole candidate list: search() cuts it to what was asked for.
                self._rerankers[model] = SentenceTransformerRerank(
                    top_n=10_000, model=model, device="cpu", trust_remote_code=False)
            except Exception as e:  # offline hub id, wrong folder, not a cross-encoder
                raise KnowledgeError(Said(f"Cannot load the reranker {model!r}: {str(e)[:300]}",
                                          f"无法加载重排序模型 {model!r}：{str(e)[:300]}")) from e
        return self._rerankers[model]

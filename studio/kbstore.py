"""The store under the knowledge bases: the Qdrant client (local mode or a server), one
LlamaIndex vector store per collection, the lock local mode needs, the chunks an ingestion
still hides, and deleting a file's chunks."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from studio import kbsearch
from studio.kbreaders import KnowledgeError
from studio.words import Said

if TYPE_CHECKING:
    from studio.knowledge import Base


class StoreMixin:
    """For Knowledge: needs self.s, self._client, self._stores, self._db_lock, self._pending."""

    def _db(self):
        return contextlib.nullcontext() if self.s.qdrant_url else self._db_lock

    def _hidden(self, b: Base) -> set:
        """Ids of chunks searches and listings leave out: their file is still being ingested."""
        return self._pending.get(b.collection, set())

    def _purge_pending(self) -> None:
        """Local mode, at open: chunks an ingestion left hidden when the app was stopped midway."""
        from qdrant_client import models as qm

        for c in self._client.get_collections().collections:
            self._client.delete(c.name, points_selector=qm.FilterSelector(filter=qm.Filter(must=[
                qm.FieldCondition(key=kbsearch.PENDING, match=qm.MatchValue(value=True))])))

    # --- knowledge bases ---------------------------------------------------------------------
    # --- engines, built on first use (no import-time or construction-time side effects) ------
    def _open(self) -> None:
        if self._client is not None:
            return
        from qdrant_client import QdrantClient

        if self.s.qdrant_url:
            client = QdrantClient(url=self.s.qdrant_url, api_key=self.s.qdrant_api_key or None, timeout=10)
            try:
                client.get_collections()  # fail here, with the reason, not deep inside a search
            except Exception as e:
                client.close()
                raise KnowledgeError(Said(
                    f"Cannot use the Qdrant server at {self.s.qdrant_url}: {str(e)[:200]}. Is it running and "
                    "reachable from here, and is QDRANT_API_KEY right? (To start one: docker run -p "
                    "6333:6333 qdrant/qdrant.) Unset QDRANT_URL to use the local store instead.",
                    f"无法使用 {self.s.qdrant_url} 上的 Qdrant 服务：{str(e)[:200]}。它在运行吗？从这里能访问到吗？"
                    "QDRANT_API_KEY 对吗？（启动一个：docker run -p 6333:6333 qdrant/qdrant。）"
                    "去掉 QDRANT_URL 即可改用本地存储。")) from e
            self._client = client
            return
        where = self.s.path("knowledge", "qdrant")
        try:
            client = QdrantClient(path=str(where))
        except RuntimeError as e:
            if "already accessed" not in str(e):
                raise
            raise KnowledgeError(Said(
                f"Another program is using the knowledge store in {where} (another studio on the same "
                "data folder?). Qdrant's local mode lets one process open it at a time: close the other "
                "one, give this studio its own STUDIO_HOME, or run a Qdrant server and set QDRANT_URL "
                "so several processes can share it.",
                f"另一个程序正在使用 {where} 中的知识库存储（是否有另一个工作台用着同一个数据目录？）。"
                "Qdrant 本地模式同一时间只允许一个进程打开它：请关闭另一个程序，给这个工作台单独设置 STUDIO_HOME，"
                "或运行 Qdrant 服务并设置 QDRANT_URL，让多个进程共用。")) from e
        self._client = client
        self._purge_pending()

    def _store(self, b: Base):
        with self._db():
            return self._store_locked(b)

    def _store_locked(self, b: Base):
        self._open()
        if b.collection not in self._stores:
            from llama_index.vector_stores.qdrant import QdrantVectorStore
            from qdrant_client import models as qm

            from studio import sparse

            self._stores[b.collection] = QdrantVectorStore(
                client=self._client, collection_name=b.collection, enable_hybrid=True,
                sparse_doc_fn=sparse.doc_encoder(avg_len=b.chunk_tokens * 0.6),
                sparse_query_fn=sparse.query_encoder, hybrid_fusion_fn=kbsearch.rrf,
                sparse_config=qm.SparseVectorParams(modifier=qm.Modifier.IDF), batch_size=256)
        return self._stores[b.collection]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client, self._stores = None, {}

    def _delete_points(self, b: Base, name: str, keep: list | None = None, only: list | None = None) -> None:
        """Chunks of one file: all of them, all but `keep`, or just `only` (point ids)."""
        from qdrant_client import models as qm

        with self._db():
            self._delete_locked(b, name, keep, only, qm)

    def _delete_locked(self, b: Base, name: str, keep, only, qm) -> None:
        self._open()
        if not self._client.collection_exists(b.collection):
            return
        flt = qm.Filter(must=[qm.FieldCondition(key="file_name", match=qm.MatchValue(value=name))])
        if only is None and not keep:
            self._client.delete(b.collection, points_selector=qm.FilterSelector(filter=flt))
            return
        # Ids, not an id filter: local mode checks an id filter against every matching point
        # by rebuilding the id list each time, quadratic in the chunks of one file.
        kept = set(keep or ())
        ids = only if only is not None else [p.id for p in self._scroll(b.collection, flt, payload=False)
                                             if str(p.id) not in kept]
        if ids:
            self._client.delete(b.collection, points_selector=qm.PointIdsList(points=ids))

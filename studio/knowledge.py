"""Knowledge base: files -> LlamaIndex documents -> chunks -> embeddings -> Qdrant.

Qdrant runs in local mode on disk under the data root unless a server URL is set; local mode
allows one process per folder, so the app holds one Knowledge object and everything goes through it.
"""
from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from studio import config, defaults

SUFFIXES = (".txt", ".md", ".pdf", ".docx")
_SAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


class KnowledgeError(ValueError):
    """A problem the user can act on; the message says what and how."""


@dataclass
class Hit:
    file: str
    chunk: int
    page: str
    score: float
    text: str

    @property
    def label(self) -> str:
        where = f"p.{self.page}, " if self.page else ""
        return f"{self.file} ({where}chunk {self.chunk})"


def safe_name(name: str) -> str:
    """A file name that cannot leave the knowledge folder (no separators, no '..')."""
    base = _SAFE.sub("_", Path(name).name).strip("._")
    if not base:
        raise KnowledgeError(f"'{name}' is not a usable file name.")
    return base


def read_text_file(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):  # Chinese text files are often GBK/GB18030, not UTF-8
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


class Knowledge:
    def __init__(self, s: config.Settings):
        self.s = s
        self.files_dir = s.path("knowledge", "files")
        self._lock = threading.Lock()
        self._embed = self._client = self._store = self._splitter = None

    # --- built on first use (no import-time or construction-time side effects) ----------------
    def _open_store(self) -> None:
        """The Qdrant client alone: enough to list documents without loading the embedder."""
        if self._store is not None:
            return
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        if self.s.qdrant_url:
            self._client = QdrantClient(url=self.s.qdrant_url, api_key=self.s.qdrant_api_key or None)
        else:
            self._client = QdrantClient(path=str(self.s.path("knowledge", "qdrant")))
        self._store = QdrantVectorStore(client=self._client, collection_name=self.s.collection)

    def _ready(self) -> None:
        self._open_store()
        if self._embed is not None:
            return
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers import AutoTokenizer

        name = self.s.embed_model
        path = str(defaults.embedding_path()) if name.startswith("builtin:") else name
        self._embed = HuggingFaceEmbedding(model_name=path, device="cpu")
        # Count chunk sizes with the embedding model's own tokenizer: MiniLM reads 256 tokens at
        # most and anything past that would silently not be embedded.
        tok = AutoTokenizer.from_pretrained(path)
        self._splitter = SentenceSplitter(
            chunk_size=self.s.chunk_tokens, chunk_overlap=self.s.chunk_overlap,
            tokenizer=lambda text: tok.encode(text, add_special_tokens=False),
            paragraph_separator="\n\n", secondary_chunking_regex="[^,.;。！？!?]+[,.;。！？!?]?")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._embed = self._client = self._store = self._splitter = None

    # --- ingestion ----------------------------------------------------------------------------
    def _documents(self, path: Path):
        from llama_index.core import Document, SimpleDirectoryReader

        suffix = path.suffix.lower()
        if suffix in (".txt", ".md"):
            docs = [Document(text=read_text_file(path))]
        else:  # PDF: one document per page; DOCX: one document
            docs = SimpleDirectoryReader(input_files=[str(path)]).load_data()
        for d in docs:
            d.metadata = {"file_name": path.name, "page": str(d.metadata.get("page_label", ""))}
            d.excluded_embed_metadata_keys = list(d.metadata)
            d.excluded_llm_metadata_keys = list(d.metadata)
        return [d for d in docs if d.text.strip()]

    def add_file(self, upload: str | Path) -> tuple[str, int]:
        """Copy a file into the data root, chunk, embed and store it. Returns (name, chunks).

        A file with the same name replaces the earlier one's chunks.
        """
        src = Path(upload)
        if src.suffix.lower() not in SUFFIXES:
            raise KnowledgeError(f"{src.name}: unsupported type; use {', '.join(SUFFIXES)}.")
        name = safe_name(src.name)
        dest = self.files_dir / name
        if src.resolve() != dest.resolve():
            shutil.copyfile(src, dest)
        docs = self._documents(dest)
        if not docs:
            raise KnowledgeError(f"{name}: no text found (a scanned PDF needs OCR first).")
        with self._lock:
            self._ready()
            nodes = self._splitter.get_nodes_from_documents(docs)
            for i, n in enumerate(nodes, start=1):
                n.metadata["chunk"] = i
                n.excluded_embed_metadata_keys = ["file_name", "page", "chunk"]
                n.excluded_llm_metadata_keys = ["file_name", "page", "chunk"]
            texts = [n.get_content() for n in nodes]
            vectors = self._embed.get_text_embedding_batch(texts)
            for n, v in zip(nodes, vectors):
                n.embedding = v
            self._delete_points(name)
            self._store.add(nodes)
        return name, len(nodes)

    def _delete_points(self, name: str) -> None:
        from qdrant_client import models as qm

        if self._client.collection_exists(self.s.collection):
            self._client.delete(self.s.collection, points_selector=qm.FilterSelector(
                filter=qm.Filter(must=[qm.FieldCondition(
                    key="file_name", match=qm.MatchValue(value=name))])))

    def delete(self, name: str) -> None:
        with self._lock:
            self._open_store()
            self._delete_points(name)
        (self.files_dir / safe_name(name)).unlink(missing_ok=True)

    # --- inspection and search -----------------------------------------------------------------
    def documents(self) -> list[tuple[str, int]]:
        """(file name, chunk count) for every document in the collection."""
        with self._lock:
            self._open_store()
            if not self._client.collection_exists(self.s.collection):
                return []
            counts: dict[str, int] = {}
            offset = None
            while True:
                points, offset = self._client.scroll(self.s.collection, limit=512, offset=offset,
                                                     with_payload=["file_name"], with_vectors=False)
                for p in points:
                    name = (p.payload or {}).get("file_name", "?")
                    counts[name] = counts.get(name, 0) + 1
                if offset is None:
                    break
        return sorted(counts.items())

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        if not query or not query.strip():
            raise KnowledgeError("Type a question to search for.")
        with self._lock:
            self._ready()
            if not self._client.collection_exists(self.s.collection):
                return []
            vec = self._embed.get_query_embedding(query.strip())
            res = self._store.query(VectorStoreQuery(query_embedding=vec,
                                                     similarity_top_k=top_k or self.s.top_k))
        return [Hit(file=n.metadata.get("file_name", "?"), chunk=int(n.metadata.get("chunk", 0)),
                    page=str(n.metadata.get("page", "")), score=float(score), text=n.get_content())
                for n, score in zip(res.nodes or [], res.similarities or [])]


def context_for(kb: Knowledge, question: str) -> list[Hit]:
    """Chunks to ground an answer in; none (not an error) when the question or the base is empty."""
    try:
        return kb.search(question)
    except KnowledgeError:
        return []

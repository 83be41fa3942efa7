"""Knowledge bases: files -> LlamaIndex documents -> chunks -> dense + BM25 vectors -> Qdrant.

Each knowledge base is its own Qdrant collection with its own embedding model, chunk size and
splitter (kept in bases.json under the data root). Qdrant runs in local mode on disk unless a
server URL is set; local mode allows one process per folder, so the app holds one Knowledge object
and everything, ingestion included, goes through it (ingestion runs in a background thread).
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from studio import config, kbmodels, kbreaders, kbsearch, kbstore, kbtasks
from studio.kbreaders import SUFFIXES, KnowledgeError, ReadError, safe_name, safe_path  # noqa: F401  (re-exported)
from studio.kbsearch import Hit  # noqa: F401  (re-exported)
from studio.words import Said, join, zh

SPLITTERS = ("sentence", "token")
_NAME = re.compile(r"^[\w\-\u4e00-\u9fff ]{1,40}$")
BAD_NAME = Said("A knowledge base name is 1-40 letters, digits, spaces, '-' or '_'.",
                "知识库名称须为 1-40 个字母、数字、空格、'-' 或 '_'。")


def _exists(name: str) -> Said:
    return Said(f"A knowledge base named {name!r} already exists.", f"已有名为 {name!r} 的知识库。")


@dataclass
class Base:
    name: str
    collection: str
    embed_model: str
    chunk_tokens: int
    chunk_overlap: int
    splitter: str = "sentence"
    created: float = 0.0
    rerank_model: str = ""  # a cross-encoder that reorders the search's candidates; "" = none
    fusion_dense: float | None = None  # the dense list's share learned from an evaluation; None: by fit


@dataclass
class FileReport:
    name: str
    chunks: int = 0
    error: str = ""
    warning: str = ""


class Knowledge(kbsearch.SearchMixin, kbmodels.ModelsMixin, kbstore.StoreMixin, kbtasks.TasksMixin):
    def __init__(self, s: config.Settings):
        self.s = s
        self.root = s.path("knowledge")
        # Qdrant's local mode is one in-process store that is not safe for threads: each call
        # into it (a search, a batch of 64 chunks written) takes this lock for milliseconds.
        # Embedding, the slow part of an ingestion, never holds it. A Qdrant server needs none.
        self._db_lock = threading.RLock()
        self._registry_lock = threading.RLock()
        self._locks: dict = {}  # one per model (kbmodels.ModelsMixin.model_lock)
        # collection -> ids of chunks written by an ingestion still running (local mode, where
        # only this process writes; a server filters on their payload mark instead)
        self._pending: dict[str, set] = {}
        self._locks_guard = threading.Lock()
        self._client = None
        self._stores: dict[str, object] = {}
        self._embedders: dict[str, tuple] = {}
        self._rerankers: dict[str, object] = {}
        self.tasks: dict[str, dict] = {}

    def _registry(self) -> Path:
        return self.root / "bases.json"

    def bases(self) -> list[Base]:
        # The first call creates the registry: once, even when pages load together. A lock of its
        # own, so reading the list never waits for an ingestion holding the store's lock.
        with self._registry_lock:
            return self._bases()

    def _bases(self) -> list[Base]:
        f = self._registry()
        found = [Base(**b) for b in json.loads(f.read_text())] if f.exists() else []
        if not found:
            found = [Base("default", self.s.collection, self.s.embed_model, self.s.chunk_tokens,
                          self.s.chunk_overlap, "sentence", time.time())]
            self.root.mkdir(parents=True, exist_ok=True)
            self._save(found)
            # Files an earlier version kept in a dense-only collection are added again (its
            # collection had no BM25 vectors); the copies move only once they are in.
            legacy = sorted(f for f in (self.root / "files").glob("*") if f.is_file())
            if legacy:
                self.start_ingest(legacy, cleanup=True)
        return found

    def _save(self, bases: list[Base]) -> None:
        tmp = self._registry().with_suffix(".tmp")
        tmp.write_text(json.dumps([dataclasses.asdict(b) for b in bases], ensure_ascii=False, indent=1))
        tmp.replace(self._registry())

    def base(self, name: str | None = None) -> Base:
        all_ = self.bases()
        if not name:
            return all_[0]
        for b in all_:
            if b.name == name:
                return b
        raise KnowledgeError(Said(f"No knowledge base named {name!r}.", f"没有名为 {name!r} 的知识库。"))

    def create_base(self, name: str, embed_model: str | None = None, chunk_tokens: int | None = None,
                    chunk_overlap: int | None = None, splitter: str = "sentence", chinese: bool = False) -> Base:
        """A new knowledge base; with no embedding model named, the default one, or with chinese
        (made from the Chinese page) the default for Chinese, which reads it."""
        name = (name or "").strip()
        if not _NAME.match(name):
            raise KnowledgeError(BAD_NAME)
        if splitter not in SPLITTERS:
            raise KnowledgeError(Said(f"Splitter must be one of {', '.join(SPLITTERS)}.",
                                      f"切分方式只能是 {'、'.join(SPLITTERS)} 之一。"))
        default = self.s.embed_model_zh if chinese else self.s.embed_model
        b = Base(name, f"kb_{int(time.time() * 1000):x}", self._model_name(embed_model) or default,
                 int(chunk_tokens or self.s.chunk_tokens), int(self.s.chunk_overlap if chunk_overlap is None
                                                              else chunk_overlap), splitter, time.time())
        if not 16 <= b.chunk_tokens <= 8192 or not 0 <= b.chunk_overlap < b.chunk_tokens:
            raise KnowledgeError(Said("Chunk size must be 16-8192 tokens and the overlap smaller than it.",
                                      "文本块大小须为 16-8192 个 token，且重叠要小于它。"))
        if any(x.name == name for x in self.bases()):  # before a download, not only after it
            raise KnowledgeError(_exists(name))
        # Loading the model (from the hub, perhaps minutes) holds no lock anyone else needs.
        limit = self._embedder(b.embed_model)[2]
        if b.chunk_tokens > limit:
            raise KnowledgeError(Said(f"{b.embed_model} reads at most {limit} tokens; a {b.chunk_tokens}-token "
                                      f"chunk would be cut off. Use a chunk size of {limit} or less.",
                                      f"{b.embed_model} 最多读取 {limit} 个 token；"
                                      f"{b.chunk_tokens} 个 token 的文本块会被截断。请把文本块大小设为 {limit} 或更小。"))
        with self._registry_lock:
            all_ = self.bases()
            if any(x.name == name for x in all_):
                raise KnowledgeError(_exists(name))
            self._save([*all_, b])
        return b

    def rename_base(self, old: str, new: str) -> Base:
        new = (new or "").strip()
        if not _NAME.match(new):
            raise KnowledgeError(BAD_NAME)
        with self._registry_lock:
            all_ = self.bases()
            target = self.base(old)
            if any(b.name == new for b in all_):
                raise KnowledgeError(_exists(new))
            # The collection keeps its internal name, so renaming moves no data.
            self._save([dataclasses.replace(b, name=new) if b.name == target.name else b for b in all_])
        return self.base(new)

    def set_reranker(self, name: str, model: str) -> Base:
        """Rerank this base's search results with a cross-encoder (hub id or local folder); ""
        turns reranking off. The model is loaded first, so a wrong name is an error now."""
        model, target = self._model_name(model), self.base(name)
        if model:
            self._reranker(model)
        with self._registry_lock:
            self._save([dataclasses.replace(b, rerank_model=model) if b.name == target.name else b
                        for b in self.bases()])
        return self.base(target.name)

    def set_fusion(self, name: str, dense: float | None) -> Base:
        """Fuse this base's hybrid search with a fixed dense share (0..1, as learned from its
        evaluation set); None goes back to weights by the embedding model's fit to each query."""
        if dense is not None and not 0.0 <= float(dense) <= 1.0:
            raise KnowledgeError(Said(f"The dense share must be between 0 and 1, not {dense}.",
                                      f"向量检索的权重必须在 0 到 1 之间，而不是 {dense}。"))
        target = self.base(name)
        with self._registry_lock:
            self._save([dataclasses.replace(b, fusion_dense=None if dense is None else float(dense))
                        if b.name == target.name else b for b in self.bases()])
        return self.base(target.name)

    def delete_base(self, name: str) -> None:
        with self._registry_lock, self._db():
            all_ = self.bases()
            if len(all_) == 1:
                raise KnowledgeError(Said("This is the only knowledge base; create another before deleting it.",
                                      "这是唯一的知识库；请先新建一个，再删除它。"))
            b = self.base(name)
            self._open()
            if self._client.collection_exists(b.collection):
                self._client.delete_collection(b.collection)
            self._stores.pop(b.collection, None)
            shutil.rmtree(self.files_dir(b), ignore_errors=True)
            self._save([x for x in all_ if x.name != b.name])

    def files_dir(self, b: Base) -> Path:
        d = self.root / "files" / b.collection
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _splitter(self, b: Base):
        from llama_index.core.node_parser import SentenceSplitter, TokenTextSplitter

        tok = self._embedder(b.embed_model, "ingest")[1]
        # Chunks are measured with the embedding model's own tokenizer, 2 tokens kept for its
        # [CLS]/[SEP], so nothing past the model's limit is silently dropped.
        size = min(b.chunk_tokens, self._embedder(b.embed_model, "ingest")[2] - 2)

        def count(text):
            return tok.encode(text, add_special_tokens=False, verbose=False)

        if b.splitter == "token":
            return TokenTextSplitter(chunk_size=size, chunk_overlap=b.chunk_overlap, tokenizer=count,
                                     separator=" ", backup_separators=["。", "\n"])
        return SentenceSplitter(chunk_size=size, chunk_overlap=b.chunk_overlap, tokenizer=count,
                                paragraph_separator="\n\n",
                                secondary_chunking_regex="[^,.;。！？!?；]+[,.;。！？!?；]?")

    # --- ingestion ----------------------------------------------------------------------------
    def _ingest_one(self, b: Base, path: Path, name: str, progress=None) -> FileReport:
        rep = FileReport(name=safe_path(name))
        big = kbreaders.too_big(path.stat().st_size, self.s.upload_max_mib << 20)
        if big:
            rep.error = Said(f"{name} is {big}.", f"{name} {big.zh}。")
            return rep
        try:
            docs = kbreaders.read(path, rep.name)
        except ReadError as e:
            rep.error = Said(f"{name}: {e}", f"{name}：{zh(e)}")
            return rep
        rep.warning = kbsearch.language_warning(docs, b.embed_model, self._embedder(b.embed_model)[3])
        emb = self._embedder(b.embed_model, "ingest")[0]
        mine = self.model_lock((b.embed_model, "ingest"))
        with mine:  # the splitter counts tokens with ingestion's copy of the tokenizer
            nodes = self._splitter(b).get_nodes_from_documents(docs)
        for i, n in enumerate(nodes, start=1):
            n.metadata["chunk"] = i
            # Hidden from searches and listings until the whole file is in: a base being
            # re-ingested answers from its previous version meanwhile (kbsearch.visible).
            n.metadata[kbsearch.PENDING] = True
            n.excluded_embed_metadata_keys = ["file_name", "page", "chunk", kbsearch.PENDING]
            n.excluded_llm_metadata_keys = ["file_name", "page", "chunk", kbsearch.PENDING]
        store, written = self._store(b), []
        ids = {n.node_id for n in nodes}
        with self._db_lock:
            self._pending[b.collection] = self._pending.get(b.collection, set()) | ids
        try:
            self._write_nodes(b, rep, store, written, nodes, emb, mine, progress)
        finally:
            with self._db_lock:
                self._pending[b.collection] = self._pending[b.collection] - ids
        dest = self.files_dir(b) / rep.name
        if path.resolve() != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{time.time_ns():x}.tmp")
            shutil.copyfile(path, tmp)
            tmp.replace(dest)  # a kept copy is never half written
        rep.chunks = len(nodes)
        return rep

    def _write_nodes(self, b: Base, rep: FileReport, store, written: list, nodes: list, emb, mine,
                     progress) -> None:

        def add(part):
            with self._db():
                store.add(part)

        # One writer thread BM25-encodes and stores batch k while batch k+1 is embedded
        # (torch releases the GIL); measured in bench/kb_scale.py. Searches go on meanwhile: the
        # file's previous chunks stay until every new one is in.
        with ThreadPoolExecutor(1, thread_name_prefix="kb-writer") as writer:
            try:
                for start in range(0, len(nodes), 64):
                    part = nodes[start:start + 64]
                    with mine:
                        vectors = emb.get_text_embedding_batch([n.get_content() for n in part])
                    for n, v in zip(part, vectors):
                        n.embedding = v
                    written.append(writer.submit(add, part))
                    if progress:
                        progress(start + len(part), len(nodes))
                for w in written:
                    w.result()
            except BaseException:
                # the earlier version of the file stays whole; drop what this attempt wrote
                wait(written)
                self._delete_points(b, rep.name, only=[n.node_id for n in nodes])
                raise
        # The new version goes live, then the previous one goes: re-adding a changed file
        # replaces its chunks.
        if nodes:
            with self._db():
                self._client.delete_payload(b.collection, keys=[kbsearch.PENDING],
                                            points=[n.node_id for n in nodes])
        with self._db_lock:  # live for searches from now on; the old chunks go right after
            self._pending[b.collection] = self._pending[b.collection] - {n.node_id for n in nodes}
        self._delete_points(b, rep.name, keep=[n.node_id for n in nodes])

    def ingest(self, paths: list, base: str | None = None, progress=None) -> list[FileReport]:
        """Files, folders and zips into a knowledge base; one file's error does not stop the rest.
        progress(files_done, files_total, chunks_done) is called as it goes."""
        b = self.base(base)
        scratch = self.root / "unpacked" / f"{time.time_ns():x}"
        try:
            try:
                items = kbreaders.expand([Path(p) for p in paths], scratch, self.s.upload_max_mib << 20)
            except ReadError as e:
                return [FileReport(name="", error=e.args[0])]
            reports, done_chunks = [], 0
            # Stored names keep their folders; a repeat within the batch gets its own name.
            named = [(p, n, self._usable(n)) for p, n in items]
            reports += [FileReport(name=n, error=kbreaders.unusable(n)) for _, n, u in named if not u]
            items = [(p, u) for p, _, u in named if u]
            names = kbreaders.distinct([n for _, n in items])
            items, notes = [(p, final) for (p, _), (final, _) in zip(items, names)], [nt for _, nt in names]
            for i, (path, name) in enumerate(items):
                def step(k, n, i=i):
                    if progress:
                        progress(i, len(items), done_chunks + k)
                try:
                    reports.append(self._ingest_one(b, path, name, step))
                except Exception as e:  # an engine failure on one file (memory, disk): report it, go on
                    reports.append(FileReport(name=name, error=Said(f"{name}: {type(e).__name__}: {e}",
                                                                    f"{name}：{type(e).__name__}：{e}")))
                if notes[i]:
                    w = reports[-1].warning
                    reports[-1].warning = join("; ", [notes[i], w], "；") if w else notes[i]
                done_chunks += reports[-1].chunks
                if progress:
                    progress(i + 1, len(items), done_chunks)
            return reports
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _usable(name: str) -> str | None:
        try:
            return safe_path(name)
        except ReadError:
            return None

    def add_file(self, upload, base: str | None = None) -> tuple[str, int]:
        """One file; raises KnowledgeError with the reason if it cannot be read."""
        [rep] = self.ingest([upload], base)
        if rep.error:
            raise KnowledgeError(rep.error)
        return rep.name, rep.chunks

    def delete(self, name: str, base: str | None = None) -> None:
        b = self.base(base)
        self._delete_points(b, name)
        (self.files_dir(b) / safe_path(name)).unlink(missing_ok=True)


def context_for(kb: Knowledge, question: str, base: str | None = None) -> list[Hit]:
    """Chunks to ground an answer in; none for an empty question. A base that cannot be searched
    (gone, or its store held by another process) raises KnowledgeError: the user is told, rather
    than answered without sources and warned the knowledge base may not cover it."""
    if not (question or "").strip():
        return []
    return kb.search(question, base=base)

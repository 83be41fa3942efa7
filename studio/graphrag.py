"""GraphRAG: an entity-relation graph built from a knowledge base by the deployed model
(LlamaIndex's PropertyGraphIndex with SimpleLLMPathExtractor), stored under the data root, and
answers that walk two hops of it (who works where -> what kind of company that is).

On our vLLM servers the extraction is decoded under a regular expression for "(subject,
relation, object)" lines, so even a small model's output always parses; it still decides the
entities and relations itself.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from studio import kbreaders
from studio.agentic import llm_for
from studio.kbreaders import KnowledgeError
from studio.words import Said

_PART = r"[^,()\n（）]{1,40}"
TRIPLE_REGEX = rf"(\({_PART}, {_PART}, {_PART}\)\n){{1,10}}"
EXTRACT_PROMPT = (
    "Extract up to {max_knowledge_triplets} facts from the text as (subject, relation, object) lines, "
    "one per line, using the text's own words and language.\n"
    "Example text: Alice works at Acme. Acme is a bakery.\n(Alice, works at, Acme)\n(Acme, is, bakery)\n"
    "Text: {text}\n")


@dataclass
class GraphAnswer:
    question: str
    paths: list[str] = field(default_factory=list)  # the graph facts the answer used
    answer: str = ""


def folder(kb, base: str | None) -> Path:
    return kb.root / "graphs" / kb.base(base).collection


def build(kb, base: str | None, base_url: str, model: str, api_key: str = "", constrain: bool = True,
          context: int = 2048, progress=None) -> list[tuple[str, str, str]]:
    """(Re)build the graph of a knowledge base from its files; returns its triples. progress(done,
    total) after each chunk the model has read. The graph a build replaces stays whole and in use
    until the new one is written out (a build stopped half-way leaves it as it was)."""
    from llama_index.core import PropertyGraphIndex

    b = kb.base(base)
    files = sorted(kb.files_dir(b).iterdir())
    if not files:
        raise KnowledgeError(Said(f"Knowledge base {b.name!r} has no documents to build a graph from.",
                                  f"知识库 {b.name!r} 里还没有文档，无法构建图谱：请先添加文档。"))
    docs = [d for f in files for d in kbreaders.read(f, f.name)]
    nodes = kb._splitter(b)(docs)
    if progress:
        progress(0, len(nodes))  # the page shows "0 of N" while the model reads the first
    llm = llm_for(base_url, model, api_key, context, max_tokens=160, regex=TRIPLE_REGEX if constrain else None)
    extractor = _counted(llm, len(nodes), progress)
    index = PropertyGraphIndex(nodes=nodes, llm=llm, embed_model=kb._embedder(b.embed_model)[0],
                               kg_extractors=[extractor], show_progress=False)
    target = folder(kb, base)
    partial, old = target.with_name(target.name + ".partial"), target.with_name(target.name + ".old")
    shutil.rmtree(partial, ignore_errors=True)
    index.storage_context.persist(persist_dir=str(partial))
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return triples(kb, base)


def _counted(llm, total: int, progress):
    """LlamaIndex's path extractor, reporting each chunk it has read, and keeping only facts whose
    two ends the chunk names: the 135M default copied the prompt's example ("Qinghe Appliances,
    is, bakery") and ran sentences into one entity."""
    from llama_index.core.graph_stores.types import KG_NODES_KEY, KG_RELATIONS_KEY
    from llama_index.core.indices.property_graph import SimpleLLMPathExtractor
    from llama_index.core.schema import MetadataMode

    class Counted(SimpleLLMPathExtractor):
        async def _aextract(self, node):
            out = await super()._aextract(node)
            text = node.get_content(metadata_mode=MetadataMode.NONE).lower()
            names = {n.id: n.name.lower() for n in out.metadata.get(KG_NODES_KEY, [])}
            rels = [r for r in out.metadata.get(KG_RELATIONS_KEY, [])
                    if all(names.get(i, "\0") in text for i in (r.source_id, r.target_id))]
            ends = {i for r in rels for i in (r.source_id, r.target_id)}
            out.metadata[KG_RELATIONS_KEY] = rels
            out.metadata[KG_NODES_KEY] = [n for n in out.metadata.get(KG_NODES_KEY, []) if n.id in ends]
            done[0] += 1
            if progress:
                progress(done[0], total)
            return out

    done = [0]
    return Counted(llm=llm, extract_prompt=EXTRACT_PROMPT, max_paths_per_chunk=10, num_workers=1,
                   raise_on_error=True)


def _storage(kb, base: str | None):
    from llama_index.core import StorageContext

    target = folder(kb, base)
    if not (target / "property_graph_store.json").exists():
        raise KnowledgeError(Said("No graph yet for this knowledge base: build it first.",
                                  "这个知识库还没有图谱：请先构建。"))
    return StorageContext.from_defaults(persist_dir=str(target))


def triples(kb, base: str | None) -> list[tuple[str, str, str]]:
    store = _storage(kb, base).property_graph_store
    # get_triplets() with no filter returns nothing by design; the whole graph is .graph's
    return sorted({(s.name, r.label, o.name) for s, r, o in store.graph.get_triplets()})


def ask(kb, question: str, base: str | None, base_url: str, model: str, api_key: str = "",
        context: int = 2048) -> GraphAnswer:
    """Find the entities the question is about (by name and by embedding), walk two hops from
    them, and answer from those facts."""
    from llama_index.core.indices.property_graph import VectorContextRetriever
    from llama_index.core.llms import ChatMessage

    from llama_index.core import PropertyGraphIndex

    out = GraphAnswer(question)
    storage = _storage(kb, base)
    llm = llm_for(base_url, model, api_key, context)
    embed = kb._embedder(kb.base(base).embed_model)[0]
    index = PropertyGraphIndex.from_existing(
        property_graph_store=storage.property_graph_store, vector_store=storage.vector_store,
        llm=llm, embed_model=embed, embed_kg_nodes=True)
    store = index.property_graph_store
    q = question.lower()  # LlamaIndex capitalises entity names: compare without case
    named = [n for n in store.get() if getattr(n, "name", "") and n.name.lower() in q]
    paths = {f"{s.name} -> {r.label} -> {o.name}" for s, r, o in store.get_rel_map(named, depth=2)} if named else set()
    retriever = VectorContextRetriever(store, include_text=False, embed_model=embed,
                                       vector_store=index.vector_store, similarity_top_k=3, path_depth=2)
    for n in retriever.retrieve(question):
        paths.add(n.node.get_content().strip())
    out.paths = sorted(p for p in paths if p)
    facts = "\n".join(out.paths) or "(no facts found)"
    prompt = f"Facts (subject -> relation -> object):\n{facts}\n\nQuestion: {question}\nAnswer briefly from the facts."
    try:
        out.answer = str(llm.chat([ChatMessage(role="user", content=prompt)]).message.content or "").strip()
    except Exception as e:  # the endpoint's own words, not a stack trace
        out.answer = f"(no answer: {type(e).__name__}: {str(e)[:200]})"
    return out

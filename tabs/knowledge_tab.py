"""Knowledge tab: knowledge bases (each with its own embedding model and chunking), ingestion with
progress, documents and their chunks, search showing dense, BM25 and fused ranks, evaluation."""
from __future__ import annotations

import time

import gradio as gr

from studio import knowledge, owners
from tabs import kbeval_panel
from tabs import confirm
from tabs.charts import table
from tabs.context import Ctx, Problem, user
from tabs.i18n import L, msg, said, zh

HIT_COLS = ["score", "dense", "BM25", "file", "chunk", "text"]
WIDTHS = ["8%", "12%", "12%", "16%", "6%", "46%"]


def _names(ctx: Ctx) -> list[str]:
    return [b.name for b in ctx.kb.bases()]


def facts(ctx: Ctx, name: str | None, request: gr.Request | None = None) -> str:
    try:
        b = ctx.kb.base(name)
        n, note = ctx.kb.points(b.name), ctx.kb.limits_note(b.name)
    except knowledge.KnowledgeError as e:
        return f"⚠️ {said(request, e)}"
    text = msg(request, "k_facts", model=b.embed_model, size=b.chunk_tokens, overlap=b.chunk_overlap,
               splitter=msg(request, "split_" + b.splitter), n=n, where=ctx.s.qdrant_url or msg(request, "k_local"))
    if b.rerank_model:
        text += msg(request, "k_reranked", model=b.rerank_model)
    for t in ctx.kb.tasks.values():
        if t.get("resumed") and t["status"] == "running" and (t["base"] or "default") == b.name:
            text += "\n\n" + msg(request, "k_resumed", files=t["files"], total=t["total"], chunks=t["chunks"])
    return text + (f"\n\n⚠️ {said(request, note)}" if note else "")


def build(ctx: Ctx) -> dict:
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                base = gr.Dropdown(choices=_names(ctx), value=_names(ctx)[0], label=L("k_base"),
                                   allow_custom_value=True, scale=3)
            about = gr.Markdown()
            with gr.Accordion(L("k_manage"), open=False):
                new_name = gr.Textbox(label=L("k_name"))
                embed = gr.Textbox(value="", label=L("k_embed"), info=L("i_k_embed"))
                with gr.Row():
                    size = gr.Number(value=ctx.s.chunk_tokens, precision=0, label=L("k_size"))
                    overlap = gr.Number(value=ctx.s.chunk_overlap, precision=0, label=L("k_overlap"))
                splitter = gr.Radio([(L("split_" + k), k) for k in knowledge.SPLITTERS], value="sentence",
                                    label=L("k_splitter"),
                                    info=L("i_k_splitter"))
                with gr.Row():
                    create = gr.Button(L("k_create"))
                    rename = gr.Button(L("k_rename"))
                    drop = gr.Button(L("k_delete_base"), variant="stop")
                ask_drop_row = confirm.place()
                with gr.Row():
                    rerank = gr.Textbox(label=L("k_rerank"), info=L("i_k_rerank"), scale=3)
                    set_rerank = gr.Button(L("k_set_rerank"), scale=1)
            files = gr.File(label=L("upload"), file_count="multiple",
                            file_types=[*knowledge.SUFFIXES, ".zip"])
            folder = gr.File(label=L("k_folder"), file_count="directory")
            ingest = gr.Button(L("ingest"), variant="primary")
            progress = gr.Markdown()
            report = gr.Markdown()
            docs = gr.Dataframe(headers=["file", "chunks"], interactive=False, label=L("documents"))
            with gr.Row():
                doc = gr.Dropdown(label=L("document"), choices=[], allow_custom_value=True, scale=3)
                show = gr.Button(L("k_chunks"), scale=1)
                delete = gr.Button(L("delete"), variant="stop", scale=1)
            ask_delete_row = confirm.place()
        with gr.Column(scale=2):
            with gr.Row():
                query = gr.Textbox(label=L("query"), scale=4)
                mode = gr.Radio([(L("mode_" + m), m) for m in ("hybrid", "dense", "sparse")], value="hybrid",
                                label=L("k_mode"), scale=2)
                search = gr.Button(L("search"), scale=1)
            hits = gr.Dataframe(headers=HIT_COLS, interactive=False, wrap=True, label=L("hits"),
                                column_widths=WIDTHS, visible=False)  # shown once filled, headers translated
            chunks = gr.Dataframe(headers=["chunk", "page", "tokens", "text"], interactive=False,
                                  wrap=True, label=L("k_chunk_list"), max_height=400,
                                  visible=False)
            with gr.Accordion(L("k_eval"), open=False):
                kbeval_panel.build(ctx, base)

    def listing(name, request=None):
        try:
            rows = [[n, c] for n, c in ctx.kb.documents(name)]
        except knowledge.KnowledgeError:
            rows = []
        return table(request, rows, ["file", "chunks"]), gr.update(choices=[r[0] for r in rows], value=None)

    def pick(name, request: gr.Request):
        try:
            current = ctx.kb.base(name).rerank_model
        except knowledge.KnowledgeError:
            current = ""
        return facts(ctx, name, request), *listing(name, request), current

    def bases_update(value):
        return gr.update(choices=_names(ctx), value=value)

    def mine(name, action, request):
        try:
            owners.check_thing(ctx.s, ctx.store, "kb", name, user(request), action)
        except owners.NotAllowed as e:
            raise Problem(said(request, e))

    def do_create(name, model, sz, ov, sp, request: gr.Request):
        try:
            b = ctx.kb.create_base(name, model, int(sz or 0) or None, None if ov is None else int(ov), sp,
                                   chinese=zh(request))
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        ctx.store.set_owner("kb", b.name, user(request))
        return bases_update(b.name)

    def do_rename(old, new, request: gr.Request):
        mine(old, "rename", request)
        try:
            renamed = ctx.kb.rename_base(old, new).name
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        ctx.store.set_owner("kb", renamed, ctx.store.owner("kb", old))
        ctx.store.forget_owner("kb", old)
        return bases_update(renamed)

    def do_set_rerank(name, model, request: gr.Request):
        mine(name, "change the reranker of", request)
        try:
            ctx.kb.set_reranker(name, model)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        return facts(ctx, name, request)

    def do_drop(name, request: gr.Request):
        mine(name, "delete", request)
        try:
            ctx.kb.delete_base(name)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        ctx.store.forget_owner("kb", name)
        return bases_update(_names(ctx)[0])

    def do_ingest(name, paths, dir_paths, request: gr.Request, bar=gr.Progress()):
        """Starts ingestion in the background and follows it; closing the page does not stop it."""
        paths = list(paths or []) + list(dir_paths or [])
        if not paths:
            raise Problem(msg(request, "m_no_files"))
        mine(name, "add documents to", request)
        try:
            t = ctx.kb.tasks[ctx.kb.start_ingest(paths, name)]
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        while t["status"] == "running":
            bar((t["files"], max(t["total"], 1)), unit="个文件" if zh(request) else "files",
                desc=f"{t['chunks']} 个文本块" if zh(request) else f"{t['chunks']} chunks")
            yield (msg(request, "k_progress", files=t["files"], total=t["total"], chunks=t["chunks"]),
                   gr.update(), gr.update(), gr.update(), gr.update(), gr.update())
            time.sleep(0.5)
        lines = [msg(request, "m_error", e=said(request, t.get("error")))] if t["status"] == "failed" else []
        for r in t["reports"]:
            lines.append("- " + (msg(request, "m_error", e=said(request, r.error)) if r.error else
                                 msg(request, "m_ingested", name=r.name, n=r.chunks)))
            if r.warning:
                lines.append(f"  - ⚠️ {said(request, r.warning)}")
        yield (msg(request, "k_progress", files=t["files"], total=t["total"], chunks=t["chunks"]),
               "\n".join(lines), *listing(name, request), facts(ctx, name, request), None)

    def do_delete(name, d, request: gr.Request):
        if not d:
            raise Problem(msg(request, "m_pick_doc"))
        mine(name, "delete documents from", request)
        try:
            ctx.kb.delete(d, name)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        # The base's facts too: its chunk count changed.
        return msg(request, "m_deleted", name=d), *listing(name, request), facts(ctx, name, request)

    def do_chunks(name, d, request: gr.Request):
        if not d:
            raise Problem(msg(request, "m_pick_doc"))
        return table(request, [[c["chunk"], c["page"], c["tokens"], c["text"]] for c in ctx.kb.chunks(d, name)],
                     ["chunk", "page", "tokens", "text"], visible=True)

    def do_search(name, q, m, request: gr.Request):
        try:
            found = ctx.kb.search(q, top_k=max(ctx.s.top_k, 5), base=name, mode=m)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))

        def pair(rank, score):  # rank · score in one list; blank when the chunk was not in it
            return "" if rank is None else f"{rank} · {score:.3g}"

        # The reranker's column appears only for a base that has one.
        reranked = any(h.rerank_score is not None for h in found)
        rows = [[round(h.score, 3), pair(h.dense_rank, h.dense_score), pair(h.sparse_rank, h.sparse_score),
                 *([f"{h.rerank_score:.3g} (was {h.first_rank})"] if reranked else []), h.file, h.chunk, h.text]
                for h in found]
        cols = [*HIT_COLS[:3], *(["rerank"] if reranked else []), *HIT_COLS[3:]]
        widths = [*WIDTHS[:3], *(["12%"] if reranked else []), *WIDTHS[3:5], "34%" if reranked else WIDTHS[5]]
        # How hybrid search weighed the two lists for this query, in the table's title.
        weights = next((h.weights for h in found if h.weights), None)
        label = msg(request, "hits") + (f" · {said(request, weights.said())}" if weights else "")
        return table(request, rows, cols, column_widths=widths, visible=True, label=label)

    ctx.demo.load(pick, base, [about, docs, doc, rerank])
    base.change(pick, base, [about, docs, doc, rerank], api_name=False)
    create.click(do_create, [new_name, embed, size, overlap, splitter], base, api_name="create_base")
    rename.click(do_rename, [base, new_name], base, api_name="rename_base")
    def ask_drop(request, name):
        try:
            return msg(request, "q_delete_base", name=name, n=len(ctx.kb.documents(name)))
        except knowledge.KnowledgeError:
            return ""  # gone already: the action says so

    confirm.guard(ask_drop_row, drop, ask_drop, do_drop, [base], [base], api_name="delete_base")
    set_rerank.click(do_set_rerank, [base, rerank], about, api_name="set_reranker")
    ingest.click(do_ingest, [base, files, folder], [progress, report, docs, doc, about, files],
                 api_name="ingest")
    confirm.guard(ask_delete_row, delete, lambda request, name, d: msg(request, "q_delete_doc", doc=d, base=name) if d else "",
                  do_delete, [base, doc], [report, docs, doc, about], api_name="delete_document")
    show.click(do_chunks, [base, doc], chunks, api_name="chunks")
    search.click(do_search, [base, query, mode], hits, api_name="search",
                 concurrency_limit=ctx.s.chat_concurrency)
    query.submit(do_search, [base, query, mode], hits, api_name=False)
    return {"kb_documents": docs, "kb_base": base}

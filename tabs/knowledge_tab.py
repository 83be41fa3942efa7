"""Knowledge tab: upload documents into the knowledge base, list them, and test retrieval."""
from __future__ import annotations

import gradio as gr

from studio import knowledge
from tabs.context import Ctx
from tabs.i18n import L, msg


def build(ctx: Ctx) -> dict:
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(label=L("upload"), file_count="multiple",
                            file_types=list(knowledge.SUFFIXES))
            ingest = gr.Button(L("ingest"), variant="primary")
            report = gr.Markdown()
            docs = gr.Dataframe(headers=["file", "chunks"], interactive=False, label=L("documents"))
            with gr.Row():
                doomed = gr.Dropdown(label=L("document"), choices=[], allow_custom_value=True, scale=3)
                delete = gr.Button(L("delete"), variant="stop", scale=1)
        with gr.Column(scale=2):
            with gr.Row():
                query = gr.Textbox(label=L("query"), scale=4)
                search = gr.Button(L("search"), scale=1)
            hits = gr.Dataframe(headers=["score", "file", "chunk", "text"], interactive=False,
                                wrap=True, label=L("hits"))

    def listing():
        rows = [[name, n] for name, n in ctx.kb.documents()]
        return rows, gr.update(choices=[r[0] for r in rows], value=None)

    def do_delete(name, request: gr.Request):
        if not name:
            raise gr.Error(msg(request, "m_pick_doc"))
        try:
            ctx.kb.delete(name)
        except knowledge.KnowledgeError as e:
            raise gr.Error(str(e))
        return msg(request, "m_deleted", name=name), *listing()

    def do_ingest(paths, request: gr.Request):
        if not paths:
            raise gr.Error(msg(request, "m_no_files"))
        lines = []
        for p in paths:
            try:
                name, n = ctx.kb.add_file(p)
                lines.append("- " + msg(request, "m_ingested", name=name, n=n))
            except knowledge.KnowledgeError as e:
                lines.append("- " + msg(request, "m_error", e=e))
        return "\n".join(lines), *listing(), None

    def do_search(q):
        try:
            found = ctx.kb.search(q)
        except knowledge.KnowledgeError as e:
            raise gr.Error(str(e))
        return [[round(h.score, 3), h.file, h.chunk, h.text] for h in found]

    ctx.demo.load(listing, None, [docs, doomed])
    ingest.click(do_ingest, files, [report, docs, doomed, files], api_name="ingest")
    delete.click(do_delete, doomed, [report, docs, doomed], api_name="delete_document")
    search.click(do_search, query, hits, api_name="search")
    query.submit(do_search, query, hits, api_name=False)
    return {"kb_documents": docs}

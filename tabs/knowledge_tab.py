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
        with gr.Column(scale=2):
            with gr.Row():
                query = gr.Textbox(label=L("query"), scale=4)
                search = gr.Button(L("search"), scale=1)
            hits = gr.Dataframe(headers=["score", "file", "chunk", "text"], interactive=False,
                                wrap=True, label=L("hits"))

    def listing():
        return [[name, n] for name, n in ctx.kb.documents()]

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
        return "\n".join(lines), listing(), None

    def do_search(q):
        try:
            found = ctx.kb.search(q)
        except knowledge.KnowledgeError as e:
            raise gr.Error(str(e))
        return [[round(h.score, 3), h.file, h.chunk, h.text] for h in found]

    ctx.demo.load(listing, None, docs)
    ingest.click(do_ingest, files, [report, docs, files], api_name="ingest")
    search.click(do_search, query, hits, api_name="search")
    query.submit(do_search, query, hits, api_name=False)
    return {"kb_documents": docs}

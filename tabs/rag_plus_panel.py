"""Agentic RAG and GraphRAG (inside the Chat tab): a question answered step by step with tools,
or by walking an entity-relation graph built from the knowledge base; every step is shown."""
from __future__ import annotations

import time

import gradio as gr

from studio import agentic, graphrag, knowledge, serving
from tabs import charts
from tabs.context import Ctx, Problem
from tabs.i18n import L, msg, said, zh

ICONS = {"thought": "💭", "search": "🔎", "calculator": "🧮", "observation": "📄", "answer": "✅", "note": "⚠️"}


def _target(ctx: Ctx, choice: str | None, request) -> tuple[str, str, str, int]:
    """(base url, key, model, context) of a running deployment; external endpoints are not
    offered here because the step format relies on vLLM's structured outputs."""
    job_id, _, name = (choice or "").partition("|")
    job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
    if job is None or job.kind != "serve" or serving.state(ctx.store, job) != "ready":
        raise Problem(msg(request, "m_deploy_first"))
    context = int(job.spec.get("options", {}).get("max_model_len") or ctx.s.serve_max_model_len)
    return serving.base_url(job), serving.api_key(job) or "", name or serving.served_models(job)[0], context


def build(ctx: Ctx, model: gr.Dropdown, kb_pick: gr.Dropdown) -> None:
    gr.Markdown(L("rp_intro"))
    with gr.Row():
        question = gr.Textbox(label=L("rp_question"), scale=5)
        agent_btn = gr.Button(L("rp_agent"), variant="primary", scale=1)
        graph_btn = gr.Button(L("rp_graph_ask"), scale=1)
    steps = gr.Markdown()
    with gr.Row():
        build_btn = gr.Button(L("rp_build"), size="sm")
        show_btn = gr.Button(L("rp_show"), size="sm")
    graph = gr.Dataframe(headers=["subject", "relation", "object"], interactive=False, label=L("rp_graph"),
                         max_height=300, visible=False)  # shown once filled, headers translated

    def render(r: agentic.Run, request, done: bool) -> str:
        lines = [f"{ICONS.get(s.kind, '•')} **{s.kind}**: {s.text}" for s in list(r.steps)]
        if not done:
            return "\n\n".join(lines + ["…"])
        sources = "\n".join(f"[{i}] {h.label}" for i, h in enumerate(r.sources, start=1))
        return "\n\n".join(lines + [f"**{msg(request, 'rp_answer')}**: {r.answer}"]) + (
            f"\n\n---\n{sources}" if sources else "")

    def do_agent(q, choice, kb_name, request: gr.Request):
        """Steps appear as the agent takes them."""
        if not (q or "").strip():
            raise Problem(msg(request, "m_question"))
        url, key, name, context = _target(ctx, choice, request)
        for r, done in agentic.stream(ctx.kb, q.strip(), url, name, key, kb_name, context=context):
            yield render(r, request, done)

    def do_build(choice, kb_name, request: gr.Request, bar=gr.Progress()):
        """Starts the build in the background and follows it; closing the page does not stop it."""
        url, key, name, context = _target(ctx, choice, request)
        try:
            t = ctx.kb.tasks[ctx.kb.start_graph(kb_name, url, name, key, context=context)]
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        while t["status"] == "running":
            if t["total"]:
                bar((t["files"], t["total"]), unit="个文本块" if zh(request) else "chunks")
            yield gr.update(), msg(request, "rp_building", done=t["files"], total=t["total"] or "…")
            time.sleep(0.5)
        if t["status"] == "failed":
            e = t["error"]
            raise Problem(said(request, e) if isinstance(e, knowledge.KnowledgeError)
                          else msg(request, "m_error", e=f"{type(e).__name__}: {e}"))
        yield (charts.table(request, [list(x) for x in t["triples"]], ["subject", "relation", "object"], visible=True),
               msg(request, "rp_built", n=len(t["triples"])))

    def do_show(kb_name, request: gr.Request):
        try:
            return charts.table(request, [list(t) for t in graphrag.triples(ctx.kb, kb_name)],
                                ["subject", "relation", "object"], visible=True)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))

    def do_graph(q, choice, kb_name, request: gr.Request):
        if not (q or "").strip():
            raise Problem(msg(request, "m_question"))
        url, key, name, context = _target(ctx, choice, request)
        try:
            a = graphrag.ask(ctx.kb, q.strip(), kb_name, url, name, key, context=context)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        facts = "\n".join(f"- {p}" for p in a.paths) or "-"
        return f"🕸️ **{msg(request, 'rp_paths')}**\n{facts}\n\n**{msg(request, 'rp_answer')}**: {a.answer}"

    agent_btn.click(do_agent, [question, model, kb_pick], steps, api_name="agentic_rag",
                    concurrency_limit=ctx.s.chat_concurrency)
    build_btn.click(do_build, [model, kb_pick], [graph, steps], api_name="build_graph")
    show_btn.click(do_show, kb_pick, graph, api_name="show_graph")
    graph_btn.click(do_graph, [question, model, kb_pick], steps, api_name="graph_rag",
                    concurrency_limit=ctx.s.chat_concurrency)

"""Compare mode (inside the Chat tab): one question, up to four targets side by side, streaming
together, with time to first token and tokens/s under each answer."""
from __future__ import annotations

import functools

import gradio as gr

from studio import chat, compare, knowledge, serving, sources
from tabs.context import Ctx, Problem
from tabs.jobs_view import ready_deployment
from tabs.i18n import L, msg, said, zh

LANES = 4


def rag_hits(ctx: Ctx, question: str, kb_name: str | None, request=None) -> list:
    """Retrieval for an answer; a knowledge base that cannot be searched stops it, saying why."""
    try:
        return knowledge.context_for(ctx.kb, question, kb_name)
    except knowledge.KnowledgeError as e:
        raise Problem(said(request, e))


def choices(ctx: Ctx) -> list[tuple[str, str]]:
    return [(f"{m} · {job.name}", f"{job.id}|{m}") for job in serving.running(ctx.store)
            for m in serving.served_models(job)]


def defaults(ctx: Ctx) -> list[tuple[str | None, bool]]:
    """Base, tuned, base + retrieval, tuned + retrieval: what fine-tuning and RAG each change."""
    live = serving.running(ctx.store)
    if not live:
        return [(None, False)] * LANES
    models_ = serving.served_models(live[0])
    base, tuned = f"{live[0].id}|{models_[0]}", f"{live[0].id}|{models_[-1]}"
    return [(base, False), (tuned, False), (base, True), (tuned, True)]


def build(ctx: Ctx, kb_pick: gr.Dropdown) -> dict:
    pickers, rags, outs = [], [], []
    with gr.Row():
        for i in range(LANES):
            with gr.Column(min_width=200):
                pickers.append(gr.Dropdown(choices=choices(ctx), label=f"{i + 1}",
                                           allow_custom_value=True))
                rags.append(gr.Checkbox(value=i >= 2, label=L("use_rag")))
                outs.append(gr.Markdown())
    with gr.Row():
        question = gr.Textbox(label=L("compare_question"), scale=5)
        go = gr.Button(L("compare"), variant="primary", scale=1)

    def refresh(*current):
        opts = choices(ctx)
        values = [v for _, v in opts]
        picks = defaults(ctx)
        return [gr.update(choices=opts, value=c if c in values else d[0])
                for c, d in zip(current, picks)]

    def run(request: gr.Request, q, kb_name, *picks_and_rags):
        q = (q or "").strip()
        if not q:
            raise Problem(msg(request, "m_question"))
        picks, use = picks_and_rags[:LANES], picks_and_rags[LANES:]
        targets, slots = [], []
        for slot, (pick, rag) in enumerate(zip(picks, use)):
            if not pick:
                continue
            job_id, _, name = pick.partition("|")
            job = ready_deployment(ctx, ctx.store.get(job_id), request)
            hits = rag_hits(ctx, q, kb_name, request) if rag else []
            targets.append(compare.Target(
                label=name, base_url=serving.base_url(job), model=name,
                api_key=serving.api_key(job) or "", messages=chat.build_messages(
                    [], q, hits, sentences=chat.prompt_sentences(ctx.s, job.spec.get("model"))),
                sources=functools.partial(sources.sources_block, hits, ctx.s, bool(rag), zh(request)),
                hits=hits, rag=bool(rag),
                zh=zh(request),
                repetition_penalty=ctx.s.chat_repetition_penalty))
            slots.append(slot)
        if not targets:
            raise Problem(msg(request, "m_pick_targets"))
        for lanes in compare.run(targets, max_tokens=ctx.s.chat_max_tokens,
                                 temperature=ctx.s.chat_temperature):
            shown = [""] * LANES
            for slot, t, lane in zip(slots, targets, lanes):
                shown[slot] = f"**{t.label}**{' + RAG' if t.rag else ''}\n\n{lane.text}\n\n" \
                              f"*{lane.summary(t.zh)}*"
            yield shown

    go.click(run, [question, kb_pick, *pickers, *rags], outs, api_name="compare",
             concurrency_limit=ctx.s.chat_concurrency)
    return {"compare_refresh": (refresh, pickers, pickers)}

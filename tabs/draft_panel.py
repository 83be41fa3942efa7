"""The Dataset tab's "Draft from documents" panel: a deployed model writes question-and-answer rows
from a knowledge base's chunks (a job, with progress); the draft opens in the editor, where each
row shows the passage it rests on, and becomes a dataset only when saved."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio import datasets, drafts, formats, serving
from studio.jobs import JobError
from studio.kbreaders import KnowledgeError
from tabs.context import KEEP, Ctx, Problem, user
from tabs.i18n import L, msg, said, status


def _models(ctx: Ctx) -> list[tuple[str, str]]:
    return [(f"{m} · {job.name}", f"{job.id}|{m}") for job in serving.running(ctx.store)
            for m in serving.served_models(job)]


def build(ctx: Ctx, editor: list) -> dict:
    """editor: the tab's [table, format, format state, save-as name, report] the draft opens into."""
    with gr.Accordion(L("draft_title"), open=False):
        gr.Markdown(L("draft_intro"))
        with gr.Row():
            base = gr.Dropdown(choices=[b.name for b in ctx.kb.bases()], label=L("k_base"), allow_custom_value=True,
                               scale=2)
            model = gr.Dropdown(choices=_models(ctx), label=L("draft_model"), allow_custom_value=True, scale=3)
            chunks = gr.Number(value=20, precision=0, minimum=1, maximum=500, label=L("draft_chunks"), scale=1)
            per = gr.Number(value=1, precision=0, minimum=1, maximum=3, label=L("draft_per_chunk"), scale=1)
            name = gr.Textbox(label=L("draft_name"), placeholder="qinghe_docs_qa", scale=2)
        answers = gr.Radio(choices=[(L("draft_quote"), "quote"), (L("draft_write"), "write")], value="quote",
                           label=L("draft_answers"))
        go = gr.Button(L("draft_start"), variant="primary")
        state = gr.Markdown()
        with gr.Row():
            waiting = gr.Dropdown(choices=datasets.drafts(ctx.s), label=L("draft_waiting"), allow_custom_value=True,
                                  scale=3)
            open_ = gr.Button(L("draft_open"), scale=1)

    def start(b, choice, n, k, nm, how, request: gr.Request):
        job_id, _, served = (choice or "").partition("|")
        job = ctx.store.get(job_id) if job_id else None
        if job is None or serving.state(ctx.store, job, probe=False) != "ready":
            raise Problem(msg(request, "m_deploy_first"))
        try:
            drafts.start(ctx.s, ctx.store, ctx.kb, b or "", serving.base_url(job), served,
                             serving.api_key(job) or "", (nm or "").strip(), int(n or 0), int(k or 0),
                             how or "quote", user=user(request))
        except (drafts.DraftError, datasets.DatasetError, KnowledgeError, JobError) as e:
            raise Problem(said(request, e))
        return view(request)

    def view(request: gr.Request):
        job = drafts.latest(ctx.store)
        if job is None:
            return ""
        p = drafts.progress(job)
        return msg(request, "draft_progress", name=job.spec["draft"], status=status(request, job.status),
                   done=p["done"], total=p["total"], rows=p["rows"], dropped=p["dropped"])

    def refresh(request: gr.Request):
        return (gr.update(choices=_models(ctx)), gr.update(choices=[b.name for b in ctx.kb.bases()]),
                gr.update(choices=datasets.drafts(ctx.s)), view(request))

    def open_draft(n, request: gr.Request):
        try:
            f, records = datasets.load_draft(ctx.s, n or "")
        except (datasets.DatasetError, formats.FormatError) as e:
            raise Problem(said(request, e))
        table = pd.DataFrame(formats.to_table(f, records), columns=formats.headers(f))
        return table, f, f, n, msg(request, "draft_opened", n=len(records), name=n)

    go.click(start, [base, model, chunks, per, name, answers], state, api_name="draft_from_documents", show_progress=KEEP)
    open_.click(open_draft, waiting, editor, api_name="open_draft", show_progress=KEEP)
    ctx.demo.load(refresh, None, [model, base, waiting, state])
    gr.Timer(3.0).tick(view, None, state, api_name="draft_progress", show_progress="hidden")
    return {"draft_refresh": (refresh, [model, base, waiting, state])}

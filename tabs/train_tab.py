"""Train tab: a LoRA form that becomes a LLaMA-Factory job; live progress read from the job store."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio import datasets, training
from tabs.context import Ctx
from tabs.i18n import L, msg, status

EMPTY_LOSS = pd.DataFrame({"step": [], "loss": []})


def _runs(ctx: Ctx) -> list[tuple[str, str]]:
    return [(f"{j.name} · {j.status}", j.id) for j in ctx.store.list(kind="train")]


def view(ctx: Ctx, job_id: str | None, request: gr.Request | None = None):
    """(progress text, progress bar html, loss frame, log tail) for one run."""
    job = ctx.store.get(job_id) if job_id else None
    if job is None:
        return msg(request, "m_no_run"), "", EMPTY_LOSS, ""
    job = ctx.store.refresh(job)
    p = training.progress(job)
    text = [f"**{job.name}** · " + msg(request, "m_status", status=status(request, job.status)),
            msg(request, "m_step", step=p["step"], total=p["total"] or "?",
                elapsed=p["elapsed"] or "-", remaining=p["remaining"] or "-")]
    if job.error and job.status in ("failed", "lost"):
        text.append(msg(request, "m_error", e=job.error))
    bar = (f'<progress max="100" value="{p["percent"]:.1f}" style="width:100%"></progress>'
           f'<span> {p["percent"]:.0f}%</span>')
    loss = pd.DataFrame(p["loss"]) if p["loss"] else EMPTY_LOSS
    return "\n\n".join(text), bar, loss, job.log_tail(6000)


def build(ctx: Ctx) -> dict:
    d = training.LoraForm()
    with gr.Row():
        with gr.Column(scale=1):
            # Choices change while the app runs (new datasets, new runs); the service checks the value.
            ds = gr.Dropdown(choices=datasets.list_names(ctx.s), value=d.dataset, label=L("dataset"),
                             allow_custom_value=True)
            with gr.Row():
                rank = gr.Number(value=d.lora_rank, label=L("lora_rank"), precision=0, minimum=1)
                alpha = gr.Number(value=d.lora_alpha, label=L("lora_alpha"), precision=0, minimum=1)
            target = gr.Dropdown(choices=list(training.TARGETS), value=d.lora_target,
                                 label=L("lora_target"), allow_custom_value=True)
            with gr.Row():
                lr = gr.Number(value=d.learning_rate, label=L("lr"))
                epochs = gr.Number(value=d.num_train_epochs, label=L("epochs"), minimum=0)
            with gr.Row():
                steps = gr.Number(value=d.max_steps, label=L("max_steps"), precision=0, minimum=0)
                cutoff = gr.Number(value=d.cutoff_len, label=L("cutoff"), precision=0, minimum=16)
                batch = gr.Number(value=d.batch_size, label=L("batch"), precision=0, minimum=1)
            start = gr.Button(L("start_training"), variant="primary")
        with gr.Column(scale=2):
            with gr.Row():
                run = gr.Dropdown(choices=_runs(ctx), label=L("run"), scale=3, allow_custom_value=True)
                cancel = gr.Button(L("cancel"), variant="stop", scale=1)
            info = gr.Markdown()
            bar = gr.HTML()
            loss = gr.LinePlot(EMPTY_LOSS, x="step", y="loss", label=L("loss_curve"), height=240)
            with gr.Accordion(L("log"), open=False):
                log = gr.Code(language=None, lines=12, max_lines=12)
    timer = gr.Timer(2.0)

    def do_start(dataset, r, a, t, lr_, ep, ms, cut, bs, request: gr.Request):
        form = training.LoraForm(dataset=dataset, lora_rank=int(r or 0), lora_alpha=int(a or 0),
                                 lora_target=t or "", learning_rate=float(lr_ or 0),
                                 num_train_epochs=float(ep or 0), max_steps=int(ms or 0),
                                 cutoff_len=int(cut or 0), batch_size=int(bs or 0))
        try:
            job = training.start(ctx.s, ctx.store, form)
        except (training.TrainError, ValueError) as e:
            raise gr.Error(str(e))
        gr.Info(msg(request, "m_train_started", name=job.name))
        return gr.update(choices=_runs(ctx), value=job.id)

    def do_cancel(job_id):
        if job_id:
            training.cancel(ctx.store, job_id)
        return gr.update(choices=_runs(ctx), value=job_id)

    def latest():
        runs = _runs(ctx)
        return gr.update(choices=runs, value=runs[0][1] if runs else None)

    def show(job_id, request: gr.Request):
        return view(ctx, job_id, request)

    outputs = [info, bar, loss, log]
    # The job store is the truth: a reload or a second browser tab picks up the latest run.
    ctx.demo.load(latest, None, run)
    start.click(do_start, [ds, rank, alpha, target, lr, epochs, steps, cutoff, batch], run,
                api_name="start_training")
    cancel.click(do_cancel, run, run, api_name="cancel_training")
    run.change(show, run, outputs, api_name=False)
    timer.tick(show, run, outputs, api_name="training_progress",
               show_progress="hidden")
    return {"train_dataset": ds, "train_run": run}

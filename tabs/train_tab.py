"""Train tab: a LoRA form that becomes a LLaMA-Factory job; live progress read from the job store;
cancel, resume from a checkpoint, merge, and a plain-words post-mortem when a run fails."""
from __future__ import annotations

import gradio as gr
import pandas as pd
import yaml

from studio import datasets, export, postmortem, training
from tabs.context import Ctx
from tabs.i18n import L, msg, status

EMPTY_LOSS = pd.DataFrame({"step": [], "loss": []})


def _runs(ctx: Ctx) -> list[tuple[str, str]]:
    return [(f"{j.name} · {j.status}", j.id) for j in ctx.store.list(kind="train")]


def _postmortem(request, job) -> str:
    if job.status not in ("failed", "lost"):
        return ""
    found = postmortem.diagnose(job.log_tail(200_000), job.exit_code)
    if found is None:
        return msg(request, "m_error", e=job.error)
    lines = [f"**{found.cause}**", f"`{found.evidence}`"] + [f"- {fix}" for fix in found.fixes]
    return "\n\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:])


def view(ctx: Ctx, job_id: str | None, request: gr.Request | None = None,
         chosen: str | None = None):
    """(progress text, progress bar, loss frame, post-mortem, checkpoints, log) for one run."""
    job = ctx.store.get(job_id) if job_id else None
    if job is None:
        return msg(request, "m_no_run"), "", EMPTY_LOSS, "", gr.update(choices=[]), ""
    job = ctx.store.refresh(job)
    p = training.progress(job)
    text = [f"**{job.name}** · " + msg(request, "m_status", status=status(request, job.status)),
            msg(request, "m_step", step=p["step"], total=p["total"] or "?",
                elapsed=p["elapsed"] or "-", remaining=p["remaining"] or "-")]
    if job.spec.get("resumed_from"):
        text.append(msg(request, "m_resumed", ckpt=job.spec["resumed_from"].rsplit("/", 1)[-1]))
    bar = (f'<progress max="100" value="{p["percent"]:.1f}" style="width:100%"></progress>'
           f'<span> {p["percent"]:.0f}%</span>')
    loss = pd.DataFrame(p["loss"]) if p["loss"] else EMPTY_LOSS
    points = [c.name for c in training.checkpoints(job)]
    return ("\n\n".join(text), bar, loss, _postmortem(request, job),
            gr.update(choices=points, value=chosen if chosen in points else
                      (points[-1] if points else None)), job.log_tail(6000))


def _form(dataset, r, a, t, lr_, ep, ms, cut, bs, save) -> training.LoraForm:
    return training.LoraForm(dataset=dataset, lora_rank=int(r or 0), lora_alpha=int(a or 0),
                             lora_target=t or "", learning_rate=float(lr_ or 0),
                             num_train_epochs=float(ep or 0), max_steps=int(ms or 0),
                             cutoff_len=int(cut or 0), batch_size=int(bs or 0),
                             save_steps=int(save or 0))


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
            with gr.Row():
                batch = gr.Number(value=d.batch_size, label=L("batch"), precision=0, minimum=1)
                save = gr.Number(value=d.save_steps, label=L("save_steps"), precision=0, minimum=1)
            start = gr.Button(L("start_training"), variant="primary")
            with gr.Accordion(L("yaml_cmd"), open=False):
                show = gr.Button(L("show_yaml"))
                preview = gr.Code(language="yaml", interactive=False)
        with gr.Column(scale=2):
            with gr.Row():
                run = gr.Dropdown(choices=_runs(ctx), label=L("run"), scale=3, allow_custom_value=True)
                cancel = gr.Button(L("cancel"), variant="stop", scale=1)
            info = gr.Markdown()
            bar = gr.HTML()
            loss = gr.LinePlot(EMPTY_LOSS, x="step", y="loss", label=L("loss_curve"), height=240)
            diagnosis = gr.Markdown()
            with gr.Row():
                ckpt = gr.Dropdown(choices=[], label=L("checkpoint"), allow_custom_value=True, scale=2)
                resume = gr.Button(L("resume"), scale=1)
                merge = gr.Button(L("merge"), scale=1)
            merge_info = gr.Markdown()
            with gr.Accordion(L("log"), open=False):
                log = gr.Code(language=None, lines=12, max_lines=12)
    timer = gr.Timer(2.0)
    form_inputs = [ds, rank, alpha, target, lr, epochs, steps, cutoff, batch, save]

    def do_start(dataset, r, a, t, lr_, ep, ms, cut, bs, sv, request: gr.Request):
        try:
            job = training.start(ctx.s, ctx.store, _form(dataset, r, a, t, lr_, ep, ms, cut, bs, sv))
        except (training.TrainError, ValueError) as e:
            raise gr.Error(str(e))
        gr.Info(msg(request, "m_train_started", name=job.name))
        return gr.update(choices=_runs(ctx), value=job.id)

    def do_preview(dataset, r, a, t, lr_, ep, ms, cut, bs, sv):
        form = _form(dataset, r, a, t, lr_, ep, ms, cut, bs, sv)
        try:
            cfg = training.build_yaml(ctx.s, form, ctx.s.home / "jobs" / "<run>" / "output")
        except (training.TrainError, ValueError) as e:
            raise gr.Error(str(e))
        return (yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)
                + f"\n# {' '.join(training.command(ctx.s, ctx.s.home / 'jobs/<run>/train.yaml'))}\n")

    def do_cancel(job_id):
        if job_id:
            training.cancel(ctx.store, job_id)
        return gr.update(choices=_runs(ctx), value=job_id)

    def do_resume(job_id, checkpoint, request: gr.Request):
        try:
            job = training.resume(ctx.s, ctx.store, job_id, checkpoint)
        except training.TrainError as e:
            raise gr.Error(str(e))
        gr.Info(msg(request, "m_train_started", name=job.name))
        return gr.update(choices=_runs(ctx), value=job.id)

    def do_merge(job_id, request: gr.Request):
        try:
            job = export.merge(ctx.s, ctx.store, job_id)
        except export.ExportError as e:
            raise gr.Error(str(e))
        return msg(request, "m_merging", path=job.spec["export_dir"])

    def latest():
        runs = _runs(ctx)
        return gr.update(choices=runs, value=runs[0][1] if runs else None)

    def show_run(job_id, chosen, request: gr.Request):
        return view(ctx, job_id, request, chosen)

    outputs = [info, bar, loss, diagnosis, ckpt, log]
    # The job store is the truth: a reload or a second browser tab picks up the latest run.
    ctx.demo.load(latest, None, run)
    start.click(do_start, form_inputs, run, api_name="start_training")
    show.click(do_preview, form_inputs, preview, api_name="preview_training")
    cancel.click(do_cancel, run, run, api_name="cancel_training")
    resume.click(do_resume, [run, ckpt], run, api_name="resume_training")
    merge.click(do_merge, run, merge_info, api_name="merge_adapter")
    run.change(show_run, [run, ckpt], outputs, api_name=False)
    timer.tick(show_run, [run, ckpt], outputs, api_name="training_progress", show_progress="hidden")
    return {"train_dataset": ds, "train_run": run}

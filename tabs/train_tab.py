"""Train tab: a LoRA form that becomes a LLaMA-Factory job; live progress read from the job store;
cancel, resume from a checkpoint, merge, and a plain-words post-mortem when a run fails."""
from __future__ import annotations

from dataclasses import asdict, replace

import gradio as gr
import yaml

from studio import datasets, estimate, export, hub, models, owners, postmortem, trainform, training
from studio.jobs import JobError
from tabs import eval_panel, export_panel, runs_panel
from tabs.charts import plot, table
from tabs.context import Ctx, Problem, user
from tabs.jobs_view import queue_lines
from tabs.i18n import L, msg, said, status, zh



def _runs(ctx: Ctx, request=None) -> list[tuple[str, str]]:
    return [(f"{j.name} · {status(request, j.status)}", j.id) for j in ctx.store.list(kind="train")]


def _postmortem(request, job) -> str:
    if job.status not in ("failed", "lost"):
        return ""
    found = postmortem.diagnose(job.log_tail(200_000), job.exit_code,
                                lang="zh" if zh(request) else "en")
    if found is None:
        return msg(request, "m_error", e=job.error)
    lines = [f"**{found.cause}**", f"`{found.evidence}`"] + [f"- {fix}" for fix in found.fixes]
    return "\n\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:])


def view(ctx: Ctx, job_id: str | None, request: gr.Request | None = None,
         chosen: str | None = None):
    """(progress text, bar, loss frame, lr frame, reward frame, post-mortem, checkpoints, log)
    for one run."""
    job = ctx.store.get(job_id) if job_id else None
    if job is None:
        return (msg(request, "m_no_run"), "", plot(request, [], "step", "loss", "series"),
                plot(request, [], "step", "lr"), gr.update(visible=False), "", gr.update(choices=[]), "")
    job = ctx.store.refresh(job)
    p = training.progress(job)
    # An ended run has nothing remaining, whatever the trainer's last estimate said.
    going = job.status in ("queued", "running")
    text = [f"**{job.name}** · " + msg(request, "m_status", status=status(request, job.status)),
            msg(request, "m_step", step=p["step"], total=p["total"] or "?",
                elapsed=p["elapsed"] or "-", remaining=(p["remaining"] or "-") if going else "-")]
    if p["throughput"] and going:
        text.append(msg(request, "m_throughput", tps=p["throughput"]))
    text += queue_lines(ctx, job, request)
    if job.spec.get("resumed_from"):
        text.append(msg(request, "m_resumed", ckpt=job.spec["resumed_from"].rsplit("/", 1)[-1]))
    bar = (f'<progress max="100" value="{p["percent"]:.1f}" style="width:100%"></progress>'
           f'<span> {p["percent"]:.0f}%</span>')
    loss = plot(request, p["curves"], "step", "loss", "series")
    lr = plot(request, p["lr"], "step", "lr")
    # a preference run: how far the chosen answers pull ahead of the rejected ones
    rewards = {**plot(request, p["rewards"], "step", "value", "series"), "visible": bool(p["rewards"])}
    points = [c.name for c in training.checkpoints(job)]
    return ("\n\n".join(text), bar, loss, lr, rewards, _postmortem(request, job),
            # The latest checkpoint, unless the user picked one of this run's.
            gr.update(choices=points, value=chosen if chosen in points else
                      (points[-1] if points else None)), job.log_tail(6000))


RUN_COLUMNS = ["run", "status", "dataset", "rank", "lr", "steps", "last loss", "checkpoints",
               "adapter", "merged"]


def runs_rows(ctx: Ctx, request=None) -> dict:
    """Every run with its config, outcome and artefacts."""
    rows = []
    for job in ctx.store.list(kind="train"):
        job = ctx.store.refresh(job)
        f, p = job.spec.get("form", {}), training.progress(job)
        adapter = training.adapter_dir(job)
        merged = export.merged_dir(ctx.s, job)
        rows.append([job.name, status(request, job.status), f.get("dataset"), f.get("lora_rank"),
                     f.get("learning_rate"), f"{p['step']}/{p['total'] or '?'}",
                     round(p["loss"][-1]["loss"], 4) if p["loss"] else "",
                     len(training.checkpoints(job)), str(adapter) if adapter else "",
                     str(merged) if (merged / "config.json").exists() else ""])
    return table(request, rows, RUN_COLUMNS)


def _form(dataset, r, a, t, lr_, ep, ms, cut, bs, save, accum=1, sched="cosine", warm=0.1,
          drop=0.0, val=0.0, ckpt=True, q4=False, ds="", method="lora", gpus=1, ray_workers=0,
          stage="sft", beta=0.1) -> training.LoraForm:
    return training.LoraForm(dataset=dataset, lora_rank=int(r or 0), lora_alpha=int(a or 0),
                             lora_target=t or "", learning_rate=float(lr_ or 0),
                             num_train_epochs=float(ep or 0), max_steps=int(ms or 0),
                             cutoff_len=int(cut or 0), batch_size=int(bs or 0),
                             save_steps=int(save or 0), grad_accum=int(accum or 0),
                             scheduler=sched or "cosine", warmup_ratio=float(warm or 0),
                             lora_dropout=float(drop or 0), val_size=float(val or 0),
                             grad_ckpt=bool(ckpt), quant_4bit=bool(q4), deepspeed=ds or "",
                             method=method or "lora", gpus=int(gpus or 1),
                             ray_workers=int(ray_workers or 0), stage=stage or "sft",
                             pref_beta=float(0.1 if beta is None else beta))


def build(ctx: Ctx) -> dict:
    d = training.LoraForm()
    with gr.Row():
        with gr.Column(scale=1):
            # Choices change while the app runs (new datasets, new runs); the service checks the value.
            with gr.Row():
                ds = gr.Dropdown(choices=datasets.list_names(ctx.s), value=d.dataset,
                                 label=L("dataset"), allow_custom_value=True, scale=2)
                method = gr.Dropdown(choices=[("LoRA", "lora"), (L("full_ft"), "full")],
                                     value=d.method, label=L("method"), scale=1)
            with gr.Row():
                stage = gr.Dropdown(choices=[(L("st_sft"), "sft"), (L("st_dpo"), "dpo"), (L("st_orpo"), "orpo"),
                                             (L("st_kto"), "kto")], value=d.stage, label=L("stage"), scale=2)
                beta = gr.Number(value=d.pref_beta, label=L("pref_beta"), info=L("i_pref_beta"),
                                 visible=False, scale=1)
            with gr.Row():
                rank = gr.Number(value=d.lora_rank, label=L("lora_rank"), precision=0)
                alpha = gr.Number(value=d.lora_alpha, label=L("lora_alpha"), precision=0)
            target = gr.Dropdown(choices=list(training.TARGETS), value=d.lora_target,
                                 label=L("lora_target"), allow_custom_value=True)
            with gr.Row():
                lr = gr.Number(value=d.learning_rate, label=L("lr"))
                epochs = gr.Number(value=d.num_train_epochs, label=L("epochs"))
            with gr.Row():
                steps = gr.Number(value=d.max_steps, label=L("max_steps"), precision=0)
                cutoff = gr.Number(value=d.cutoff_len, label=L("cutoff"), precision=0)
            with gr.Row():
                batch = gr.Number(value=d.batch_size, label=L("batch"), precision=0)
                save = gr.Number(value=d.save_steps, label=L("save_steps"), precision=0)
            with gr.Accordion(L("advanced"), open=False):
                with gr.Row():
                    accum = gr.Number(value=d.grad_accum, label=L("grad_accum"), precision=0)
                    sched = gr.Dropdown(choices=list(trainform.SCHEDULERS),
                                        value=d.scheduler, label=L("scheduler"))
                with gr.Row():
                    warm = gr.Number(value=d.warmup_ratio, label=L("warmup"))
                    drop = gr.Number(value=d.lora_dropout, label=L("lora_dropout"))
                    val = gr.Number(value=d.val_size, label=L("val_size"))
                ckpt_on = gr.Checkbox(value=d.grad_ckpt, label=L("grad_ckpt"))
                # Shown where they can run; elsewhere greyed out with the reason.
                q4 = gr.Checkbox(value=False, label=L("qlora"), interactive=ctx.s.gpu,
                                 info=None if ctx.s.gpu else L("i_qlora_cuda"))
                many = ctx.s.gpu and len(ctx.store.gpus) >= 2  # DeepSpeed and torchrun need two
                with gr.Row():
                    ds_stage = gr.Dropdown(choices=[(L("off"), ""), ("ZeRO-2", "2"), ("ZeRO-3", "3")],
                                           value="", label=L("deepspeed"), interactive=many,
                                           info=None if many else L("i_deepspeed_cuda" if not ctx.s.gpu
                                                                    else "i_deepspeed_one"))
                    n_gpus = gr.Number(value=1, label=L("train_gpus"), precision=0, minimum=1,
                                       maximum=max(1, len(ctx.store.gpus)), visible=many)
                    workers = gr.Number(value=0, label=L("ray_workers"), precision=0, minimum=0,
                                        info=L("i_ray_workers"), visible=bool(ctx.store.ray) and many)
            cores = gr.Markdown()  # without a GPU: what a run would share the cores with
            with gr.Row():
                start = gr.Button(L("start_training"), variant="primary", scale=2)
                probe = gr.Button(L("probe"), scale=1)
            plan = gr.Markdown()
            with gr.Accordion(L("yaml_cmd"), open=False):
                show = gr.Button(L("show_yaml"))
                preview = gr.Code(language="yaml", interactive=False)
        with gr.Column(scale=2):
            with gr.Row():
                run = gr.Dropdown(choices=_runs(ctx), label=L("run"), scale=3, allow_custom_value=True)
                cancel = gr.Button(L("cancel"), variant="stop", scale=1)
            info = gr.Markdown()
            bar = gr.HTML()
            with gr.Row():
                # No fixed height: with one, the legend under the chart was cut off.
                loss = gr.LinePlot(None, x="step", y="loss", color="series", label=L("loss_curve"))
                lr_plot = gr.LinePlot(None, x="step", y="lr", label=L("lr_curve"),
                                      y_axis_format=".1e")  # 1.0e-3, not 0.001000
            reward_plot = gr.LinePlot(None, x="step", y="value", color="series", label=L("reward_curve"),
                                      visible=False)
            diagnosis = gr.Markdown()
            with gr.Row():
                ckpt = gr.Dropdown(choices=[], label=L("checkpoint"), allow_custom_value=True, scale=2)
                resume = gr.Button(L("resume"), scale=1)
                merge = gr.Button(L("merge"), scale=1)
            merge_info = gr.Markdown()
            with gr.Accordion(L("before_after"), open=False):
                prompts = gr.Textbox(lines=3, label=L("prompts"),
                                     value="How long is the warranty?\n退货期限是多少天？")
                compare = gr.Button(L("compare"))
                compare_job = gr.State(None)
                compared = gr.Dataframe(headers=["prompt", "base", "tuned"], wrap=True,
                                        interactive=False, visible=False)  # shown once filled
            h_more = {**eval_panel.build(ctx, run), **runs_panel.build(ctx), **export_panel.build(ctx, run)}
            with gr.Accordion(L("publish"), open=False):
                with gr.Row():
                    repo = gr.Textbox(label=L("repo_id"), placeholder="alice/qinghe-support-lora", scale=2)
                    token = gr.Textbox(label=L("hf_token"), type="password", scale=2)
                    what = gr.Dropdown(choices=[(L("the_adapter"), "adapter"), (L("the_merged"), "merged")],
                                       value="adapter", label=L("what"), scale=1)
                    private = gr.Checkbox(value=True, label=L("private"), scale=1)
                publish = gr.Button(L("publish_btn"))
                published = gr.Markdown()
            with gr.Accordion(L("log"), open=False):
                log = gr.Code(language=None, lines=12, max_lines=12)
            with gr.Accordion(L("all_runs"), open=False):
                runs_table = gr.Dataframe(headers=RUN_COLUMNS, interactive=False, wrap=True)
                refresh_runs = gr.Button(L("refresh"))
    timer = gr.Timer(2.0)
    form_inputs = [ds, rank, alpha, target, lr, epochs, steps, cutoff, batch, save,
                   accum, sched, warm, drop, val, ckpt_on, q4, ds_stage, method, n_gpus, workers, stage, beta]
    probe_job = gr.State(None)

    def mine(request, *form) -> training.LoraForm:
        """The form on this user's active model (each user has their own)."""
        return replace(_form(*form), model=str(models.active_model(ctx.s, user(request))))

    def shared_cores(request, kind: str) -> str:
        found = ctx.store.contention(kind)
        return msg(request, "q_cpu_shared", kind=msg(request, "k_" + kind), **found) if found else ""

    # Gradio finds gr.Request by annotation; with *form it must come first.
    def do_start(request: gr.Request, *form):
        try:
            warn = shared_cores(request, "train")
            job = training.start(ctx.s, ctx.store, mine(request, *form), user=user(request))
        except (training.TrainError, ValueError, JobError) as e:
            raise Problem(said(request, e))
        gr.Info(msg(request, "m_train_started", name=job.name))
        if warn:
            gr.Warning(warn)
        return gr.update(choices=_runs(ctx, request), value=job.id)

    def do_preview(request: gr.Request, *form):
        form = mine(request, *form)
        try:
            cfg = training.build_yaml(ctx.s, form, ctx.s.home / "jobs" / "<run>" / "output")
        except (training.TrainError, ValueError) as e:
            raise Problem(said(request, e))
        return (yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)
                + f"\n# {' '.join(training.command(ctx.s, ctx.s.home / 'jobs/<run>/train.yaml'))}\n")

    def plan_text(request, form: training.LoraForm) -> str:
        """Memory for exactly this form, and steps; and what it would share the machine with."""
        try:
            est = training.memory_estimate(ctx.s, form)
            steps_ = training.total_steps(ctx.s, form)
        except (training.TrainError, ValueError, KeyError) as e:
            raise Problem(said(request, e))
        text = msg(request, "m_plan" if est["gpus"] == 1 else "m_plan_gpus", gpus=est["gpus"],
                   mem=f"{est['total'] / estimate.GIB:.2f} GiB", peft=estimate.peft_line(est), steps=steps_)
        warn = shared_cores(request, "train")
        return text + (f"\n\n⚠️ {warn}" if warn else "")

    def do_plan(request: gr.Request, *form):
        return plan_text(request, mine(request, *form))

    def do_probe(request: gr.Request, *form):
        form = mine(request, *form)
        try:
            job = training.probe(ctx.s, ctx.store, form, user=user(request))
        except (training.TrainError, ValueError, JobError) as e:
            raise Problem(said(request, e))
        return {"id": job.id, "form": asdict(form)}, plan_text(request, form) + "\n\n" + msg(request, "m_probing")

    def probe_view(probing, request: gr.Request):
        # The form as it was when the probe started: a field being edited (or invalid) now is
        # not read every tick.
        job = ctx.store.get(probing["id"]) if probing else None
        if job is None:
            return gr.update()
        job = ctx.store.refresh(job)
        if job.status in ("queued", "running"):
            return gr.update()
        form = training.LoraForm(**probing["form"])
        r = training.probe_result(ctx.s, job, form)
        if r is None:
            return msg(request, "m_probe_failed", status=status(request, job.status))
        return plan_text(request, form) + "\n\n" + msg(
            request, "m_probe", sps=r["seconds_per_step"], steps=r["steps"],
            minutes=r["total_seconds"] / 60)

    def do_cancel(job_id, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else None
        if job is not None:
            try:
                owners.check_job(ctx.s, job, user(request), "cancel")
            except owners.NotAllowed as e:
                raise Problem(said(request, e))
            training.cancel(ctx.store, job_id)
        return gr.update(choices=_runs(ctx, request), value=job_id)

    def do_resume(job_id, checkpoint, request: gr.Request):
        try:
            job = training.resume(ctx.s, ctx.store, job_id, checkpoint, user=user(request))
        except (training.TrainError, ValueError, JobError) as e:
            raise Problem(said(request, e))
        gr.Info(msg(request, "m_train_started", name=job.name))
        return gr.update(choices=_runs(ctx, request), value=job.id)

    def do_merge(job_id, request: gr.Request):
        try:
            job = export.merge(ctx.s, ctx.store, job_id, user=user(request))
        except (export.ExportError, JobError) as e:
            raise Problem(said(request, e))
        return msg(request, "m_merging", path=job.spec["export_dir"])

    def do_publish(job_id, repo_id, tok, kind, priv, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else None
        if job is None:
            raise Problem(msg(request, "m_no_run"))
        folder = training.adapter_dir(job) if kind == "adapter" else export.merged_dir(ctx.s, job)
        try:
            owners.check_job(ctx.s, job, user(request), "publish")
            url = hub.push(ctx.s, folder or job.folder, repo_id, bool(priv), token=tok or None)
        except (hub.HubError, owners.NotAllowed) as e:
            raise Problem(said(request, e))
        return msg(request, "m_published", url=url)

    def do_compare(job_id, text, request: gr.Request):
        try:
            job = export.compare(ctx.s, ctx.store, job_id or "", (text or "").splitlines(),
                                 user=user(request))
        except (export.ExportError, JobError) as e:
            raise Problem(said(request, e))
        gr.Info(msg(request, "m_comparing"))
        return job.id

    def compare_view(job_id, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else None
        if job is None or ctx.store.refresh(job).status in ("queued", "running"):
            return gr.update()
        rows = export.comparison(ctx.store.get(job_id))
        if rows is None:
            return table(request, [["-", ctx.store.get(job_id).error or "failed", ""]], ["prompt", "base", "tuned"],
                         visible=True)
        return table(request, [[r["prompt"], r["base"], r["tuned"]] for r in rows], ["prompt", "base", "tuned"],
                     visible=True)

    def latest(request: gr.Request):
        runs = _runs(ctx, request)
        return gr.update(choices=runs, value=runs[0][1] if runs else None)

    def show_run(job_id, picked, labels, request: gr.Request):
        """The run's view, with the run list's labels refreshed when a status changed (a run
        ended: "· running" must not stay) and the checkpoint the user picked, else the latest."""
        runs = _runs(ctx, request)
        fresh = [label for label, _ in runs]
        if fresh == labels:
            return (*view(ctx, job_id, request, picked), gr.update(), fresh, gr.update())
        # A run started elsewhere (another tab, another user) is shown when none is picked here.
        job_id = job_id or (runs[0][1] if runs else None)
        return (*view(ctx, job_id, request, picked), gr.update(choices=runs, value=job_id), fresh,
                runs_rows(ctx, request))

    def cores_note(request: gr.Request):
        warn = shared_cores(request, "train")
        return f"⚠️ {warn}" if warn else ""

    picked = gr.State(None)  # a checkpoint the user chose for this run; None: the latest
    labels = gr.State([])  # the run list's labels as last shown
    outputs = [info, bar, loss, lr_plot, reward_plot, diagnosis, ckpt, log, run, labels, runs_table]
    ctx.demo.load(cores_note, None, cores)
    timer.tick(cores_note, None, cores, api_name=False, show_progress="hidden")
    # The job store is the truth: a reload or a second browser tab picks up the latest run.
    ctx.demo.load(latest, None, run)
    def list_runs(request: gr.Request):
        return runs_rows(ctx, request)

    ctx.demo.load(list_runs, None, runs_table)
    refresh_runs.click(list_runs, None, runs_table, api_name="list_runs")
    start.click(do_start, form_inputs, run, api_name="start_training")
    show.click(do_preview, form_inputs, preview, api_name="preview_training")
    show.click(do_plan, form_inputs, plan, api_name="plan_training")
    probe.click(do_probe, form_inputs, [probe_job, plan], api_name="probe_training")
    timer.tick(probe_view, probe_job, plan, api_name=False, show_progress="hidden")
    cancel.click(do_cancel, run, run, api_name="cancel_training")
    resume.click(do_resume, [run, ckpt], run, api_name="resume_training")
    merge.click(do_merge, run, merge_info, api_name="merge_adapter")
    compare.click(do_compare, [run, prompts], compare_job, api_name="compare_before_after")
    timer.tick(compare_view, compare_job, compared, api_name=False, show_progress="hidden")
    publish.click(do_publish, [run, repo, token, what, private], published, api_name="publish")
    def pick_stage(st, dataset, rate):
        """A preference stage wants pairs and a gentler learning rate; SFT the answers back."""
        pref = st != "sft"
        want = datasets.PREFERENCE_NAME if pref else datasets.SAMPLE_NAME
        sample = dataset in (datasets.SAMPLE_NAME, datasets.PREFERENCE_NAME)
        defaults_ = (training.LoraForm().learning_rate, trainform.PREF_LR)
        return (gr.update(visible=pref), gr.update(value=want) if sample else gr.update(),
                gr.update(value=defaults_[pref]) if rate in defaults_ else gr.update())

    stage.input(pick_stage, [stage, ds, lr], [beta, ds, lr], api_name=False)
    ckpt.input(lambda c: c, ckpt, picked, api_name=False)
    run.input(lambda: None, None, picked, api_name=False)
    run.change(show_run, [run, picked, labels], outputs, api_name=False)
    timer.tick(show_run, [run, picked, labels], outputs, api_name="training_progress",
               show_progress="hidden")
    return {"train_dataset": ds, "train_run": run, **h_more}

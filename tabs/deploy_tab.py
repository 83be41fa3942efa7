"""Deploy tab: serve the active model and its adapters with vLLM (several deployments can run),
with the settings that matter, adapters loaded without restarts, and live telemetry."""
from __future__ import annotations

import time

import gradio as gr

from studio import clientcode, launchplan, models, owners, proxy, serving, telemetry, training
from studio.jobs import JobError
from tabs import bench_panel, confirm
from tabs.charts import plot
from tabs.context import Ctx, Problem, user
from tabs.jobs_view import error_md, queue_lines
from tabs.i18n import L, msg, said, status, zh



def _adapter_choices(ctx: Ctx, request=None) -> list[str]:
    return [a["name"] for a in training.adapters(ctx.store, base=models.active_model(ctx.s, user(request)))]


def _deployments(ctx: Ctx) -> list[tuple[str, str]]:
    return [(j.name, j.id) for j in serving.live(ctx.store)]


def no_plots(request) -> tuple:
    return tuple(plot(request, [], "seconds", "value", "series") for _ in range(2))


def view(ctx: Ctx, job_id: str | None, request: gr.Request | None = None):
    """(status, endpoint, snippet, log, throughput plot, load plot, numbers) of one deployment."""
    job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
    if job is None:
        last = ctx.store.list(kind="serve")
        if last and last[0].status in ("failed", "lost"):
            j = last[0]
            return (msg(request, "m_status", status=status(request, j.status)) + "\n\n"
                    + error_md(request, j.error), "", "", j.log_tail(6000), *no_plots(request), "")
        return msg(request, "m_no_server"), "", "", "", *no_plots(request), ""
    st = serving.state(ctx.store, job)
    served = ", ".join(f"`{m}`" for m in serving.served_models(job))
    text = f"**{job.name}** · " + msg(request, "m_status", status=status(request, st)) + f" · {served}"
    text = "\n\n".join([text, *queue_lines(ctx, job, request)])
    if st in ("failed", "lost") and job.error:
        text += "\n\n" + error_md(request, job.error)
    if st == "starting":  # vLLM takes from ~40 s (CPU, eager) to a few minutes to load
        text += " · " + msg(request, "m_waiting", s=int(time.time() - (job.started or time.time())))
    if job.spec.get("plan"):
        text += "\n\n" + msg(request, "m_plan_used", plan=launchplan.summary(job.spec["plan"], zh(request)))
    if st != "ready":
        return text, "", "", job.log_tail(6000), *no_plots(request), ""
    telemetry.scrape(job, serving.base_url(job))
    points = telemetry.history(job)
    speed = plot(request, [{"seconds": p["seconds"], "value": p["tokens_per_s"], "series": "tokens/s"}
                           for p in points], "seconds", "value", "series")
    load = plot(request, [{"seconds": p["seconds"], "value": p[k], "series": k}
                          for p in points for k in ("running", "waiting", "kv_usage_pct")],
                "seconds", "value", "series")
    t = telemetry.totals(job) or {}
    numbers = msg(request, "m_telemetry", gen=int(t.get("generation_tokens", 0)),
                  ttft=f"{t['ttft_mean_s'] * 1000:.0f} ms" if t.get("ttft_mean_s") else "-",
                  hit=f"{t['prefix_hit_pct']:.0f}%" if t.get("prefix_hit_pct") is not None else "-")
    # Callers outside reach a deployment only through the studio's own port (the proxy).
    url = proxy.public_base(ctx.s, dict(request.headers)) if request is not None else serving.base_url(job)
    return (text, url, clientcode.snippet(job, url), job.log_tail(6000), speed, load, numbers)


def build(ctx: Ctx) -> dict:
    gpus = serving.gpu_count()
    with gr.Row():
        with gr.Column(scale=1):
            active = gr.Markdown()
            adapters = gr.Dropdown(choices=_adapter_choices(ctx), label=L("adapters"),
                                   multiselect=True, allow_custom_value=True)
            with gr.Accordion(L("deploy_settings"), open=False):
                max_len = gr.Number(value=ctx.s.serve_max_model_len, precision=0,
                                    label=L("max_len"), info=L("i_max_len"))
                if ctx.s.gpu:
                    mem = gr.Slider(0.1, 0.98, value=0.9, step=0.01, label=L("gpu_share"),
                                    info=L("i_gpu_share"))
                else:
                    mem = gr.Number(value=ctx.s.serve_cpu_kv_gib, precision=0,
                                    label=L("kv_gib"), info=L("i_kv_gib"))
                tp = gr.Number(value=1, precision=0,
                               label=L("tp"), interactive=gpus > 1, info=L("i_tp"))
                dtype = gr.Dropdown(choices=["auto", "float32", "bfloat16", "float16"], value="auto",
                                    label="dtype", info=L("i_dtype"))
                prefix = gr.Checkbox(value=True, label=L("prefix_cache"), info=L("i_prefix"))
                with gr.Row():
                    max_rank = gr.Number(value=0, precision=0, label=L("max_rank"))
                    max_loras = gr.Number(value=4, precision=0, label=L("max_loras"))
                need_key = gr.Checkbox(value=False, label=L("api_key"), info=L("i_api_key"))
                host = gr.Textbox(value="127.0.0.1", label=L("host"), info=L("i_host"))
            with gr.Accordion(L("plan_title"), open=False, visible=not ctx.s.gpu):
                plan = gr.Markdown()
            cores = gr.Markdown()  # without a GPU: what a server would share the cores with
            with gr.Row():
                deploy = gr.Button(L("deploy"), variant="primary")
                restart = gr.Button(L("restart"))
                stop = gr.Button(L("stop"), variant="stop")
            asks = {k: confirm.place() for k in ("deploy", "restart", "stop")}  # under the buttons
            key_once = gr.Textbox(label=L("key_once"), visible=False, buttons=["copy"])
        with gr.Column(scale=2):
            which = gr.Dropdown(choices=_deployments(ctx), label=L("deployment"),
                                allow_custom_value=True)
            info = gr.Markdown()
            url = gr.Textbox(label=L("endpoint"), interactive=False, buttons=["copy"])
            with gr.Row():
                runtime = gr.Dropdown(choices=[], label=L("runtime_adapter"), allow_custom_value=True,
                                      scale=2)
                load_btn = gr.Button(L("load_adapter"), scale=1)
                unload_btn = gr.Button(L("unload_adapter"), scale=1)
            numbers = gr.Markdown()
            with gr.Row():
                # "~s" ticks: 0, 3, 1.2k; the default printed 0.000000 on an empty chart.
                speed = gr.LinePlot(None, x="seconds", y="value", color="series", x_axis_format="~s",
                                    y_axis_format="~s",
                                    label=L("tokens_s"))  # no fixed height: it cut the legend off
                load = gr.LinePlot(None, x="seconds", y="value", color="series", x_axis_format="~s",
                                   y_axis_format="~s",
                                   label=L("load_kv"))
            code = gr.Code(label=L("snippet"), language="python", interactive=False)
            with gr.Accordion(L("log"), open=False):
                log = gr.Code(language=None, lines=12, max_lines=12)
    with gr.Accordion(L("bench_title"), open=False):
        bench_panel.build(ctx)
    timer = gr.Timer(3.0)

    def refresh_form(request: gr.Request):
        path = models.active_model(ctx.s, user(request))
        choices = _adapter_choices(ctx, request)
        return (msg(request, "m_active", name=path.name), gr.update(choices=choices, value=choices),
                gr.update(choices=choices), plan_note(path, request))

    def plan_note(path, request, dt="auto", kv=None):
        if ctx.s.gpu:
            return ""
        opts = serving.DeployOptions(dtype=dt or "auto", kv_cache_gib=int(kv or 0) or None)
        try:
            serving.check_options(ctx.s, opts)
        except serving.ServeError as e:  # the plan of a deployment that would be refused: say why
            return f"⚠️ {said(request, e)}"
        return msg(request, "plan_intro") + "\n\n" + launchplan.table(serving.cpu_plan(ctx.s, path, opts), zh(request))

    def replan(dt, kv, request: gr.Request):
        return plan_note(models.active_model(ctx.s, user(request)), request, dt, kv)

    def do_deploy(names, mlen, memv, tpv, dt, pc, mr, ml, key, hostv, request: gr.Request):
        opts = serving.DeployOptions(
            max_model_len=int(mlen or 0) or None, tensor_parallel=int(tpv or 1), dtype=dt or "auto",
            prefix_caching=bool(pc), max_lora_rank=int(mr or 0), max_loras=int(ml or 4),
            api_key=bool(key), host=(hostv or "").strip() or None,
            **({"gpu_memory_share": float(memv)} if ctx.s.gpu else {"kv_cache_gib": int(memv or 0) or None}))
        try:
            warn = None if ctx.s.gpu else ctx.store.contention("serve")
            job = serving.start(ctx.s, ctx.store, adapter_names=list(names or []), opts=opts,
                                user=user(request))
        except (serving.ServeError, models.ModelError, JobError) as e:
            raise Problem(said(request, e))
        if warn:
            gr.Warning(msg(request, "q_cpu_shared", kind=msg(request, "k_serve"), **warn))
        shown = serving.api_key(job)
        return (gr.update(choices=_deployments(ctx) or [(job.name, job.id)], value=job.id),
                gr.update(value=shown or "", visible=bool(shown)))

    def ask_deploy(request, *values):
        """A second server of the same model is asked about: a double click would double the memory."""
        model = str(models.active_model(ctx.s, user(request)))
        same = [j for j in serving.live(ctx.store) if j.spec.get("model") == model]
        if not same:
            return ""
        return msg(request, "q_deploy_again", name=same[0].name,
                   status=status(request, serving.state(ctx.store, same[0], probe=False)))

    def asking(request, job_id, key):
        job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
        return msg(request, key, name=job.name) if job is not None else ""

    def mine(job, action, request):
        try:
            owners.check_job(ctx.s, job, user(request), action)
        except owners.NotAllowed as e:
            raise Problem(said(request, e))

    def do_stop(job_id, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
        if job is not None:
            mine(job, "stop", request)
            serving.stop(ctx.store, job.id)
        left = _deployments(ctx)
        return gr.update(choices=left, value=left[0][1] if left else None)

    def do_restart(job_id, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
        if job is None:
            raise Problem(msg(request, "m_no_server"))
        mine(job, "restart", request)
        try:
            new = serving.restart(ctx.s, ctx.store, job.id)
        except (serving.ServeError, models.ModelError, JobError) as e:
            raise Problem(said(request, e))
        return gr.update(choices=_deployments(ctx) or [(new.name, new.id)], value=new.id)

    def do_runtime(job_id, name, loading: bool, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
        if job is None:
            raise Problem(msg(request, "m_no_server"))
        mine(job, "change the adapters of", request)
        try:
            (serving.load_adapter if loading else serving.unload_adapter)(ctx.store, job, name or "")
        except serving.ServeError as e:
            raise Problem(said(request, e))
        return view(ctx, job.id, request)

    def do_load(job_id, name, request: gr.Request):
        return do_runtime(job_id, name, True, request)

    def do_unload(job_id, name, request: gr.Request):
        return do_runtime(job_id, name, False, request)

    def show(job_id, request: gr.Request):
        return view(ctx, job_id, request)

    def latest():
        live = _deployments(ctx)
        return gr.update(choices=live, value=live[0][1] if live else None)

    def cores_note(request: gr.Request):
        found = None if ctx.s.gpu else ctx.store.contention("serve")
        return f"⚠️ {msg(request, 'q_cpu_shared', kind=msg(request, 'k_serve'), **found)}" if found else ""

    outputs = [info, url, code, log, speed, load, numbers]
    ctx.demo.load(cores_note, None, cores)
    timer.tick(cores_note, None, cores, api_name=False, show_progress="hidden")
    settings = [adapters, max_len, mem, tp, dtype, prefix, max_rank, max_loras, need_key, host]
    ctx.demo.load(refresh_form, None, [active, adapters, runtime, plan])
    if not ctx.s.gpu:
        for field in (dtype, mem):
            field.change(replan, [dtype, mem], plan, api_name=False, show_progress="hidden")
    ctx.demo.load(latest, None, which)
    confirm.guard(asks["deploy"], deploy, ask_deploy, do_deploy, settings, [which, key_once], api_name="deploy")
    confirm.guard(asks["restart"], restart, lambda request, j: asking(request, j, "q_restart"), do_restart, [which], [which],
                  api_name="restart_deploy")
    confirm.guard(asks["stop"], stop, lambda request, j: asking(request, j, "q_stop"), do_stop, [which], [which],
                  api_name="stop_deploy")
    load_btn.click(do_load, [which, runtime], outputs, api_name="load_adapter")
    unload_btn.click(do_unload, [which, runtime], outputs, api_name="unload_adapter")
    which.change(show, which, outputs, api_name=False)
    timer.tick(show, which, outputs, api_name="deploy_status", show_progress="hidden")
    return {"deploy_refresh": (refresh_form, [active, adapters, runtime, plan])}

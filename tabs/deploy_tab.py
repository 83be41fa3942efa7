"""Deploy tab: serve the active model and its adapters with vLLM; status, endpoint, code snippet."""
from __future__ import annotations

import time

import gradio as gr

from studio import models, serving, training
from tabs.context import Ctx
from tabs.i18n import L, msg, status


def _adapter_choices(ctx: Ctx) -> list[str]:
    return [a["name"] for a in training.adapters(ctx.store, base=models.active_model(ctx.s))]


def view(ctx: Ctx, request: gr.Request | None = None):
    """(status text, endpoint url, snippet, log tail) of the current deployment."""
    job = serving.current(ctx.store)
    if job is None:
        last = ctx.store.list(kind="serve")
        if last and last[0].status in ("failed", "lost"):
            j = last[0]
            return (msg(request, "m_status", status=status(request, j.status)) + " · "
                    + msg(request, "m_error", e=j.error), "", "", j.log_tail(6000))
        return msg(request, "m_no_server"), "", "", ""
    st = serving.state(ctx.store, job)
    served = ", ".join(f"`{m}`" for m in serving.served_models(job))
    text = f"**{job.name}** · " + msg(request, "m_status", status=status(request, st)) + f" · {served}"
    if st == "starting":  # vLLM takes from ~40 s (CPU, eager) to a few minutes to load
        text += " · " + msg(request, "m_waiting", s=int(time.time() - (job.started or time.time())))
    ready = st == "ready"
    return text, serving.base_url(job) if ready else "", serving.snippet(job) if ready else "", \
        job.log_tail(6000)


def build(ctx: Ctx) -> dict:
    with gr.Row():
        with gr.Column(scale=1):
            active = gr.Markdown()
            adapters = gr.Dropdown(choices=_adapter_choices(ctx), label=L("adapters"),
                                   multiselect=True, allow_custom_value=True)
            with gr.Row():
                deploy = gr.Button(L("deploy"), variant="primary")
                stop = gr.Button(L("stop"), variant="stop")
        with gr.Column(scale=2):
            info = gr.Markdown()
            url = gr.Textbox(label=L("endpoint"), interactive=False, buttons=["copy"])
            code = gr.Code(label=L("snippet"), language="python", interactive=False)
            with gr.Accordion(L("log"), open=False):
                log = gr.Code(language=None, lines=12, max_lines=12)
    timer = gr.Timer(2.0)

    def refresh_form(request: gr.Request):
        path = models.active_model(ctx.s)
        choices = _adapter_choices(ctx)
        return msg(request, "m_active", name=path.name), gr.update(choices=choices, value=choices)

    def do_deploy(names, request: gr.Request):
        running = serving.current(ctx.store)
        if running is not None:  # one deployment at a time for now: replace it
            serving.stop(ctx.store, running.id)
        try:
            serving.start(ctx.s, ctx.store, adapter_names=list(names or []))
        except (serving.ServeError, models.ModelError) as e:
            raise gr.Error(str(e))
        return view(ctx, request)

    def do_stop(request: gr.Request):
        job = serving.current(ctx.store)
        if job is not None:
            serving.stop(ctx.store, job.id)
        return view(ctx, request)

    def show(request: gr.Request):
        return view(ctx, request)

    outputs = [info, url, code, log]
    ctx.demo.load(refresh_form, None, [active, adapters])
    ctx.demo.load(show, None, outputs)
    deploy.click(do_deploy, adapters, outputs, api_name="deploy")
    stop.click(do_stop, None, outputs, api_name="stop_deploy")
    timer.tick(show, None, outputs, api_name="deploy_status", show_progress="hidden")
    return {"deploy_refresh": (refresh_form, [active, adapters])}

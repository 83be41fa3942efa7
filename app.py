"""The studio: one browser window over the whole LLM stack.

    python app.py                 start on http://127.0.0.1:7860 with the embedded defaults
    STUDIO_HOST=0.0.0.0 python app.py   open it to the network (a Space, a docker run)

Settings (data root, ports, backends) are in studio/config.py; each can be set by environment.
"""
from __future__ import annotations

import os
import sys

from studio import config


def build_ui(ctx):
    import gradio as gr

    from studio import datasets
    from tabs import (chat_tab, dataset_tab, deploy_tab, knowledge_tab, models_tab, notices,
                      train_tab)
    from tabs.i18n import L

    with gr.Blocks(title="LLM Studio") as demo:
        ctx.demo = demo
        gr.Markdown(L("title"), elem_id="title")
        gr.Markdown(L("intro"))
        notices.build(ctx)
        h = ctx.handles
        with gr.Tabs():
            for key, module in (("tab_models", models_tab), ("tab_dataset", dataset_tab),
                                ("tab_train", train_tab), ("tab_deploy", deploy_tab),
                                ("tab_knowledge", knowledge_tab), ("tab_chat", chat_tab)):
                with gr.Tab(L(key)) as tab:
                    h.update(module.build(ctx))
                h[key] = tab

        # Cross-tab events, wired once every tab exists.
        def dataset_names(current):
            return gr.update(choices=datasets.list_names(ctx.s), value=current)

        h["dataset_choice"].change(dataset_names, h["train_dataset"], h["train_dataset"],
                                   api_name=False)
        h["tab_train"].select(dataset_names, h["train_dataset"], h["train_dataset"], api_name=False)
        for key in ("runs_refresh", "eval_refresh"):  # runs and datasets made since the page opened
            fn, comp = h[key]
            h["tab_train"].select(fn, comp, comp, api_name=False)
        fn, outs = h["draft_refresh"]  # deployments, bases and drafts made since the page opened
        h["tab_dataset"].select(fn, None, outs, api_name=False)
        fn, outs = h["deploy_refresh"]
        h["tab_deploy"].select(fn, None, outs, api_name=False)
        for key in ("chat_refresh", "compare_refresh", "chat_bases"):
            fn, ins, outs = h[key]
            h["tab_chat"].select(fn, ins, outs, api_name=False)
    return demo


def create_app(settings: config.Settings | None = None):
    """(FastAPI app, Blocks, context) for settings; used by main() and by the tests.
    Raises runtime.StartupError when the studio cannot run here (an unwritable data root)."""
    from studio.core import auth, netguard, runtime, signin

    s = settings or config.load()
    runtime.ensure_writable(s)
    try:
        access = auth.mode(s)
    except auth.AuthError as e:
        raise runtime.StartupError("e_auth_bad", problem=str(e)) from e
    if access == "refuse":  # reachable from other machines and nobody can sign in
        raise runtime.StartupError("e_auth_needed", host=s.host)
    runtime.prepare(s)  # HOME and caches before torch or gradio: jobs started here inherit them
    found = runtime.check(s)
    if access == "open" and not auth.is_loopback(s.host):
        found.insert(0, runtime.Notice("n_auth_off", {"host": s.host}))
    netguard.configure(s.fetch_link_local)
    if "download" not in auth.server_token_uses(s):
        # Libraries read HF_TOKEN from the environment on their own: take it away from them.
        for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            os.environ.pop(var, None)
    import gradio as gr
    from fastapi import FastAPI

    from studio.jobs import JobStore
    from studio.knowledge import Knowledge
    from tabs import notices
    from tabs.context import Ctx
    from tabs.i18n import I18N

    from studio import jobqueue

    store = JobStore(s.home / "jobs", gpus=jobqueue.inventory(s.gpu_budget_gib, s.gpu, s.ray_address),
                     ray=s.ray_address)
    store.reconcile()  # re-attach jobs that outlived a previous run of the app; settle the rest
    ctx = Ctx(s=s, store=store, kb=Knowledge(s), notices=found)
    ctx.kb.resume_ingests()  # what a stopped or killed app was adding to a knowledge base
    demo = build_ui(ctx)
    # Many users at once: without this Gradio runs each event for one user at a time.
    demo.max_threads = s.ui_threads
    demo.queue(default_concurrency_limit=s.ui_concurrency)
    monitor(s, store)
    api = FastAPI()

    @api.get("/healthz")  # declared before the mount, or the mount swallows it
    def healthz():
        return {"ok": True}

    from studio import proxy

    proxy.mount(api, s, store)  # every deployment's /v1 through this one port, before the mount too
    if access == "signin":
        signin.mount(api, s)  # the gate covers every route, Gradio's included

    api = gr.mount_gradio_app(api, demo, path="/", i18n=I18N, server_name=s.host, server_port=s.port, allowed_paths=[],
                              max_file_size=f"{s.upload_max_mib}mb",  # refused before it fills the disk
                              auth_dependency=signin.gradio_user if access == "signin" else None,
                              theme=gr.themes.Soft(), footer_links=["api"], css=notices.CSS)
    return api, demo, ctx


def monitor(s: config.Settings, store) -> None:
    """A background thread: settles jobs that ended (a server that died shows so within
    seconds, whoever has a page open), starts queued jobs as resources free, and stops
    deployments that never became healthy."""
    import threading
    import time
    import traceback

    from studio import serving

    def loop():
        while True:
            try:
                store.reconcile()
                serving.watch(s, store)
            except Exception:  # a bad moment (a disk full) must not end the monitoring
                traceback.print_exc()
            time.sleep(s.monitor_every)

    threading.Thread(target=loop, name="studio-monitor", daemon=True).start()


def main() -> int:
    import uvicorn

    from studio import defaults
    from studio.core import runtime
    from tabs.i18n import TEXT

    s = config.load()
    try:
        runtime.check_port(s.host, s.port)
        api, _, ctx = create_app(s)
    except runtime.StartupError as e:
        print("LLM Studio cannot start: " + TEXT[e.key][0].format(**e.params), file=sys.stderr)
        return 2
    for n in ctx.notices:
        print("warning: " + TEXT[n.key][0].format(**n.params), flush=True)
    if not defaults.default_model_ready(s):  # a new data root on a machine set up elsewhere
        print("preparing the default model (once per data root, about a minute)", flush=True)
        defaults.prepare_default_model(s)
    print(f"LLM Studio on http://{s.host}:{s.port}  (data root: {s.home})", flush=True)
    uvicorn.run(api, host=s.host, port=s.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())

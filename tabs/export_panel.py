"""The Train tab's "Export for llama.cpp and Ollama" panel: a merged run as a GGUF file, checked
against the model it came from, with an Ollama Modelfile beside it and the commands to run both."""
from __future__ import annotations

import gradio as gr

from studio import runtimes
from studio.jobs import JobError
from tabs.context import KEEP, Ctx, Problem, user
from tabs.i18n import L, msg, said, status


def build(ctx: Ctx, run) -> dict:
    with gr.Accordion(L("gguf_title"), open=False):
        gr.Markdown(L("gguf_intro"))
        with gr.Row():
            outtype = gr.Dropdown(choices=[(L("gguf_q8"), "q8_0"), (L("gguf_f16"), "f16"), ("bf16", "bf16"),
                                           ("f32", "f32")], value="q8_0", label=L("gguf_type"), scale=2)
            go = gr.Button(L("gguf_start"), scale=1)
        state = gr.Markdown()
        files = gr.File(label=L("gguf_files"), file_count="multiple", interactive=False, visible=False)
        seen = gr.State("")

    def latest(job_id):
        found = [j for j in ctx.store.list(kind="gguf") if j.spec.get("train_job") == job_id] if job_id else []
        return ctx.store.refresh(found[0]) if found else None

    def show(job_id, last, request: gr.Request):
        job = latest(job_id)
        key = f"{job.id}:{job.status}" if job else ""
        if key == last:
            return gr.update(), gr.update(), last
        if job is None:
            return "", gr.update(visible=False, value=None), key
        head = f"**{job.name}** · {status(request, job.status)}"
        found = runtimes.result(job) if job.status == "succeeded" else None
        if found is None:
            why = f"\n\n```\n{job.log_tail(1500)}\n```" if job.status in ("failed", "lost") else ""
            return head + why, gr.update(visible=False, value=None), key
        text = head + "\n\n" + msg(request, "gguf_done", same=found["same_tokens"] * 100,
                                   mib=found["bytes"] / 2**20, gguf=found["gguf"], modelfile=found["modelfile"],
                                   folder=found["gguf"].rsplit("/", 1)[0], name=found["file"].rsplit("-", 1)[0].lower())
        small = found["bytes"] <= ctx.s.download_max_mib << 20  # a bigger one is named by its path above
        return text, gr.update(visible=True, value=[found["gguf"]] * small + [found["modelfile"]]), key

    def start(job_id, kind, last, request: gr.Request):
        try:
            runtimes.start(ctx.s, ctx.store, job_id or "", kind or "q8_0", user=user(request))
        except (runtimes.LocalExportError, JobError) as e:
            raise Problem(said(request, e))
        return show(job_id, "", request)

    go.click(start, [run, outtype, seen], [state, files, seen], api_name="export_gguf", show_progress=KEEP)
    run.change(show, [run, seen], [state, files, seen], api_name=False)
    gr.Timer(3.0).tick(show, [run, seen], [state, files, seen], api_name="export_gguf_status",
                       show_progress="hidden")
    return {}

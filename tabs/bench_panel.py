"""Benchmark panel (inside the Deploy tab): run studio/servebench.py as a job and show what
batching and prefix caching buy on this machine, beside what the primer claims."""
from __future__ import annotations

import gradio as gr

from studio import owners, servebench
from tabs.context import Ctx, Problem, user
from tabs.i18n import L, msg, said, status


def _latest(ctx: Ctx):
    jobs = ctx.store.list(kind="bench")
    return ctx.store.refresh(jobs[0]) if jobs else None


def _runs(r: dict, key: str, fmt: str) -> str:
    xs = r.get(key) or []
    return f"{format(min(xs), fmt)}–{format(max(xs), fmt)}× · " if len(xs) > 1 else ""


def table(request, r: dict) -> str:
    rows = [
        (msg(request, "b_vs_single"), f"**{r['vs_single']:.1f}×** ({_runs(r, 'vs_single_runs', '.1f')}"
         f"{r['vllm_tps']:.0f} vs {r['hf_single_tps']:.0f} tokens/s)", msg(request, "claim_single")),
        (msg(request, "b_vs_batched"), f"**{r['vs_batched']:.1f}×** ({_runs(r, 'vs_batched_runs', '.2f')}"
         f"{r['vllm_tps']:.0f} vs {r['hf_batched_tps']:.0f} tokens/s)", msg(request, "claim_batched")),
        (msg(request, "b_prefix", n=r.get("prefix_tokens", "?")), f"**{r['prefix_speedup']:.1f}×** ({r['ttft_off_ms']:.0f} → "
         f"{r['ttft_on_ms']:.0f} ms)", msg(request, "claim_prefix")),
    ]
    head = msg(request, "b_head", n=r["prompts"], t=r["tokens"], dev=r["device"])
    if r.get("repeats", 1) > 1:
        head += " " + msg(request, "b_repeats", k=r["repeats"])
    lines = [head, "", msg(request, "b_cols"), "|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} |" for a, b, c in rows])


def view(ctx: Ctx, request: gr.Request | None = None) -> str:
    job = _latest(ctx)
    if job is None:
        return msg(request, "b_none")
    r = servebench.result(job)
    if r:
        return table(request, r)
    text = msg(request, "m_status", status=status(request, job.status))
    if job.error:
        text += " · " + msg(request, "m_error", e=job.error)
    return text + "\n\n```\n" + job.log_tail(800) + "\n```"


def build(ctx: Ctx) -> None:
    gr.Markdown(L("b_intro"))
    with gr.Row():
        prompts = gr.Number(value=64, precision=0, minimum=1, maximum=256, label=L("b_prompts"))
        tokens = gr.Number(value=64, precision=0, minimum=1, maximum=1024, label=L("b_tokens"))
        go = gr.Button(L("b_run"), variant="primary")
        cancel = gr.Button(L("cancel"))
    out = gr.Markdown()
    timer = gr.Timer(3.0)

    def run(p, t, request: gr.Request):
        try:
            servebench.launch(ctx.s, ctx.store, int(p or 64), int(t or 64), user=user(request))
        except ValueError as e:
            raise Problem(said(request, e))
        return view(ctx, request)

    def stop(request: gr.Request):
        job = _latest(ctx)
        if job is not None:
            try:
                owners.check_job(ctx.s, job, user(request), "cancel")
            except owners.NotAllowed as e:
                raise Problem(said(request, e))
            ctx.store.cancel(job.id, grace=60)  # it stops its own servers on the way out
        return view(ctx, request)

    def show(request: gr.Request):
        return view(ctx, request)

    go.click(run, [prompts, tokens], out, api_name="benchmark")
    cancel.click(stop, None, out, api_name="cancel_benchmark")
    timer.tick(show, None, out, api_name="benchmark_status", show_progress="hidden")
    ctx.demo.load(show, None, out)

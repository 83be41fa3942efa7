"""The Train tab's "Evaluate this run" panel: loss, perplexity, BLEU-4 and ROUGE on held-out rows,
and optionally a judge model's grades with an editable rubric; the run's latest scores shown."""
from __future__ import annotations

import gradio as gr

from studio import datasets, evaluate, serving
from studio.jobs import JobError
from tabs.charts import table
from tabs.context import KEEP, Ctx, Problem, user
from tabs.i18n import L, msg, said, status

HELD_OUT = ""  # the dataset choice that means the run's own held-out split
EXTERNAL = "external"
SAMPLE_COLUMNS = ["question", "reference", "answer", "score", "reason"]


def _judges(ctx: Ctx) -> list[tuple[str, str]]:
    return [(f"{m} · {job.name}", f"{job.id}|{m}") for job in serving.running(ctx.store)
            for m in serving.served_models(job)] + [(L("external_target"), EXTERNAL)]


def summary(request, job, scores: dict | None, progress: dict) -> str:
    head = f"**{job.name}** · {status(request, job.status)}"
    if scores is None:
        if job.status in ("queued", "running"):
            return head + " · " + msg(request, "ev_phase_" + progress.get("phase", "starting"),
                                      done=progress.get("done", 0), total=progress.get("total", 0))
        return head + (f"\n\n{job.error}" if job.error else "")
    parts = [f"{k} **{scores[k]:.3f}**" for k in ("eval_loss", "perplexity", "bleu-4", "rouge-1", "rouge-l")
             if isinstance(scores.get(k), (int, float))]
    judged = scores.get("judge") or {}
    if judged.get("mean") is not None:
        parts.append(msg(request, "ev_judged", mean=judged["mean"], model=judged["model"], n=judged["graded"]))
    return head + " · " + msg(request, "ev_rows", n=scores["rows"]) + "\n\n" + " · ".join(parts)


def build(ctx: Ctx, run) -> dict:
    with gr.Accordion(L("evaluate_run"), open=False):
        with gr.Row():
            data = gr.Dropdown(choices=[(L("ev_held_out"), HELD_OUT)] + datasets.list_names(ctx.s), value=HELD_OUT,
                               label=L("ev_dataset"), allow_custom_value=True, scale=3)
            rows = gr.Number(value=20, precision=0, minimum=1, label=L("ev_rows_max"), scale=1)
            new_tokens = gr.Number(value=96, precision=0, minimum=8, label=L("ev_new_tokens"), scale=1)
        use_judge = gr.Checkbox(value=False, label=L("ev_use_judge"))
        with gr.Group(visible=False) as judge_box:
            with gr.Row():
                judge = gr.Dropdown(choices=_judges(ctx), label=L("ev_judge"), allow_custom_value=True, scale=2)
                url = gr.Textbox(label=L("ext_url"), placeholder="https://api.example.com/v1", scale=2)
                model = gr.Textbox(label=L("ext_model"), scale=1)
                key = gr.Textbox(label=L("ext_key"), type="password", scale=1)
            rubric = gr.Textbox(value=evaluate.RUBRIC, lines=3, label=L("ev_rubric"))
        go = gr.Button(L("ev_start"), variant="primary")
        result = gr.Markdown()
        samples = gr.Dataframe(headers=SAMPLE_COLUMNS, interactive=False, wrap=True, visible=False,
                               column_widths=["22%", "22%", "28%", "8%", "20%"])

    def start(job_id, dataset, n, tokens, judged, choice, u, m, k, r, request: gr.Request):
        try:
            j = None
            if judged:
                j = (evaluate.Judge(u.strip().rstrip("/"), (m or "").strip(), k or "", r or "") if choice == EXTERNAL
                     else evaluate.deployed_judge(ctx.store, choice or "", r or ""))
            job = evaluate.start(ctx.s, ctx.store, job_id or "", dataset or HELD_OUT, int(n or 0), int(tokens or 0),
                                 j, user=user(request))
        except (evaluate.EvalError, JobError, ValueError) as e:
            raise Problem(said(request, e))
        gr.Info(msg(request, "ev_started", name=job.name))
        return show(job_id, request)

    def show(job_id, request: gr.Request, seen=None):
        """The run's newest evaluation: its progress, or its scores and every graded answer; nothing
        new when it has not changed since the page last saw it (seen), so a table being read stays put."""
        found = evaluate.runs_evaluations(ctx.store, job_id) if job_id else []
        if not found:
            return msg(request, "ev_none"), gr.update(visible=False), ""
        job = found[0]
        state = f"{job.id}:{job.status}:{sorted(evaluate.progress(job).items())}"
        if state == seen:
            return gr.update(), gr.update(), seen
        scores = evaluate.scores(job) if job.status == "succeeded" else None
        text = summary(request, job, scores, evaluate.progress(job))
        if not scores:
            return text, gr.update(visible=False), state
        rows = [[x["question"], x["reference"], x["answer"], x.get("score", ""), x.get("reason", "")]
                for x in scores["samples"]]
        return text, table(request, rows, SAMPLE_COLUMNS, visible=True), state

    def judge_on(on):
        return gr.update(visible=on), gr.update(choices=_judges(ctx))  # deployments come and go

    use_judge.change(judge_on, use_judge, [judge_box, judge], api_name=False)
    seen = gr.State("")
    go.click(start, [run, data, rows, new_tokens, use_judge, judge, url, model, key, rubric],
             [result, samples, seen], api_name="evaluate_run", show_progress=KEEP)
    run.change(show, run, [result, samples, seen], api_name=False)
    gr.Timer(3.0).tick(show, [run, seen], [result, samples, seen], api_name="evaluation", show_progress="hidden")

    def datasets_now(current):
        return gr.update(choices=[(L("ev_held_out"), HELD_OUT)] + datasets.list_names(ctx.s), value=current)

    return {"eval_refresh": (datasets_now, data)}

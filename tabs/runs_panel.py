"""The Train tab's "Compare runs" panel: two to four runs' curves on one chart, their settings
with the differences marked, final figures and scores, and their answers to the same prompts."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from studio import evaluate, runs
from studio.jobs import JobError
from tabs.charts import plot, table
from tabs.context import KEEP, Ctx, Problem, user
from tabs.i18n import L, msg, said, status


def _choices(ctx: Ctx, request=None) -> list[tuple[str, str]]:
    return [(f"{j.name} · {status(request, j.status)}", j.id) for j in ctx.store.list(kind="train")]


def _marked(rows: list[dict], names: list[str], key: str, request) -> gr.update:
    """Rows of {key, values}; a setting that differs between the runs is highlighted."""
    head = msg(request, "h_" + key)

    def name(r):  # a figure's name in the page's language; a setting keeps the YAML's name
        return msg(request, "rf_" + r[key]) if key == "figure" else r[key]

    def value(r, v):  # as text: a styled frame would print 0.0005 as 0.000500
        if r.get(key) == "status":
            return status(request, v)
        return msg(request, "ev_held_out") if r.get(key) == "scored on" and v == evaluate.HELD_OUT else str(v)

    frame = pd.DataFrame([[name(r), *[value(r, v) for v in r["values"]]] for r in rows], columns=[head, *names])
    if key != "setting":
        return frame
    differs = [r["differs"] for r in rows]
    return frame.style.apply(lambda row: ["background-color: #fde68a" if differs[row.name] else ""] * len(row),
                             axis=1)


def build(ctx: Ctx) -> dict:
    with gr.Accordion(L("compare_runs"), open=False):
        with gr.Row():
            picked = gr.Dropdown(choices=_choices(ctx), multiselect=True, max_choices=4, label=L("runs_to_compare"),
                                 allow_custom_value=True, scale=4)
            go = gr.Button(L("compare_btn"), scale=1)
        # Shown once there is a comparison: an empty chart or table says nothing.
        chart = gr.LinePlot(None, x="step", y="loss", color="series", label=L("runs_curves"), visible=False)
        figures = gr.Dataframe(interactive=False, wrap=True, label=L("runs_figures"), visible=False)
        settings = gr.Dataframe(interactive=False, wrap=True, label=L("runs_settings"), visible=False,
                                max_height=360)
        prompts = gr.Textbox(lines=2, label=L("prompts"), value="How long is the warranty?\n退货期限是多少天？")
        ask = gr.Button(L("runs_answer"))
        asked = gr.State(None)
        answered = gr.Dataframe(interactive=False, wrap=True, visible=False)

    def compare(ids, request: gr.Request):
        try:
            jobs = runs.pick(ctx.store, ids or [])
        except runs.RunsError as e:
            raise Problem(said(request, e))
        names = [runs.short(j.name) for j in jobs]
        lines = [{**c, "series": f"{c['run']} · {msg(request, 'c_' + c['kind'])}"} for c in runs.curves(jobs)]
        return ({**plot(request, lines, "step", "loss", "series"), "visible": True},
                gr.update(value=_marked(runs.settings(jobs), names, "setting", request), visible=True),
                gr.update(value=_marked(runs.finals(ctx.store, jobs), names, "figure", request), visible=True))

    def answer(ids, text, request: gr.Request):
        try:
            job = runs.answer(ctx.s, ctx.store, ids or [], (text or "").splitlines(), user=user(request))
        except (runs.RunsError, JobError) as e:
            raise Problem(said(request, e))
        gr.Info(msg(request, "m_runs_answering"))
        return job.id

    def answers_view(job_id, request: gr.Request):
        job = ctx.store.get(job_id) if job_id else None
        if job is None or ctx.store.refresh(job).status in ("queued", "running"):
            return gr.update()
        rows = runs.answers(ctx.store.get(job_id))
        if rows is None:
            return table(request, [["-", ctx.store.get(job_id).error or "failed"]], ["prompt", "base"], visible=True)
        cols = list(rows[0])
        wide = f"{84 // (len(cols) - 1)}%"  # the prompt narrow, every answer the same width
        return table(request, [[r[c] for c in cols] for r in rows], cols, visible=True,
                     column_widths=["16%"] + [wide] * (len(cols) - 1))

    def refresh(current, request: gr.Request):
        choices = _choices(ctx, request)
        return gr.update(choices=choices, value=[c for c in current or [] if c in {v for _, v in choices}])

    go.click(compare, picked, [chart, settings, figures], api_name="compare_runs", show_progress=KEEP)
    ask.click(answer, [picked, prompts], asked, api_name="compare_runs_answers", show_progress=KEEP)
    timer = gr.Timer(2.0)
    timer.tick(answers_view, asked, answered, api_name=False, show_progress="hidden")
    return {"runs_refresh": (refresh, picked)}

"""Evaluation panel (inside the Knowledge tab): a labelled set run through dense, BM25 and hybrid
search, recall@k and MRR side by side."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import kbeval, knowledge
from studio.kbreaders import decode
from tabs import charts
from tabs.context import Ctx, Problem
from tabs.i18n import L, msg, said

KS = (1, 3, 5)


def build(ctx: Ctx, base: gr.Dropdown) -> None:
    gr.Markdown(L("k_eval_intro"))
    with gr.Row():
        en = gr.Button(L("k_sample_en"), size="sm")
        zh = gr.Button(L("k_sample_zh"), size="sm")
        upload = gr.UploadButton(L("k_eval_upload"), file_types=[".jsonl", ".json", ".csv"], size="sm")
    labelled = gr.Code(label=L("k_eval_set"), language=None, lines=8, max_lines=16, interactive=True)
    run = gr.Button(L("k_eval_run"), variant="primary")
    learned = gr.State(None)  # the dense share the last evaluation found best
    with gr.Row():
        use = gr.Button(L("k_use_learned"), size="sm", visible=False)
        auto = gr.Button(L("k_auto_weights"), size="sm", visible=False)
    weights_said = gr.Markdown()
    scores = gr.Dataframe(headers=["search", *[f"recall@{k}" for k in KS], "MRR"], interactive=False,
                          label=L("k_eval_scores"), visible=False)  # shown once filled, headers translated
    per_question = gr.Dataframe(headers=["question", "document", "hybrid", "dense", "BM25"],
                                interactive=False, wrap=True, label=L("k_eval_ranks"),
                                column_widths=["46%", "24%", "10%", "10%", "10%"], visible=False)

    def sample(lang, request):
        try:
            name, text = kbeval.load_sample(ctx.kb, lang)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        return gr.update(choices=[b.name for b in ctx.kb.bases()], value=name), text

    def sample_en(request: gr.Request):
        return sample("en", request)

    def sample_zh(request: gr.Request):
        return sample("zh", request)

    def read_upload(f):
        return decode(Path(f).read_bytes()) if f else ""

    def do_run(name, text, request: gr.Request):
        try:
            items = kbeval.parse(text)
            res = kbeval.evaluate(ctx.kb, items, name, ks=KS)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        share = res.get("learned", {}).get("dense")
        label = {"hybrid": msg(request, "mode_hybrid") + " (RRF)", "dense": msg(request, "mode_dense"),
                 "sparse": "BM25", "rerank": msg(request, "mode_hybrid") + " + rerank",
                 "learned": msg(request, "k_learned", share=share if share is not None else 0)}
        table = [[label[m], *[round(r[f"recall@{k}"], 3) for k in KS], round(r["mrr"], 3)]
                 for m, r in res.items()]
        ranks = [[it.question, it.document, *[r["ranks"][i] or "-" for r in res.values()]]
                 for i, it in enumerate(items)]
        short = {**label, "learned": msg(request, "k_learned_short", share=share if share is not None else 0)}
        cols = ["question", "document", *[short[m] for m in res]]
        widths = ["40%", "22%", *[f"{38 // len(res)}%"] * len(res)]  # a column per search, the reranked one too
        return (charts.table(request, table, ["search", *[f"recall@{k}" for k in KS], "MRR"], visible=True),
                charts.table(request, ranks, cols, column_widths=widths, visible=True), share,
                gr.update(visible=share is not None), gr.update(visible=share is not None), current(name, request))

    def current(name, request):
        """What this base's hybrid search fuses with now, in the page's language."""
        try:
            d = ctx.kb.base(name).fusion_dense
        except knowledge.KnowledgeError:
            return ""
        return msg(request, "k_weights_now_auto") if d is None else msg(request, "k_weights_now", share=d)

    def set_weights(name, share, request):
        try:
            ctx.kb.set_fusion(name, share)
        except knowledge.KnowledgeError as e:
            raise Problem(said(request, e))
        return current(name, request)

    def do_use(name, share, request: gr.Request):
        if share is None:
            raise Problem(msg(request, "m_eval_first"))
        return set_weights(name, share, request)

    def do_auto(name, request: gr.Request):
        return set_weights(name, None, request)

    en.click(sample_en, None, [base, labelled], api_name="eval_sample_en")
    zh.click(sample_zh, None, [base, labelled], api_name="eval_sample_zh")
    upload.upload(read_upload, upload, labelled, api_name=False)
    run.click(do_run, [base, labelled], [scores, per_question, learned, use, auto, weights_said],
              api_name="evaluate")
    use.click(do_use, [base, learned], weights_said, api_name="use_learned_weights")
    auto.click(do_auto, base, weights_said, api_name="automatic_weights")

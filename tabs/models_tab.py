"""Models tab: choose the active model (local, or downloaded from the hub) and read its facts."""
from __future__ import annotations

import gradio as gr

from studio import models
from tabs.context import Ctx
from tabs.i18n import L, msg, zh

FACT_ROWS = [  # (key in facts, English, Chinese)
    ("parameters", "Parameters", "参数量"), ("layers", "Layers", "层数"),
    ("hidden_size", "Hidden size", "隐藏维度"), ("attention_heads", "Attention heads", "注意力头数"),
    ("kv_heads", "KV heads (GQA when fewer than attention heads)", "KV 头数（少于注意力头即为 GQA）"),
    ("context_length", "Context length", "上下文长度"), ("vocab_size", "Vocabulary", "词表大小"),
    ("experts", "Experts (MoE)", "专家数（MoE）"), ("template", "Chat template (LLaMA-Factory)", "对话模板（LLaMA-Factory）"),
]


def facts_markdown(ctx: Ctx, request: gr.Request | None = None) -> str:
    path = models.active_model(ctx.s)
    try:
        f = models.facts(path)
    except models.ModelError as e:
        return msg(request, "m_error", e=e)
    lines = [msg(request, "m_active", name=f["name"]), "", f"`{path}`", "",
             f"| {msg(request, 'm_fact')} | {msg(request, 'm_value')} |", "|---|---|"]
    for key, en, cn in FACT_ROWS:
        val = f.get(key)
        if val is None:
            continue
        if key == "parameters":
            val = f"{models.human_count(val)} ({val:,}{'' if f['parameters_exact'] else ', est.'})"
        lines.append(f"| {cn if zh(request) else en} | {val} |")
    return "\n".join(lines)


def _choices(ctx: Ctx) -> list[tuple[str, str]]:
    return [(p.name, str(p)) for p in models.local_models(ctx.s)]


def build(ctx: Ctx) -> dict:
    with gr.Row():
        with gr.Column(scale=1):
            local = gr.Dropdown(choices=_choices(ctx), value=str(models.active_model(ctx.s)),
                                label=L("local_models"), allow_custom_value=True)
            use = gr.Button(L("use_model"), variant="primary")
            folder = gr.Textbox(label=L("folder_path"), placeholder="/path/to/model")
            use_folder = gr.Button(L("use_folder"))
        with gr.Column(scale=2):
            facts = gr.Markdown()
    with gr.Accordion(L("catalog"), open=False):
        gr.Dataframe(value=[[e.family, e.size, e.repo_id, e.template] for e in models.CATALOG],
                     headers=["family", "size", "hub id", "template"], interactive=False)
        with gr.Row():
            hub_id = gr.Textbox(label=L("hub_id"), placeholder="Qwen/Qwen2.5-0.5B-Instruct", scale=3)
            download = gr.Button(L("download"), scale=1)
        download_status = gr.Markdown()

    def activate(path, request: gr.Request):
        try:
            models.set_active(ctx.s, path)
        except models.ModelError as e:
            raise gr.Error(str(e))
        return gr.update(choices=_choices(ctx), value=str(models.active_model(ctx.s))), \
            facts_markdown(ctx, request)

    def fetch(repo_id, request: gr.Request):
        if not (repo_id or "").strip():
            raise gr.Error("Type a hub model id such as Qwen/Qwen2.5-0.5B-Instruct.")
        try:
            path = models.download(ctx.s, repo_id.strip())
        except models.ModelError as e:
            return gr.update(), msg(request, "m_error", e=e)
        return gr.update(choices=_choices(ctx), value=str(path)), f"`{path}`"

    def show_facts(request: gr.Request):
        return facts_markdown(ctx, request)

    ctx.demo.load(show_facts, None, facts)
    use.click(activate, local, [local, facts], api_name="use_model")
    use_folder.click(activate, folder, [local, facts], api_name="use_model_folder")
    download.click(fetch, hub_id, [local, download_status], api_name="download_model")
    return {"active_model_facts": facts, "model_choice": local}

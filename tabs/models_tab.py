"""Models tab: choose the active model (local, or downloaded from the hub), read its facts, and
estimate whether a configuration fits in memory before pressing anything."""
from __future__ import annotations

import gradio as gr

from studio import estimate, models
from studio.models import support
from tabs.context import KEEP, Ctx, Problem, user
from tabs.i18n import L, msg, said, zh

# (key in facts, English label, Chinese label, English why, Chinese why)
FACT_ROWS = [
    ("parameters", "Parameters", "参数量", "every weight the model stores", "模型存储的全部权重数"),
    ("active_parameters", "Active per token", "每个 token 激活的参数",
     "MoE: only the chosen experts run for each token", "MoE 模型每个 token 只运行被选中的专家"),
    ("layers", "Layers", "层数", "stacked decoder blocks", "堆叠的解码器层"),
    ("attention_heads", "Attention heads", "注意力头数", "query heads per layer", "每层的查询头数"),
    ("kv_heads", "KV heads", "KV 头数", "fewer than attention heads = GQA: a smaller KV cache",
     "少于注意力头即为 GQA：KV 缓存更小"),
    ("kv_cache", "KV cache per token (bf16)", "每个 token 的 KV 缓存（bf16）",
     "memory each generated or prompt token holds while serving", "推理时每个 token 占用的显存"),
    ("context_length", "Context length", "上下文长度", "the longest input it was built for", "模型支持的最长输入"),
    ("vocab_size", "Vocabulary", "词表大小", "tokens it can read and write", "可读写的 token 种类数"),
    ("experts", "Experts (MoE)", "专家数（MoE）", "routed experts per MoE layer", "每个 MoE 层的路由专家数"),
    ("template", "Chat template", "对话模板", "LLaMA-Factory's template for training", "训练时使用的 LLaMA-Factory 模板"),
]
METHOD_LABELS = [("Inference (serving)", "inference"), ("LoRA", "lora"), ("QLoRA 4-bit", "qlora"),
                 ("Full fine-tune, bf16 AdamW", "full_bf16"),
                 ("Full fine-tune, fp32-master AdamW", "full_fp32")]


def _mib(n: float) -> str:
    return f"{n / estimate.GIB:.2f} GiB" if n >= estimate.GIB / 10 else f"{n / 2**20:.1f} MiB"


def support_rows(v: support.Verdict, request: gr.Request | None) -> list[str]:
    """The table's rows that say whether this installation can train and serve the model."""
    def said_of(ok, yes_key, why):
        if ok is None:
            return msg(request, "v_unchecked", why=said(request, why))
        return msg(request, yes_key) if ok else msg(request, "v_no", why=said(request, why))

    serve_yes = "v_yes_lora" if v.lora else "v_yes"
    serving = said_of(v.serve, serve_yes, v.serve_why)
    if v.serve and v.lora is False:  # served, but adapters are refused: say why
        serving += " · " + said(request, v.serve_why)
    return [f"| {msg(request, 'f_train_here')} | {said_of(v.train, 'v_yes', v.train_why)} | "
            f"{msg(request, 'w_train_here')} |",
            f"| {msg(request, 'f_serve_here')} | {serving} | {msg(request, 'w_serve_here')} |"]


def facts_markdown(f: dict, header: str, request: gr.Request | None = None,
                   verdict: support.Verdict | None = None, note=None) -> str:
    cn = zh(request)
    lines = [header, "", f"| {msg(request, 'm_fact')} | {msg(request, 'm_value')} | |", "|---|---|---|"]
    for key, en, zh_label, why_en, why_zh in FACT_ROWS:
        val = f.get(key)
        if key == "parameters":
            val = f"{models.human_count(val)} ({val:,}{'' if f['parameters_exact'] else '*'})"
        elif key == "active_parameters":
            val = models.human_count(val) if f.get("experts") else None
        elif key == "kv_cache" and f.get("kv_cache_per_token"):
            kv, mha = f["kv_cache_per_token"], f["kv_cache_per_token_mha"]
            val = f"{kv / 1024:.1f} KiB" + (f" ({mha / kv:.1f}x {'小于 MHA' if cn else 'less than MHA'})"
                                            if mha > kv else "")
        elif key == "experts" and val:
            val = f"{val} ({f.get('experts_per_token')} / token)"
        if val is None:
            continue
        lines.append(f"| {zh_label if cn else en} | {val} | {why_zh if cn else why_en} |")
    if verdict is not None:
        lines += support_rows(verdict, request)
    if note:
        lines.append("\n" + msg(request, "m_note", note=said(request, note)))
    if not f["parameters_exact"]:
        lines.append("\n\\* " + msg(request, "m_from_config"))
    return "\n".join(lines)


def active_facts(ctx: Ctx, request: gr.Request | None = None) -> str:
    path = models.active_model(ctx.s, user(request))
    try:
        f = models.facts(path)
        v = support.verdict(ctx.s, models.read_config(path), f["template"])
    except models.ModelError as e:
        return msg(request, "m_error", e=said(request, e))
    entry = models.entry(path.name)
    return facts_markdown(f, msg(request, "m_active", name=f["name"]) + f"\n\n`{path}`", request, v,
                          entry.note if entry else None)


def estimate_markdown(cfg: dict, method, rank, targets, batch, seq, ckpt, gpu_gib,
                      request: gr.Request | None = None) -> str:
    est = estimate.estimate(cfg, method, int(rank), targets or "all", int(batch), int(seq),
                            bool(ckpt))
    lines = [f"| {msg(request, 'm_part')} | {msg(request, 'm_memory')} |", "|---|---|"]
    for part, n in est["parts"].items():
        if n:
            lines.append(f"| {msg(request, 'p_' + part)} | {_mib(n)} |")
    lines.append(f"| **{msg(request, 'm_total')}** | **{_mib(est['total'])}** |")
    if method in ("lora", "qlora"):
        lines += ["", f"`{estimate.peft_line(est)}`"]
    if gpu_gib:
        fits = est["total"] <= float(gpu_gib) * estimate.GIB
        lines += ["", msg(request, "m_fits" if fits else "m_no_fit", need=_mib(est["total"]),
                          have=f"{float(gpu_gib):.0f} GiB")]
    return "\n".join(lines)


def build(ctx: Ctx) -> dict:
    gpu = models.detect_gpu()
    catalog_choices = [(f"{e.family} {e.size} · {e.repo_id}", e.repo_id) for e in models.CATALOG]
    with gr.Row():
        with gr.Column(scale=1):
            local = gr.Dropdown(choices=_choices(ctx), value=str(models.active_model(ctx.s)),
                                label=L("local_models"), allow_custom_value=True)
            use = gr.Button(L("use_model"), variant="primary")
            folder = gr.Textbox(label=L("folder_path"), placeholder="/path/to/model")
            use_folder = gr.Button(L("use_folder"))
            catalog = gr.Dropdown(choices=catalog_choices, label=L("catalog"),
                                  value=models.CATALOG[0].repo_id, allow_custom_value=True)
            with gr.Row():
                inspect = gr.Button(L("inspect"))
                download = gr.Button(L("download"))
            download_status = gr.Markdown()
        with gr.Column(scale=2):
            facts = gr.Markdown()
    with gr.Accordion(L("fit_title"), open=True):
        with gr.Row():
            method = gr.Dropdown(choices=METHOD_LABELS, value="lora", label=L("method"))
            rank = gr.Number(value=8, precision=0, minimum=1, label=L("lora_rank"))
            targets = gr.Textbox(value="all", label=L("lora_target"))
            batch = gr.Number(value=1, precision=0, minimum=1, label=L("batch"))
            seq = gr.Number(value=1024, precision=0, minimum=16, label=L("seq_len"))
            ckpt = gr.Checkbox(value=True, label=L("grad_ckpt"))
            gpu_gib = gr.Number(value=round(gpu[1]) if gpu else 24, minimum=1, label=L("gpu_gib"),
                                info=f"{gpu[0]}" if gpu else None)
        with gr.Row():
            which = gr.Radio(choices=[(L("est_active"), "active"), (L("est_catalog"), "catalog")],
                             value="active", label=L("estimate_for"))
            run_est = gr.Button(L("estimate"), variant="primary")
        est_out = gr.Markdown()

    def activate(path, request: gr.Request):
        try:
            models.set_active(ctx.s, path, user(request))  # this user's choice, not everyone's
        except models.ModelError as e:
            raise Problem(said(request, e))
        return gr.update(choices=_choices(ctx), value=str(models.active_model(ctx.s, user(request)))), \
            active_facts(ctx, request)

    def catalog_facts(repo_id, request: gr.Request):
        entry = models.entry(repo_id)
        try:
            cfg = models.catalog_config(repo_id)
            f = models.facts(cfg=cfg, name=repo_id)
        except models.ModelError as e:
            raise Problem(said(request, e))
        if entry:
            f["template"] = entry.template
        return facts_markdown(f, f"**{repo_id}** · {msg(request, 'm_not_downloaded')}", request,
                              support.verdict(ctx.s, cfg, f["template"]), entry.note if entry else None)

    def fetch(repo_id, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        progress(0, desc=repo_id)  # huggingface_hub's own progress bars drive it from here on
        try:
            path = models.download(ctx.s, (repo_id or "").strip())
        except models.ModelError as e:
            return gr.update(), msg(request, "m_error", e=said(request, e))
        ctx.store.set_owner("model", path.name, user(request))
        return gr.update(choices=_choices(ctx), value=str(path)), f"`{path}`"

    def do_estimate(target, repo_id, m, r, t, b, sq, ck, g, request: gr.Request):
        try:
            cfg = (models.catalog_config(repo_id) if target == "catalog"
                   else models.read_config(models.active_model(ctx.s, user(request))))
            return estimate_markdown(cfg, m, r or 1, t, b or 1, sq or 16, ck, g, request)
        except (models.ModelError, ValueError, KeyError) as e:
            raise Problem(said(request, e))

    def show_facts(request: gr.Request):
        return active_facts(ctx, request)

    def show_mine(request: gr.Request):
        return gr.update(choices=_choices(ctx), value=str(models.active_model(ctx.s, user(request))))

    ctx.demo.load(show_facts, None, facts)
    ctx.demo.load(show_mine, None, local)
    use.click(activate, local, [local, facts], api_name="use_model", show_progress=KEEP)
    use_folder.click(activate, folder, [local, facts], api_name="use_model_folder", show_progress=KEEP)
    inspect.click(catalog_facts, catalog, facts, api_name="catalog_facts")
    download.click(fetch, catalog, [local, download_status], api_name="download_model", show_progress=KEEP)
    run_est.click(do_estimate, [which, catalog, method, rank, targets, batch, seq, ckpt, gpu_gib],
                  est_out, api_name="estimate_memory")
    return {"active_model_facts": facts, "model_choice": local}


def _choices(ctx: Ctx) -> list[tuple[str, str]]:
    return [(p.name, str(p)) for p in models.local_models(ctx.s)]

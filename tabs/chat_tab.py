"""Chat tab: stream answers from any running deployment (base or adapter) or an external
OpenAI-compatible endpoint, optionally grounded in the knowledge base; export the conversation."""
from __future__ import annotations

import time

import gradio as gr

from studio import chat, serving, sources
from tabs import compare_panel, rag_plus_panel
from tabs.context import Ctx, Problem
from tabs.i18n import L, msg, said, zh
from tabs.jobs_view import ready_deployment

EXTERNAL = "external"


def _model_choices(ctx: Ctx) -> list[tuple[str, str]]:
    """Every model of every running deployment, as (label, "job id|model"), then external."""
    return [(f"{m} · {job.name}", f"{job.id}|{m}") for job in serving.running(ctx.store)
            for m in serving.served_models(job)] + [(L("external_target"), EXTERNAL)]


def build(ctx: Ctx) -> dict:
    with gr.Row():
        model = gr.Dropdown(choices=_model_choices(ctx), label=L("chat_model"), scale=3,
                            allow_custom_value=True)
        rag = gr.Checkbox(value=True, label=L("use_rag"), scale=1)
        kb_pick = gr.Dropdown(choices=[b.name for b in ctx.kb.bases()], value=ctx.kb.bases()[0].name,
                              label=L("k_base"), allow_custom_value=True, scale=1)
        refresh = gr.Button(L("refresh"), scale=1)
    with gr.Row(visible=False) as ext_row:
        ext_url = gr.Textbox(label=L("ext_url"), placeholder="https://api.example.com/v1", scale=3)
        ext_key = gr.Textbox(label=L("ext_key"), type="password", scale=2)
        ext_model = gr.Dropdown(choices=[], label=L("ext_model"), allow_custom_value=True, scale=2)
        ext_list = gr.Button(L("ext_list"), scale=1)
    with gr.Accordion(L("chat_settings"), open=False):
        system = gr.Textbox(label=L("system_prompt"), value=chat.SYSTEM, lines=2)
        with gr.Row():
            temperature = gr.Slider(0, 2, value=ctx.s.chat_temperature, step=0.05, label=L("temperature"))
            top_p = gr.Slider(0.05, 1, value=1.0, step=0.05, label="top-p")
            max_tokens = gr.Number(value=ctx.s.chat_max_tokens, precision=0, minimum=1,
                                   label=L("max_tokens"))
    bot = gr.Chatbot(height=420, label=L("tab_chat"), show_label=False)
    with gr.Row():
        box = gr.Textbox(label=L("message"), scale=5, lines=1)
        send = gr.Button(L("send"), variant="primary", scale=1)
        stop = gr.Button(L("stop"), variant="stop", scale=1)
    with gr.Row():
        regen = gr.Button(L("regenerate"))
        clear = gr.Button(L("clear"))
        export = gr.Button(L("export_chat"))
    exported = gr.File(label=L("download_file"), file_count="multiple", interactive=False)
    speed = gr.Markdown()
    with gr.Accordion(L("compare_title"), open=False):
        side_by_side = compare_panel.build(ctx, kb_pick)
    with gr.Accordion(L("rp_title"), open=False):
        rag_plus_panel.build(ctx, model, kb_pick)

    def refresh_models(current, url=""):
        choices = _model_choices(ctx)
        values = [v for _, v in choices]
        # keep the user's pick; else the newest deployment's last adapter (the freshly tuned one).
        # An external target with no URL yet was never really chosen: the dropdown falls on it
        # when it is the only choice.
        live = serving.running(ctx.store)
        default = f"{live[0].id}|{serving.served_models(live[0])[-1]}" if live else None
        keep = current in values and not (current == EXTERNAL and not (url or "").strip() and live)
        return gr.update(choices=choices, value=current if keep else default)

    def target(choice, url, key, ext, request):
        """(base url, api key, model, vLLM extras?) for the chosen target."""
        if choice == EXTERNAL:
            if not (url or "").strip() or not (ext or "").strip():
                raise Problem(msg(request, "m_ext_needed"))
            return url.strip().rstrip("/"), key or "", ext.strip(), False, None
        job_id, _, name = (choice or "").partition("|")
        job = ready_deployment(ctx, ctx.store.get(job_id) if job_id else serving.current(ctx.store), request)
        return (serving.base_url(job), serving.api_key(job) or "", name or serving.served_models(job)[0], True,
                job.spec.get("model"))

    pacer = chat.Pacer(ctx.s.chat_update_every)

    def answer(question, history, choice, use_rag, sys_prompt, temp, tp, mt, url, key, ext, kb_name,
               request):
        base, api_key, name, ours, model_dir = target(choice, url, key, ext, request)
        hits = compare_panel.rag_hits(ctx, question, kb_name, request) if use_rag else []
        messages = chat.build_messages(history, question, hits, sys_prompt,
                                       sentences=chat.prompt_sentences(ctx.s, model_dir))
        history = history + [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        t0, first, text, shown = time.perf_counter(), None, "", 0.0
        try:
            with pacer.streaming():
                for text in chat.stream(base, name, messages, max_tokens=int(mt or 256),
                                        temperature=float(temp), top_p=float(tp), api_key=api_key,
                                        repetition_penalty=ctx.s.chat_repetition_penalty if ours else 1.0):
                    first = first or time.perf_counter() - t0
                    history[-1] = {"role": "assistant", "content": text}
                    if time.perf_counter() - shown >= pacer.interval():
                        shown = time.perf_counter()
                        yield history, "", ""
        except chat.ChatError as e:
            # The error goes into the conversation; the question stays there to send again.
            history[-1] = {"role": "assistant", "content": f"⚠️ {said(request, e)}"}
            yield history, "", ""
            return
        took = time.perf_counter() - t0
        done = chat.finish(text, hits, zh(request))
        history[-1] = {"role": "assistant",
                       "content": done + sources.sources_block(hits, ctx.s, bool(use_rag), zh(request), answer=done)}
        yield history, "", msg(request, "m_speed", ttft=(first or took) * 1000, secs=took)

    # Gradio finds gr.Request by annotation; with *rest it must come first.
    def respond(request: gr.Request, question, history, *rest):
        question = (question or "").strip()
        if not question:
            yield list(history or []), "", ""
            return
        yield from answer(question, list(history or []), *rest, request)

    def regenerate(request: gr.Request, history, *rest):
        history = list(history or [])
        while history and history[-1].get("role") != "user":
            history.pop()
        if not history:
            yield history, "", ""
            return
        question = chat.text_of(history.pop().get("content"))
        yield from answer(question, history, *rest, request)

    def refresh_bases(current):
        names = [b.name for b in ctx.kb.bases()]
        return gr.update(choices=names, value=current if current in names else names[0])

    def list_external(url, key, request: gr.Request):
        try:
            names = chat.list_models((url or "").strip().rstrip("/"), key or "")
        except chat.ChatError as e:
            raise Problem(said(request, e))
        return gr.update(choices=names, value=names[0] if names else None)

    def do_export(history):
        if not history:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = ctx.s.path("exports")
        md, js = folder / f"chat-{stamp}.md", folder / f"chat-{stamp}.json"
        md.write_text(chat.to_markdown(history), encoding="utf-8")
        js.write_text(chat.to_json(history), encoding="utf-8")
        return [str(md), str(js)]

    settings = [model, rag, system, temperature, top_p, max_tokens, ext_url, ext_key, ext_model, kb_pick]
    outs = [bot, box, speed]
    ctx.demo.load(refresh_models, [model, ext_url], model)
    ctx.demo.load(refresh_bases, kb_pick, kb_pick)
    refresh.click(refresh_models, [model, ext_url], model, api_name="chat_models")
    model.change(lambda c: gr.update(visible=c == EXTERNAL), model, ext_row, api_name=False)
    ext_list.click(list_external, [ext_url, ext_key], ext_model, api_name="external_models")
    sent = send.click(respond, [box, bot, *settings], outs, api_name="chat",
                      concurrency_limit=ctx.s.chat_concurrency)
    submitted = box.submit(respond, [box, bot, *settings], outs, api_name=False,
                           concurrency_limit=ctx.s.chat_concurrency)
    again = regen.click(regenerate, [bot, *settings], outs, api_name="regenerate",
                        concurrency_limit=ctx.s.chat_concurrency)
    stop.click(None, None, None, cancels=[sent, submitted, again], api_name=False)
    clear.click(lambda: ([], "", ""), None, outs, api_name=False)
    export.click(do_export, bot, exported, api_name="export_chat")
    return {"chat_model": model, "chat_refresh": (refresh_models, [model, ext_url], model),
            "chat_bases": (refresh_bases, kb_pick, kb_pick),
            **side_by_side}

"""Chat tab: stream answers from the deployed model (base or adapter), optionally grounded."""
from __future__ import annotations

import gradio as gr

from studio import chat, knowledge, serving
from tabs.context import Ctx
from tabs.i18n import L, msg


def _model_choices(ctx: Ctx) -> list[tuple[str, str]]:
    """Every model of every running deployment, as (label, "job id|model")."""
    return [(f"{m} · {job.name}", f"{job.id}|{m}") for job in serving.running(ctx.store)
            for m in serving.served_models(job)]


def build(ctx: Ctx) -> dict:
    with gr.Row():
        model = gr.Dropdown(choices=_model_choices(ctx), label=L("chat_model"), scale=3,
                            allow_custom_value=True)
        rag = gr.Checkbox(value=True, label=L("use_rag"), scale=1)
        refresh = gr.Button(L("refresh"), scale=1)
    bot = gr.Chatbot(height=420, label=L("tab_chat"), show_label=False)
    with gr.Row():
        box = gr.Textbox(label=L("message"), scale=5, lines=1)
        send = gr.Button(L("send"), variant="primary", scale=1)
        clear = gr.Button(L("clear"), scale=1)

    def refresh_models(current):
        choices = _model_choices(ctx)
        values = [v for _, v in choices]
        # keep the user's pick; else the newest deployment's last adapter (the freshly tuned one)
        live = serving.running(ctx.store)
        default = f"{live[0].id}|{serving.served_models(live[0])[-1]}" if live else None
        value = current if current in values else default
        return gr.update(choices=choices, value=value)

    def respond(question, history, model_name, use_rag, request: gr.Request):
        question = (question or "").strip()
        history = list(history or [])
        if not question:
            yield history, ""
            return
        job_id, _, model_name = (model_name or "").partition("|")
        job = ctx.store.get(job_id) if job_id else serving.current(ctx.store)
        if job is None or serving.state(ctx.store, job) != "ready":
            raise gr.Error(msg(request, "m_deploy_first"))
        model_name = model_name or serving.served_models(job)[0]
        hits = []
        if use_rag:
            try:
                hits = ctx.kb.search(question)
            except knowledge.KnowledgeError:
                hits = []
        messages = chat.build_messages(history, question, hits)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
        tail = chat.sources_block(hits)
        try:
            for text in chat.stream(serving.base_url(job), model_name, messages,
                                    api_key=serving.api_key(job) or "EMPTY",
                                    max_tokens=ctx.s.chat_max_tokens,
                                    temperature=ctx.s.chat_temperature,
                                    repetition_penalty=ctx.s.chat_repetition_penalty):
                history[-1] = {"role": "assistant", "content": text}
                yield history, ""
        except chat.ChatError as e:
            raise gr.Error(str(e))
        history[-1] = {"role": "assistant", "content": chat.text_of(history[-1]["content"]) + tail}
        yield history, ""

    ctx.demo.load(refresh_models, model, model)
    refresh.click(refresh_models, model, model, api_name="chat_models")
    send.click(respond, [box, bot, model, rag], [bot, box], api_name="chat")
    box.submit(respond, [box, bot, model, rag], [bot, box], api_name=False)
    clear.click(lambda: ([], ""), None, [bot, box], api_name=False)
    return {"chat_model": model, "chat_refresh": (refresh_models, model)}

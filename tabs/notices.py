"""The banner above the tabs: what this machine means for the user (studio/core/runtime.py found
it at start-up), in the browser's language. Empty and hidden on a machine with nothing to say."""
from __future__ import annotations

import html

import gradio as gr

from tabs.context import Ctx
from tabs.i18n import msg

# They stand out from the page: they say what would otherwise fail or be lost.
CSS = ("#notices { border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.1); padding: 4px 12px; }"
       " #account { text-align: right; }"
       # Table headers break between words, never inside one ("chec-kpoints").
       " th .wrap, th span.text { word-break: keep-all !important; overflow-wrap: normal !important; }")


def text(ctx: Ctx, request: gr.Request | None) -> str:
    return "\n\n".join(f"⚠️ {msg(request, n.key, **n.params)}" for n in ctx.notices)


def build(ctx: Ctx) -> None:
    banner = gr.Markdown(visible=False, elem_id="notices")
    account = gr.HTML(visible=False, elem_id="account")  # HTML: a Markdown link opens a new tab

    def show(request: gr.Request):
        words = text(ctx, request)
        user = getattr(request, "username", None)
        return (gr.update(value=words, visible=bool(words)),
                gr.update(value=msg(request, "m_signed_in", user=html.escape(user)) if user else "", visible=bool(user)))

    ctx.demo.load(show, None, [banner, account], api_name=False)

"""A button that asks before it acts: a question row under it, Yes or Cancel. The action keeps its
API name (scripts call it directly, with nothing to confirm)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from tabs.i18n import L


@dataclass
class Ask:
    row: gr.Row
    text: gr.Markdown
    yes: gr.Button
    no: gr.Button
    asked: gr.State


def place() -> Ask:
    """The hidden question row, where it is called in the layout (under the button it guards)."""
    with gr.Row(visible=False) as row:
        text = gr.Markdown()
        yes = gr.Button(L("confirm_yes"), variant="stop", scale=0, min_width=140)
        no = gr.Button(L("confirm_no"), scale=0, min_width=100)
    return Ask(row, text, yes, no, gr.State(""))


def guard(ask: Ask, button: gr.Button, question: Callable, action: Callable, inputs: list,
          outputs: list, api_name: str) -> None:
    """button asks question(request, *inputs) first; an empty question runs action at once.
    action(*inputs, request) returns the outputs."""

    def asking(request: gr.Request, *values):
        q = question(request, *values)
        return q, gr.update(visible=bool(q)), f"⚠️ {q}" if q else ""

    def unasked(request: gr.Request, q, *values):
        if q:
            return tuple(gr.update() for _ in outputs) if len(outputs) > 1 else gr.update()
        return action(*values, request)

    def hide():
        return "", gr.update(visible=False)

    button.click(asking, inputs, [ask.asked, ask.row, ask.text], api_name=False).then(
        unasked, [ask.asked, *inputs], outputs, api_name=False)
    ask.yes.click(hide, None, [ask.asked, ask.row], api_name=False).then(action, inputs, outputs,
                                                                         api_name=api_name)
    ask.no.click(hide, None, [ask.asked, ask.row], api_name=False)

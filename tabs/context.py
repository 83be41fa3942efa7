"""What every tab gets: the settings, the service objects and a place for cross-tab handles."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from studio.config import Settings
from studio.jobs import JobStore
from studio.knowledge import Knowledge


@dataclass
class Ctx:
    s: Settings
    store: JobStore
    kb: Knowledge
    demo: Any = None  # the gr.Blocks being built, for page-load events
    notices: list = field(default_factory=list)  # what this machine means for the user (runtime.check)
    # Components other tabs react to, by name ("active_model", "chat_model", ...); wired in app.py
    # after every tab exists.
    handles: dict = field(default_factory=dict)


def user(request) -> str | None:
    """Who is signed in on this request (None when the studio is open on loopback: one user)."""
    return getattr(request, "username", None) or None


# show_progress for events whose outputs hold the user's data (a table, a list to pick from): a
# failure leaves them as they were, where Gradio would cover them with an "Error" badge until the
# next success. The Problem toast says what went wrong.
KEEP = "hidden"


class Problem(gr.Error):
    """A message the user must read: it stays on screen until closed (Gradio's default fades
    in 10 s, before a newcomer has read what to do)."""

    def __init__(self, message: str):
        super().__init__(message, duration=None)

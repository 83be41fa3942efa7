"""Tables and line charts in the page's language, charts that keep drawing.

A colour-coded gr.LinePlot that once receives an empty frame never draws a line again until the
page is reloaded (Vega is left with an Infinity domain and a colour gradient for the legend):
no points are sent as None, which it recovers from."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from tabs.i18n import TEXT, msg


def plot(request, rows: list[dict], x: str, y: str, color: str | None = None) -> dict:
    """The update for a LinePlot built with these column names: its data (series names
    translated) and its axis and legend titles, or no data at all."""
    titles = {"x_title": msg(request, "c_" + x), "y_title": msg(request, "c_" + y)}
    if color:
        titles["color_title"] = msg(request, "c_" + color)
    if not rows:
        return gr.update(value=None, **titles)
    frame = pd.DataFrame(rows)
    if color:
        frame[color] = [msg(request, "c_" + str(v)) for v in frame[color]]
    return gr.update(value=frame, **titles)


def table(request, rows: list[list], cols: list[str], **more):
    """The update for a Dataframe: its rows under headers in the page's language (h_<column>;
    a column with no translation keeps its name, e.g. recall@5)."""
    heads = [msg(request, "h_" + c) if ("h_" + c) in TEXT else c for c in cols]
    frame = pd.DataFrame(rows, columns=heads)
    return gr.update(value=frame, **more) if more else frame

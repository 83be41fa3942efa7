"""Tables and line charts in the page's language, charts that keep drawing.

A colour-coded gr.LinePlot that once receives an empty frame never draws a line again until the
page is reloaded (Vega is left with an Infinity domain and a colour gradient for the legend):
no points are sent as None, which it recovers from. So are points without a value (a rate's first
sample) and a single moment: one x drew empty axes with "NaN" ticks. A flat line (an idle
server's zeros) gets a y range of one unit, or its only tick read "NaN"."""
from __future__ import annotations

import math

import gradio as gr
import pandas as pd

from tabs.i18n import TEXT, msg


def plot(request, rows: list[dict], x: str, y: str, color: str | None = None) -> dict:
    """The update for a LinePlot built with these column names: its data (series names
    translated) and its axis and legend titles, or no data at all."""
    titles = {"x_title": msg(request, "c_" + x), "y_title": msg(request, "c_" + y)}
    if color:
        titles["color_title"] = msg(request, "c_" + color)
    rows = [r for r in rows if isinstance(r.get(y), (int, float)) and math.isfinite(r[y])]
    if len({r[x] for r in rows}) < 2:
        return gr.update(value=None, **titles)
    ys = [r[y] for r in rows]
    titles["y_lim"] = [min(ys), min(ys) + 1] if max(ys) == min(ys) else None
    frame = pd.DataFrame(rows)
    if color:
        # a series with a translation (train, eval) in the page's language; a name (a run's) as it is
        frame[color] = [msg(request, "c_" + str(v)) if "c_" + str(v) in TEXT else str(v) for v in frame[color]]
    return gr.update(value=frame, **titles)


def table(request, rows: list[list], cols: list[str], **more):
    """The update for a Dataframe: its rows under headers in the page's language (h_<column>;
    a column with no translation keeps its name, e.g. recall@5)."""
    heads = [msg(request, "h_" + c) if ("h_" + c) in TEXT else c for c in cols]
    frame = pd.DataFrame(rows, columns=heads)
    return gr.update(value=frame, **more) if more else frame

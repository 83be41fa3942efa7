"""Dataset tab: load, edit row by row, check and save Alpaca data (each save keeps a version)."""
from __future__ import annotations

import gradio as gr

from studio import datasets
from tabs.context import Ctx
from tabs.i18n import L, msg


def _table(rows: list[dict]) -> list[list[str]]:
    return [[r[k] for k in datasets.FIELDS] for r in rows]


def _rows_of(table) -> list[list]:
    # The Dataframe hands over a pandas frame; through the API it may be a {"data": ...} dict.
    if hasattr(table, "values"):
        return table.values.tolist()
    if isinstance(table, dict):
        return table.get("data", [])
    return table or []


def problems_markdown(request, rows: list[dict]) -> str:
    problems = datasets.validate(rows)
    if not problems:
        return msg(request, "m_valid", n=len(rows))
    lines = [msg(request, "m_problems", n=len(problems))]
    lines += [f"- {msg(request, 'm_row', i=i)}: {text}" if i else f"- {text}" for i, text in problems]
    return "\n".join(lines)


def build(ctx: Ctx) -> dict:
    names = datasets.list_names(ctx.s)
    with gr.Row():
        name = gr.Dropdown(choices=names, value=datasets.SAMPLE_NAME, label=L("dataset"),
                           scale=3, allow_custom_value=True)
        load = gr.Button(L("load"), scale=1)
    table = gr.Dataframe(headers=list(datasets.FIELDS), datatype="str", interactive=True,
                         wrap=True, label=L("rows"), show_row_numbers=True, max_height=420)
    with gr.Row():
        add = gr.Button(L("add_row"), scale=1)
        check = gr.Button(L("check"), scale=1)
        save_as = gr.Textbox(value=datasets.SAMPLE_NAME, label=L("save_as"), scale=2)
        save = gr.Button(L("save"), variant="primary", scale=1)
    report = gr.Markdown()

    def do_load(n, request: gr.Request):
        try:
            rows = datasets.load(ctx.s, n)
        except datasets.DatasetError as e:
            raise gr.Error(str(e))
        return _table(rows), n, problems_markdown(request, rows)

    def do_add(table):
        return _rows_of(table) + [["", "", ""]]

    def do_check(table, request: gr.Request):
        return problems_markdown(request, datasets.normalise(_rows_of(table)))

    def do_save(table, target, request: gr.Request):
        rows = datasets.normalise(_rows_of(table))
        try:
            datasets.save(ctx.s, target, rows)
        except datasets.DatasetError as e:
            # Nothing was written: keep the user's edits on screen and say which rows to fix.
            return gr.update(), problems_markdown(request, rows) + f"\n\n**{e}**"
        return gr.update(choices=datasets.list_names(ctx.s), value=target.strip()), \
            msg(request, "m_saved", n=len(rows), name=target.strip())

    ctx.demo.load(do_load, name, [table, save_as, report])
    load.click(do_load, name, [table, save_as, report], api_name="load_dataset")
    add.click(do_add, table, table, api_name=False)
    check.click(do_check, table, report, api_name="check_dataset")
    save.click(do_save, [table, save_as], [name, report], api_name="save_dataset")
    return {"dataset_choice": name}

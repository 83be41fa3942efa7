"""Dataset tab: load, import, edit row by row, check, preview through the training template,
save with versions, restore, export."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from studio import datasets, formats, owners, preview, trainform
from tabs import draft_panel
from tabs.context import KEEP, Ctx, Problem, user
from tabs.i18n import L, msg, said, zh

FORMAT_CHOICES = [("Alpaca (instruction / input / output)", "alpaca"),
                  ("ShareGPT (conversations)", "sharegpt"), ("OpenAI (messages)", "openai"),
                  ("Preference pairs (instruction / input / chosen / rejected)", "preference"),
                  ("Grounded Q&A (instruction / input / output / source)", "grounded")]
# A long row must not push the others off; a pair's two answers share the width.
WIDTHS = {"alpaca": ["45%", "15%", "40%"], "preference": ["30%", "10%", "30%", "30%"],
          "grounded": ["24%", "6%", "30%", "40%"]}
CHAT_WIDTHS = ["12%", "13%", "75%"]


def _frame(fmt: str, records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(formats.to_table(fmt, records), columns=formats.headers(fmt))


def _rows(table) -> list[list]:
    # The Dataframe hands over a pandas frame; through the API it may be a {"data": ...} dict.
    if hasattr(table, "values"):
        return table.values.tolist()
    if isinstance(table, dict):
        return table.get("data", [])
    return table or []


def _records(fmt: str, table) -> list[dict]:
    return formats.from_table(fmt, _rows(table))


def report(request, problems: list[tuple[int, str]], n: int) -> str:
    if not problems:
        return msg(request, "m_valid", n=n)
    lines = [msg(request, "m_problems", n=len(problems))]
    lines += [f"- {msg(request, 'm_row', i=i)}: {said(request, text)}" if i else f"- {said(request, text)}"
              for i, text in problems]
    return "\n".join(lines)


EMPTY_HIST = pd.DataFrame({"tokens": pd.Series(dtype="int64"), "rows": pd.Series(dtype="int64")})


def _bar(bar, request):
    """The rendering's rows done, on the component's progress bar."""
    unit = "行" if zh(request) else "rows"
    return lambda done, total: bar((done, max(total, 1)), unit=unit)


def _histogram(lengths: list[int]) -> pd.DataFrame:
    """Rows per token-length bin (the bin's first token count on x)."""
    if not lengths:
        return EMPTY_HIST
    width = max(8, -(-max(lengths) // 12))
    bins = pd.Series([(x // width) * width for x in lengths]).value_counts().sort_index()
    return pd.DataFrame({"tokens": bins.index.astype("int64"), "rows": bins.values.astype("int64")})


def build(ctx: Ctx) -> dict:
    with gr.Row():
        name = gr.Dropdown(choices=datasets.list_names(ctx.s), value=datasets.SAMPLE_NAME,
                           label=L("dataset"), scale=3, allow_custom_value=True)
        fmt = gr.Dropdown(choices=FORMAT_CHOICES, value="alpaca", label=L("format"), scale=2)
        load = gr.Button(L("load"), scale=1)
    table = gr.Dataframe(headers=formats.headers("alpaca"), datatype="str", interactive=True,
                         wrap=True, label=L("rows"), show_row_numbers=True, max_height=420,
                         column_widths=WIDTHS["alpaca"],
                         elem_id="dataset_rows")
    with gr.Row():
        add = gr.Button(L("add_row"), scale=1)
        cutoff = gr.Number(value=trainform.LoraForm().cutoff_len, precision=0, label=L("cutoff"), scale=1)
        check = gr.Button(L("check"), scale=1)
        save_as = gr.Textbox(value=datasets.SAMPLE_NAME, label=L("save_as"), scale=2)
        save = gr.Button(L("save"), variant="primary", scale=1)
    result = gr.Markdown()
    with gr.Accordion(L("preview_title"), open=False):
        with gr.Row():
            row_no = gr.Number(value=1, precision=0, label=L("row_number"), scale=1)
            show = gr.Button(L("preview"), scale=1)
            stats_btn = gr.Button(L("stats"), scale=1)
        rendered = gr.HighlightedText(label=L("as_trained"), combine_adjacent=False,
                                      color_map={"trained": "green", "masked": "gray", "rejected": "red"})
        counts = gr.Markdown()
        hist = gr.BarPlot(EMPTY_HIST, x="tokens", y="rows", label=L("length_hist"))
    with gr.Accordion(L("import_export"), open=False):
        with gr.Row():
            upload = gr.File(label=L("import_file"), file_types=[".json", ".jsonl", ".csv"], elem_id="import_file")
            with gr.Column():
                mapping = gr.Textbox(label=L("mapping"), placeholder="instruction=question, output=answer")
                do_import = gr.Button(L("import"))
        with gr.Row():
            out_fmt = gr.Dropdown(choices=FORMAT_CHOICES, value="sharegpt", label=L("format"))
            out_kind = gr.Dropdown(choices=["json", "jsonl", "csv"], value="json", label=L("file_type"))
            do_export = gr.Button(L("export"))
        exported = gr.File(label=L("download_file"), interactive=False)
        with gr.Row():
            version = gr.Dropdown(choices=[], label=L("version"), allow_custom_value=True, scale=3)
            restore = gr.Button(L("restore"), scale=1)

    def version_list(n):
        try:
            return gr.update(choices=[v.name for v in datasets.versions(ctx.s, n)], value=None)
        except datasets.DatasetError:
            return gr.update(choices=[], value=None)

    def do_load(n, request: gr.Request):
        try:
            f, records = datasets.load(ctx.s, n)
        except datasets.DatasetError as e:
            raise Problem(said(request, e))
        return (_frame(f, records), f, f, n,
                report(request, formats.check(f, records), len(records)), version_list(n))

    def do_convert(table, old, new, request: gr.Request):
        # Changing the format converts what is on screen; nothing is saved until Save.
        if not old or old == new:
            return gr.update(), new
        try:
            return _frame(new, formats.convert(old, _records(old, table), new)), new
        except formats.FormatError as e:
            raise Problem(said(request, e))

    def do_check(table, f, cut, request: gr.Request):
        records = _records(f, table)
        problems = formats.check(f, records)
        if not problems and records:
            try:
                lengths = preview.wait(preview.start(ctx.s, f, records, list(range(len(records))), int(cut),
                                                     with_segments=False))
                problems = preview.over_cutoff(lengths, int(cut))
            except preview.PreviewError as e:
                problems = [(0, said(request, e))]
        return report(request, problems, len(records))

    def do_save(table, f, target, request: gr.Request):
        records = _records(f, table)
        name = (target or "").strip()
        try:
            new = name not in datasets.list_names(ctx.s)
            if not new:
                owners.check_thing(ctx.s, ctx.store, "dataset", name, user(request), "overwrite")
            datasets.save(ctx.s, target, f, records)
            if new:
                ctx.store.set_owner("dataset", name, user(request))
        except owners.NotAllowed as e:
            raise Problem(said(request, e))
        except datasets.DatasetError as e:
            # Nothing was written: keep the user's edits on screen and say which rows to fix.
            return gr.update(), report(request, formats.check(f, records), len(records)) + \
                f"\n\n**{said(request, e)}**", gr.update()
        return gr.update(choices=datasets.list_names(ctx.s), value=target.strip()), \
            msg(request, "m_saved", n=len(records), name=target.strip()), version_list(target)

    def do_preview(table, f, row, cut, request: gr.Request, bar=gr.Progress()):
        records = _records(f, table)
        if not 1 <= int(row or 0) <= len(records):
            raise Problem(msg(request, "m_no_row", n=len(records)))
        try:
            [r] = preview.wait(preview.start(ctx.s, f, records, [int(row) - 1], int(cut)), _bar(bar, request))
        except preview.PreviewError as e:
            raise Problem(said(request, e))
        spans = [(text, "trained" if trained else "masked") for text, trained in r["segments"]]
        if "rejected" not in r:
            return spans, msg(request, "m_tokens", length=r["length"], cutoff=int(cut), kept=r["kept"],
                              trained=r["trained"])
        no = r["rejected"]  # a pair: the rejected answer after the chosen one, marked apart
        spans += [("\n\n", None)] + [(text, "rejected" if trained else "masked") for text, trained in no["segments"]]
        return spans, msg(request, "m_tokens_pair", cutoff=int(cut), kept=r["kept"], trained=r["trained"],
                          kept_no=no["kept"], trained_no=no["trained"])

    def do_stats(table, f, cut, request: gr.Request, bar=gr.Progress()):
        records = _records(f, table)
        try:
            rendered = preview.wait(preview.start(ctx.s, f, records, list(range(len(records))), int(cut),
                                                  with_segments=False), _bar(bar, request))
        except preview.PreviewError as e:
            raise Problem(said(request, e))
        st = preview.stats(f, records, rendered)
        text = msg(request, "m_stats", **{k: v for k, v in st.items() if k != "lengths"},
                   over=len(preview.over_cutoff(rendered, int(cut))), cutoff=int(cut))
        return text, _histogram(st["lengths"])

    def do_import_file(path, spec, request: gr.Request):
        if not path:
            raise Problem(msg(request, "m_no_files"))
        mapping_ = dict(p.split("=", 1) for p in (spec or "").replace("，", ",").split(",") if "=" in p)
        try:
            f, records = formats.read(path, {k.strip(): v.strip() for k, v in mapping_.items()},
                                      max_mib=ctx.s.upload_max_mib)
        except formats.FormatError as e:
            raise Problem(said(request, e))
        return (_frame(f, records), f, f, datasets.free_name(ctx.s, Path(path).stem),
                msg(request, "m_imported", n=len(records), fmt=f)
                + "\n\n" + report(request, formats.check(f, records), len(records)))

    def do_export_file(n, to, kind, request: gr.Request):
        try:
            return str(datasets.export(ctx.s, n, to, kind))
        except datasets.DatasetError as e:
            raise Problem(said(request, e))

    def do_restore(n, v, request: gr.Request):
        try:
            owners.check_thing(ctx.s, ctx.store, "dataset", n, user(request), "restore a version of")
            datasets.restore(ctx.s, n, v)
        except (datasets.DatasetError, owners.NotAllowed) as e:
            raise Problem(said(request, e))
        return do_load(n, request)

    def do_add(table, f):
        return pd.DataFrame(_rows(table) + [[""] * len(formats.headers(f))], columns=formats.headers(f))

    fmt_state = gr.State("alpaca")  # the format the table is in now, to convert from
    loaded = [table, fmt, fmt_state, save_as, result, version]
    ctx.demo.load(do_load, name, loaded)
    load.click(do_load, name, loaded, api_name="load_dataset", show_progress=KEEP)
    # .input, not .change: only the user's own choice converts; loading sets the format as is.
    fmt.input(do_convert, [table, fmt_state, fmt], [table, fmt_state], api_name="convert_dataset",
              show_progress=KEEP)
    add.click(do_add, [table, fmt], table, api_name=False)
    # The columns' widths follow the format the table holds (set apart, so the API's table stays a table).
    fmt.change(lambda f: gr.update(column_widths=WIDTHS.get(f, CHAT_WIDTHS),
                                   label=L({"alpaca": "rows", "preference": "rows_preference",
                                            "grounded": "rows_grounded"}.get(f, "rows_chat"))),
               fmt, table, api_name=False, show_progress="hidden")
    check.click(do_check, [table, fmt, cutoff], result, api_name="check_dataset")
    save.click(do_save, [table, fmt, save_as], [name, result, version], api_name="save_dataset",
               show_progress=KEEP)
    show.click(do_preview, [table, fmt, row_no, cutoff], [rendered, counts], api_name="preview_row")
    stats_btn.click(do_stats, [table, fmt, cutoff], [counts, hist], api_name="dataset_stats")
    do_import.click(do_import_file, [upload, mapping], [table, fmt, fmt_state, save_as, result],
                    api_name="import_dataset", show_progress=KEEP)
    do_export.click(do_export_file, [name, out_fmt, out_kind], exported, api_name="export_dataset")
    restore.click(do_restore, [name, version], loaded, api_name="restore_version", show_progress=KEEP)
    drafted = draft_panel.build(ctx, [table, fmt, fmt_state, save_as, result])
    return {"dataset_choice": name, **drafted}

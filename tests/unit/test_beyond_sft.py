"""Runs compared, runs evaluated and rows drafted from documents: what they refuse, and the
pieces that need no model (settings side by side, names, the drafter's sentence and question
checks, the grounded format and drafts kept apart from datasets)."""
import json

import pytest

from studio import datasets, drafts, evaluate, formats, qa_draft, runs, training
from studio.jobs import JobStore


def test_runs_to_compare_are_two_to_four_existing_runs(settings):
    store = JobStore(settings.home / "jobs")
    with pytest.raises(runs.RunsError, match="two to four") as e:
        runs.pick(store, ["a"])
    assert "两到四个" in e.value.args[0].zh
    with pytest.raises(runs.RunsError, match="No training run nope, nada"):
        runs.pick(store, ["nope", "nada"])
    assert runs.short("dpo-lora-20261204-024007-4715") == "dpo-lora …4715"
    assert runs.short("my-run") == "my-run"


def test_settings_side_by_side_mark_what_differs(settings, tmp_path):
    store = JobStore(settings.home / "jobs")
    a = store.launch("train", "lora-a", ["true"], spec={"model": "/m/SmolLM2", "form": {
        "lora_rank": 8, "learning_rate": 1e-3, "dataset": "x"}})
    b = store.launch("train", "lora-b", ["true"], spec={"model": "/m/SmolLM2", "form": {
        "lora_rank": 16, "learning_rate": 1e-3, "dataset": "x", "stage": "dpo"}})
    rows = {r["setting"]: r for r in runs.settings([a, b])}
    assert rows["lora_rank"]["differs"] and rows["lora_rank"]["values"] == [8, 16]
    assert not rows["learning_rate"]["differs"] and not rows["model"]["differs"]
    assert rows["stage"]["values"] == ["sft", "dpo"]  # a run from before stages was SFT


def test_an_evaluation_says_what_is_missing(settings):
    store = JobStore(settings.home / "jobs")
    with pytest.raises(evaluate.EvalError, match="no training run nope"):
        evaluate.start(settings, store, "nope")
    run = store.launch("train", "lora-x", ["true"], spec={"model": "/m", "output_dir": "/nowhere", "form": {}})
    with pytest.raises(evaluate.EvalError, match="saved no model yet") as e:
        evaluate.start(settings, store, run.id)
    assert "还没有保存模型" in e.value.args[0].zh
    for url in ("http://169.254.169.254/latest", "ftp://x"):
        with pytest.raises(evaluate.EvalError, match="judge's address is refused"):
            evaluate._check_judge(evaluate.Judge(url, "m"))
    with pytest.raises(evaluate.EvalError, match="Name the judge"):
        evaluate._check_judge(evaluate.Judge("", ""))
    with pytest.raises(evaluate.EvalError, match="not answering"):
        evaluate.deployed_judge(store, "no-such-job|m")


def test_the_drafter_keeps_informative_sentences_and_real_questions():
    text = ("# Warranty\nEvery product has a two-year warranty from the date of purchase. Thanks.\n"
            "Repairs under warranty are free, including shipping both ways, and take about 7 days.")
    assert qa_draft.informative(text, 1) == [
        "Repairs under warranty are free, including shipping both ways, and take about 7 days."]
    s = "Every product has a two-year warranty from the date of purchase."
    assert qa_draft.clean_question('A customer would ask: "How long is the warranty? It is"', s, "en") == \
        "How long is the warranty?"
    assert qa_draft.clean_question("What is the capital of France?", s, "en") is None  # not about it
    assert qa_draft.clean_question("The warranty lasts two years", s, "en") is None  # no question
    assert qa_draft.clean_question("请写出客户会问的、这句话正好能回答的问题？", "保修两年。", "zh") is None  # the prompt echoed
    assert qa_draft.language("所有产品自购买之日起保修两年。") == "zh" and qa_draft.language(s) == "en"
    assert qa_draft.supported("two-year warranty from purchase", s) and not qa_draft.supported("ten years free", s)


def test_drafts_wait_apart_from_datasets_until_saved(settings):
    row = {"instruction": "How long is the warranty?", "input": "", "output": "Two years.",
           "source": "policies.md #1\nEvery product has a two-year warranty."}
    drafts_dir = datasets.folder(settings) / ".drafts"
    drafts_dir.mkdir()
    (drafts_dir / "docs_qa.json").write_text(json.dumps([row]))
    assert datasets.drafts(settings) == ["docs_qa"] and "docs_qa" not in datasets.list_names(settings)
    fmt, rows = datasets.load_draft(settings, "docs_qa")
    assert fmt == "grounded" and rows == [row] and formats.to_table(fmt, rows)[0][3] == row["source"]
    assert formats.check(fmt, rows + [{**row, "instruction": "Other?", "source": ""}]) == []  # a hand-made row
    assert formats.convert(fmt, rows, "alpaca") == [{k: row[k] for k in ("instruction", "input", "output")}]
    with pytest.raises(formats.FormatError, match="drafted from a knowledge base"):
        formats.convert("alpaca", [row], "grounded")
    datasets.save(settings, "docs_qa", fmt, rows)
    info = json.loads((datasets.folder(settings) / "dataset_info.json").read_text())
    assert datasets.drafts(settings) == [] and info["docs_qa"]["columns"] == formats.INFO["alpaca"]["columns"]
    cfg = training.build_yaml(settings, training.LoraForm(dataset="docs_qa"), settings.home / "out")
    assert cfg["dataset"] == "docs_qa"  # reviewed and saved: it trains like any answer set
    with pytest.raises(datasets.DatasetError, match="no draft named"):
        datasets.load_draft(settings, "docs_qa")


def test_a_draft_needs_chunks_and_a_free_name(settings, kb):
    store = JobStore(settings.home / "jobs")
    with pytest.raises(drafts.DraftError, match="has no chunks yet"):
        drafts.start(settings, store, kb, kb.bases()[0].name, "http://127.0.0.1:1/v1", "m")
    with pytest.raises(drafts.DraftError, match="exists: pick another name"):
        drafts.start(settings, store, kb, kb.bases()[0].name, "http://127.0.0.1:1/v1", "m",
                     name=datasets.SAMPLE_NAME)
    with pytest.raises(drafts.DraftError, match="quoted from the passage or written"):
        drafts.start(settings, store, kb, kb.bases()[0].name, "http://127.0.0.1:1/v1", "m", answers="guess")

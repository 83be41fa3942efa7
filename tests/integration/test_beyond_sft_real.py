"""Beyond one SFT run, on the real components: a run scored on the rows its training held out
(the same loss the trainer logged for them), graded by a deployed judge model; two runs answering
the same prompts side by side; and training rows drafted by the deployed model from a knowledge
base, waiting for review before anyone can train on them."""
import json
import math

import pytest

from studio import datasets, drafts, evaluate, runs, serving, training
from studio.knowledge import Knowledge

from tests.conftest import wait_done, wait_for

pytestmark = pytest.mark.integration
DOCS = training.config.REPO / "assets" / "docs"


@pytest.fixture(scope="module")
def deployed(trained):
    s, store, run = trained
    dep = serving.start(s, store, opts=serving.DeployOptions(max_model_len=2048))
    try:
        wait_for(lambda: serving.state(store, dep) != "starting", timeout=s.serve_start_timeout, every=2,
                 what="vLLM to start")
        assert serving.state(store, dep) == "ready", store.get(dep.id).log_tail()
        yield s, store, run, dep
    finally:
        serving.stop(store, dep.id)


def test_held_out_rows_score_the_loss_the_trainer_logged_for_them(settings):
    from studio.jobs import JobStore

    store = JobStore(settings.home / "jobs")
    form = training.LoraForm(max_steps=2, save_steps=2, cutoff_len=96, batch_size=2, val_size=0.1)
    run = wait_done(store, training.start(settings, store, form).id, 600, "the run")
    assert run.status == "succeeded", run.log_tail()
    logged = [c for c in training.progress(run)["curves"] if c["series"] == "eval"]
    assert [c["step"] for c in logged] == [2]
    ev = wait_done(store, evaluate.start(settings, store, run.id, max_new_tokens=24).id, 600, "the evaluation")
    assert ev.status == "succeeded", ev.log_tail()
    scores = evaluate.scores(ev)
    rows = len(datasets.load(settings, datasets.SAMPLE_NAME)[1])
    assert scores["rows"] == math.ceil(rows * 0.1)  # what LLaMA-Factory held out of this run
    # the same rows through the same adapter: the loss the trainer logged at its last step
    assert scores["eval_loss"] == pytest.approx(logged[0]["loss"], rel=1e-3)
    assert scores["perplexity"] == pytest.approx(math.exp(scores["eval_loss"]))
    assert all(k in scores for k in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"))
    assert len(scores["samples"]) == scores["rows"] and all(x["answer"] for x in scores["samples"])
    assert evaluate.latest(store, run.id)["dataset"] == evaluate.HELD_OUT  # the comparison names the split


def test_a_deployed_judge_grades_each_answer_with_the_rubric(deployed):
    s, store, run, dep = deployed
    with pytest.raises(evaluate.EvalError, match="held no rows out"):
        evaluate.start(s, store, run.id)  # trained with nothing held out: the way out is named
    judge = evaluate.deployed_judge(store, f"{dep.id}|{dep.spec['served_name']}")
    ev = evaluate.start(s, store, run.id, dataset=datasets.SAMPLE_NAME, max_rows=3, max_new_tokens=24, judge=judge)
    ev = wait_done(store, ev.id, 600, "the judged evaluation")
    assert ev.status == "succeeded", ev.log_tail()
    scores = evaluate.scores(ev)
    graded = [x for x in scores["samples"] if x["score"] is not None]
    assert scores["rows"] == 3 and len(graded) >= 2, scores["samples"]
    assert all(1 <= x["score"] <= 5 and x["reason"] for x in graded)
    assert scores["judge"]["model"] == dep.spec["served_name"] and scores["judge"]["rubric"] == evaluate.RUBRIC
    assert evaluate.latest(store, run.id) == {**scores, "dataset": datasets.SAMPLE_NAME}  # kept with the run
    figures = {f["figure"]: f for f in runs.finals(store, [run, run])}
    assert "judge score" in figures and figures["scored on"]["values"][0] == datasets.SAMPLE_NAME


def test_two_runs_answer_the_same_prompts_beside_the_base(settings):
    from studio.jobs import JobStore

    s, store = settings, JobStore(settings.home / "jobs")  # not the shared run's store: it keeps one adapter
    run, other = (wait_done(store, training.start(s, store, training.LoraForm(
        max_steps=2, cutoff_len=64, batch_size=2, lora_rank=rank, learning_rate=3e-4)).id, 600, "a run")
        for rank in (8, 4))
    jobs = runs.pick(store, [run.id, other.id])
    table = {r["setting"]: r for r in runs.settings(jobs)}
    assert table["lora_rank"]["differs"] and not table["dataset"]["differs"]
    assert {c["run"] for c in runs.curves(jobs)} == {runs.short(run.name), runs.short(other.name)}
    job = wait_done(store, runs.answer(s, store, [run.id, other.id], ["How long is the warranty?"],
                                       max_new_tokens=16).id, 600, "the answers")
    assert job.status == "succeeded", job.log_tail()
    [row] = runs.answers(job)
    assert set(row) == {"prompt", "base", runs.short(run.name), runs.short(other.name)}
    with pytest.raises(runs.RunsError, match="two to four"):
        runs.pick(store, [run.id])


def test_rows_drafted_from_documents_wait_for_review(deployed):
    s, store, _, dep = deployed
    kb = Knowledge(s)
    try:
        base = kb.bases()[0].name
        kb.ingest([DOCS / "qinghe_policies.md", DOCS / "k2_kettle_manual.txt"], base)
        chunks = sum(n for _, n in kb.documents(base))
        with pytest.raises(drafts.DraftError, match="1 to 500 chunks"):
            drafts.start(s, store, kb, base, serving.base_url(dep), dep.spec["served_name"], max_chunks=0)
        job = drafts.start(s, store, kb, base, serving.base_url(dep), dep.spec["served_name"],
                           name="policies_qa", max_chunks=4, per_chunk=2)
    finally:
        kb.close()
    job = wait_done(store, job.id, 600, "the draft")
    assert job.status == "succeeded", job.log_tail()
    p = drafts.progress(job)
    assert p["done"] == p["total"] == min(4, chunks) and p["rows"] >= 1, job.log_tail()
    # a draft: listed for review, not a dataset, not registered for the trainer
    assert datasets.drafts(s) == ["policies_qa"] and "policies_qa" not in datasets.list_names(s)
    assert "policies_qa" not in json.loads((datasets.folder(s) / "dataset_info.json").read_text())
    fmt, rows = datasets.load_draft(s, "policies_qa")
    assert fmt == "grounded" and len(rows) == p["rows"]
    texts = {p.name: p.read_text() for p in DOCS.iterdir()}
    for r in rows:  # each row keeps its passage, and its answer is a sentence of it; its question asks
        doc, _, passage = r["source"].partition("\n")
        name = doc.split(" #")[0]
        assert passage.strip() in texts[name] and r["output"] in passage and r["instruction"][-1] in "?？"
    datasets.save(s, "policies_qa", fmt, rows)  # read and saved: now it trains
    assert datasets.drafts(s) == [] and "policies_qa" in json.loads(
        (datasets.folder(s) / "dataset_info.json").read_text())

"""Score a trained run: loss and perplexity on held-out rows, BLEU-4 and ROUGE from
LLaMA-Factory's prediction mode, and optionally a judge model's grades through any deployed or
external OpenAI-compatible endpoint, with a rubric the user can edit. A job in the training
environment (studio/lf_eval.py); the scores, every answer and the judge's reasons stay in the
job's folder, listed with the run they score."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from studio import config, datasets, formats, models, training
from studio.jobs import Job, JobStore
from studio.words import Said, zh

EVALUATOR = Path(__file__).with_name("lf_eval.py")
HELD_OUT = "(held-out)"  # an evaluation's "dataset" when it scored the run's own split: no dataset name has brackets
RUBRIC = ("You grade a customer-support answer against a reference answer. 5: states the reference's "
          "facts correctly and nothing false. 4: correct but misses a detail. 3: partly correct. 2: mostly "
          "wrong or off the question. 1: wrong or empty. Judge facts, not style or language.")


class EvalError(ValueError):
    """A problem the user can act on; the message says what and how."""


@dataclass
class Judge:
    base_url: str  # an OpenAI-compatible /v1, deployed here or elsewhere
    model: str
    api_key: str = ""
    rubric: str = RUBRIC


def _source(s: config.Settings, job: Job) -> tuple[Path, str]:
    """The run's own copy of its data (a run from before copies were kept: the dataset now)."""
    data = job.folder / "data"
    try:
        name, entry = next(iter(json.loads((data / "dataset_info.json").read_text()).items()))
        return data / entry["file_name"], name
    except (OSError, ValueError, StopIteration):
        name = job.spec.get("form", {}).get("dataset", "")
        return datasets.folder(s) / f"{name}.json", name


def _as_answers(fmt: str, records: list[dict]) -> list[dict]:
    """Rows of one question and one reference answer (a pair's chosen answer)."""
    if all("output" in r for r in records):  # Alpaca, and KTO's marked answers as the run saw them
        return records
    try:
        return formats.convert(fmt, records, "alpaca")
    except formats.FormatError as e:
        raise EvalError(Said(f"Scoring takes one question and one answer per row: {e}",
                             f"评估要求每行一个问题和一个回答：{zh(e)}")) from e


def start(s: config.Settings, store: JobStore, train_job_id: str, dataset: str = "", max_rows: int = 50,
          max_new_tokens: int = 96, judge: Judge | None = None, user: str | None = None) -> Job:
    """dataset: "" scores the run's held-out split (what its val_size kept out of training),
    else up to max_rows rows of that saved dataset."""
    run = store.get(train_job_id)
    if run is None or run.kind != "train":
        raise EvalError(Said(f"There is no training run {train_job_id}.", f"没有训练任务 {train_job_id}。"))
    run = store.refresh(run)
    adapter, form = training.adapter_dir(run), run.spec.get("form", {})
    full = form.get("method") == "full" and (Path(run.spec.get("output_dir", "")) / "config.json").exists()
    if adapter is None and not full:
        raise EvalError(Said(f"{run.name} has saved no model yet: wait for it to finish.",
                             f"{run.name} 还没有保存模型：请等它训练完成。"))
    if not 1 <= int(max_rows) <= 2000 or not 8 <= int(max_new_tokens) <= 2048:
        raise EvalError(Said("Score 1 to 2000 rows, with 8 to 2048 new tokens per answer.",
                             "评估行数须在 1 到 2000 之间，每个回答生成 8 到 2048 个 token。"))
    val = float(form.get("val_size", 0) or 0)
    if dataset:
        fmt, records = datasets.load(s, dataset)
        val = 0.0
    else:
        if val <= 0:
            raise EvalError(Said(f"{run.name} held no rows out of training (its evaluation share was 0): "
                                 "pick a dataset to score it on.",
                                 f"{run.name} 训练时没有留出验证数据（验证集比例为 0）：请选择一个数据集来评估。"))
        path, _ = _source(s, run)
        fmt, records = formats.read(path)
    if judge is not None:
        _check_judge(judge)
    job_id, folder = store.new_folder("eval")
    (folder / "rows.json").write_text(json.dumps(_as_answers(fmt, records), ensure_ascii=False), encoding="utf-8")
    base = Path(run.spec["model"])
    req = {"model": str(run.spec["output_dir"]) if full else str(base), "adapter": None if full else str(adapter),
           "finetuning_type": "full" if full else "lora", "template": models.template_for(base),
           "cutoff_len": int(form.get("cutoff_len", 512)), "rows_file": str(folder / "rows.json"),
           "val_size": val, "seed": 42, "max_rows": int(max_rows), "max_new_tokens": int(max_new_tokens),
           "eval_batch": int(form.get("batch_size", 4)),
           "cpu": not s.gpu, "cli": training.cli(s),
           "judge": {"base_url": judge.base_url, "model": judge.model, "rubric": judge.rubric} if judge else None}
    (folder / "request.json").write_text(json.dumps(req, ensure_ascii=False), encoding="utf-8")
    env = training.train_env(s, folder)
    if judge is not None and judge.api_key:
        env["STUDIO_JUDGE_KEY"] = judge.api_key
    spec = {"train_job": run.id, "dataset": dataset or HELD_OUT, "judge": judge.model if judge else None}
    return store.launch("eval", f"eval {run.name}", [s.train_python, "-I", str(EVALUATOR), str(folder / "request.json")],
                        spec=spec, env=env, job_id=job_id, folder=folder, owner=user,
                        needs=training.inference_needs(store, [run]))


def _check_judge(judge: Judge) -> None:
    from studio.core import netguard

    if not judge.base_url.strip() or not judge.model.strip():
        raise EvalError(Said("Name the judge: a deployment, or an endpoint's URL and model.",
                             "请指定评审模型：选择一个部署，或填写端点地址和模型名。"))
    try:
        netguard.check_url(judge.base_url)
    except netguard.Refused as e:
        raise EvalError(Said(f"The judge's address is refused: {e}", f"评审模型的地址被拒绝：{zh(e)}")) from e
    if not judge.rubric.strip():
        raise EvalError(Said("Write the rubric the judge grades by.", "请填写评审模型打分所依据的标准。"))


def runs_evaluations(store: JobStore, train_job_id: str) -> list[Job]:
    """The evaluations of a run, newest first."""
    return [store.refresh(j) for j in store.list(kind="eval") if j.spec.get("train_job") == train_job_id]


def scores(job: Job) -> dict | None:
    f = job.folder / "scores.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else None


def progress(job: Job) -> dict:
    try:
        return json.loads((job.folder / "progress.json").read_text())
    except (OSError, ValueError):
        return {"phase": "starting", "done": 0, "total": 0}


def latest(store: JobStore, train_job_id: str) -> dict | None:
    """The newest finished scores of a run, for the comparison."""
    for job in runs_evaluations(store, train_job_id):
        found = scores(job) if job.status == "succeeded" else None
        if found:
            return {**found, "dataset": job.spec.get("dataset", "")}
    return None


def deployed_judge(store: JobStore, choice: str, rubric: str = RUBRIC) -> Judge:
    """A judge from a running deployment's model ("job id|model", as the Chat tab names them)."""
    from studio import serving

    job_id, _, name = (choice or "").partition("|")
    job = store.get(job_id) if job_id else None
    if job is None or job.kind != "serve" or serving.state(store, job, probe=False) != "ready":
        raise EvalError(Said("That deployment is not answering: deploy a model first, or use an external "
                             "endpoint as the judge.",
                             "这个部署没有在运行：请先部署一个模型，或改用外部端点作为评审模型。"))
    return Judge(serving.base_url(job), name or serving.served_models(job)[0], serving.api_key(job) or "", rubric)

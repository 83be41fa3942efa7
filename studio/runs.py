"""Two to four training runs side by side: their loss and eval-loss curves on one chart, their
settings with the differences marked, their final figures and latest scores, and their answers
to the same prompts (a job in the training environment, studio/lf_compare.py)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from studio import config, evaluate, training
from studio.jobs import Job, JobStore
from studio.words import Said

COMPARER = Path(__file__).with_name("lf_compare.py")
# The settings worth reading side by side, in the form's order.
SETTINGS = ("stage", "method", "dataset", "lora_rank", "lora_alpha", "lora_target", "learning_rate",
            "num_train_epochs", "max_steps", "cutoff_len", "batch_size", "grad_accum", "scheduler",
            "warmup_ratio", "lora_dropout", "val_size", "pref_beta", "quant_4bit", "deepspeed", "gpus")


class RunsError(ValueError):
    """A problem the user can act on; the message says what and how."""


def short(name: str) -> str:
    """A run's name fit for a chart's legend or a column: "dpo-lora …4715" for
    "dpo-lora-20261204-024007-4715" (the kind and the id's own last four characters)."""
    m = re.match(r"^(.*)-\d{8}-\d{6}-([0-9a-f]{4})$", name)
    return f"{m.group(1)} …{m.group(2)}" if m else name


def pick(store: JobStore, ids: list[str]) -> list[Job]:
    ids = list(dict.fromkeys(i for i in ids if i))
    if not 2 <= len(ids) <= 4:
        raise RunsError(Said("Pick two to four runs to compare.", "请选择两到四个训练任务来对比。"))
    found = [store.get(i) for i in ids]
    missing = [i for i, j in zip(ids, found) if j is None or j.kind != "train"]
    if missing:
        raise RunsError(Said(f"No training run {', '.join(missing)}.", f"没有训练任务 {'、'.join(missing)}。"))
    return [store.refresh(j) for j in found]


def curves(jobs: list[Job]) -> list[dict]:
    """Every run's loss and eval loss as one table for one chart: {step, loss, run, kind}."""
    return [{"step": p["step"], "loss": p["loss"], "run": short(job.name), "kind": p["series"]}
            for job in jobs for p in training.progress(job)["curves"]]


def _value(job: Job, key: str):
    form = job.spec.get("form", {})
    if key == "stage":
        return form.get("stage", "sft")
    return form.get(key, "")


def settings(jobs: list[Job]) -> list[dict]:
    """[{setting, values: [...], differs}] for the base model and each setting the form has."""
    rows = [{"setting": "model", "values": [Path(j.spec.get("model", "")).name for j in jobs]}]
    rows += [{"setting": k, "values": [_value(j, k) for j in jobs]} for k in SETTINGS]
    for r in rows:
        r["differs"] = len({json.dumps(v) for v in r["values"]}) > 1
    return rows


def finals(store: JobStore, jobs: list[Job]) -> list[dict]:
    """[{figure, values}]: where each run ended, and its latest evaluation's scores."""
    prog = [training.progress(j) for j in jobs]
    scores = [evaluate.latest(store, j.id) or {} for j in jobs]

    def last(series: list[dict], key: str):
        return round(series[-1][key], 4) if series else ""

    rows = [("status", [j.status for j in jobs]),
            ("steps", [f"{p['step']}/{p['total'] or '?'}" for p in prog]),
            ("final loss", [last(p["loss"], "loss") for p in prog]),
            ("final eval loss", [last([c for c in p["curves"] if c["series"] == "eval"], "loss") for p in prog]),
            ("reward margin", [last([r for r in p["rewards"] if r["series"] == "margin"], "value") for p in prog]),
            ("time", [p["elapsed"] for p in prog])]
    # each run's latest evaluation, whatever it scored: the rows say on what
    rows.append(("scored on", [s.get("dataset", "") for s in scores]))
    for key in ("perplexity", "bleu-4", "rouge-l"):
        rows.append((key, [round(s[key], 3) if isinstance(s.get(key), (int, float)) else "" for s in scores]))
    rows.append(("judge score", [round(s["judge"]["mean"], 2) if (s.get("judge") or {}).get("mean") else ""
                                 for s in scores]))
    return [{"figure": k, "values": v} for k, v in rows if any(x not in ("", None) for x in v)]


def answer(s: config.Settings, store: JobStore, ids: list[str], prompts: list[str], max_new_tokens: int = 96,
           user: str | None = None) -> Job:
    """A job: every run's answer to the same prompts, beside the base model's."""
    jobs = pick(store, ids)
    prompts = [p.strip() for p in prompts if p.strip()][:10]
    if not prompts:
        raise RunsError(Said("Write at least one prompt (one per line).", "请至少写一个提示词（每行一个）。"))
    runs = []
    for job in jobs:
        adapter = training.adapter_dir(job)
        whole = Path(job.spec.get("output_dir", "")) / "config.json"
        if adapter is None and not whole.exists():
            raise RunsError(Said(f"{job.name} has saved no model yet: wait for it, or leave it out.",
                                 f"{job.name} 还没有保存模型：请等它训练完成，或不选它。"))
        runs.append({"name": short(job.name), "model": job.spec["model"] if adapter else str(whole.parent),
                     "adapter": str(adapter) if adapter else None, "base": job.spec["model"]})
    job_id, folder = store.new_folder("compare")
    req = {"runs": runs, "base": True, "prompts": prompts, "max_new_tokens": int(max_new_tokens)}
    (folder / "request.json").write_text(json.dumps(req, ensure_ascii=False), encoding="utf-8")
    cmd = [s.train_python, "-I", str(COMPARER), str(folder / "request.json"), str(folder / "result.json")]
    return store.launch("compare", f"compare {len(jobs)} runs", cmd, spec={"runs": [j.id for j in jobs]},
                        env=training.train_env(s, folder), job_id=job_id, folder=folder, owner=user,
                        needs=training.inference_needs(store, jobs))


def answers(job: Job) -> list[dict] | None:
    f = job.folder / "result.json"
    return json.loads(f.read_text(encoding="utf-8"))["rows"] if f.exists() else None

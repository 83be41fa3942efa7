"""After training: merge a LoRA adapter into its base model (a `llamafactory-cli export` job), and
compare base and tuned answers to the same prompts (a job in the train environment).

The merged folder lands in the models folder, so it shows up on the Models tab as a model of its
own, ready to be made active, served without adapters, or pushed to the hub.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from studio import config, models, training
from studio.jobs import Job, JobStore
from studio.words import Said


class ExportError(ValueError):
    """A problem the user can act on; the message says what and how."""


def _trained(store: JobStore, train_job_id: str) -> tuple[Job, Path]:
    """A training run and its saved adapter, or the reason there is none."""
    job = store.get(train_job_id)
    if job is None or job.kind != "train":
        raise ExportError(Said(f"There is no training run {train_job_id}.", f"没有训练任务 {train_job_id}。"))
    adapter = training.adapter_dir(store.refresh(job))
    if adapter is None:
        raise ExportError(Said(f"{job.name} has no saved adapter yet: wait for it to finish.",
                               f"{job.name} 还没有保存适配器：请等它训练完成。"))
    return job, adapter


def merged_dir(s: config.Settings, job: Job) -> Path:
    return s.models / f"{Path(job.spec['model']).name}-{job.name}"


EXPORTER = Path(__file__).with_name("lf_export.py")


def merge(s: config.Settings, store: JobStore, train_job_id: str, user: str | None = None) -> Job:
    job, adapter = _trained(store, train_job_id)
    target = merged_dir(s, job)
    if (target / "config.json").exists():
        raise ExportError(Said(f"{target.name} is already merged: find it on the Models tab.",
                               f"{target.name} 已经合并过了：可以在“模型”标签页找到它。"))
    for other in store.list(kind="merge"):
        if other.spec.get("train_job") == job.id and store.refresh(other).status in ("queued", "running"):
            raise ExportError(Said(f"{job.name} is being merged already ({other.name}): wait for it.",
                                   f"{job.name} 正在合并（{other.name}）：请等它完成。"))
    base = Path(job.spec["model"])
    job_id, path = store.new_folder("merge")
    # Written beside the target (a hidden name the Models tab skips), renamed when complete.
    partial = target.with_name(f".{target.name}.partial")
    cfg = {"model_name_or_path": str(base), "adapter_name_or_path": str(adapter),
           "template": models.template_for(base), "finetuning_type": "lora",
           "trust_remote_code": False, "export_dir": str(partial), "export_size": 5,
           "export_device": "cpu", "export_legacy_format": False}
    (path / "export.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = training.train_env(s, path)
    cmd = [s.train_python, "-I", str(EXPORTER), str(partial), str(target), "--",
           training.cli(s), "export", str(path / "export.yaml")]
    return store.launch("merge", f"merge {job.name}", cmd, spec={"train_job": job.id, "export_dir": str(target)},
                        env=env, job_id=job_id, folder=path, owner=user)


COMPARER = Path(__file__).with_name("lf_compare.py")


def compare(s: config.Settings, store: JobStore, train_job_id: str, prompts: list[str],
            max_new_tokens: int = 96, user: str | None = None) -> Job:
    job, adapter = _trained(store, train_job_id)
    prompts = [p.strip() for p in prompts if p.strip()][:10]
    if not prompts:
        raise ExportError(Said("Write at least one prompt (one per line).", "请至少写一个提示词（每行一个）。"))
    job_id, path = store.new_folder("compare")
    req = {"model": job.spec["model"], "adapter": str(adapter), "prompts": prompts,
           "max_new_tokens": int(max_new_tokens)}
    (path / "request.json").write_text(json.dumps(req, ensure_ascii=False))
    # -I: studio/ (with its own datasets.py) must not shadow the train environment's libraries
    cmd = [s.train_python, "-I", str(COMPARER), str(path / "request.json"), str(path / "result.json")]
    return store.launch("compare", f"compare {job.name}", cmd, spec={"train_job": job.id},
                        env=training.train_env(s, path), job_id=job_id, folder=path, owner=user)


def comparison(job: Job) -> list[dict] | None:
    f = job.folder / "result.json"
    return json.loads(f.read_text(encoding="utf-8"))["rows"] if f.exists() else None

"""Merge a trained LoRA adapter into its base model: a `llamafactory-cli export` job.

The merged folder lands in the models folder, so it shows up on the Models tab as a model of its
own, ready to be made active, served without adapters, or pushed to the hub.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from studio import config, models, training
from studio.jobs import Job, JobStore


class ExportError(ValueError):
    """A problem the user can act on; the message says what and how."""


def merged_dir(s: config.Settings, job: Job) -> Path:
    return s.models / f"{Path(job.spec['model']).name}-{job.name}"


def merge(s: config.Settings, store: JobStore, train_job_id: str) -> Job:
    job = store.get(train_job_id)
    if job is None or job.kind != "train":
        raise ExportError(f"There is no training run {train_job_id}.")
    adapter = training.adapter_dir(store.refresh(job))
    if adapter is None:
        raise ExportError(f"{job.name} has no saved adapter yet: wait for it to finish.")
    target = merged_dir(s, job)
    if (target / "config.json").exists():
        raise ExportError(f"{target.name} is already merged: find it on the Models tab.")
    base = Path(job.spec["model"])
    folder = store.new_folder("merge")
    job_id, path = folder
    cfg = {"model_name_or_path": str(base), "adapter_name_or_path": str(adapter),
           "template": models.template_for(base), "finetuning_type": "lora",
           "trust_remote_code": False, "export_dir": str(target), "export_size": 5,
           "export_device": "cpu", "export_legacy_format": False}
    (path / "export.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = training.train_env(s, path)
    return store.launch("merge", f"merge {job.name}", [training.cli(s), "export",
                        str(path / "export.yaml")], spec={"train_job": job.id, "export_dir": str(target)},
                        env=env, job_id=job_id, folder=path)

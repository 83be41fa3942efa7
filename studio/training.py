"""LoRA fine-tuning through LLaMA-Factory: form -> YAML -> `llamafactory-cli train` job.

The YAML written into the job folder is the reproducible record of the run. LLaMA-Factory appends
one JSON line per logging step to <output_dir>/trainer_log.jsonl; that file is the progress
contract the UI reads. Started with its board variables set, the trainer stops gracefully on
SIGABRT and saves the adapter it has so far, which is how cancel keeps the work.
"""
from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from studio import config, datasets, models
from studio.jobs import Job, JobStore

TARGETS = ("all", "q_proj,v_proj", "q_proj,k_proj,v_proj,o_proj")


class TrainError(ValueError):
    """A problem the user can act on; the message says what and how."""


@dataclass
class LoraForm:
    dataset: str = datasets.SAMPLE_NAME
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_target: str = "all"
    learning_rate: float = 1e-3
    num_train_epochs: float = 3.0
    max_steps: int = 0  # 0: train for num_train_epochs
    cutoff_len: int = 256
    batch_size: int = 4
    save_steps: int = 10  # a checkpoint every N steps: what cancel keeps and resume starts from
    model: str = ""  # model folder; empty: the active model

    def check(self) -> None:
        if not 1 <= int(self.lora_rank) <= 256:
            raise TrainError("LoRA rank must be between 1 and 256 (8 or 16 is typical).")
        if int(self.lora_alpha) < 1:
            raise TrainError("LoRA alpha must be at least 1 (usually twice the rank).")
        if not 0 < float(self.learning_rate) <= 1:
            raise TrainError("Learning rate must be above 0 and at most 1 (1e-4 to 1e-3 for LoRA).")
        if int(self.max_steps) < 0 or (int(self.max_steps) == 0 and float(self.num_train_epochs) <= 0):
            raise TrainError("Set a positive number of epochs, or a positive max steps.")
        if not 16 <= int(self.cutoff_len) <= 131072:
            raise TrainError("Cutoff length must be between 16 and 131072 tokens.")
        if not 1 <= int(self.batch_size) <= 1024:
            raise TrainError("Batch size must be between 1 and 1024.")
        if int(self.save_steps) < 1:
            raise TrainError("Save a checkpoint at least every 1 step (10 to 100 is typical).")
        if not str(self.lora_target).strip():
            raise TrainError("Choose the modules LoRA adapts ('all' for every linear layer).")


def build_yaml(s: config.Settings, form: LoraForm, output_dir: Path) -> dict:
    form.check()
    model_dir = Path(form.model) if form.model else models.active_model(s)
    models.read_config(model_dir)
    ds_dir = datasets.folder(s)
    if form.dataset not in datasets.list_names(s):
        raise TrainError(f"There is no dataset named '{form.dataset}'.")
    cfg = {
        "model_name_or_path": str(model_dir),
        "trust_remote_code": False,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": int(form.lora_rank),
        "lora_alpha": int(form.lora_alpha),
        "lora_target": str(form.lora_target).strip(),
        "dataset": form.dataset,
        "dataset_dir": str(ds_dir),
        "template": models.template_for(model_dir),
        "cutoff_len": int(form.cutoff_len),
        "overwrite_cache": True,
        "preprocessing_num_workers": 1,
        "dataloader_num_workers": 0,
        "output_dir": str(output_dir),
        "logging_steps": 1,
        "save_steps": int(form.save_steps),
        "plot_loss": False,
        "overwrite_output_dir": True,
        "report_to": "none",
        "per_device_train_batch_size": int(form.batch_size),
        "gradient_accumulation_steps": 1,
        "learning_rate": float(form.learning_rate),
        "num_train_epochs": float(form.num_train_epochs),
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
    }
    if int(form.max_steps) > 0:
        cfg["max_steps"] = int(form.max_steps)
    if not s.gpu:
        cfg["use_cpu"] = True  # fp32 on CPU; bf16 there would need use_cpu too
    else:
        cfg["bf16"] = True
    return cfg


def cli(s: config.Settings) -> str:
    return str(Path(s.train_python).with_name("llamafactory-cli"))


def train_env(s: config.Settings, out: Path) -> dict:
    env = {
        "LLAMABOARD_ENABLED": "1",  # makes the trainer stop gracefully (and save) on SIGABRT
        "LLAMABOARD_WORKDIR": str(out),
        "OMP_NUM_THREADS": str(s.train_threads),
        "MKL_NUM_THREADS": str(s.train_threads),
        "HF_HOME": str(s.hf_home),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DISABLE_VERSION_CHECK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
    }
    if not s.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def command(s: config.Settings, yaml_path: Path) -> list[str]:
    return [cli(s), "train", str(yaml_path)]


def start(s: config.Settings, store: JobStore, form: LoraForm,
          resume_from: Path | None = None) -> Job:
    job_id, folder = store.new_folder("train")
    out = folder / "output"
    cfg = build_yaml(s, form, out)
    if resume_from is not None:
        # HF Trainer restores weights, optimizer, scheduler and data order from the checkpoint.
        cfg["resume_from_checkpoint"] = str(resume_from)
    (folder / "train.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    name = f"lora-{job_id.split('-', 1)[1]}"
    spec = {"form": asdict(form), "model": cfg["model_name_or_path"], "output_dir": str(out),
            "adapter_name": name, "resumed_from": str(resume_from) if resume_from else None}
    return store.launch("train", name, command(s, folder / "train.yaml"), spec=spec,
                        env=train_env(s, out), job_id=job_id, folder=folder)


def checkpoints(job: Job) -> list[Path]:
    """checkpoint-N folders of a run, oldest first; each one can be resumed from."""
    out = Path(job.spec.get("output_dir", job.folder / "output"))
    found = [p for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def resume(s: config.Settings, store: JobStore, job_id: str, checkpoint: str | None = None) -> Job:
    """A new run with the same form, continuing from a checkpoint (the latest by default)."""
    job = store.get(job_id)
    if job is None or job.kind != "train":
        raise TrainError(f"There is no training run {job_id}.")
    if job.status in ("queued", "running"):
        raise TrainError("This run is still going; cancel it before resuming.")
    points = checkpoints(job)
    if not points:
        raise TrainError("This run saved no checkpoint yet (one is written every "
                         f"{job.spec['form'].get('save_steps', '?')} steps); start a new run.")
    chosen = points[-1] if not checkpoint else next(
        (p for p in points if p.name == checkpoint or str(p) == checkpoint), None)
    if chosen is None:
        raise TrainError(f"{checkpoint} is not a checkpoint of this run: "
                         f"{', '.join(p.name for p in points)}.")
    return start(s, store, LoraForm(**job.spec["form"]), resume_from=chosen)


def cancel(store: JobStore, job_id: str) -> Job:
    # SIGABRT: LLaMA-Factory's board callback stops at the next step and saves the adapter.
    return store.cancel(job_id, sig=signal.SIGABRT, grace=60)


def progress(job: Job) -> dict:
    """Latest step, total, percent, ETA and the loss curve from trainer_log.jsonl."""
    log = Path(job.spec.get("output_dir", job.folder / "output")) / "trainer_log.jsonl"
    points, last = [], {}
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # the trainer may be mid-write on the last line
            last = rec
            if rec.get("loss") is not None:
                points.append({"step": rec["current_steps"], "loss": rec["loss"]})
    return {"step": last.get("current_steps", 0), "total": last.get("total_steps", 0),
            "percent": float(last.get("percentage", 0.0)),
            "elapsed": last.get("elapsed_time", ""), "remaining": last.get("remaining_time", ""),
            "loss": points}


def adapter_dir(job: Job) -> Path | None:
    out = Path(job.spec.get("output_dir", job.folder / "output"))
    return out if (out / "adapter_config.json").exists() else None


def adapters(store: JobStore, base: Path | None = None) -> list[dict]:
    """Every training run that left an adapter (finished, or cancelled after saving one),
    optionally only those trained on the given base model folder."""
    found = []
    for job in store.list(kind="train"):
        job = store.refresh(job)
        d = adapter_dir(job)
        if d is not None and job.status in ("succeeded", "cancelled"):
            if base is not None and Path(job.spec.get("model", "")) != Path(base):
                continue
            rank = json.loads((d / "adapter_config.json").read_text()).get("r", 8)
            found.append({"name": job.name, "path": d, "rank": int(rank),
                          "base": job.spec.get("model", ""), "status": job.status})
    return found

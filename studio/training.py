"""LoRA fine-tuning through LLaMA-Factory: form -> YAML -> `llamafactory-cli train` job.

The YAML written into the job folder is the reproducible record of the run. LLaMA-Factory appends
one JSON line per logging step to <output_dir>/trainer_log.jsonl; that file is the progress
contract the UI reads. Started with its board variables set, the trainer stops gracefully on
SIGABRT and saves the adapter it has so far, which is how cancel keeps the work.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import signal
from dataclasses import asdict
from pathlib import Path

import yaml

from studio import config, datasets, models
from studio.jobs import Job, JobStore
from studio.words import Said
from studio.trainform import (KTO_INFO, STAGES, TARGETS, LoraForm, TrainError, build_yaml,  # noqa: F401
                              deepspeed_config, kto_rows, memory_estimate, total_steps)

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


def check_shm(s: config.Settings) -> None:
    """NCCL passes gradients between a box's GPUs through /dev/shm: Docker's 64 MB default
    stops a multi-GPU run minutes in, with a bus error; refuse it before it starts."""
    from studio.core import runtime

    shm = runtime.shm_too_small(s)
    if shm is not None:
        raise TrainError(Said(f"A run on several GPUs passes data through /dev/shm, which has only "
                              f"{shm // 2**20} MB here: start the container with --ipc=host "
                              "(or --shm-size=16g), or train on one GPU.",
                              f"多卡训练通过 /dev/shm 传递数据，而这里只有 {shm // 2**20} MB：请用 "
                              "--ipc=host（或 --shm-size=16g）启动容器，或者只用一张 GPU 训练。"))


def check_ray(store: JobStore, workers: int) -> None:
    """LLaMA-Factory's Ray mode needs the cluster, and raises minutes in when it asks for more
    workers than the cluster has GPUs: say so before it starts."""
    if not store.ray:
        raise TrainError(Said("Ray workers train across a Ray cluster's GPUs: start the studio with "
                              "RAY_ADDRESS set to the cluster's dashboard (http://HEAD:8265).",
                              "Ray 工作进程在 Ray 集群的 GPU 上训练：请设置 RAY_ADDRESS 为集群的 "
                              "dashboard 地址（http://HEAD:8265）后再启动工作台。"))
    if workers > len(store.gpus):
        raise TrainError(Said(f"{workers} Ray workers need {workers} GPUs and the cluster has {len(store.gpus)}.",
                              f"{workers} 个 Ray 工作进程需要 {workers} 张 GPU，而集群只有 {len(store.gpus)} 张。"))


def needs(s: config.Settings, store: JobStore, form: LoraForm) -> dict:
    """What the run asks of the queue: on a GPU, the memory the studio's estimator gives for
    exactly this form (the figure the Models tab shows), on as many GPUs as DeepSpeed spreads
    it over; the torch threads either way."""
    need = {"cpus": int(s.train_threads)}
    if store.gpus and not int(form.ray_workers):  # Ray's workers hold the GPUs, not the entrypoint
        need.update(gpus=int(form.gpus), gpu_mem=int(memory_estimate(s, form)["total"]))
    return need


def inference_needs(store: JobStore, runs: list[Job]) -> dict | None:
    """An evaluation or comparison of runs, on a GPU box: one GPU, with no more memory than the
    largest of them trained in (no gradients, no optimizer: it needs less)."""
    if not store.gpus:
        return None
    return {"gpus": 1, "gpu_mem": max(int((r.needs or {}).get("gpu_mem", 0)) for r in runs)}


def keep_data(s: config.Settings, form: LoraForm, data: Path, data_from: Path | None = None) -> Path:
    """The run's own copy of its dataset (a hard link where the disk allows: a save replaces the
    file, so the link keeps this version), registered for LLaMA-Factory; KTO's good and bad
    answers made from the pairs. data_from: a run resumed trains on the copy it started with."""
    data.mkdir()
    if data_from is not None and (data_from / "dataset_info.json").exists():
        for f in data_from.iterdir():
            _link(f, data / f.name)
        return data
    src = datasets.folder(s) / f"{form.dataset}.json"
    fmt, records = datasets.load(s, form.dataset)
    if form.stage == "kto":
        name = f"{form.dataset}_kto"
        (data / f"{name}.json").write_text(json.dumps(kto_rows(records), ensure_ascii=False))
        info = {name: {"file_name": f"{name}.json", **KTO_INFO}}
    else:
        _link(src, data / src.name)
        info = {form.dataset: datasets.info_entry(fmt, src.name)}
    (data / "dataset_info.json").write_text(json.dumps(info, ensure_ascii=False))
    return data


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another disk, or a filesystem without hard links
        shutil.copyfile(src, dst)


def start(s: config.Settings, store: JobStore, form: LoraForm,
          resume_from: Path | None = None, kind: str = "train", user: str | None = None,
          data_from: Path | None = None) -> Job:
    if int(form.gpus) > 1:
        check_shm(s)
    if int(form.ray_workers):
        check_ray(store, int(form.ray_workers))
    job_id, folder = store.new_folder(kind)
    what = form.method if form.stage == "sft" else f"{form.stage}-{form.method}"
    name = f"{what if kind == 'train' else kind}-{job_id.split('-', 1)[1]}"
    out = folder / "output"
    if form.method == "full" and kind == "train":
        # A full fine-tune writes a whole model: train straight into the models folder, so it
        # shows up on the Models tab (config.json appears when the run saves it).
        base = Path(form.model) if form.model else models.active_model(s)
        out = s.models / f"{base.name}-{name}"
    cfg = build_yaml(s, form, out, own_data=data_from is not None and (data_from / "dataset_info.json").exists())
    if resume_from is not None:
        # HF Trainer restores weights, optimizer, scheduler and data order from the checkpoint.
        cfg["resume_from_checkpoint"] = str(resume_from)
    if form.deepspeed:
        (folder / "deepspeed.json").write_text(json.dumps(deepspeed_config(form.deepspeed), indent=1))
        cfg["deepspeed"] = str(folder / "deepspeed.json")
    try:
        cfg["dataset_dir"] = str(keep_data(s, form, folder / "data", data_from))
    except OSError as e:  # the dataset deleted or the disk full since the form was checked
        shutil.rmtree(folder, ignore_errors=True)
        raise TrainError(Said(f"The run's copy of its dataset could not be written ({e.strerror or e}): "
                              "check the dataset and the disk, then start again.",
                              f"无法写入这次训练的数据副本（{e.strerror or e}）：请检查数据集和磁盘空间，再重新开始。")) from e
    (folder / "train.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    spec = {"form": asdict(form), "model": cfg["model_name_or_path"], "output_dir": str(out),
            "adapter_name": name, "resumed_from": str(resume_from) if resume_from else None}
    env = train_env(s, out)
    if int(form.gpus) > 1:  # one process per GPU, on the GPUs the queue hands this job
        env["FORCE_TORCHRUN"] = "1"
    if int(form.ray_workers):  # LLaMA-Factory places its workers through the cluster it runs on
        env["USE_RAY"] = "1"
    return store.launch(kind, name, command(s, folder / "train.yaml"), spec=spec, env=env,
                        job_id=job_id, folder=folder, owner=user, needs=needs(s, store, form))


def checkpoints(job: Job) -> list[Path]:
    """checkpoint-N folders of a run, oldest first; each one can be resumed from."""
    out = Path(job.spec.get("output_dir", job.folder / "output"))
    found = [p for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def resume(s: config.Settings, store: JobStore, job_id: str, checkpoint: str | None = None,
           user: str | None = None) -> Job:
    """A new run with the same form, continuing from a checkpoint (the latest by default)."""
    job = store.get(job_id)
    if job is None or job.kind != "train":
        raise TrainError(Said(f"There is no training run {job_id}.", f"没有训练任务 {job_id}。"))
    if job.status in ("queued", "running"):
        raise TrainError(Said("This run is still going; cancel it before resuming.",
                              "这个训练任务还在进行；请先取消，再继续训练。"))
    points = checkpoints(job)
    if not points:
        every = job.spec['form'].get('save_steps', '?')
        raise TrainError(Said(f"This run saved no checkpoint yet (one is written every {every} steps); "
                              "start a new run.",
                              f"这个训练任务还没有保存检查点（每 {every} 步保存一个）；请开始新的训练。"))
    chosen = points[-1] if not checkpoint else next(
        (p for p in points if p.name == checkpoint or str(p) == checkpoint), None)
    if chosen is None:
        names = ', '.join(p.name for p in points)
        raise TrainError(Said(f"{checkpoint} is not a checkpoint of this run: {names}.",
                              f"{checkpoint} 不是这个训练任务的检查点，可选：{names}。"))
    return start(s, store, LoraForm(**job.spec["form"]), resume_from=chosen, user=user,
                 data_from=job.folder / "data")


def cancel(store: JobStore, job_id: str) -> Job:
    # SIGABRT: LLaMA-Factory's board callback stops at the next step and saves the adapter.
    return store.cancel(job_id, sig=signal.SIGABRT, grace=60)


def progress(job: Job) -> dict:
    """Latest step, total, percent, ETA, throughput, and the loss / eval loss / lr curves, from
    the trainer_log.jsonl LLaMA-Factory appends (one line per logging step)."""
    log = Path(job.spec.get("output_dir", job.folder / "output")) / "trainer_log.jsonl"
    loss, lr, last = [], [], {}
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # the trainer may be mid-write on the last line
            last = {**last, **rec}
            step = rec.get("current_steps", 0)
            for key, series in (("loss", "train"), ("eval_loss", "eval")):
                if rec.get(key) is not None:
                    loss.append({"step": step, "loss": rec[key], "series": series})
            if rec.get("lr") is not None:
                lr.append({"step": step, "lr": rec["lr"]})
    steps = [p["step"] for p in loss if p["series"] == "train"]
    return {"step": last.get("current_steps", 0), "total": last.get("total_steps", 0),
            "percent": float(last.get("percentage", 0.0)),
            "elapsed": last.get("elapsed_time", ""), "remaining": last.get("remaining_time", ""),
            "throughput": last.get("throughput"), "loss": [p for p in loss if p["series"] == "train"],
            "curves": loss, "lr": lr,
            "rewards": rewards(job, steps) if job.spec.get("form", {}).get("stage", "sft") != "sft" else []}


_LOGGED = re.compile(r"(\{'loss': .*\})\s*$")  # the dict the trainer prints at each logging step
_NONFINITE = re.compile(r"(?<=: )(-?nan|-?inf)(?=[,}])")


def rewards(job: Job, steps: list[int]) -> list[dict]:
    """A preference run's reward margin and accuracy per logged step. trainer_log.jsonl leaves the
    margin out, so it comes from the metrics the trainer prints at each logging step (in step
    order, one per line of trainer_log.jsonl that has a loss)."""
    out = []
    try:
        text = job.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    logged = []
    for line in text.splitlines():
        m = _LOGGED.search(line)
        if m and "'grad_norm'" in m.group(1):  # the trainer's own dict, not LLaMA-Factory's short echo
            try:  # a diverged step prints nan or inf, which are no Python literals
                logged.append(ast.literal_eval(_NONFINITE.sub(r"'\1'", m.group(1))))
            except (ValueError, SyntaxError):
                logged.append({})  # keeps the later lines on their own steps
    for step, rec in zip(steps, logged):  # KTO leaves the margin out of a batch with no good answer
        for key, series in (("rewards/margins", "margin"), ("rewards/accuracies", "accuracy")):
            value = float(rec.get(key, "nan"))
            if math.isfinite(value):
                out.append({"step": step, "value": value, "series": series})
    return out


def seconds(hms: str) -> int:
    h, m, sec = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + sec


def probe(s: config.Settings, store: JobStore, form: LoraForm, steps: int = 6, user: str | None = None) -> Job:
    """A few real steps of exactly this configuration, to time it before the real run."""
    from dataclasses import replace

    short = replace(form, max_steps=steps, val_size=0.0, save_steps=10**6)
    job = start(s, store, short, kind="probe", user=user)
    return job


def probe_result(s: config.Settings, job: Job, form: LoraForm) -> dict | None:
    """Seconds per step measured by a finished probe, and what the full run would take."""
    log = Path(job.spec.get("output_dir", "")) / "trainer_log.jsonl"
    if job.status != "succeeded" or not log.exists():
        return None
    recs = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    recs = [r for r in recs if r.get("loss") is not None]
    if len(recs) < 2:
        return None
    # from the first logged step on: the first step also pays for warm-up and compilation
    per_step = (seconds(recs[-1]["elapsed_time"]) - seconds(recs[0]["elapsed_time"])) / \
        (recs[-1]["current_steps"] - recs[0]["current_steps"])
    total = total_steps(s, form)
    return {"seconds_per_step": per_step, "steps": total, "total_seconds": per_step * total}


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

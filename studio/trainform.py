"""The training form: every LoRA/QLoRA setting with a default that works, checked, and turned
into LLaMA-Factory's YAML (the job's reproducible record)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from studio import config, datasets, models
from studio.models import support
from studio.words import Said, zh

SCHEDULERS = ("cosine", "linear", "constant_with_warmup")
# What the run learns from: SFT from answers; DPO, ORPO and KTO from preference pairs. ORPO is
# LLaMA-Factory's dpo stage with the odds-ratio loss (no reference model); KTO learns from each
# answer marked good or bad, which the studio makes from the pairs.
STAGES = {"sft": ("sft", None), "dpo": ("dpo", "sigmoid"), "orpo": ("dpo", "orpo"), "kto": ("kto", None)}
PREF_LR = 5e-5  # the form's learning rate for a preference stage: LoRA at SFT's 1e-3 overshoots pairs
NEEDS_CUDA = (Said("QLoRA needs a CUDA GPU: bitsandbytes' 4-bit kernels do not run on a CPU.",
                   "QLoRA 需要 CUDA GPU：bitsandbytes 的 4 位算子不能在 CPU 上运行。"),
              Said("DeepSpeed needs CUDA GPUs; on one machine without them it has nothing to shard.",
                   "DeepSpeed 需要 CUDA GPU；没有 GPU 的单机上它没有可切分的对象。"),
              Said("Training on several GPUs needs CUDA GPUs; this machine trains on its CPU.",
                   "多卡训练需要 CUDA GPU；这台机器用 CPU 训练。"))
TARGETS = ("all", "q_proj,v_proj", "q_proj,k_proj,v_proj,o_proj")


class TrainError(ValueError):
    """A problem the user can act on; the message says what and how."""


@dataclass
class LoraForm:
    dataset: str = datasets.SAMPLE_NAME
    method: str = "lora"  # "lora", or "full": every weight trains and the run writes a whole model
    stage: str = "sft"  # sft, dpo, orpo or kto (STAGES)
    pref_beta: float = 0.1  # DPO/KTO: how far from the reference model it may move; ORPO: the odds-ratio weight
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_target: str = "all"
    learning_rate: float = 1e-3
    num_train_epochs: float = 3.0
    max_steps: int = 0  # 0: train for num_train_epochs
    cutoff_len: int = 512  # the sample's grounded rows (a retrieved chunk, then the question) run to ~440 tokens
    batch_size: int = 4
    save_steps: int = 10  # a checkpoint every N steps: what cancel keeps and resume starts from
    # advanced
    grad_accum: int = 1
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    lora_dropout: float = 0.0
    val_size: float = 0.0  # share of rows held out to report an eval loss
    grad_ckpt: bool = True  # ~25% slower, much less activation memory
    quant_4bit: bool = False  # QLoRA: 4-bit base weights (bitsandbytes, CUDA only)
    deepspeed: str = ""  # "", "2" or "3": ZeRO stage across GPUs (CUDA only)
    gpus: int = 1  # GPUs the run takes (more than one: LLaMA-Factory runs torchrun; data parallel)
    ray_workers: int = 0  # on a Ray cluster: LLaMA-Factory's Ray mode, one worker per GPU across nodes
    model: str = ""  # model folder; empty: the active model

    def check(self) -> None:
        if self.stage not in STAGES:
            raise TrainError(Said("Training stage must be sft, dpo, orpo or kto.",
                                  "训练阶段只能是 sft、dpo、orpo 或 kto。"))
        if not 0 < float(self.pref_beta) <= 10:
            raise TrainError(Said("Beta must be above 0 and at most 10 (0.1 is typical).",
                                  "beta 必须大于 0 且不超过 10（常用 0.1）。"))
        if self.method not in ("lora", "full"):
            raise TrainError(Said("Method must be lora or full.",
                                  "方法只能是 lora 或 full。"))
        if self.method == "full" and self.quant_4bit:
            raise TrainError(Said("QLoRA trains LoRA adapters on 4-bit weights; a full fine-tune cannot.",
                                  "QLoRA 是在 4 位量化权重上训练 LoRA 适配器，全参数微调不能用它。"))
        if not 1 <= int(self.lora_rank) <= 256:
            raise TrainError(Said("LoRA rank must be between 1 and 256 (8 or 16 is typical).",
                                  "LoRA 秩必须在 1 到 256 之间（常用 8 或 16）。"))
        if int(self.lora_alpha) < 1:
            raise TrainError(Said("LoRA alpha must be at least 1 (usually twice the rank).",
                                  "LoRA alpha 至少为 1（通常是秩的两倍）。"))
        if not 0 < float(self.learning_rate) <= 1:
            raise TrainError(Said("Learning rate must be above 0 and at most 1 (1e-4 to 1e-3 for LoRA).",
                                  "学习率必须大于 0 且不超过 1（LoRA 常用 1e-4 到 1e-3）。"))
        if int(self.max_steps) < 0 or (int(self.max_steps) == 0 and float(self.num_train_epochs) <= 0):
            raise TrainError(Said("Set a positive number of epochs, or a positive max steps.",
                                  "请把训练轮数或最大步数设为正数。"))
        if not 16 <= int(self.cutoff_len) <= 131072:
            raise TrainError(Said("Cutoff length must be between 16 and 131072 tokens.",
                                  "截断长度必须在 16 到 131072 个 token 之间。"))
        if not 1 <= int(self.batch_size) <= 1024:
            raise TrainError(Said("Batch size must be between 1 and 1024.",
                                  "批大小必须在 1 到 1024 之间。"))
        if int(self.save_steps) < 1:
            raise TrainError(Said("Save a checkpoint at least every 1 step (10 to 100 is typical).",
                                  "检查点间隔至少为 1 步（常用 10 到 100）。"))
        if not str(self.lora_target).strip():
            raise TrainError(Said("Choose the modules LoRA adapts ('all' for every linear layer).",
                                  "请选择 LoRA 作用的模块（'all' 表示全部线性层）。"))
        if int(self.grad_accum) < 1:
            raise TrainError(Said("Gradient accumulation must be at least 1.",
                                  "梯度累积步数至少为 1。"))
        if self.scheduler not in SCHEDULERS:
            raise TrainError(Said(f"Learning-rate schedule must be one of {', '.join(SCHEDULERS)}.",
                                  f"学习率调度只能是 {'、'.join(SCHEDULERS)} 之一。"))
        if not 0 <= float(self.warmup_ratio) < 1 or not 0 <= float(self.lora_dropout) < 1:
            raise TrainError(Said("Warm-up ratio and LoRA dropout must be between 0 and 1.",
                                  "预热比例和 LoRA 丢弃率必须在 0 到 1 之间。"))
        if not 0 <= float(self.val_size) <= 0.5:
            raise TrainError(Said("Hold out between 0 and 0.5 of the rows for evaluation.",
                                  "验证集比例必须在 0 到 0.5 之间。"))
        if str(self.deepspeed) not in ("", "2", "3"):
            raise TrainError(Said("DeepSpeed stage must be empty, 2 or 3.",
                                  "DeepSpeed 阶段只能为空、2 或 3。"))
        if int(self.ray_workers) < 0 or (int(self.ray_workers) and int(self.gpus) > 1):
            raise TrainError(Said("Ray workers: 0 (off) or the number of GPUs across the cluster, with "
                                  "GPUs for this run left at 1 (Ray places the workers).",
                                  "Ray 工作进程数：0（关闭）或集群中要用的 GPU 数；此时“本次训练使用的 GPU 数”"
                                  "保持为 1（由 Ray 安排各工作进程）。"))
        if int(self.gpus) < 1:
            raise TrainError(Said("A run takes at least 1 GPU.", "一次训练至少使用 1 张 GPU。"))


def _check_targets(model_cfg: dict, targets: str) -> None:
    """A LoRA target the model does not have fails only minutes into the run, inside peft: caught
    here from the architecture (built on the meta device, no weights)."""
    from studio import estimate

    try:
        estimate.lora_params(estimate.counts(model_cfg), 8, targets)
    except ValueError as e:
        raise TrainError(Said(f"LoRA target modules: {e} Use 'all' or a comma-separated list of them.",
                              f"LoRA 目标模块：{zh(e)}请填 'all'，或用逗号分隔的其中几个模块。")) from e
    except Exception:  # an architecture transformers cannot build here: LLaMA-Factory will say
        return


def build_yaml(s: config.Settings, form: LoraForm, output_dir: Path, own_data: bool = False) -> dict:
    """own_data: the run brings its copy of the data (a resume), which was checked when it started;
    the dataset of that name may have changed or gone since."""
    form.check()
    model_dir = Path(form.model) if form.model else models.active_model(s)
    model_cfg = models.read_config(model_dir)
    if form.method == "lora" and str(form.lora_target).strip() != "all":
        _check_targets(model_cfg, str(form.lora_target))
    if not own_data:
        if form.dataset not in datasets.list_names(s):
            raise TrainError(Said(f"There is no dataset named '{form.dataset}'.",
                                  f"没有名为 '{form.dataset}' 的数据集。"))
        _check_stage(form.stage, datasets.load(s, form.dataset)[0])
    template = models.template_for(model_dir)
    refused = support.refuse_training(s, model_cfg, template)
    if refused:
        raise TrainError(refused)
    stage, loss = STAGES[form.stage]
    cfg = {
        "model_name_or_path": str(model_dir),
        "trust_remote_code": False,
        "stage": stage,
        "do_train": True,
        "finetuning_type": form.method,
        "dataset": form.dataset,
        "template": template,
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
        "gradient_accumulation_steps": int(form.grad_accum),
        "learning_rate": float(form.learning_rate),
        "num_train_epochs": float(form.num_train_epochs),
        "lr_scheduler_type": form.scheduler,
        "warmup_ratio": float(form.warmup_ratio),
        "include_num_input_tokens_seen": True,  # makes the trainer log tokens/s
    }
    if stage != "sft":
        cfg["pref_beta"] = float(form.pref_beta)
    if loss:
        cfg["pref_loss"] = loss
    # Every run trains on a copy of its dataset kept with it (studio/training.py): an edit after the
    # start changes neither the run, nor its resume, nor what its held-out split was.
    cfg["dataset_dir"] = "<job folder>/data"
    if form.stage == "kto":  # the pairs as answers marked good or bad
        cfg["dataset"] = f"{form.dataset}_kto"
    if form.method == "lora":
        cfg.update(lora_rank=int(form.lora_rank), lora_alpha=int(form.lora_alpha),
                   lora_target=str(form.lora_target).strip(), lora_dropout=float(form.lora_dropout))
    if float(form.val_size) > 0:
        cfg.update(val_size=float(form.val_size), eval_strategy="steps",
                   eval_steps=int(form.save_steps), per_device_eval_batch_size=int(form.batch_size))
    if not form.grad_ckpt:
        cfg["disable_gradient_checkpointing"] = True
    if form.quant_4bit:
        if not s.gpu:
            raise TrainError(NEEDS_CUDA[0])
        cfg.update(quantization_bit=4, quantization_method="bnb", double_quantization=True)
    if int(form.ray_workers):
        cfg["ray_num_workers"] = int(form.ray_workers)
    if form.deepspeed or int(form.gpus) > 1 or int(form.ray_workers):
        if not s.gpu:
            raise TrainError(NEEDS_CUDA[1] if form.deepspeed else NEEDS_CUDA[2])
    if form.deepspeed and int(form.gpus) < 2:
        raise TrainError(Said("DeepSpeed ZeRO shards the run across GPUs: give it 2 or more, or turn it off.",
                              "DeepSpeed ZeRO 把训练切分到多张 GPU 上：请给它 2 张或更多，或者关闭它。"))
    if form.deepspeed:
        cfg["deepspeed"] = "<job folder>/deepspeed.json"  # written next to the YAML by start()
    if int(form.max_steps) > 0:
        cfg["max_steps"] = int(form.max_steps)
    if not s.gpu:
        cfg["use_cpu"] = True  # fp32 on CPU; bf16 there would need use_cpu too
    else:
        cfg["bf16"] = True
    return cfg




def _check_stage(stage: str, fmt: str) -> None:
    if stage == "sft" and fmt == "preference":
        raise TrainError(Said("This dataset holds preference pairs: train it with DPO, ORPO or KTO, or "
                              "convert it to Alpaca on the Dataset tab (its chosen answers) for SFT.",
                              "这个数据集是偏好对：请用 DPO、ORPO 或 KTO 训练，或者在“数据集”标签页把它转换成 "
                              "Alpaca 格式（保留较好的回答）再做 SFT。"))
    if stage != "sft" and fmt != "preference":
        raise TrainError(Said(f"{stage.upper()} learns from preference pairs (a better and a worse answer "
                              "to each question): pick a preference dataset such as support_preference.",
                              f"{stage.upper()} 需要偏好对数据（每个问题一个较好、一个较差的回答）：请选择偏好数据集，"
                              "例如 support_preference。"))


def kto_rows(records: list[dict]) -> list[dict]:
    """Each pair as two answers marked good (kto_tag true) and bad: what KTO learns from."""
    return [{"instruction": r.get("instruction", ""), "input": r.get("input", ""), "output": r[key],
             "kto_tag": key == "chosen"} for r in records for key in ("chosen", "rejected")]


KTO_INFO = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input",
                                                "response": "output", "kto_tag": "kto_tag"}}


def deepspeed_config(stage: str) -> dict:
    """A ZeRO config whose sizes the HF Trainer fills in ("auto")."""
    zero = {"stage": int(stage), "overlap_comm": False, "contiguous_gradients": True,
            "reduce_bucket_size": "auto"}
    if stage == "3":
        zero.update(stage3_gather_16bit_weights_on_model_save=True,
                    stage3_prefetch_bucket_size="auto", stage3_param_persistence_threshold="auto")
    return {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
            "gradient_accumulation_steps": "auto", "gradient_clipping": "auto",
            "bf16": {"enabled": "auto"}, "zero_optimization": zero}


def total_steps(s: config.Settings, form: LoraForm) -> int:
    """Optimizer steps the run will take (what the trainer's progress counts to)."""
    if int(form.max_steps) > 0:
        return int(form.max_steps)
    _, records = datasets.load(s, form.dataset)
    if form.stage == "kto":
        records = records * 2  # two answers per pair
    rows = len(records) - math.ceil(len(records) * float(form.val_size)) if float(form.val_size) else len(records)
    per_epoch = math.ceil(rows / (int(form.batch_size) * int(form.grad_accum)))
    return max(1, math.ceil(per_epoch * float(form.num_train_epochs)))


def memory_estimate(s: config.Settings, form: LoraForm) -> dict:
    """The Models tab's estimate for exactly this form."""
    from studio import estimate

    model_dir = Path(form.model) if form.model else models.active_model(s)
    method = "qlora" if form.quant_4bit else form.method
    if method == "full":
        method = "full_bf16" if s.gpu else "full_fp32"
    cfg = models.read_config(model_dir)
    pairs = 2 if form.stage != "sft" else 1  # a pair's two answers go through the model together
    est = estimate.estimate(cfg, method, int(form.lora_rank), str(form.lora_target),
                            int(form.batch_size) * pairs, int(form.cutoff_len), bool(form.grad_ckpt), bf16=s.gpu)
    if form.method == "full" and form.stage in ("dpo", "kto"):
        # a frozen copy of the model scores each answer; with LoRA the base without the adapter does
        ref = estimate.counts(cfg).total * (2 if s.gpu else 4)
        est["parts"]["reference"] = ref
        est["total"] += ref
    return estimate.per_gpu(est, int(form.gpus), str(form.deepspeed))

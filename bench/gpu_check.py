"""The GPU path, checked on a real GPU: the studio's own training YAML through LLaMA-Factory, LoRA
in bfloat16 and (when bitsandbytes imports) QLoRA 4-bit, on a model built from a catalog config
with random weights (the shapes are what memory and speed depend on; weights cannot travel to a
GPU machine without a network). Each case runs in a fresh process and prints its median step
time and peak GPU memory beside the studio's estimate for exactly the same settings.

    python bench/gpu_check.py [--config Qwen2.5-1.5B-Instruct] [--steps 8] [--batch 4] [--cutoff 1024]
                              [--tokenizer DIR] [--out DIR] [--cases lora,qlora] [--allow-cpu]

Run it with the training environment's python (.venvs/train/bin/python), or any python that has
torch, transformers, peft, accelerate and llamafactory. The tokenizer comes from the studio's
default model (SmolLM2 speaks ChatML, the template the Qwen configs use); only its files travel.
--allow-cpu runs the same harness on a CPU (fp32, no peak-memory figure): a check of the script.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
GIB = 2**30


def build_model(config_name: str, tokenizer: Path, models: Path, cuda: bool) -> Path:
    """A model folder: the catalog's config.json, random weights in bf16, the tokenizer's files."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target = models / config_name
    if (target / "model.safetensors.index.json").exists() or (target / "model.safetensors").exists():
        return target
    raw = json.loads((REPO / "assets" / "configs" / f"{config_name}.json").read_text())
    cfg = AutoConfig.for_model(**raw)
    with torch.device("cuda" if cuda else "cpu"):
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(target, max_shard_size="2GB")
    for f in tokenizer.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges", "chat_template")):
            shutil.copy(f, target / f.name)
    del model
    return target


def run_case(args) -> dict:
    """One training in this process (LLaMA-Factory's run_exp), timed per step."""
    import torch
    from transformers import TrainerCallback

    from studio import config, training

    cuda = torch.cuda.is_available()
    out = Path(args.out)
    s = config.load(home=out / "home", models_dir=out / "models", gpu=cuda)
    model_dir = build_model(args.config, Path(args.tokenizer), out / "models", cuda)
    form = training.LoraForm(model=str(model_dir), max_steps=args.steps, batch_size=args.batch,
                             cutoff_len=args.cutoff, save_steps=10**6, quant_4bit=args.case == "qlora")
    cfg = training.build_yaml(s, form, out / f"run-{args.case}")
    # Rows packed to the cutoff, so each step holds batch x cutoff tokens, as the estimate assumes.
    cfg.update(packing=True, num_train_epochs=1000.0, save_strategy="no")
    estimate = training.memory_estimate(s, form)

    class Timer(TrainerCallback):
        times: list[float] = []

        def on_step_begin(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.t)

    from llamafactory.train.tuner import run_exp

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    timer = Timer()
    run_exp(args=cfg, callbacks=[timer])
    steady = timer.times[2:] or timer.times  # the first steps warm up kernels and the allocator
    return {"case": args.case, "config": args.config, "device": torch.cuda.get_device_name() if cuda else "cpu",
            "steps": len(timer.times), "step_s": statistics.median(steady),
            "peak_allocated_gib": torch.cuda.max_memory_allocated() / GIB if cuda else None,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / GIB if cuda else None,
            "estimate_gib": estimate["total"] / GIB,
            "estimate_parts_gib": {k: round(v / GIB, 3) for k, v in estimate["parts"].items()}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="Qwen2.5-1.5B-Instruct")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--cutoff", type=int, default=1024)
    p.add_argument("--tokenizer", default=str(REPO / "studio_data" / "models" / "SmolLM2-135M-Instruct"))
    p.add_argument("--out", default="/tmp/studio-gpu-check")
    p.add_argument("--cases", default="lora,qlora")
    p.add_argument("--allow-cpu", action="store_true")
    p.add_argument("--case", help=argparse.SUPPRESS)  # one case, in a child process
    args = p.parse_args()
    if args.case:
        print("RESULT " + json.dumps(run_case(args)), flush=True)
        return 0

    import importlib.util

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("No CUDA GPU here: nothing to check (the script is ready for a machine with one).")
        return 0
    missing = [m for m in ("llamafactory", "peft", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"Cannot run LLaMA-Factory here: {', '.join(missing)} not importable.")
        return 2
    results = []
    for case in args.cases.split(","):
        if case == "qlora" and (importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available()):
            print("qlora: skipped (bitsandbytes is not importable, or no CUDA GPU)")
            continue
        cmd = [sys.executable, __file__, *sys.argv[1:], "--case", case]
        done = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{case}: failed (exit {done.returncode}); the end of its output:\n{(done.stdout + done.stderr)[-3000:]}")
            continue
        results.append(json.loads(line[len("RESULT "):]))
    print(f"\n{'case':6} {'device':28} {'step s':>7} {'peak alloc':>11} {'reserved':>9} {'estimate':>9} {'est/peak':>8}")
    for r in results:
        peak, reserved = r["peak_allocated_gib"], r["peak_reserved_gib"]
        cells = (f"{peak:.2f} GiB", f"{reserved:.2f}", f"{r['estimate_gib'] / peak:.2f}") if peak else ("-", "-", "-")
        print(f"{r['case']:6} {r['device'][:28]:28} {r['step_s']:7.3f} {cells[0]:>11} {cells[1]:>9} "
              f"{r['estimate_gib']:7.2f} G {cells[2]:>8}")
    print("\n" + json.dumps(results, indent=1))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())

"""Are the studio's launch settings leaving speed on the table? The same concurrent load through
`vllm serve` launched as the studio launches it, then with settings tuned by hand, one after the
other in one run; prints tokens/s of each and the studio's share of the best:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/serve_tuning.py [--prompts 64] [--tokens 64]

The hand-tuned variants are the knobs vLLM's CPU guide and engine arguments offer: the cores the
engine binds, scheduler batch limits, prefix caching, and compiling instead of eager mode.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config, models, serving, servebench  # noqa: E402
from studio.jobs import JobStore  # noqa: E402

VARIANTS = {  # name: (DeployOptions overrides, extra args, extra env)
    "studio defaults": ({}, [], {}),
    "vLLM's own binding (a core kept for the front end)": (
        {}, [], {"VLLM_CPU_OMP_THREADS_BIND": "auto", "VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}),
    "max-num-seqs 256, batched tokens 8192": ({}, ["--max-num-seqs", "256",
                                                   "--max-num-batched-tokens", "8192"], {}),
    "no prefix caching": ({"prefix_caching": False}, [], {}),
    "compiled (not eager)": ({"eager": False}, [], {}),
}


def measure(s, store, model_dir, name, prompts, tokens, repeat) -> float:
    over, args, env = VARIANTS[name]
    job = serving.start(s, store, model_dir=model_dir, adapter_names=[],
                        opts=serving.DeployOptions(**over), extra_args=args, extra_env=env)
    try:
        while serving.state(store, job) == "starting":
            time.sleep(1)
        if serving.state(store, job) != "ready":
            print(f"{name}: did not start\n{store.get(job.id).log_tail(1500)}")
            return 0.0
        servebench.vllm_tokens_per_s(job, prompts[:4], 8)  # warm-up
        return statistics.median(servebench.vllm_tokens_per_s(job, prompts, tokens)
                                 for _ in range(repeat))
    finally:
        serving.stop(store, job.id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    prompts = [servebench.QUESTIONS[i % len(servebench.QUESTIONS)] for i in range(args.prompts)]
    results = {}
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(Path(home) / "jobs")
        for name in args.only:
            results[name] = measure(s, store, models.active_model(s), name, prompts, args.tokens,
                                    args.repeat)
            print(f"{name:40s} {results[name]:7.1f} tok/s", flush=True)
    best = max(results, key=results.get)
    ours = results.get("studio defaults", 0.0)
    print(f"best by hand: {best} ({results[best]:.1f} tok/s); studio defaults reach "
          f"{ours / results[best] * 100:.0f}% of it")


if __name__ == "__main__":
    main()

"""What each of the studio's vLLM launch settings is worth on this machine, one change at a time.

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/serve_tuning.py [--prompts 64] [--tokens 64]
        [--runs 3] [--only NAME ...]

Each variant is the studio's launch plan (studio/launchplan.py) with one thing changed. For each
it starts `vllm serve` as the studio does, with a rank-8 adapter on every linear layer, and
measures: seconds to a healthy server; tokens/s with every prompt sent at once (--runs times:
median and each run); and time to the first token of the adapter with a three-chunk retrieval
prompt, as the Chat tab sends it, each request a cold prefill (median of five).
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

from openai import OpenAI  # noqa: E402

from studio import config, models, serving, servebench  # noqa: E402
from studio.jobs import JobStore  # noqa: E402

VARIANTS = {  # name: (DeployOptions overrides, extra args, extra env)
    "studio plan": ({}, [], {}),
    "float32 instead of bfloat16": ({"dtype": "float32"}, [], {}),
    "vLLM's own LoRA ops (no studio plugin)": ({}, [], {"VLLM_PLUGINS": "none"}),
    "tcmalloc preloaded (vLLM's CPU guide)": ({}, [], {"LD_PRELOAD": "libtcmalloc_minimal.so.4"}),
    "a core kept for vLLM's front end": ({}, [], {"VLLM_CPU_OMP_THREADS_BIND": "auto",
                                                  "VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}),
    "KV cache 1 GiB": ({"kv_cache_gib": 1}, [], {}),
    "KV cache 8 GiB": ({"kv_cache_gib": 8}, [], {}),
    "max-num-seqs 256, batched tokens 8192": ({}, ["--max-num-seqs", "256",
                                                   "--max-num-batched-tokens", "8192"], {}),
    "compiled (not eager)": ({"eager": False}, [], {}),
}


def first_token(job, model: str, messages: list[dict]) -> float:
    client = OpenAI(base_url=serving.base_url(job), api_key="EMPTY")
    t = time.perf_counter()
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True,
                                                max_tokens=2, temperature=0):
        if chunk.choices and chunk.choices[0].delta.content is not None:
            return time.perf_counter() - t
    return time.perf_counter() - t


def measure(s, store, model_dir, adapter, hits, name, prompts, tokens, runs) -> dict:
    over, args, env = VARIANTS[name]
    t = time.perf_counter()
    job = serving.start(s, store, model_dir=model_dir, adapter_names=[],
                        opts=serving.DeployOptions(**over),
                        extra_args=args + ["--lora-modules", f"tuned={adapter}"], extra_env=env)
    try:
        while serving.state(store, job) == "starting":
            time.sleep(0.5)
        if serving.state(store, job) != "ready":
            print(f"{name}: did not start\n{store.get(job.id).log_tail(1500)}")
            return {}
        up = time.perf_counter() - t
        servebench.vllm_tokens_per_s(job, prompts, 8)  # warm-up at full concurrency
        tps = [servebench.vllm_tokens_per_s(job, prompts, tokens) for _ in range(runs)]
        first_token(job, "tuned", servebench.rag_messages(99, hits))  # loads the adapter
        ttft = [first_token(job, "tuned", servebench.rag_messages(i, hits)) for i in range(5)]
        return {"up": up, "tps": tps, "ttft": statistics.median(ttft)}
    finally:
        serving.stop(store, job.id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    prompts = [servebench.QUESTIONS[i % len(servebench.QUESTIONS)] for i in range(args.prompts)]
    results = {}
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(Path(home) / "jobs")
        model_dir = models.active_model(s)
        adapter = servebench.make_adapter(s, model_dir, Path(home) / "adapter")
        hits = servebench.retrieved(s)
        plan = serving.cpu_plan(s, model_dir, serving.DeployOptions()) if not s.gpu else []
        print("studio plan: " + ", ".join(f"{c.name}={c.value}" for c in plan), flush=True)
        for name in args.only:
            r = results[name] = measure(s, store, model_dir, adapter, hits, name, prompts, args.tokens,
                                        args.runs)
            if r:
                print(f"{name:42s} healthy {r['up']:5.1f} s | {statistics.median(r['tps']):6.1f} tok/s "
                      f"(runs {', '.join(f'{x:.0f}' for x in r['tps'])}) | adapter + 3 chunks: first "
                      f"token {r['ttft']:.2f} s", flush=True)
    ours = results.get("studio plan")
    if ours:
        for name, r in results.items():
            if r and name != "studio plan":
                print(f"studio plan vs {name}: tokens/s x{statistics.median(ours['tps']) / statistics.median(r['tps']):.2f}, "
                      f"first token x{r['ttft'] / ours['ttft']:.2f} sooner")


if __name__ == "__main__":
    main()

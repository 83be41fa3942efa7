"""Serving speed on this machine, each pair side by side in one run:

    OMP_NUM_THREADS=1 .venvs/app/bin/python bench/serve_speed.py [--prompts 16] [--tokens 64]

1. The same prompts through the deployed vLLM server (all at once, as clients would send them)
   vs plain transformers `generate` on the same model (batched, and one at a time): tokens/s.
2. Time to first token with a long shared system prompt, prefix caching on vs off.
Deployments go through the studio's own serving service.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import config, serving  # noqa: E402
from studio.jobs import JobStore  # noqa: E402

QUESTIONS = ["What is the capital of France?", "Name three colours.", "What is 12 times 7?",
             "Write a haiku about tea.", "Why is the sky blue?", "Give me a word that rhymes with cat.",
             "What do bees make?", "How many legs does a spider have?"]


def deploy(s, store, prefix_caching=True):
    job = serving.start(s, store, adapter_names=[], opts=serving.DeployOptions(prefix_caching=prefix_caching))
    while serving.state(store, job) == "starting":
        time.sleep(1)
    if serving.state(store, job) != "ready":
        raise SystemExit(store.get(job.id).log_tail())
    return job


def vllm_tokens_per_s(job, prompts, tokens) -> float:
    from openai import OpenAI

    client = OpenAI(base_url=serving.base_url(job), api_key="EMPTY")

    def one(p):
        r = client.chat.completions.create(model=job.spec["served_name"], max_tokens=tokens,
                                           temperature=0, messages=[{"role": "user", "content": p}],
                                           extra_body={"min_tokens": tokens, "ignore_eos": True})
        return r.usage.completion_tokens

    t = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        produced = sum(pool.map(one, prompts))
    return produced / (time.perf_counter() - t)


def transformers_tokens_per_s(model_dir, prompts, tokens, batched: bool) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                     add_generation_prompt=True) for p in prompts]
    groups = [texts] if batched else [[x] for x in texts]
    t, produced = time.perf_counter(), 0
    for g in groups:
        enc = tok(g, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        produced += (out.shape[1] - enc["input_ids"].shape[1]) * len(g)
    return produced / (time.perf_counter() - t)


def ttft(job, system: str, n: int = 8) -> float:
    from openai import OpenAI

    client = OpenAI(base_url=serving.base_url(job), api_key="EMPTY")
    times = []
    for q in QUESTIONS[:n]:
        t = time.perf_counter()
        stream = client.chat.completions.create(
            model=job.spec["served_name"], max_tokens=4, stream=True,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": q}])
        next(iter(stream))
        times.append(time.perf_counter() - t)
        for _ in stream:
            pass
    return statistics.median(times[1:])  # the first request fills the cache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    prompts = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.prompts)]
    with tempfile.TemporaryDirectory() as home:
        s = config.load(home=home, models_dir=config.REPO / "studio_data" / "models")
        store = JobStore(s.home / "jobs")
        system = ("You are the support assistant of Qinghe Appliances. " + (
            (config.REPO / "assets" / "docs" / "qinghe_policies.md").read_text()[:2500]))
        job = deploy(s, store, prefix_caching=True)
        try:
            v = vllm_tokens_per_s(job, prompts, args.tokens)
            on = ttft(job, system)
        finally:
            serving.stop(store, job.id)
        model_dir = Path(job.spec["model"])
        tb = transformers_tokens_per_s(model_dir, prompts, args.tokens, batched=True)
        t1 = transformers_tokens_per_s(model_dir, prompts[:4], args.tokens, batched=False)
        job = deploy(s, store, prefix_caching=False)
        try:
            off = ttft(job, system)
        finally:
            serving.stop(store, job.id)
    print(f"{args.prompts} prompts x {args.tokens} tokens, CPU")
    print(f"vLLM server, concurrent: {v:7.1f} tok/s")
    print(f"transformers, batched:   {tb:7.1f} tok/s   (vLLM / this: {v / tb:.2f})")
    print(f"transformers, one by one:{t1:7.1f} tok/s   (vLLM / this: {v / t1:.2f})")
    print(f"time to first token, long shared system prompt: prefix caching on {on * 1000:.0f} ms, "
          f"off {off * 1000:.0f} ms, speed-up {off / on:.1f}x")


if __name__ == "__main__":
    main()
